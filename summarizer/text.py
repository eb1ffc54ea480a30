"""Chinese sentence splitting, chunking within a token budget, and script detection."""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

__all__ = ["split_sentences", "chunk_sentences", "han_chars", "has_han", "han_ratio"]

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]")
_ENDERS = "。！？!?；;"
_CLOSERS = "”’」』）)】》\"'"
# A sentence ends after a run of enders (or an ellipsis) plus any closing quotes/brackets.
# '.' only ends a sentence when followed by whitespace and not inside a number (6.5, 1.2亿).
_BOUNDARY = re.compile(
    rf"(?:[{_ENDERS}]+|…(?:\s*…)*|\.{{3,}}|(?<![0-9A-Z])\.(?=\s))[{re.escape(_CLOSERS)}]*"
)


def han_chars(text: str) -> list[str]:
    """Han (Chinese) characters in `text`, in order."""
    return _HAN.findall(text)


def has_han(text: str) -> bool:
    """True when `text` contains at least one Han character."""
    return _HAN.search(text) is not None


def han_ratio(text: str) -> float:
    """Share of non-space characters that are Han."""
    chars = [c for c in text if not c.isspace()]
    return len(han_chars(text)) / len(chars) if chars else 0.0


def split_sentences(text: str) -> list[str]:
    """Split Chinese (or mixed) text into sentences.

    Sentences end at 。！？；, an ellipsis (…… or ...), or '!'/'?'; closing quotes and brackets
    (”」』）》) stay attached to the sentence they close. Decimal points (6.5), fractions (1/3)
    and newlines inside a paragraph are not boundaries unless a newline separates paragraphs.

    Args:
        text: Input text; newlines are treated as hard boundaries.

    Returns:
        Non-empty, stripped sentences whose concatenation equals the input minus whitespace at the cuts.
    """
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        start = 0
        for m in _BOUNDARY.finditer(line):
            end = m.end()
            piece = line[start:end].strip()
            if piece:
                out.append(piece)
            start = end
        rest = line[start:].strip()
        if rest:
            # An ender run followed only by a closing quote was attached above; anything left is a tail.
            if out and all(ch in _CLOSERS for ch in rest):
                out[-1] += rest
            else:
                out.append(rest)
    return out


def chunk_sentences(
    sentences: Sequence[str],
    max_tokens: int,
    count_tokens: Callable[[str], int] = len,
) -> list[list[str]]:
    """Pack consecutive sentences into chunks of at most `max_tokens` each.

    A sentence longer than the budget is split at commas (，、,) and, failing that, cut by length,
    so no text is ever dropped.

    Args:
        sentences: Sentences in order.
        max_tokens: Budget per chunk, as measured by `count_tokens`.
        count_tokens: Token counter (default: characters).

    Returns:
        Chunks of sentences, in order, covering all input text.
    """
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for piece in _fit_pieces(sentences, max_tokens, count_tokens):
        n = count_tokens(piece)
        if current and used + n > max_tokens:
            chunks.append(current)
            current, used = [], 0
        current.append(piece)
        used += n
    if current:
        chunks.append(current)
    return chunks


def _fit_pieces(sentences: Iterable[str], max_tokens: int, count: Callable[[str], int]) -> Iterable[str]:
    for sentence in sentences:
        if count(sentence) <= max_tokens:
            yield sentence
            continue
        parts = re.split(r"(?<=[，、,：:])", sentence)
        buf = ""
        for part in parts:
            if buf and count(buf + part) > max_tokens:
                yield from _hard_cut(buf, max_tokens, count)
                buf = ""
            buf += part
        if buf:
            yield from _hard_cut(buf, max_tokens, count)


def _hard_cut(text: str, max_tokens: int, count: Callable[[str], int]) -> Iterable[str]:
    while count(text) > max_tokens:
        lo, hi = 1, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        yield text[:lo]
        text = text[lo:]
    if text:
        yield text
