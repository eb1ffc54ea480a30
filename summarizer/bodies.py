"""An API request's body, read under bounds: the byte limit of each route's body, the JSON parsed only when its shape
is small enough, and each article object validated (schema, strings, glossary size) into an `ArticleIn`."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from .config import LimitsConfig
from .guard import bad_string
from .schemas import ArticleIn
from .serving import Refused, check_count

__all__ = ["parse_json", "article_in", "parse_batch", "body_limits", "demo_body_limit", "UPLOAD_PATH",
           "MAX_GLOSSARY_CHARS", "MAX_VALUES"]

# Most characters of a request's glossary (terms and English together): a glossary of 7 MB is refused.
MAX_GLOSSARY_CHARS = 20_000
# Most JSON values (arrays, objects, list and object items) in one article object: a glossary of short terms at its
# character limit, and room for the rest.
MAX_VALUES = MAX_GLOSSARY_CHARS // 2 + 256

# JSON strings, whose brackets and commas are not the body's skeleton. A quote with no closing quote runs to the end, so every
# match succeeds where it starts and the pass is linear (an unclosed ``"\\"\\"…`` cannot make it rescan).
_JSON_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)', re.DOTALL)
# Bodies parsed at once: parsing makes ~10 bytes of objects a byte of JSON, so 16 bodies at the limit at once would
# otherwise cost gigabytes.
_PARSING = threading.BoundedSemaphore(2)


def _skeleton_values(body: bytes) -> int:
    """How many arrays, objects and list items the JSON body makes (its commas and brackets outside strings): a
    bound on the objects a parse would allocate, known before the parse. Counted without copying the body."""
    def marks(b: bytes) -> int:
        return b.count(b"[") + b.count(b"{") + b.count(b",")

    return marks(body) - sum(marks(m.group()) for m in _JSON_STRING.finditer(body))


def parse_json(body: bytes, max_values: int | None = None) -> Any:
    """The request's JSON, or a plain 400 for bytes that are no JSON (invalid UTF-8, nesting too deep), and 422 for
    a body whose shape makes more than `max_values` values (``[],[],…``) before it is parsed."""
    if max_values is not None and _skeleton_values(body) > max_values:
        raise Refused(422, f"the body holds more than {max_values:,} JSON values; an article request holds a few")
    try:
        with _PARSING:
            return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Refused(400, f"the body is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise Refused(400, "the JSON is nested too deeply") from None
    except ValueError as exc:
        raise Refused(400, f"the body is not JSON: {exc}") from None


def article_in(value: Any, where: str = "") -> ArticleIn:
    """Validate one article object: the schema, then every string it carries (no lone surrogate, no NUL)."""
    from pydantic import ValidationError

    try:
        item = ArticleIn.model_validate(value)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            loc = where + ".".join(str(x) for x in err.get("loc", ()))
            parts.append(f"{loc.rstrip('.')}: {err.get('msg')}" if loc else str(err.get("msg")))
        raise Refused(422, "; ".join(parts) or "invalid article") from None
    bad = bad_string(value, where.rstrip("."))
    if bad:
        raise Refused(422, bad)
    if item.glossary and sum(len(k) + len(v) for k, v in item.glossary.items()) > MAX_GLOSSARY_CHARS:
        raise Refused(413, f"the glossary is over {MAX_GLOSSARY_CHARS:,} characters", kind="InputTooLarge")
    return item


def parse_batch(raw: bytes, limits: LimitsConfig) -> list[Any]:
    """The batch body's article objects; a body of the wrong shape is refused whole."""
    body = parse_json(raw, max_values=limits.max_files * MAX_VALUES)
    if not isinstance(body, dict) or set(body) != {"articles"} or not isinstance(body["articles"], list):
        raise Refused(422, 'the body must be {"articles": [...]}, a list of article objects')
    items = body["articles"]
    if not items:
        raise Refused(422, "articles: the list is empty")
    check_count(len(items), limits)
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            # The batch's shape is wrong, not one article: the whole request is refused.
            raise Refused(422, f"articles[{n}] is a {type(item).__name__}, not an article object")
    return items


# The demo's upload route: its files stream to disk, so its body is counted as it arrives, not held.
UPLOAD_PATH = "/gradio_api/upload"
# Bytes of JSON around the text: keys, options, a client's whitespace.
_JSON_ROOM = 65_536
# A character may arrive as six bytes (``\\u5317``: Python's json.dumps and requests escape every non-ASCII one).
_ESCAPED = 6


def body_limits(limits: LimitsConfig) -> dict[str, int]:
    """The most body bytes of each route with a body: one article (its text and glossary, escaped), a batch of
    ``max_files`` texts (3 bytes a character: a batch client sends UTF-8), and the demo's upload of
    ``max_files`` files."""
    one = (limits.max_request_chars + MAX_GLOSSARY_CHARS) * _ESCAPED + _JSON_ROOM
    batch = max(limits.max_bytes, limits.max_files * limits.max_request_chars * 3) + _JSON_ROOM
    upload = int(limits.max_files * limits.max_upload_mb * 1024 * 1024) + _JSON_ROOM
    return {"/v1/articles": one, "/v1/articles:batch": batch, UPLOAD_PATH: upload}


def demo_body_limit(limits: LimitsConfig) -> int:
    """The most body bytes of the demo's other routes (a pasted text of ``max_request_chars``, file references)."""
    return limits.max_request_chars * _ESCAPED + _JSON_ROOM
