"""The name checks on an English rendering: names of the source it lost (`missing_names`), pinyin people or places
it made up (`unsupported_names`), famous names it borrowed that the source does not give (`borrowed_names`), and the
names a finder missed but the English shows (`recover_names`)."""

from __future__ import annotations

import functools
import re
import unicodedata

from .dictionary import common_english, dictionary_names, literal_in, pinyin_syllables, source_english
from .names import (GIVEN_READINGS, HAN_RUN, PLACE_SUFFIXES, SURNAME_READINGS, SURNAMES, Name, capital, join_syllables,
                    name_pinyin, person_pinyin)
from .offices import form_in, kept_office
from .text import name_key

__all__ = ["missing_names", "unsupported_names", "borrowed_names", "recover_names"]


def missing_names(source: str, english: str, names: list[Name]) -> list[Name]:
    """The `names` present in `source` whose English is absent from `english`.

    Compared by `name_key` over whole words, so "PANG XING-HUO" and "Xian" count for Pang Xinghuo and Xi'an, while
    "Cai Qizhi" does not count for Cai Qi.
    """
    # "Xi Jinping's" / "Xi Jinping’s": the possessive goes before the ASCII fold, which would drop the curly quote.
    folded = re.sub(r"['’]s\b", "", english)
    folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode().lower()
    # "Beijing, Tianjin and Hebei" is 京津冀 as much as "Beijing-Tianjin-Hebei"; no pinyin word is "and".
    every = re.findall(r"[a-z]+", re.sub(r"['’-]", "", folded))
    words = [w for w in every if w != "and"]
    # A quoted term is held to its English word for word ("and" included), in any case: the title's capitals count.
    # An office is kept by its English or a form references use ("Deputy Mayor" for 副市长).
    longer = [m.source for m in names if m.kind == "office"]
    return [n for n in names if n.source in source
            and not (kept_office(english, n) or _only_inside(source, n.source, longer) if n.kind == "office"
                     else _has_foreign(words, n) if n.kind == "foreign" else _has_words(every, name_key(n.english))
                     if n.kind == "term" else _has_words(words, name_key(_core(n)))
                     or any(form_in(english, f) for f in n.accepted))]


def _only_inside(source: str, term: str, longer: list[str]) -> bool:
    """Every occurrence of `term` in `source` is part of a longer one of `longer` (市委 in 市委常委会), whose own
    check covers it."""
    spans = [(m.start(), m.start() + len(other)) for other in longer if term in other and other != term
             for m in re.finditer(re.escape(other), source)]
    return all(any(s <= m.start() and m.end() <= e for s, e in spans) for m in re.finditer(re.escape(term), source))


def _has_foreign(words: list[str], name: Name) -> bool:
    """A dictionary name is kept by its first word, in any form: Hungary by "Hungarian", 民主党 by "democratic",
    苹果公司 (Apple Inc.) by "Apple". A name of three words or more ("Chinese Academy of Science") is a hint only:
    references word such names in many ways."""
    core = _core(name).split()
    if len(core) >= 3:
        return True
    key = name_key(core[0])
    if not key:
        return True
    # Five letters carry the name through its forms (Catalonia/Catalan, Afghanistan/Afghans, Iran/Iranian).
    return any(w == key or w == key + "s" or (len(key) >= 4 and w.startswith(key[:5])) for w in words)


def _has_words(words: list[str], key: str) -> bool:
    for i in range(len(words)):
        joined = ""
        for w in words[i:]:
            joined += w
            if joined == key:
                return True
            if len(joined) >= len(key) or not key.startswith(joined):
                break
    return False


def _core(name: Name) -> str:
    if name.core:
        return name.core
    # "Weining County" may come out as "Weining"; the pinyin part is what must be right.
    if name.kind == "place":
        for suffix in {s for s in PLACE_SUFFIXES.values() if s}:
            if name.english.endswith(" " + suffix):
                return name.english[: -len(suffix) - 1]
    return name.english


@functools.lru_cache(maxsize=1)
def _surnamepinyin_syllables() -> frozenset[str]:
    return frozenset(SURNAME_READINGS.get(c) or "".join(name_pinyin(c)) for c in SURNAMES)


def _pinyin_word(word: str) -> bool:
    """`word` splits into one or two pinyin syllables ("Jingyi", "Qi", "Xi'an")."""
    w = word.lower().replace("'", "")
    syl = pinyin_syllables()
    return w in syl or any(w[:i] in syl and w[i:] in syl for i in range(1, len(w)))


# A Chinese person's name in English: a surname syllable, then a given name of one or two syllables.
_PINYIN_NAME = re.compile(r"\b([A-Z][a-z]{0,5}) ([A-Z][a-z']{1,11})\b")
# Pairs that read as pinyin but are English names of their own.
_NOT_PINYIN_NAMES = {"hongkong", "hongkongs", "taiwan", "chiangkaishek", "sunyatsen", "yangtze"}
# English words that split into pinyin syllables ("Wen Lake"): never a given name here.
_ENGLISH_WORDS = {"lake", "hall", "bay", "line", "lane", "dean", "bean", "tea", "ten", "tan", "tang", "men", "hang",
                  "long", "shore", "gene", "jean", "ran", "pen", "den", "hen", "rang", "sang", "ban", "bin", "pin"}


# A place or body in pinyin and English: "Xingyun Airlines", "Kunshan Grassland".
_PINYIN_PLACE = re.compile(r"\b((?:[A-Z][a-z']+ ){1,2})(Airlines|Airline|Airways|Temple|Grassland|District|County|"
                           r"Province|Town|Township|Village|Lake|River|Mountain|University|Group|Bank|Airport|Bridge|"
                           r"Park|Port|Island|Hospital)\b")


def unsupported_names(source: str, english: str, *, places: bool = True) -> list[str]:
    """Chinese-looking names in `english` that are not the pinyin of anything in `source`.

    People: "Guo Jingyi" for 大鹏 (a person made up), "Chu Tinghua" for 邱腾华, "Huang Yanyu" for 黄某某: each is a
    surname syllable and a given name of pinyin syllables whose letters appear nowhere in the source's own pinyin.
    With `places`, also places and bodies of pinyin words and an English kind: "Xingyun Airlines" for 祥鹏航空,
    "Kanshan Grassland" for 关山草原, unless CC-CEDICT gives the words for the source ("Shaanxi" for 陕西).
    """
    han = "".join(HAN_RUN.findall(source))
    if not han:
        return []
    readings = name_pinyin(han)
    # Both the default readings and the name readings (刘长宝 is Liu Changbao, not "Liu Zhangbao").
    variants = name_key("".join(readings)) + " " + name_key("".join(
        SURNAME_READINGS.get(c) or GIVEN_READINGS.get(c) or p for c, p in zip(han, readings)))
    out = []
    for m in _PINYIN_NAME.finditer(english):
        surname, given = m.group(1), re.sub(r"'s$", "", m.group(2))
        if given.lower() in _ENGLISH_WORDS:
            continue
        key = name_key(surname + given)
        if (surname.lower() not in _surnamepinyin_syllables() or not _pinyin_word(given) or key in _NOT_PINYIN_NAMES
                or key in variants):
            continue
        out.append(m.group(0))
    literal: frozenset[str] | None = None
    for m in _PINYIN_PLACE.finditer(english) if places else ():
        stem = m.group(1).split()
        if not all(_pinyin_word(w) and not common_english(w) for w in stem) or name_key("".join(stem)) in variants:
            continue
        literal = source_english(source) if literal is None else literal
        if not all(w.lower() in literal for w in stem):
            out.append(m.group(0))
    return out


# Chinese news writes 党 for the Communist Party of China and 共和国 for the People's Republic.
_IMPLIED = {"共产党": "党", "中国共产党": "党", "中华人民共和国": "共和国"}


def _given_by(word: str, source: str) -> bool:
    """`source` names `word` in full, or as a short form: 美 for 美国, 海航 for 海南航空 (its characters in order,
    from the first), or close: 烈士纪念日 for 亡兵纪念日 (three in four of its characters within a few characters)."""
    if word in source or _IMPLIED.get(word, "\0") in source:
        return True
    if len(word) == 2 and word[1] == "国" and word[0] in source:
        return True
    span = len(word) + 2
    # Three characters or more: two of a two-character name near each other say little (滹沱河，黄土 is no 黄河).
    if len(word) >= 3 and any(sum(c in source[at:at + span] for c in word) >= 0.75 * len(word)
           for at in range(max(1, len(source) - span + 1))):
        return True
    for at in (m.start() for m in re.finditer(re.escape(word[0]), source)):
        for n in range(2, min(len(word), 6) + 1):
            rest = iter(word)
            if all(c in rest for c in source[at:at + n]):
                return True
    return False


def borrowed_names(source: str, english: str) -> list[str]:
    """Names in `english` that CC-CEDICT knows and `source` does not give: "Buckingham Palace" for 京士威 (Kingsway),
    "Associated Press" for 安莎通讯社 (Ansa), "Delta Air Lines" for 祥鹏航空 (Lucky Air), "Kim Jong Il" for 特金会
    (the Trump-Kim summit).

    A small model fills a name it does not know with a famous one; the dictionary says which Chinese words a famous
    name stands for, and none of them is in the source. Names of two words or more only: one word ("Beijing",
    "Kim") stands for too much.
    """
    found = dictionary_names(english)
    if not found:
        return []
    letters = name_key(source)
    # Homophones: "Chaoyang District" is 潮阳区 to the dictionary and 朝阳区 in the source.
    sounds = " " + " ".join(name_pinyin(source)) + " "
    out: list[str] = []
    for phrase, words in dict(found).items():  # each name once, however often the English repeats it
        if name_key(phrase) in letters or any(_given_by(w, source) or f" {' '.join(name_pinyin(w))} " in sounds
                                              for w in words):
            continue
        # A literal translation names what the source says (美国国家篮球协会 "National Basketball Association"), in one
        # stretch of it: 江 ("river") and 黄土 ("yellow") far apart make no "Yellow River".
        content = [w for w in re.findall(r"[a-z]+", phrase.lower()) if len(w) > 2 and w not in ("the", "and", "for")]
        if literal_in(source, content):
            continue
        out.append(phrase)
    return out


def recover_names(source: str, english: str) -> list[Name]:
    """The source's people behind the pinyin names `english` got wrong: "Wang Yong" → 汪洋 (Wang Yang), "Tang Wei" →
    谭卫 (Tan Wei), "Hu Jincai" → 惠进才 (Hui Jincai).

    For each name of `unsupported_names`, the 2-3 character run of the source that starts with a surname and whose
    pinyin is closest to it (at least 70 % alike), so a retry can be told the right form.
    """
    import difflib

    wrong = unsupported_names(source, english, places=False)
    if not wrong:
        return []
    # Every 2-3 character run is a candidate (汪洋 is also "vast ocean", 惠 and 燕 are rarer surnames than the
    # list holds): only one that reads almost like the wrong name is taken.
    candidates: dict[str, str] = {}
    for run in HAN_RUN.finditer(source):
        text = run.group(0)
        for i in range(len(text)):
            for n in (2, 3):
                word = text[i:i + n]
                if len(word) == n and word not in candidates:
                    syllables = name_pinyin(word)
                    candidates[word] = person_pinyin(word) or \
                        f"{capital(syllables[0])} {capital(join_syllables(syllables[1:]))}"
    out: list[Name] = []
    for name in wrong:
        key = name_key(name)
        # Alike first, then the shorter (汪洋 before 汪洋出 when both read close to "Wang Yong").
        scored = sorted(((round(difflib.SequenceMatcher(None, key, name_key(e)).ratio(), 2), -len(w), w, e)
                         for w, e in candidates.items()), reverse=True)
        best = next(((r, w, e) for r, _, w, e in scored if r >= 0.75 and name_key(e)[:1] == key[:1]), None)
        if best and all(n.source != best[1] for n in out):
            out.append(Name(best[1], best[2], "person"))
    return out
