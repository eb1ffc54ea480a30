"""Bytes in: reading a file within its size limit, and decoding crawled bytes (BOMs, UTF-8, GB18030, Big5, UTF-16
without a BOM) into text, with the errors a bad input gets (`ArticleError`, `InputTooLarge`)."""

from __future__ import annotations

import codecs
import logging
import os
import re
import stat
from pathlib import Path

from .text import HAN_CLASS

logger = logging.getLogger("summarizer")

__all__ = ["ArticleError", "InputTooLarge", "DEFAULT_MAX_BYTES", "path_text", "read_file", "decode_bytes",
           "decode_input", "check_text"]

DEFAULT_MAX_BYTES = 1_000_000


def path_text(path: str | os.PathLike) -> str:
    """A file name as text every writer can carry: bytes that are not UTF-8 (``name_\\xff.txt``) are escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class ArticleError(ValueError):
    """Input that cannot become an article: empty, binary, undecodable, too large, or no text left.

    Attributes:
        reason: The plain message without the source (what an error record stores).
        source: The file the input came from, when known.
    """

    def __init__(self, reason: str, source: str | None = None):
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)

    def __reduce__(self):
        return (type(self), (self.reason, self.source))


class InputTooLarge(ArticleError):
    """Input over a size limit (the file, the text, a JSON record's text); the API answers it with 413."""


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HAN = re.compile(HAN_CLASS)
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

    Handles UTF-8 (with or without BOM), UTF-16/32 with BOM, UTF-16 without BOM, GB18030/GBK and Big5.

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
        text, enc = _utf16_without_bom(data)
        if text is None:
            raise ArticleError("the input looks binary (it contains NUL bytes), not a text or HTML article")
        return text, enc
    try:
        return check_text(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.end == len(data) and len(data) - exc.start < 4:
            # Only the last character was cut short (a truncated download): keep the rest, mark the cut.
            logger.warning("the input's last UTF-8 character is cut short; it is replaced by U+FFFD")
            return check_text(data[:exc.start].decode("utf-8") + "\ufffd"), "utf-8"
    candidates = []
    for enc in ("gb18030", "big5"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        candidates.append((_common_share(text), enc, text))
    if not candidates:
        text, enc = _utf16_without_bom(data)
        if text is not None:
            return text, enc
        raise ArticleError(
            "could not decode the input: it is not UTF-8, UTF-16, GB18030/GBK or Big5 text"
        )
    candidates.sort(reverse=True)
    score, enc, text = candidates[0]
    if score < 0.05 and len(_HAN.findall(text)) > 20:
        utf16, enc16 = _utf16_without_bom(data)
        if utf16 is not None:
            return utf16, enc16
        raise ArticleError(f"the input decodes as {enc} only into unlikely characters; it looks binary or mis-encoded")
    return check_text(text), enc


def _common_share(text: str) -> float:
    han = _HAN.findall(text)
    return sum(ch in _COMMON for ch in han) / max(1, len(han))


def _utf16_without_bom(data: bytes) -> tuple[str | None, str]:
    """UTF-16 text that lost its byte-order mark (some Windows tools write it so), or (None, "")."""
    if len(data) % 2:
        return None, ""
    head = data[:8192]
    # ASCII markup and newlines put a NUL on one side of every code unit; which side gives the byte order.
    odd, even = head[1::2].count(0), head[0::2].count(0)
    order = ("utf-16-le", "utf-16-be") if odd >= even else ("utf-16-be", "utf-16-le")
    for enc in order:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text[:4096]) / max(1, len(text[:4096]))
        han = _HAN.findall(text[:4096])
        if printable > 0.97 and (not han or _common_share(text[:4096]) >= 0.1):
            try:
                return check_text(text), enc
            except ArticleError:
                continue
    return None, ""


def check_text(text: str) -> str:
    """`text` unchanged, or an error when it looks binary (many control characters)."""
    controls = len(_CONTROL.findall(text))
    if controls > max(2, len(text) // 100):
        raise ArticleError("the input looks binary (many control characters), not a text or HTML article")
    return text


def read_file(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file's bytes, refusing what is not a readable regular file of at most `max_bytes`.

    Raises:
        ArticleError: Missing file, dangling symlink, directory, device/pipe, unreadable, or too large;
            the message says which (``source`` is the path).
    """
    p = Path(path)
    where = path_text(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        reason = "dangling symbolic link (its target does not exist)" if p.is_symlink() else "no such file"
        raise ArticleError(reason, where) from None
    except OSError as exc:
        raise ArticleError(f"cannot open the file: {exc.strerror or exc}", where) from None
    if stat.S_ISDIR(st.st_mode):
        raise ArticleError("is a directory, not a file", where)
    if not stat.S_ISREG(st.st_mode):
        raise ArticleError("not a regular file (a device, pipe or socket)", where)
    try:
        with open(p, "rb") as f:
            # One byte past the limit is enough to know it is too big; never hold more.
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ArticleError(f"cannot read the file: {exc.strerror or exc}", where) from None
    if len(data) > max_bytes:
        raise InputTooLarge(f"the file is over the limit of {max_bytes:,} bytes", where)
    return data


def decode_input(data: bytes, where: str | None) -> tuple[str, str]:
    """`decode_bytes` with the error naming `where`; empty input is an error of its own."""
    if not data.strip():
        raise ArticleError("the file is empty" if where else "the input is empty", where)
    try:
        return decode_bytes(data)
    except ArticleError as exc:
        raise type(exc)(exc.reason, where) from None
