"""Turn crawled files (crawler HTML, plain text, full pages, JSONL records) into clean `Article`s."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Union

from .decode import (DEFAULT_MAX_BYTES, ArticleError, InputTooLarge, check_text, decode_bytes, decode_input, path_text,
                     read_file)

logger = logging.getLogger("summarizer")

Source = Union[str, bytes, os.PathLike]

# The errors and the byte-level readers live in `decode`; they are named here too, where callers of cleaning look.
__all__ = ["Article", "ArticleError", "InputTooLarge", "clean_article", "clean_file", "read_file", "article_from_record", "decode_bytes",
           "check_id", "MAX_ID_CHARS", "path_text", "is_navigation_line"]


# Ids travel into file names, logs and resume keys; a longer one is refused, not stored.
MAX_ID_CHARS = 200


class _Budget:
    """The seconds cleaning may take (``limits.clean_seconds``), checked between its steps and every few lines."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.end = time.monotonic() + seconds if seconds else None

    def check(self) -> None:
        if self.end is not None and time.monotonic() > self.end:
            raise InputTooLarge(f"cleaning took over {self.seconds:g} s (limits.clean_seconds); the input is too "
                                "large or too convoluted to clean")


@dataclass(frozen=True)
class Article:
    """A cleaned news article.

    Attributes:
        id: Stable identifier (given, or a hash of source path and content).
        title: Headline, without file-name number prefix or extension.
        paragraphs: Body paragraphs in document order, stripped of markup.
        image_count: Image placeholders and <img> tags removed from the body.
        source: Path the article was read from, if any.
        encoding: Encoding the bytes were decoded with (``None`` for str input).
    """

    id: str
    title: str
    paragraphs: tuple[str, ...]
    image_count: int = 0
    source: str | None = None
    encoding: str | None = None

    @property
    def text(self) -> str:
        """The body paragraphs joined with newlines."""
        return "\n".join(self.paragraphs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the article."""
        d = asdict(self)
        d["paragraphs"] = list(self.paragraphs)
        return d


# Line tests are written as strips and suffix checks, not regexes: a pattern like ``^\s*-*\s*X`` backtracks over
# every split of a long run of spaces (a 20,000-space line took 7.6 s), and these run on every line of every input.
_IMAGE_MARK = "这里有图片"
_TITLE_SUFFIXES = (".txt", ".html", ".htm", ".md")
# A file-name prefix: digits, then separators ("012_", "3 - "). Both classes are disjoint, so this is linear.
_NUMBER_PREFIX = re.compile(r"\d+[\s_.\-]*")


def _is_dash_line(line: str) -> bool:
    """A separator line of ten or more dashes."""
    core = line.strip()
    return len(core) >= 10 and not core.strip("-")


# A link or navigation line of a news page: a link word, alone or with arrows, or leading a link's text (详细阅读：
# <another article's headline>). Found in the 520 crawl files: 详细阅读： (16), 详细阅读 >> (15), >>详细阅读： (6), all
# lines of their own; the other words are the common ones of Chinese news sites. The word must be followed by a colon,
# arrows or the end of the line, so a sentence that starts with 更多精彩的 stays.
_NAVIGATION = re.compile(r"\s*[>》»]*\s*(?:详细阅读|点击查看|点击阅读|阅读全文|查看原文|更多精彩|返回首页|返回顶部)"
                         r"\s*(?:[:：]|[>》»]+|$)|\s*[>》»]+\s*$")


def is_navigation_line(line: str) -> bool:
    """A page's link or navigation line (详细阅读：…, 详细阅读 >>, 返回首页, a bare >>), not article text."""
    return _NAVIGATION.match(line) is not None


def _is_image_line(line: str) -> bool:
    """The crawler's image placeholder, alone on its line between optional dashes (``--- 这里有图片 ---``)."""
    core = line.strip()
    if _IMAGE_MARK not in core:
        return False
    return core.lstrip("-").lstrip().rstrip("-").rstrip() == _IMAGE_MARK


def _filename_title(line: str) -> str | None:
    """The title a file-name line carries (``012_标题.txt`` -> ``标题``), or None when the line is no file name."""
    core = line.strip()
    lower = core.lower()
    suffix = next((s for s in _TITLE_SUFFIXES if lower.endswith(s)), None)
    if suffix is None:
        return None
    stem = core[: -len(suffix)]
    prefix = _NUMBER_PREFIX.match(stem)
    title = stem[prefix.end():] if prefix else stem
    # A name that is all number ("2024.txt") keeps the number as its title.
    title = title or stem
    return title if title.strip() else None
_SPACES = "\u3000\u00a0\u200b\ufeff \t\r\n"
# '<' that cannot open a tag (e.g. the book-title brackets in <洪涝灾区预防性消毒技术规范>) is text.
_LONE_LT = re.compile(r"<(?![A-Za-z/!?])")
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
    "article", "blockquote", "header", "footer", "pre", "hr", "figure", "figcaption", "dd", "dt", "td", "th",
}
_DROP_TAGS = ("script", "style", "noscript", "head", "template", "iframe", "object", "svg", "button", "form", "nav")
_TAG_LIKE = re.compile(r"^\s*<")


def title_from_line(line: str) -> str:
    """Title from the first line of a crawler file: drop a file-name number prefix and extension."""
    line = line.strip(_SPACES)
    named = _filename_title(line)
    if named is not None:
        return named.strip(_SPACES)
    return html.unescape(line) if "&" in line and ";" in line else line


def _remove_image_blocks(lines: list[str], budget: _Budget | None = None) -> tuple[list[str], int]:
    kept, images = [], 0
    for n, line in enumerate(lines):
        if budget is not None and not n % 4096:
            budget.check()
        if _is_image_line(line):
            images += 1
        elif not _is_dash_line(line):
            kept.append(line)
    return kept, images


def html_to_paragraphs(markup: str, budget: _Budget | None = None) -> tuple[list[str], int, str]:
    """Parse an HTML fragment or page into paragraphs.

    Args:
        markup: HTML (crawler `<div><span>` blocks, `<p>`/`<br>` text, or a whole page).
        budget: The time cleaning may still take (None: no limit).

    Returns:
        (paragraphs, number of <img> tags removed, page title from <title>/<h1> or "").
    """
    from lxml import etree
    from lxml import html as lhtml

    markup = _LONE_LT.sub("&lt;", markup)
    try:
        root = lhtml.document_fromstring(f"<html><body>{markup}</body></html>" if not _is_page(markup) else markup)
    except (etree.ParserError, ValueError) as exc:
        raise ArticleError(f"could not parse the HTML: {exc}") from None
    page_title = ""
    t = root.find(".//title")
    if t is not None and t.text_content().strip():
        page_title = t.text_content().strip(_SPACES)
    else:
        h1 = root.find(".//h1")
        if h1 is not None:
            page_title = h1.text_content().strip(_SPACES)
    for bad in root.xpath("|".join(f"//{t}" for t in _DROP_TAGS)):
        bad.drop_tree()
    for comment in root.xpath("//comment()"):
        comment.drop_tree()
    images = 0
    for img in root.xpath("//img"):
        images += 1
        img.drop_tree()
    body = root.find("body")
    if body is None:
        body = root
    budget = budget or _Budget(None)
    budget.check()
    chunks: list[str] = []
    _walk(body, chunks, budget)
    budget.check()
    text = "".join(chunks)
    paragraphs = []
    for para in text.split("\n"):
        para = re.sub(r"[ \t\u00a0\u3000]+", " ", para).strip(_SPACES)
        if para:
            paragraphs.append(para)
    if page_title and paragraphs and paragraphs[0] == page_title:
        paragraphs = paragraphs[1:]
    return paragraphs, images, page_title


def _walk(el, out: list[str], budget: _Budget) -> None:
    budget.check()
    tag = el.tag if isinstance(el.tag, str) else ""
    block = tag.lower() in _BLOCK_TAGS
    if block:
        out.append("\n")
    if el.text and tag.lower() != "title":
        out.append(el.text)
    for child in el:
        _walk(child, out, budget)
        if child.tail:
            out.append(child.tail)
    if block:
        out.append("\n")


def _is_page(text: str) -> bool:
    head = text.lstrip(_SPACES)[:200].lower()
    return head.startswith("<!doctype") or head.startswith("<html")


def _looks_html(text: str) -> bool:
    return bool(re.search(r"</?(div|span|p|br|html|body|img|h1|article|script|style|noscript|iframe|template)\b", text[:20000], re.IGNORECASE))


def _stable_id(source: str | None, text: str) -> str:
    h = hashlib.sha256()
    h.update((source or "").encode("utf-8"))
    h.update(b"\0")
    h.update(text.encode("utf-8"))
    return h.hexdigest()[:16]


def _valid_text(text: str, what: str = "the text") -> str:
    """`text` unchanged, or an error naming the first character that UTF-8 cannot hold (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArticleError(f"{what} holds invalid Unicode (a lone surrogate at character {exc.start})") from None
    if "\x00" in text:
        # A NUL has no place in news text and cuts C strings, CSV readers and terminals short downstream.
        raise ArticleError(f"{what} holds a NUL character (at character {text.index(chr(0))})")
    return text


def clean_file(
    path: str | os.PathLike,
    *,
    id: str | None = None,
    title: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Article:
    """Read and clean one crawled file; the explicit entry point for a path given as a str.

    Args:
        path: The file (any name, newlines included).
        id: Identifier to use; default a hash of the absolute path and the content.
        title: Title to use instead of the first line.
        max_bytes: Refuse files larger than this.

    Raises:
        ArticleError: Unreadable, empty, binary, undecodable or oversized file, or nothing left after cleaning.
    """
    return clean_article(Path(path), id=id, title=title, max_bytes=max_bytes)


def clean_article(
    source: Source,
    *,
    id: str | None = None,
    title: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    source_name: str | None = None,
    seconds: float | None = None,
) -> Article:
    """Read and clean one crawled article.

    A ``str`` is always the article text, never a path: text that arrives over a network must not be
    able to name a file on the server. Pass a `pathlib.Path` (or call `clean_file`) to read a file.

    Args:
        source: A `pathlib.Path` (or other PathLike) to read, raw bytes, or the text itself (crawler format,
            plain text, a full HTML page, or one JSONL record ``{"id","title","text"}`` / ``{"id","html"}``).
        id: Identifier to use; default is the record's id or a hash of source path and content.
        title: Title to use instead of the first line.
        max_bytes: Refuse inputs larger than this many bytes of text.
        source_name: Where bytes or text came from (a path read elsewhere, e.g. by a Ray driver);
            recorded as ``source`` and used for the id exactly as if the path had been given.
        seconds: Most seconds the cleaning may take (None: no limit); then `InputTooLarge`.

    Returns:
        The cleaned `Article`.

    Raises:
        ArticleError: Empty, binary, undecodable or oversized input, or nothing left after cleaning.
    """
    path = source_name
    if isinstance(source, os.PathLike):
        where = path_text(source)
        data = read_file(source, max_bytes)
        text, encoding = decode_input(data, where)
        path, size = path_text(os.path.abspath(source)), len(data)
    elif isinstance(source, (bytes, bytearray)):
        where = source_name
        text, encoding = decode_input(bytes(source), where)
        size = len(source)
    elif isinstance(source, str):
        where = source_name
        if not source.strip():
            raise ArticleError("the input is empty", where)
        try:
            text = check_text(_valid_text(source))
        except ArticleError as exc:
            raise type(exc)(exc.reason, where) from None
        encoding, size = None, len(source.encode("utf-8"))
    else:
        raise ArticleError(f"cannot read an article from a {type(source).__name__}; pass text, bytes or a Path")
    if title is not None:
        # A title given beside the text is input too: a 5 MB title must not slip past the limit.
        size += len(_valid_text(title, "the title").encode("utf-8"))
    if size > max_bytes:
        raise InputTooLarge(f"the input is {size:,} bytes, over the limit of {max_bytes:,} bytes", where)
    if id is not None:
        id = check_id(id)
    stripped = text.strip(_SPACES)
    if stripped.startswith("{") and "\n" not in stripped:
        try:
            record = json.loads(stripped)
        except (ValueError, RecursionError):
            record = None
        if isinstance(record, dict):
            return article_from_record(record, source=path, id=id, max_bytes=max_bytes, seconds=seconds)
    try:
        return _clean_text(text, id=id, title=title, source=path, encoding=encoding, budget=_Budget(seconds))
    except ArticleError as exc:
        raise type(exc)(exc.reason, where) from None


def check_id(value: Any) -> str:
    """A usable article id from a caller or a JSONL record: a str or int of at most `MAX_ID_CHARS` characters.

    Raises:
        ArticleError: Any other type (objects, lists, booleans, floats), an empty or over-long id.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ArticleError(f"the id must be a string or an integer, not {type(value).__name__}")
    value = str(value)
    if not value.strip():
        raise ArticleError("the id is empty")
    if len(value) > MAX_ID_CHARS:
        raise ArticleError(f"the id is {len(value):,} characters; the limit is {MAX_ID_CHARS}")
    return _valid_text(value, "the id")


def article_from_record(
    record: dict[str, Any], *, source: str | None = None, id: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
    seconds: float | None = None,
) -> Article:
    """Build an article from a JSONL record ``{"id","title","text"}`` or ``{"id","html"}``.

    ``html`` is always parsed as HTML (script and style content dropped, as for files); ``text`` is
    plain text unless it carries markup, and an escaped ``&lt;img&gt;`` in it stays text.

    Args:
        record: The decoded JSON object.
        source: Where the record was read (``file.jsonl:LINE``), stored as ``Article.source``.
        id: Identifier to use instead of the record's.
        max_bytes: Refuse a body (with its title) larger than this many UTF-8 bytes.
        seconds: Most seconds the cleaning may take (None: no limit); then `InputTooLarge`.

    Raises:
        ArticleError: No text, a body over the limit, invalid Unicode, or an id that is not a short str/int.
    """
    is_html = False
    body = record.get("text")
    if body is None:
        body, is_html = record.get("html"), True
    if body is None:
        body, is_html = record.get("content"), False
    if not isinstance(body, str):
        raise ArticleError("the JSON record has no 'text' or 'html' string")
    _valid_text(body, "the record's text")
    rec_title = record.get("title")
    title_bytes = len(rec_title.encode("utf-8", "surrogatepass")) if isinstance(rec_title, str) else 0
    if len(body.encode("utf-8")) + title_bytes > max_bytes:
        raise InputTooLarge(f"the JSON record's text and title are over the limit of {max_bytes:,} bytes")
    rid = id if id is not None else record.get("id")
    rid = None if rid is None else check_id(rid)
    if rec_title is not None and not isinstance(rec_title, str):
        raise ArticleError(f"the record's title must be a string, not {type(rec_title).__name__}")
    if isinstance(rec_title, str) and rec_title.strip():
        return _clean_text(body, id=rid, title=_valid_text(rec_title, "the title").strip(), source=source,
                           encoding=None, has_title_line=False, is_html=is_html, budget=_Budget(seconds))
    return _clean_text(body, id=rid, title=None, source=source, encoding=None, has_title_line=not is_html,
                       is_html=is_html, budget=_Budget(seconds))


def _clean_text(
    text: str,
    *,
    id: str | None,
    title: str | None,
    source: str | None,
    encoding: str | None,
    has_title_line: bool = True,
    is_html: bool = False,
    budget: _Budget | None = None,
) -> Article:
    budget = budget or _Budget(None)
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines, images = _remove_image_blocks(text.split("\n"), budget)
    while lines and not lines[0].strip(_SPACES):
        lines.pop(0)
    if not lines:
        raise ArticleError("no text in the input (only whitespace or image placeholders)")
    nonblank = [ln for ln in lines if ln.strip(_SPACES)]
    # A single line of text is the body, not a title over nothing; a lone file-name line stays a title.
    single_body = len(nonblank) == 1 and not images and _filename_title(nonblank[0]) is None
    page_title = ""
    if is_html or _is_page(lines[0]):
        paragraphs, imgs, page_title = html_to_paragraphs("\n".join(lines), budget)
    elif title is None and has_title_line and not single_body and not _TAG_LIKE.match(lines[0]):
        title = title_from_line(lines[0])
        paragraphs, imgs = _body_paragraphs("\n".join(lines[1:]), budget)
    else:
        body = "\n".join(lines)
        if _looks_html(body):
            paragraphs, imgs, page_title = html_to_paragraphs(body, budget)
        else:
            paragraphs, imgs = _body_paragraphs(body, budget)
    budget.check()
    images += imgs
    kept = []
    for para in paragraphs:
        if _is_image_line(para):
            images += 1
        elif not _is_dash_line(para) and not is_navigation_line(para):
            kept.append(para)
    if title is None:
        title = page_title
    if not kept:
        hint = ("; a str is article text, never a path: pass a pathlib.Path or call clean_file to read a file"
                if len(nonblank) == 1 and _filename_title(nonblank[0]) is not None else "")
        raise ArticleError("no text left after cleaning (the body is empty)" + hint)
    paragraphs_t = tuple(kept)
    aid = id if id is not None else _stable_id(source, (title or "") + "\n" + "\n".join(paragraphs_t))
    return Article(id=aid, title=title or "", paragraphs=paragraphs_t, image_count=images, source=source,
                   encoding=encoding)


def _body_paragraphs(body: str, budget: _Budget) -> tuple[list[str], int]:
    if _looks_html(body):
        paragraphs, imgs, _ = html_to_paragraphs(body, budget)
        return paragraphs, imgs
    if "&" in body:
        body = html.unescape(body)
    paras = [p.strip(_SPACES) for p in body.split("\n")]
    return [re.sub(r"[ \t\u00a0\u3000]+", " ", p) for p in paras if p], 0
