"""What the REST API and the demo share for one request: the size limits on what a client sends, and the mapping of
a failure to an HTTP status and a plain message (the demo shows the message, the API sends both)."""

from __future__ import annotations

import logging
from typing import Any

from .clean import ArticleError, InputTooLarge
from .config import LimitsConfig
from .summarize import check_max_chars
from .models import Cancelled, TimeBudgetExceeded
from .records import error_message
from .runtime import ModelCrashed
from .translate import TaskError
from .workqueue import ShuttingDown

logger = logging.getLogger("summarizer")

__all__ = ["Refused", "status_for", "refusal", "shutting_down", "SHUTTING_DOWN", "check_text", "check_record",
           "check_count", "check_glossary", "summary_length"]


class Refused(Exception):
    """A request refused: the HTTP status, a plain message, headers (``Retry-After``), and for code the kind of
    failure an error record of it carries (an exception class name: ``InputTooLarge``, ``ArticleError``, ...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, *,
                 kind: str = "ArticleError"):
        super().__init__(message)
        self.status, self.message, self.headers, self.kind = status, message, headers or {}, kind


def status_for(exc: BaseException) -> int:
    """The HTTP status of a failure: 413 too large, 422 bad input, 504 over time, 499 the client left, 503 the
    model worker crashed (it restarts on the next request), else 500."""
    if isinstance(exc, InputTooLarge):
        return 413
    if isinstance(exc, (ArticleError, TaskError, ValueError)):
        return 422
    if isinstance(exc, TimeBudgetExceeded):
        return 504
    if isinstance(exc, ShuttingDown):
        return 503
    if isinstance(exc, Cancelled):
        # Nginx's "client closed request": nobody reads it, the metrics tell it apart.
        return 499
    if isinstance(exc, ModelCrashed):
        return 503
    return 500


def refusal(exc: BaseException, where: str = "request") -> Refused:
    """The `Refused` a failure of one article becomes; a 500 (a bug, not the input) is logged with its traceback."""
    status = status_for(exc)
    if status == 500:
        logger.error("%s failed", where, exc_info=exc)
    elif not isinstance(exc, (ArticleError, Cancelled)):
        logger.info("%s failed", where, exc_info=exc)
    return Refused(status, error_message(exc), kind=type(exc).__name__)


# What a request in flight gets when the server stops (SIGTERM): the documented 503, with when to come back.
SHUTTING_DOWN = "the server is shutting down; retry in a moment"
RETRY_AFTER_SHUTDOWN = {"Retry-After": "10"}


def shutting_down() -> Refused:
    """The refusal of a request in flight or in line when the server stops."""
    return Refused(503, SHUTTING_DOWN, dict(RETRY_AFTER_SHUTDOWN), kind="ShuttingDown")


def check_text(text: str, limits: LimitsConfig) -> None:
    """Refuse (413) a pasted or posted text over ``limits.max_request_chars``."""
    if len(text) > limits.max_request_chars:
        raise Refused(413, f"the text is {len(text):,} characters; the limit is {limits.max_request_chars:,}", kind="InputTooLarge")


def _string_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_string_chars(k) + _string_chars(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_string_chars(v) for v in value)
    return 0


def check_record(record: dict[str, Any], limits: LimitsConfig) -> None:
    """Refuse (413) a record whose strings together (a 30 MB title too) are over ``limits.max_request_chars``."""
    size = _string_chars(record)
    if size > limits.max_request_chars:
        raise Refused(413, f"the record carries {size:,} characters; the limit is {limits.max_request_chars:,}", kind="InputTooLarge")


def check_glossary(glossary: dict[str, str] | None, limits: LimitsConfig) -> None:
    """Refuse a client's glossary before it joins a shared model call: 422 for an empty or whitespace term or an
    empty English (an empty term matches every segment), 413 for an entry over ``limits.glossary_entry_chars`` (each
    relevant entry goes into a prompt that must fit the model's context)."""
    if not glossary:
        return
    for term, english in glossary.items():
        if not term.strip():
            raise Refused(422, f"glossary: an empty term ({term!r}) would match every segment; give the Chinese term")
        if not english.strip():
            raise Refused(422, f"glossary: the term {term!r} has no English; give it one, or \"keep\"")
        longest = max(len(term), len(english))
        if longest > limits.glossary_entry_chars:
            shown = term if len(term) <= 20 else term[:20] + "…"
            raise Refused(413, f"glossary: the entry for {shown!r} is {longest:,} characters; the limit is "
                               f"{limits.glossary_entry_chars:,} (limits.glossary_entry_chars)", kind="InputTooLarge")


def check_count(n: int, limits: LimitsConfig) -> None:
    """Refuse (413) more than ``limits.max_files`` articles in one request."""
    if n > limits.max_files:
        raise Refused(413, f"{n} articles; the limit is {limits.max_files} per request", kind="InputTooLarge")


def summary_length(value: Any) -> int | None:
    """A client's summary length as an int within range, or None (also for 0, an empty field) for the config's;
    refused (422) otherwise."""
    if value is None or value == "" or value == 0:
        return None
    try:
        return check_max_chars(int(value))
    except (TypeError, ValueError, OverflowError) as exc:
        raise Refused(422, f"max_chars: {exc}") from None
