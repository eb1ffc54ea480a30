"""Foreign names the finder leaves to the model (莫兰, 杜特尔特, 威廉・莫兰): how the English spells each, so that one
article spells it one way.

No dictionary gives the English of most transliterated names, and pinyin is wrong for them (莫兰 is Moran, not "Mo
Lan"), so the finder gives no hint. The model usually knows the name, but may spell it two ways in one article
("Moran" in one paragraph, "Molan" in the next). After the first pass, the English each segment gives a name is found
by sound (the capitalised words whose consonants match the name's pinyin: 莫兰 m-l-n, "Moran" m-r-n); the article's
spelling (the one most segments use, the first on a tie) joins its name table, so a segment that spells it
otherwise is checked and repaired like a lost name, and later paragraphs streamed one by one are told the form.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from .dictionary import common_english, in_dictionary
from .names import FOREIGN_JOINERS, TRANSLITERATION_CHARS, Name, lac_entities
from .text import name_key

__all__ = ["transliterations", "sound_key", "spelling_in", "article_spellings"]

# How alike the sound keys of a name and an English word must be (difflib ratio): 0.75 takes 金里奇/Gingrich
# (KnlK / KnKlK, 0.89) and 威廉/William and refuses other consonants ("Boran" is not 莫兰). Vowels are not compared,
# so "Milan" would pass for 莫兰: the reader only chooses among the capitalised words of the name's own segment.
MIN_LIKENESS = 0.75
# Letters merged into one class: English and pinyin write the same sound with different letters (l/r, b/p, d/t,
# w/v/f, m/n, and the velars and sibilants: 金里奇 j-q is Gingrich's g-ch, 斯 s, 克 k).
_CLASSES = str.maketrans({"r": "l", "p": "b", "t": "d", "w": "f", "v": "f", "m": "n",
                          **{c: "K" for c in "cgkqjxsz"}})
_VOWELS = set("aeiouy")
_WORD = re.compile(r"[A-Z][a-zA-Z']+(?:-[A-Z][a-zA-Z']+)*")


def sound_key(latin: str) -> str:
    """A coarse key of how a Latin-script word sounds: its first sound, then its consonants by class, repeats
    merged ("Moran" → "nln", "Gingrich" → "KnKlK", "Allen" → "aln"); pinyin and English keys compare."""
    word = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode().lower()
    word = re.sub(r"[^a-z]", "", word).replace("ph", "f").replace("h", "")
    if not word:
        return ""
    head = "a" if word[0] in _VOWELS else word[0].translate(_CLASSES)
    key = head + "".join(c.translate(_CLASSES) for c in word[1:] if c not in _VOWELS)
    return re.sub(r"(.)\1+", r"\1", key)


@functools.lru_cache(maxsize=4096)
def _pinyin_key(word: str) -> str:
    from pypinyin import lazy_pinyin

    return sound_key("".join(lazy_pinyin(word)))


def transliterations(text: str, known: Sequence[Name] = ()) -> list[str]:
    """The transliterated foreign people and places in `text` that no dictionary spells and the finder leaves to the
    model: LAC's people and places made of the characters of the transliteration table, each part of a name joined
    by "·" on its own (威廉・莫兰 → 威廉, 莫兰), in order, once each.

    Args:
        text: Chinese text.
        known: Names that already have an English (the article's name table); they are left out.
    """
    taken = {n.source for n in known}
    out: list[str] = []
    for word, tag, _ in lac_entities(text):
        for part in re.split(f"[{FOREIGN_JOINERS}]", word):
            stem = part[:-1] if tag == "LOC" else part
            if (len(part) >= 2 and part not in taken and all(c in TRANSLITERATION_CHARS for c in stem)
                    and not in_dictionary(part)):
                out.append(part)
    return list(dict.fromkeys(out))


@functools.lru_cache(maxsize=4096)
def spelling_in(english: str, name: str) -> str | None:
    """The word (or two words) of `english` that sounds most like the transliterated `name`, or None.

    ``spelling_in("Navy chief William Moran said", "莫兰")`` is "Moran". Common English words ("More", "Man") are no
    candidates, so a sentence that leaves the name out gives None rather than its nearest word.
    """
    target = _pinyin_key(name)
    if len(target) < 2:
        return None
    from pypinyin import lazy_pinyin

    words = [re.sub(r"'s?$", "", w) for w in _WORD.findall(english)]
    words = [w for w in words if not common_english(w)]
    candidates = words + [f"{a} {b}" for a, b in zip(words, words[1:]) if f"{a} {b}" in english]
    letters = "".join(lazy_pinyin(name))
    # Sound first; on a tie the letters decide (吉尼斯: "Guinness" before "James").
    scored = [(difflib.SequenceMatcher(None, target, sound_key(c)).ratio(),
               difflib.SequenceMatcher(None, letters, c.lower()).ratio(), c) for c in candidates]
    best = max(scored, default=None)
    if best is None or best[0] < MIN_LIKENESS or sound_key(best[2])[:1] != target[:1]:
        return None
    return best[2]


def article_spellings(parts: Sequence[tuple[str, str]], known: Sequence[Name] = (),
                      names: Sequence[str] | None = None) -> list[Name]:
    """One English spelling for each transliterated name of an article, from the English it got so far.

    Args:
        parts: (Chinese source, its English) of the article's segments, in order.
        known: The article's name table; its names are left out.
        names: The transliterations to look at (default: all of `parts`). A caller that streams an article part
            by part passes only the new part's, so each part costs its own names, not the whole article's again.

    Returns:
        A `Name` of kind "foreign" for each transliteration that the segments holding it do not spell one way
        (two spellings, or one segment spelling it and another not): the spelling most segments use, the earliest
        on a tie (one article, one "Moran"). A name spelled one way everywhere, or in one segment only, gives
        none: a table entry would add nothing there, and a wrong reading could only hurt.
    """
    taken = {n.source for n in known}
    if names is None:
        names = transliterations("\n".join(src for src, _ in parts), known)
    out = []
    for name in names:
        if name in taken:
            continue
        seen = [spelling_in(en, name) for src, en in parts if name in src]
        spelled = [s for s in seen if s]
        # A segment that gives no spelling counts as a form of its own ("").
        if len(seen) < 2 or not spelled or len({name_key(s) if s else "" for s in seen}) < 2:
            continue
        counts = Counter(spelled)
        best = max(spelled, key=lambda s: (counts[s], -spelled.index(s)))
        out.append(Name(name, best, "foreign", best, origin="model"))
    return out
