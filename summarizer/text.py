"""Chinese sentence splitting, chunking within a token budget, and script detection (what counts as Chinese)."""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Iterable, Sequence

__all__ = ["printable", "name_key", "split_sentences", "chunk_sentences", "han_chars", "has_han", "is_han", "han_ratio", "not_chinese", "ascii_punctuation", "HAN_CLASS",
           "MONTH_NAMES"]

# The one definition of a Chinese (Han) character in the package: CJK Unified Ideographs with Extension A,
# the compatibility block, and Extension B (rare names are written with it).
HAN_CLASS = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]"
_HAN = re.compile(HAN_CLASS)
# C0 and C1 control characters and DEL: a terminal runs ESC and BEL sequences (a title change, a bell, cleared lines).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` safe to show on a terminal or in a report: control characters (ESC, BEL, newlines) as ``\\x1b``."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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


def is_han(ch: str) -> bool:
    """True when the single character `ch` is a Han character."""
    return _HAN.fullmatch(ch) is not None


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
    while text:
        # Search for the cut inside a window a few times the budget, never over the whole remaining
        # text: a megabyte without punctuation would otherwise be re-tokenized for every piece.
        window = max_tokens * 4
        while window < len(text) and count(text[:window]) <= max_tokens:
            window *= 2
        if window >= len(text) and count(text) <= max_tokens:
            yield text
            return
        lo, hi = 1, min(window, len(text))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        yield text[:lo]
        text = text[lo:]


MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")


_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z]")


# Chinese punctuation that NFKC leaves as it is, in the ASCII an English text uses.
_CJK_PUNCT = str.maketrans({"。": ". ", "、": ", ", "“": '"', "”": '"', "‘": "'", "’": "'", "《": '"', "》": '"',
                            "「": '"', "」": '"', "『": '"', "』": '"', "【": "[", "】": "]", "〔": "(", "〕": ")",
                            "…": "...", "—": "-", "·": " "})


def ascii_punctuation(text: str) -> str:
    """A text with no Han in it as English writes it: full-width letters, digits and punctuation in ASCII (NFKC),
    Chinese full stops, enumeration commas and quotes too. Such a paragraph (digits, a list of marks) is copied
    into the English, not sent to the model."""
    out = unicodedata.normalize("NFKC", text).translate(_CJK_PUNCT)
    return re.sub(r"[ \t]{2,}", " ", out).strip()


def not_chinese(text: str) -> str | None:
    """Why `text` does not read as Chinese (e.g. ``"it looks Japanese (kana)"``), or None when it does.

    Japanese is told by kana and Korean by Hangul, since both also use Han characters; anything else
    with fewer than 30 % Han among its letters is mostly another script.
    """
    sample = text[:20_000]
    han = len(han_chars(sample))
    kana, hangul, latin = len(_KANA.findall(sample)), len(_HANGUL.findall(sample)), len(_LATIN.findall(sample))
    letters = han + kana + hangul + latin
    if not letters:
        return "it has no letters at all"
    if kana >= max(3, 0.05 * letters):
        return "it looks Japanese (kana)"
    if hangul >= max(3, 0.05 * letters):
        return "it looks Korean (Hangul)"
    if han < 0.3 * letters:
        return "it is mostly not Chinese characters"
    return None


def name_key(text: str) -> str:
    """Lower-case letters only, tone marks and ü folded, so "Lü Hui'en" and "Lu Huien" compare equal."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())
