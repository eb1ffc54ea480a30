"""The article's term table: one English for each name and quoted term of an article, used by every segment, the
title and the English summary, and carried in the record as ``terms``.

Names come from the finder (`names.find_names`: CC-CEDICT, or the pinyin of a Chinese name) and the user's glossary.
A quoted term (“不忘初心、牢记使命”, 《政府工作报告》) has no dictionary English, so the first English the model writes
for it in the body becomes the article's: a segment whose source quotes as many terms as its English quotes spans
pairs them in order. Later segments, the title and the summary are then held to that English by the name check
(`namecheck.missing_names`), retried once with it as a hint, and flagged ``term_inconsistent`` if they still differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from .names import FOREIGN_JOINERS, Name
from .text import has_han

__all__ = ["Term", "quoted_terms", "renderings", "first_renderings", "backed_by_dictionary", "confirmed", "terms_of",
           "summary_unsupported"]


@dataclass(frozen=True)
class Term:
    """One source term and the English the whole article uses for it."""

    # The term as the source writes it: "蔡奇", "不忘初心、牢记使命".
    zh: str
    # The one English for it in this article: "Cai Qi", "stay true to our original aspiration ...".
    en: str
    # Where that English came from: "glossary" (the user's), "dictionary" (CC-CEDICT, or the pinyin a Chinese
    # name is spelled in), "gazetteer" (China's places), "office table" (offices and bodies), or "model" (the
    # English the model wrote for it in this article, confirmed: two renderings agree or the dictionary backs it).
    source: str

    def to_dict(self) -> dict[str, str]:
        """``{"zh", "en", "source"}``."""
        return {"zh": self.zh, "en": self.en, "source": self.source}


# A quoted term: Chinese quotation marks or title marks around 2-16 characters with no sentence punctuation (a
# quoted sentence is speech, not a term).
_QUOTED_ZH = re.compile(r"“([^“”]{2,16})”|《([^《》]{2,16})》|「([^「」]{2,16})」|『([^『』]{2,16})』")
_SPEECH = re.compile(r"[，。！？；：,!?;:\n]")
# A quoted English span: straight or curly double quotes, at most 12 words, no sentence end inside.
_QUOTED_EN = re.compile(r"\"([^\"\n]{2,120})\"|“([^“”\n]{2,120})”")
_MOST_WORDS = 12


def quoted_terms(text: str) -> list[str]:
    """The quoted terms of `text` in order of appearance, each once: slogans, titles, set phrases in “…”, 《…》, 「…」.

    A quoted sentence (it has a comma or a full stop inside) is a quotation, not a term, and is left out.
    """
    out: list[str] = []
    for m in _QUOTED_ZH.finditer(text):
        term = next(g for g in m.groups() if g is not None).strip()
        if term and not _SPEECH.search(term) and sum(map(has_han, term)) >= 2 and term not in out:
            out.append(term)
    return out


def _quoted_english(english: str) -> list[str]:
    spans = [next(g for g in m.groups() if g is not None).strip(" ,.") for m in _QUOTED_EN.finditer(english)]
    return [s for s in spans if s and len(s.split()) <= _MOST_WORDS and not has_han(s)]


def _quotes_in_order(source: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None).strip() for m in _QUOTED_ZH.finditer(source)]


def renderings(parts: Sequence[tuple[str, str]], terms: Sequence[str]) -> dict[str, list[str]]:
    """Every English the model wrote for each quoted term, from (Chinese source, English) pairs in reading order.

    A pair tells a term's English only where its source quotes exactly as many phrases as its English has quoted
    spans: then the k-th Chinese quote is the k-th English one, unless that English is another term's too. A term no
    pair tells this way gets none.
    """
    wanted = set(terms)
    found: dict[str, list[str]] = {}
    for source, english in parts:
        quotes = _quotes_in_order(source)
        if not wanted & set(quotes):
            continue
        spans = _quoted_english(english)
        if len(spans) != len(quotes):
            continue
        # Two different terms rendered alike (the model repeated one quote for both) tell nothing about either.
        same = {en.lower() for en in spans if sum(e.lower() == en.lower() for e in spans) > 1}
        taken = {en[0].lower(): zh for zh, en in found.items()}
        for zh, en in zip(quotes, spans):
            if zh in wanted and en.lower() not in same and taken.get(en.lower(), zh) == zh:
                found.setdefault(zh, []).append(en)
                taken.setdefault(en.lower(), zh)
    return found


def first_renderings(parts: Sequence[tuple[str, str]], terms: Sequence[str]) -> dict[str, str]:
    """The English the model first wrote for each quoted term (`renderings`)."""
    return {zh: ens[0] for zh, ens in renderings(parts, terms).items()}


# English words a gloss and a rendering share that say nothing of the term.
_EMPTY_WORDS = {"the", "and", "for", "with", "our", "its", "their", "from", "into", "that", "this", "one", "two",
                "all", "not", "are", "was", "has", "have", "been", "of", "to", "in", "on", "by", "as", "an", "a"}


def backed_by_dictionary(term: str, english: str) -> bool:
    """The back-check of a model's English for a term: CC-CEDICT's English of at least half the term's words (and
    one at least) is in it, a word of five letters or more by its first five. "stay true to the original
    aspiration" passes for 不忘初心 (初心: "original intention"); "pay for consumption" fails for 以耗养医 (only 耗,
    "to consume")."""
    import jieba

    from .dictionary import source_english

    from .dictionary import lookup

    # A piece jieba cuts that is no dictionary word (以耗, 养医) is read character by character.
    pieces = [p for w in jieba.lcut(term) for p in ([w] if len(w) == 1 or lookup(w) else list(w))]
    if any(c in FOREIGN_JOINERS for c in term):
        return True  # a transliterated name (哈里·杜鲁门): the foreign-name rule holds it to one spelling
    words = [w for w in pieces if has_han(w) and w not in "的了和与及之以对在把为是"]
    have = {w for w in re.findall(r"[a-z]+", english.lower()) if w not in _EMPTY_WORDS}
    if not words or not have:
        return False

    def found(word: str) -> bool:
        gloss = {g for g in source_english(word) if g not in _EMPTY_WORDS and len(g) >= 3}
        # By its first five letters, or inside a longer word (核 "nuclear" in "denuclearization").
        return any(h in gloss or (len(h) >= 5 and any(g[:5] == h[:5] or (len(g) >= 5 and g in h) for g in gloss))
                   for h in have)

    return 2 * sum(map(found, words)) >= len(words)


def confirmed(term: str, english: Sequence[str]) -> str | None:
    """The model's English for a term to hold the article to, or None while it is unconfirmed: two renderings agree
    (in any case), or the first passes the dictionary's back-check (`backed_by_dictionary`). A wrong first rendering
    held everywhere is worse than one wrong once."""
    seen: dict[str, str] = {}
    for en in english:
        if en.lower() in seen:
            return seen[en.lower()]
        seen[en.lower()] = en
    return english[0] if english and backed_by_dictionary(term, english[0]) else None


def terms_of(text: str, names: Sequence[Name], glossary: dict[str, str] | None = None) -> list[Term]:
    """The article's term table as records: the glossary's terms the text holds, then its names and quoted terms.

    Args:
        text: The article's Chinese (title, paragraphs, summary).
        names: The article's name table as translation left it (finder, model spellings, quoted terms).
        glossary: The user's required translations.
    """
    out: dict[str, Term] = {}
    for zh, en in (glossary or {}).items():
        if zh in text:
            out[zh] = Term(zh, en, "glossary")
    for n in names:
        if n.source in text and n.source not in out:
            out[n.source] = Term(n.source, n.english, n.origin or "dictionary")
    return list(out.values())


# Capitalised words of an English summary that are names to look for in the body's English (a sentence's first word
# and the words every sentence may start with are not).
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*)\b")


def summary_unsupported(summary_en: str, body_en: str) -> list[str]:
    """Names in the English summary that the body's English (title and paragraphs) never writes: where the summary's
    English parts from the body's. Numbers are checked apart (`numbers.english_numbers`)."""
    body = body_en.lower()
    seen: list[str] = []
    for m in _CAPITALISED.finditer(summary_en):
        word = m.group(1)
        if word.lower() not in body and word not in seen:
            seen.append(word)
    return seen
