"""Turn crawled files (crawler HTML, plain text, full pages, JSONL records) into clean `Article`s."""

from __future__ import annotations

import codecs
import hashlib
import html
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Union

logger = logging.getLogger("summarizer")

DEFAULT_MAX_BYTES = 1_000_000

Source = Union[str, bytes, os.PathLike]

__all__ = ["Article", "ArticleError", "clean_article", "article_from_record", "decode_bytes"]


class ArticleError(ValueError):
    """Input that cannot become an article: empty, binary, undecodable, too large, or no text left."""


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


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Common characters of news text that both simplified and traditional writing use; decoding the
# wrong double-byte codec turns them into rare or unrelated characters, so their share picks the codec.
_COMMON = set(
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而"
    "方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好"
    "应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向"
    "道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特"
    "件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理"
    "府研质市场"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Detect the encoding of `data` and decode it.

    Handles UTF-8 (with or without BOM), UTF-16/32 with BOM, GB18030/GBK and Big5.

    Args:
        data: Raw file content.

    Returns:
        The decoded text and the name of the encoding used.

    Raises:
        ArticleError: The bytes are binary or fit none of the supported encodings.
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc if enc != "utf-8-sig" else "utf-8-sig"
            except UnicodeDecodeError as exc:
                raise ArticleError(f"the file starts with a {enc} byte-order mark but is not valid {enc}: {exc.reason}") from None
    if b"\x00" in data[:4096]:
        raise ArticleError("the input looks binary (it contains NUL bytes), not a text or HTML article")
    try:
        return _check_text(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    for enc in ("gb18030", "big5"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        han = _HAN.findall(text)
        score = sum(ch in _COMMON for ch in han) / max(1, len(han))
        candidates.append((score, enc, text))
    if not candidates:
        raise ArticleError(
            "could not decode the input: it is not UTF-8, UTF-16 (with BOM), GB18030/GBK or Big5 text"
        )
    candidates.sort(reverse=True)
    score, enc, text = candidates[0]
    if score < 0.05 and len(_HAN.findall(text)) > 20:
        raise ArticleError(f"the input decodes as {enc} only into unlikely characters; it looks binary or mis-encoded")
    return _check_text(text), enc


def _check_text(text: str) -> str:
    controls = len(_CONTROL.findall(text))
    if controls > max(2, len(text) // 100):
        raise ArticleError("the input looks binary (many control characters), not a text or HTML article")
    return text


_DASH_LINE = re.compile(r"^\s*-{10,}\s*$")
_IMAGE_LINE = re.compile(r"^\s*-*\s*这里有图片\s*-*\s*$")
_FILENAME_TITLE = re.compile(r"^\s*(?:\d+[\s_.\-]*)?(?P<title>.+?)\.(?:txt|html?|md)\s*$", re.IGNORECASE)
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
    m = _FILENAME_TITLE.match(line)
    if m:
        return m.group("title").strip(_SPACES)
    return html.unescape(line) if "&" in line and ";" in line else line


def _remove_image_blocks(lines: list[str]) -> tuple[list[str], int]:
    kept, images = [], 0
    for line in lines:
        if _IMAGE_LINE.match(line):
            images += 1
        elif not _DASH_LINE.match(line):
            kept.append(line)
    return kept, images


def html_to_paragraphs(markup: str) -> tuple[list[str], int, str]:
    """Parse an HTML fragment or page into paragraphs.

    Args:
        markup: HTML (crawler `<div><span>` blocks, `<p>`/`<br>` text, or a whole page).

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
    chunks: list[str] = []
    _walk(body, chunks)
    text = "".join(chunks)
    paragraphs = []
    for para in text.split("\n"):
        para = re.sub(r"[ \t\u00a0\u3000]+", " ", para).strip(_SPACES)
        if para:
            paragraphs.append(para)
    if page_title and paragraphs and paragraphs[0] == page_title:
        paragraphs = paragraphs[1:]
    return paragraphs, images, page_title


def _walk(el, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    block = tag.lower() in _BLOCK_TAGS
    if block:
        out.append("\n")
    if el.text and tag.lower() != "title":
        out.append(el.text)
    for child in el:
        _walk(child, out)
        if child.tail:
            out.append(child.tail)
    if block:
        out.append("\n")


def _is_page(text: str) -> bool:
    head = text.lstrip(_SPACES)[:200].lower()
    return head.startswith("<!doctype") or head.startswith("<html")


def _looks_html(text: str) -> bool:
    return bool(re.search(r"</?(div|span|p|br|html|body|img|h1|article)\b", text[:20000], re.IGNORECASE))


def _stable_id(source: str | None, text: str) -> str:
    h = hashlib.sha256()
    h.update((source or "").encode("utf-8"))
    h.update(b"\0")
    h.update(text.encode("utf-8"))
    return h.hexdigest()[:16]


def _read_source(source: Source, name: str | None = None) -> tuple[str, str | None, str | None, int]:
    """Returns (text, encoding, path, byte size)."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        if not data.strip():
            raise ArticleError(f"the file is empty: {name}" if name else "the input is empty")
        try:
            text, enc = decode_bytes(data)
        except ArticleError as exc:
            raise ArticleError(f"{name}: {exc}" if name else str(exc)) from None
        return text, enc, name, len(data)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and len(source) < 4096 and source.strip() and _is_file(source)
    ):
        path = Path(source)
        if not path.is_file():
            raise ArticleError(f"no such file: {path}")
        data = path.read_bytes()
        if not data.strip():
            raise ArticleError(f"the file is empty: {path}")
        try:
            text, enc = decode_bytes(data)
        except ArticleError as exc:
            raise ArticleError(f"{path}: {exc}") from None
        return text, enc, os.path.abspath(path), len(data)
    if isinstance(source, str):
        if not source.strip():
            raise ArticleError("the input is empty")
        return _check_text(source), None, None, len(source.encode("utf-8"))
    raise ArticleError(f"cannot read an article from a {type(source).__name__}")


def _is_file(s: str) -> bool:
    try:
        return Path(s).is_file()
    except OSError:
        return False


def clean_article(
    source: Source,
    *,
    id: str | None = None,
    title: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    source_name: str | None = None,
) -> Article:
    """Read and clean one crawled article.

    Args:
        source: A path (str or PathLike), raw bytes, or the text itself (crawler format, plain text,
            a full HTML page, or one JSONL record ``{"id","title","text"}`` / ``{"id","html"}``).
        id: Identifier to use; default is the record's id or a hash of source path and content.
        title: Title to use instead of the first line.
        max_bytes: Refuse inputs larger than this many bytes of text.
        source_name: Where bytes or text came from (a path read elsewhere, e.g. by a Ray driver);
            recorded as ``source`` and used for the id exactly as if the path had been given.

    Returns:
        The cleaned `Article`.

    Raises:
        ArticleError: Empty, binary, undecodable or oversized input, or nothing left after cleaning.
    """
    text, encoding, path, size = _read_source(source, source_name)
    where = f"{path}: " if path else ""
    if size > max_bytes:
        raise ArticleError(f"{where}the input is {size:,} bytes, over the limit of {max_bytes:,} bytes")
    stripped = text.strip(_SPACES)
    if stripped.startswith("{") and "\n" not in stripped:
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            return article_from_record(record, source=path, id=id, max_bytes=max_bytes)
    return _clean_text(text, id=id, title=title, source=path, encoding=encoding)


def article_from_record(
    record: dict[str, Any], *, source: str | None = None, id: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Article:
    """Build an article from a JSONL record ``{"id","title","text"}`` or ``{"id","html"}``.

    Raises:
        ArticleError: The record has no text, or is too large.
    """
    body = record.get("text")
    if body is None:
        body = record.get("html")
    if body is None:
        body = record.get("content")
    if not isinstance(body, str):
        raise ArticleError("the JSON record has no 'text' or 'html' string")
    if len(body.encode("utf-8")) > max_bytes:
        raise ArticleError(f"the JSON record's text is over the limit of {max_bytes:,} bytes")
    rid = id if id is not None else record.get("id")
    rec_title = record.get("title")
    if isinstance(rec_title, str) and rec_title.strip():
        return _clean_text(body, id=None if rid is None else str(rid), title=rec_title.strip(), source=source,
                           encoding=None, has_title_line=False)
    return _clean_text(body, id=None if rid is None else str(rid), title=None, source=source, encoding=None,
                       has_title_line="html" not in record)


def _clean_text(
    text: str,
    *,
    id: str | None,
    title: str | None,
    source: str | None,
    encoding: str | None,
    has_title_line: bool = True,
) -> Article:
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines, images = _remove_image_blocks(text.split("\n"))
    while lines and not lines[0].strip(_SPACES):
        lines.pop(0)
    if not lines:
        raise ArticleError(_where(source) + "no text in the input (only whitespace or image placeholders)")
    page_title = ""
    if _is_page(lines[0]):
        body = "\n".join(lines)
        paragraphs, imgs, page_title = html_to_paragraphs(body)
    elif title is None and has_title_line and not _TAG_LIKE.match(lines[0]):
        title = title_from_line(lines[0])
        body = "\n".join(lines[1:])
        paragraphs, imgs = _body_paragraphs(body)
    else:
        body = "\n".join(lines)
        if _looks_html(body):
            paragraphs, imgs, page_title = html_to_paragraphs(body)
        else:
            paragraphs, imgs = _body_paragraphs(body)
    images += imgs
    kept = []
    for para in paragraphs:
        if _IMAGE_LINE.match(para):
            images += 1
        elif not _DASH_LINE.match(para):
            kept.append(para)
    if title is None:
        title = page_title
    if not kept:
        raise ArticleError(_where(source) + "no text left after cleaning (the body is empty)")
    paragraphs_t = tuple(kept)
    aid = id if id is not None else _stable_id(source, (title or "") + "\n" + "\n".join(paragraphs_t))
    return Article(id=aid, title=title or "", paragraphs=paragraphs_t, image_count=images, source=source,
                   encoding=encoding)


def _body_paragraphs(body: str) -> tuple[list[str], int]:
    if _looks_html(body):
        paragraphs, imgs, _ = html_to_paragraphs(body)
        return paragraphs, imgs
    if "&" in body:
        body = html.unescape(body)
    paras = [p.strip(_SPACES) for p in body.split("\n")]
    return [re.sub(r"[ \t\u00a0\u3000]+", " ", p) for p in paras if p], 0


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""
