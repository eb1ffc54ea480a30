"""Offices and party and state bodies of Chinese official news, and the English official media print for them.

The table (``data/offices.tsv``, one row per term with its source, CC-CEDICT or state media usage, each checked by
hand) gives 总书记 "General Secretary", 国务委员 "State Councilor", 国家发改委 "National Development and Reform
Commission". Local titles are built from their parts: a place, a level (省委, 市委, 县委 …) and a role (书记, 常委,
常委会, 宣传部部长 …), so 北京市委常委会 is the "Standing Committee of the Beijing Municipal Party Committee" and a bare
市委书记 later in the same article is Beijing's too. A person's short title goes before the name as the style guide
writes it: 习近平总书记 → "General Secretary Xi Jinping".

Each found term is a `Name` of kind "office": a hint in the prompt like a name, and checked in the English against
the forms references accept (`Name.accepted`); a rendering that holds none is retried with the hint, then flagged
``office_wrong``.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from .gazetteer import DATA_DIR, gazetteer_names, places
from .names import TRANSLITERATION_CHARS, Name, find_names

__all__ = ["Office", "office_table", "find_offices", "names_and_offices", "form_in", "kept_office", "fix_titles"]


@dataclass(frozen=True)
class Office:
    """One row of the office table."""

    # The term as Chinese news writes it: "总书记", "市委", "常委会".
    zh: str
    # "office" (a title held by a person), "body" (a party or state organ), "level" (a local party committee,
    # which a place goes before and a role after) or "role" (what follows a level: 书记, 常委会).
    kind: str
    # The English put in the prompt; a role's has "{b}" where its level's English goes.
    english: str
    # Forms a check takes as right besides `english`: each a phrase, or phrases joined by "+" that must all appear.
    accepted: tuple[str, ...]
    # Where the English comes from: "CC-CEDICT", "state media" (the form Xinhua and China Daily print), or both.
    source: str


@functools.lru_cache(maxsize=1)
def office_table() -> dict[str, Office]:
    """The office table by Chinese term, loaded once from ``data/offices.tsv``."""
    out: dict[str, Office] = {}
    with (DATA_DIR / "offices.tsv").open(encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if not row or row[0].startswith("#"):
                continue
            zh, kind, english, accepted, source = row
            out[zh] = Office(zh, kind, english, tuple(a for a in accepted.split("|") if a), source)
    return out


def _of_kind(*kinds: str) -> list[str]:
    return sorted((zh for zh, o in office_table().items() if o.kind in kinds), key=len, reverse=True)


@functools.lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, re.Pattern]:
    local = re.compile(f"({'|'.join(_of_kind('level'))})({'|'.join(_of_kind('role'))})?")
    plain = re.compile("|".join(_of_kind("office", "body")))
    return local, plain


def form_in(english: str, form: str) -> bool:
    """`form` is in `english`: each of its "+"-joined phrases as whole words, in any case ("Standing
    Committee+People's Congress")."""
    # "Vice-Governor" is "Vice Governor", "People’s" is "People's", "Lüliang" is "Luliang".
    def fold(value: str) -> str:
        value = unicodedata.normalize("NFKD", re.sub(r"[’‘]", "'", value)).encode("ascii", "ignore").decode()
        return value.replace("-", " ").lower()

    text = fold(english)
    return all(re.search(rf"(?<!\w){re.escape(fold(part.strip()))}(?!\w)", text) for part in form.split("+"))


def kept_office(english: str, name: Name) -> bool:
    """The English holds the office or body `name` in its own English or a form references use."""
    return any(form_in(english, f) for f in (name.english, *name.accepted))


def _place_before(text: str, at: int) -> str:
    """The English of the gazetteer place whose name ends at `at` (北京 before 市委, 河北 before 省委), or ""."""
    table = places()
    for n in range(min(8, at), 1, -1):
        word = text[at - n:at]
        if word in table and table[word].source == "division":
            return table[word].core or table[word].english
    return ""


def _abroad(text: str, at: int) -> bool:
    """The office follows a transliterated foreign name (圣保罗市长, the mayor of São Paulo): not a Chinese office,
    and a hint in Chinese official English only misleads (FLORES dev row 64 became "the mayor of St. Paul,
    Massachusetts" with "市长 = Mayor" in its prompt)."""
    before = re.split(r"[^\u4e00-\u9fff]", text[max(0, at - 4):at])[-1]
    return len(before) >= 3 and all(c in TRANSLITERATION_CHARS for c in before[-3:]) and before[-3:] not in places()


def find_offices(text: str, people: Sequence[Name] = ()) -> list[Name]:
    """The offices and bodies of `text`, each once, in order: kind "office" `Name`s with the English to hint and the
    forms to accept.

    Args:
        text: Chinese text (an article, or one segment).
        people: The article's people (`names.find_names`): a person right before or after a short title gets the
            title in front, "General Secretary Xi Jinping".

    Returns:
        e.g. ``[Name("市委常委会", "Standing Committee of the Beijing Municipal Party Committee", "office",
        accepted=("Standing Committee",), origin="office table")]``.
    """
    table = office_table()
    local, plain = _patterns()
    found: dict[str, Name] = {}
    taken: list[tuple[int, int]] = []
    matches = [(m, _place_before(text, m.start())) for m in local.finditer(text)]
    # A bare 市委 is the committee of the place the article gives that level with (北京市委), before or after it;
    # where it gives two, the last one before.
    given: dict[str, list[str]] = {}
    for m, place in matches:
        if place and place not in given.setdefault(m.group(1), []):
            given[m.group(1)].append(place)
    place_of = {level: places_[0] for level, places_ in given.items() if len(places_) == 1}
    for m, place in matches:
        level, role = table[m.group(1)], table.get(m.group(2) or "")
        if place:
            place_of[level.zh] = place
        place = place or place_of.get(level.zh, "")
        body = f"{place} {level.english}".strip()
        english = role.english.replace("{b}", body) if role else body
        accepted = role.accepted if role else level.accepted
        found.setdefault(m.group(0), Name(m.group(0), english, "office", accepted=accepted, origin="office table"))
        taken.append(m.span())
    for m in plain.finditer(text):
        if any(s <= m.start() < e for s, e in taken) or _abroad(text, m.start()):
            continue
        office = table[m.group(0)]
        found.setdefault(m.group(0), Name(m.group(0), office.english, "office", accepted=office.accepted,
                                          origin="office table"))
        if office.kind != "office" or len(office.english.split()) > 3:
            continue
        # A person's short title goes before the name: 习近平总书记 and 国务委员王毅 are "General Secretary Xi Jinping"
        # and "State Councilor Wang Yi".
        for person in people:
            if person.kind != "person":
                continue
            for span in (person.source + m.group(0), m.group(0) + person.source):
                if span in text and span not in found:
                    found[span] = Name(span, f"{office.english} {person.english}", "office", core=person.english,
                                       accepted=office.accepted, origin="office table")
    order = {k: text.find(k) for k in found}
    return sorted(found.values(), key=lambda n: order[n.source])


def names_and_offices(text: str) -> list[Name]:
    """The names of `text` (`names.find_names`, and the gazetteer's places), then its offices and bodies
    (`find_offices`)."""
    names = gazetteer_names(text, find_names(text))
    offices = find_offices(text, names)
    # The office table's English wins over the dictionary's for the same term (财政部).
    held = {o.source for o in offices}
    return [n for n in names if n.source not in held] + offices


# Titles a small model puts before a Chinese leader's name in place of the one the source gives.
_OTHER_TITLE = (r"(?:(?:Chinese|China's|CPC|Communist Party)\s+)?"
                r"(?:Chairman|(?:Vice )?President|(?:Vice )?Premier|Prime Minister|(?:Foreign )?Minister|Mr\.?|Comrade|"
                r"Leader)\s+")


def fix_titles(source: str, english: str, names: Sequence[Name]) -> str:
    """Put a person's title from the source before the name where the English left it out or wrote another: the
    source's 习近平总书记 and the English's "President Xi Jinping" or "Xi Jinping" become "General Secretary Xi
    Jinping". Only where the source gives the person with that title alone (never beside another of their titles),
    and the English holds the name but none of the title's forms."""
    for n in names:
        if n.kind != "office" or not n.core or n.source not in source or kept_office(english, n):
            continue
        title = n.english[: -len(n.core)].strip()
        office = max((o for o in office_table() if o != n.source and (n.source.startswith(o) or n.source.endswith(o))),
                     key=len, default="")
        person = n.source[len(office):] if n.source.startswith(office) else n.source[: len(n.source) - len(office)]
        if not office or not person or source.count(person) != source.count(n.source):
            continue  # the person is also named without this title (国家主席习近平 beside 习近平总书记)
        english = re.sub(rf"(?:\bthe\s+)?(?:{_OTHER_TITLE})?\b{re.escape(n.core)}\b", f"{title} {n.core}", english)
    return english
