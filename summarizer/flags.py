"""The closed vocabulary of what the checks say, and its records: a `Flag` on a sentence pair, a `Finding` on an
article. A warning's English is made from its record here, in one place, so code and reports read kinds, never
words."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FLAGS", "WARNING_FLAGS", "ARTICLE_KINDS", "Flag", "Finding"]

# Sentence flags: what each says to a reader, and the sentence an article's warning of that kind reads ({where} is
# the English title, paragraph or summary; {detail} what exactly). The first group is what the checks doubt (each
# also gives the article a warning); the last two say how the English was made.
_SENTENCE_FLAGS = {
    "number_lost": ("a number of the source is not in the English",
                    "numbers not kept in the English {where}: {detail}"),
    "name_missing": ("a name of the source is not in the English in its expected form",
                     "names not kept in the English {where}: {detail}"),
    "office_wrong": ("an office or party or state body is not in the English official media use",
                     "offices or bodies not in their standard English in the English {where}: {detail}"),
    "term_unverified": ("the model's English for a term the article repeats was not confirmed, so it is not held",
                        "terms whose English the model gave only once or two ways, unconfirmed, in the English {where}: "
                        "{detail}"),
    "term_inconsistent": ("a name or quoted term reads differently here than where the article first gave it",
                          "terms written otherwise than in the rest of the article in the English {where}: {detail}"),
    "summary_unsupported": ("the English summary gives a name or number the English article does not",
                            "the English summary gives what the English article does not: {detail}"),
    "name_unsupported": ("the English gives a name the source does not (a pinyin person or place, or a famous name)",
                         "names in the English {where} that the source does not have: {detail}"),
    "weekday_added": ("the English names a weekday the source does not give",
                      "the English {where} names a weekday the source does not give"),
    "month_added": ("the English names a month the source (and its dateline) does not give",
                    "the English {where} names a month the source does not give"),
    "year_added": ("the English names a year the source does not give",
                   "the English {where} names a year the source does not give"),
    "description": ("the English describes the text instead of translating it",
                    "the English {where} describes the text instead of translating it"),
    "content_short": ("the English is far shorter than the source: content left out?",
                      "the English {where} is far shorter than its source (content left out?)"),
    "chinese_left": ("Chinese characters left in the English", "Chinese left in the English {where}: {detail}"),
    "glossary_missed": ("a glossary term is not translated as the glossary says",
                        "glossary terms not followed in the English {where}: {detail}"),
    "repaired": ("re-translated because the first English failed a check", ""),
    "sampled": ("taken from sampled draws after greedy retries lost a number", ""),
}
FLAGS = {kind: meaning for kind, (meaning, _) in _SENTENCE_FLAGS.items()}
WARNING_FLAGS = tuple(k for k in FLAGS if k not in ("repaired", "sampled"))

# Warnings about a whole article or its Chinese summary, which no sentence pair carries.
_ARTICLE = {
    "not_chinese": ("the article is not Chinese",
                    "the article is not Chinese: {detail}; the summary and translation may be poor"),
    "summary_copies_lead": ("the Chinese summary copies the first paragraph", "summary copies the first paragraph"),
    "summary_fallback": ("the model's summary failed its checks; the extractive summary stands in",
                         "model summary {detail}; used the extractive summary instead"),
    "summary_numbers": ("the Chinese summary has numbers the article does not give",
                        "summary has numbers not in the article: {detail}"),
}
ARTICLE_KINDS = {kind: meaning for kind, (meaning, _) in _ARTICLE.items()}
_SENTENCES = {kind: sentence for table in (_SENTENCE_FLAGS, _ARTICLE) for kind, (_, sentence) in table.items()}


@dataclass(frozen=True)
class Flag:
    """Why a sentence pair is doubted (or how it was made)."""

    # One of `FLAGS`.
    kind: str
    # What exactly: the lost number, "蔡奇 (Cai Qi)", the invented name; "" where the kind says it all.
    detail: str = ""


@dataclass(frozen=True)
class Finding:
    """One warning about an article, as a record: the JSONL, the API and the report carry it, and its English
    (`text`, the ``warnings`` strings) is made from it."""

    # One of `WARNING_FLAGS` (a check on the English) or `ARTICLE_KINDS`.
    kind: str
    # What exactly (the lost numbers, "蔡奇 (Cai Qi)"); "" where the kind says it all.
    detail: str = ""
    # Where it lands: "title", "para", "summary" (the English ones, as sentence pairs' slots), "summary_zh" or
    # "article".
    where: str = "article"
    # The paragraph's index for "para"; 0 elsewhere.
    index: int = 0

    def __post_init__(self):
        if self.kind not in _SENTENCES or not _SENTENCES[self.kind]:
            raise ValueError(f"not a warning kind: {self.kind!r}")

    @property
    def text(self) -> str:
        """The warning as a sentence for a reader."""
        return _SENTENCES[self.kind].format(where=self.where, detail=self.detail)

    def to_dict(self) -> dict[str, str | int]:
        """A JSON-serialisable dict."""
        return {"kind": self.kind, "detail": self.detail, "where": self.where, "index": self.index}
