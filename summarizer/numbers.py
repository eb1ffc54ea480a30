"""Numbers in Chinese news and their English renderings: extraction, hints for the model, checks and repair.

Every rule here is measured on WMT19 and FLORES dev (reports/translation-*.json): a number a faithful
translation must carry, the conversions small models get wrong (13亿 = 1.3 billion), and the rule-based fix
for a 万/亿 amount written at the wrong power of ten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from .text import MONTH_NAMES as _MONTH_NAMES

__all__ = [
    "source_numbers", "english_numbers", "missing_numbers", "unsupported_numbers", "number_hints", "english_amount",
    "fix_amounts", "inline_hints", "duration_hints", "duration_lost", "format_number", "invented_numbers",
]

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_CN_NUM = re.compile(r"(?<![数几上])[零〇一二两三四五六七八九十百千万亿]+(?![几余多来])")
# 千 before 米/克/瓦/卡 is the metric prefix (160 千米 = 160 km), not "thousand".
_ARABIC = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:,\d{3})*(?:\.\d+)?)(?:\s*(%|％|万亿|万|亿|千(?![米克瓦卡])))?")
_DECADE = re.compile(r"(?<!\d)(\d{1,2})\s*世纪\s*(\d0)\s*年代")
_FRACTION = re.compile(r"(?<![\d/])(\d+)\s*/\s*(\d+)(?![\d/])")
_CN_FRACTION = re.compile(r"([零〇一二两三四五六七八九十百]+)分之([零〇一二两三四五六七八九十百]+)")
_YEAR_MONTH = re.compile(r"(?<![\d.])((?:19|20)\d{2})\.(0[1-9]|1[0-2])(?![\d.])")
# FLORES writes a space between digits and a unit (今年 3 月, 1969 年 5 月): every pattern below allows one.
_MONTH_CN = re.compile(r"(\d{1,2}(?=\s?月)|[一二三四五六七八九十]{1,3}(?=月[份底初中上下末\d一二三四五六七八九十]))\s?月")


def _cn_to_int(s: str) -> int | None:
    """Chinese numerals (两万, 三千五百, 十三, 一百二十) -> int; None when not a number."""
    total, section, digit = 0, 0, None
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_SMALL_UNITS:
            section += (1 if digit is None else digit) * _CN_SMALL_UNITS[ch]
            digit = None
        elif ch in _CN_BIG_UNITS:
            section += digit or 0
            total += (section or 1) * _CN_BIG_UNITS[ch]
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)


def _norm(v: float) -> float:
    return round(v, 6)


def source_numbers(text: str) -> list[float | str]:
    """Numbers a faithful English translation of `text` must carry.

    Arabic numerals (12345, 6.5, 1,200), with 万/亿 scaled (6500万 -> 65,000,000), percentages (9.4%),
    fractions (1/3, 三分之一), months (6月 -> ``"M6"``), year.month dates (2005.09 -> 2005, ``"M9"``), and Chinese numerals that carry a unit
    (两万 -> 20,000, 十三 -> 13). Single Chinese digits (一个, 三方面) are left out: English often
    writes them as words or drops them in idiom.

    Returns:
        Values as floats, months as ``"M<n>"`` strings, in order of appearance.
    """
    out: list[float | str] = []
    # Positions already taken by a date/fraction/amount; a mask keeps this linear in the text length.
    taken = bytearray(len(text) + 1)

    def take(span: tuple[int, int]) -> None:
        taken[span[0]:span[1]] = b"\x01" * (span[1] - span[0])

    for m in _DECADE.finditer(text):
        # 20 世纪 70 年代 is "the 1970s".
        out.append(float((int(m.group(1)) - 1) * 100 + int(m.group(2))))
        take(m.span())
    for m in _YEAR_MONTH.finditer(text):
        # 2005.09 in a CV line is September 2005, not a decimal.
        out += [float(m.group(1)), f"M{int(m.group(2))}"]
        take(m.span())
    for m in _MONTH_CN.finditer(text):
        n = int(m.group(1)) if m.group(1).isdigit() else _cn_to_int(m.group(1))
        if n and 1 <= n <= 12:
            out.append(f"M{n}")
            take(m.span(1))
    for m in _FRACTION.finditer(text):
        if int(m.group(2)):
            out.append(_norm(int(m.group(1)) / int(m.group(2))))
            take(m.span())
    for m in _CN_FRACTION.finditer(text):
        den, num = _cn_to_int(m.group(1)), _cn_to_int(m.group(2))
        if den and num is not None:
            out.append(_norm(num / den))
            take(m.span())
    for m in _ARABIC.finditer(text):
        if taken[m.start(1)]:
            continue
        if re.search(r"\d{4}\s*[-–―~至]\s*$", text[max(0, m.start() - 8):m.start()]) and len(m.group(1)) == 2:
            continue  # the short end of a year range (1950-53)
        value = float(m.group(1).replace(",", ""))
        unit = m.group(2)
        if unit in ("万", "亿", "万亿", "千"):
            value *= {"万": 1e4, "亿": 1e8, "万亿": 1e12, "千": 1e3}[unit]
        out.append(_norm(value))
        take(m.span())
    for m in _CN_NUM.finditer(text):
        if taken[m.start()]:
            continue
        s = m.group()
        if len(s) == 1 and s not in "十百千万亿" or len(s) > 24:
            continue  # a lone digit is a word; a run of 25+ numerals is no amount (and would overflow a float)
        if s == "十" and text[m.end():m.end() + 1] in "字分足全":
            continue  # 十字 (cross), 十分/十足 (very), 十全: words, not ten
        if s in ("万", "亿", "千", "百") or not any(ch in _CN_DIGITS or ch == "十" for ch in s):
            continue
        value = _cn_to_int(s)
        if value is not None and value >= 10:
            out.append(float(value))
    return out


_MONTHS = {m.lower(): i for i, m in enumerate(_MONTH_NAMES, start=1)}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
               "hundred": 100, "thousand": 1000, "dozen": 12, "a": 1, "half": 0.5})
_ORDINALS = {w: i for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}
_SCALES = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3, "m": 1e6,
           "bn": 1e9}
_EN_NUM = re.compile(
    r"(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?:st|nd|rd|th)?(?:\s*(?:-\s*)?(hundred|thousand|million|billion|trillion|bn|k|m)\b)?",
    re.IGNORECASE,
)
_EN_FRACTION_WORDS = {"half": 0.5, "third": 1 / 3, "thirds": 1 / 3, "quarter": 0.25, "quarters": 0.25,
                      "fifth": 0.2, "fifths": 0.2}


def english_numbers(text: str) -> set[float | str]:
    """Numbers written in an English text, in the same canonical form as `source_numbers`."""
    found: set[float | str] = set()
    for m in re.finditer(r"(?<![\d.])((?:19|20)\d{2})[.\-/](0[1-9]|1[0-2])(?![\d.])", text):
        found.update((float(m.group(1)), f"M{int(m.group(2))}"))
    for m in _FRACTION.finditer(text):
        if int(m.group(2)):
            found.add(_norm(int(m.group(1)) / int(m.group(2))))
    for m in _EN_NUM.finditer(text):
        value = float(m.group(1).replace(",", ""))
        if m.group(2):
            value *= _SCALES[m.group(2).lower()]
        found.add(_norm(value))
    words = re.findall(r"[A-Za-z]+", text)
    lowered = [w.lower() for w in words]
    for i, w in enumerate(lowered):
        if w in _MONTHS and (len(w) > 3 or words[i][0].isupper()) and w != "may" or (w == "may" and words[i] == "May"):
            found.add(f"M{_MONTHS[w]}")
        if w in _WORDS and w not in ("a", "half", "hundred", "thousand"):
            value = _WORDS[w]
            nxt = lowered[i + 1] if i + 1 < len(lowered) else ""
            if nxt in _SCALES:
                value *= _SCALES[nxt]
            found.add(_norm(value))
        if w in _ORDINALS:
            found.add(float(_ORDINALS[w]))
        if w in _SCALES and w not in ("k", "m", "bn"):
            prev = lowered[i - 1] if i else ""
            if prev in ("a", "one", "") or not (prev in _WORDS or re.match(r"\d", words[i - 1] if i else "")):
                found.add(_norm(_SCALES[w]))
        if w in ("decade", "decades") and i and lowered[i - 1] in _WORDS and lowered[i - 1] != "half":
            # 二十年来 → "for two decades" (the FLORES reference), "a decade" = 10 years.
            found.add(_norm(10 * _WORDS[lowered[i - 1]]))
        if w in _EN_FRACTION_WORDS:
            prev = lowered[i - 1] if i else ""
            mult = _WORDS.get(prev, 1) if prev not in ("a", "one") else 1
            found.add(_norm(mult * _EN_FRACTION_WORDS[w]))
    # The look-behind starts a match only where a number starts: without it a run of n digits costs n² steps.
    for m in re.finditer(r"(?<!\d)(\d+(?:\.\d+)?)\s*(?:percent|per cent|%)", text, re.IGNORECASE):
        found.add(_norm(float(m.group(1))))
    return found


def _kept(v: float | str, english: set[float | str]) -> bool:
    if v in english:
        return True
    if isinstance(v, float):
        if v >= 1e4:
            # 1.2亿 may come out as "120 million" or "0.12 billion": compare values, not spellings.
            return any(isinstance(e, float) and abs(e - v) <= 1e-6 * v for e in english)
        if 1 <= v <= 12 and f"M{int(v)}" in english and v == int(v):
            return True
    return False


def missing_numbers(source: str, english: str) -> list[float | str]:
    """Numbers of `source` that `english` does not carry (empty when all kept)."""
    have = english_numbers(english)
    return [v for v in source_numbers(source) if not _kept(v, have)]


def unsupported_numbers(summary: str, article: str) -> list[float | str]:
    """Numbers in a Chinese `summary` that the `article` does not contain (possible hallucinations)."""
    have = set(source_numbers(article))
    out = []
    for v in source_numbers(summary):
        if v in have:
            continue
        if isinstance(v, float) and any(isinstance(h, float) and abs(h - v) <= 1e-6 * max(1.0, v) for h in have):
            continue
        out.append(v)
    return out


_BIG = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:,\d{3})*(?:\.\d+)?)\s*(万亿|万|亿)|(?<![数几上])([零〇一二两三四五六七八九十百千]+[万亿]+)")
_DATE = re.compile(r"(\d{1,2})\s?月\s?(\d{1,2})\s?日")
_DAY = re.compile(r"(?<![\d月])(?<!月\s)(\d{1,2})\s?日")
_MONTH_ONLY = re.compile(r"(?<![\d.])(\d{1,2})\s?月(?!\s?\d)")
# 10 年来 / 40多年来: a span of years ("over the past 10 years"), which small models turn into a year ("since 2009");
# 2019年来华 (came to China in 2019) is no span.
_YEARS_PAST = re.compile(r"(?<![\d.几数多上百千万第零〇一二两三四五六七八九十])(\d{1,3}|[一二两三四五六七八九十]{1,3})\s?(多)?\s?年(?:来|以来)(?![华京沪到])")
_SMALL_WORDS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


# Vague amounts small models turn into a number or drop ("数亿" → "100 million").
_VAGUE_EN = {"数十万": "hundreds of thousands", "数百万": "millions", "数千万": "tens of millions", "数十亿": "billions",
             "数十": "dozens", "数百": "hundreds", "数千": "thousands", "数万": "tens of thousands",
             "数亿": "hundreds of millions"}
_VAGUE = re.compile("|".join(sorted(_VAGUE_EN, key=len, reverse=True)))
_AGE = re.compile(r"(?<![\d.])(\d{1,3})\s?岁(的)?")
# A span of time (48小时, 二十分钟, 3 个月); 69周年 is an anniversary and 周一 a weekday, not weeks.
_DURATION = re.compile(r"(?<![\d.第几数多零〇一二两三四五六七八九十])(\d+(?:\.\d+)?|[一二两三四五六七八九十]{2,3})\s?(?:个\s?)?"
                       r"(小时|分钟|秒钟|秒|天|周(?![年岁一二三四五六日末边])|星期(?![一二三四五六日天])|月)")
_DURATION_EN = {"小时": "hour", "分钟": "minute", "秒钟": "second", "秒": "second", "天": "day", "周": "week",
                "星期": "week", "月": "month"}


def invented_numbers(source: str, english: str) -> list[float]:
    """Numbers written in digits in `english` that `source` does not have ("In 2017, …" the source never says).

    Lenient by design (any digit run of the source, any single Chinese digit counts as had): it screens a
    sampled translation for a made-up number, where a false alarm only costs a candidate.
    """
    have = [v for v in source_numbers(source) if isinstance(v, float)]
    have += [float(d.replace(",", "")) for d in re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", source)]
    have += [float(v) for ch, v in _CN_DIGITS.items() if ch in source]
    # A year in Chinese digits, read digit by digit: 二〇一七年 is 2017.
    have += [float("".join(str(_CN_DIGITS[c]) for c in run)) for run in re.findall(r"[零〇一二三四五六七八九]{4}(?=年)", source)]
    out = []
    for m in _EN_NUM.finditer(english):
        value = float(m.group(1).replace(",", "")) * (_SCALES[m.group(2).lower()] if m.group(2) else 1)
        if not any(abs(h - value) <= 1e-6 * max(1.0, value) for h in have):
            out.append(_norm(value))
    return out


def english_amount(v: float) -> str:
    """120000000.0 -> '120 million'; the English way to say a 万/亿 amount."""
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if v >= scale:
            return f"{v / scale:,.6f}".rstrip("0").rstrip(".") + f" {word}"
    return f"{v:,.0f}"


def number_hints(source: str) -> list[str]:
    """Conversions small models get wrong, spelled out: ``13亿 = 1.3 billion``, ``7月1日 = July 1``."""
    hints = []
    for m in _BIG.finditer(source):
        if m.group(3):
            value = _cn_to_int(m.group(3))
        else:
            value = float(m.group(1).replace(",", "")) * {"万": 1e4, "亿": 1e8, "万亿": 1e12}[m.group(2)]
        if value:
            hints.append(f"{m.group(0)} = {english_amount(float(value))}")
    for m in _DATE.finditer(source):
        month, day = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and 1 <= day <= 31:
            hints.append(f"{m.group(0)} = {_MONTH_NAMES[month - 1]} {day}")
    for m in _MONTH_ONLY.finditer(source):
        if 1 <= int(m.group(1)) <= 12:
            hints.append(f"{m.group(0)} = {_MONTH_NAMES[int(m.group(1)) - 1]}")
    for m in _DAY.finditer(source):
        day = int(m.group(1))
        if 1 <= day <= 31:
            suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
            hints.append(f"{m.group(0)} = on the {day}{suffix}")
    for m in _YEAR_MONTH.finditer(source):
        hints.append(f"{m.group(0)} = {_MONTH_NAMES[int(m.group(2)) - 1]} {m.group(1)}")
    for m in _VAGUE.finditer(source):
        hints.append(f"{m.group(0)} = {_VAGUE_EN[m.group(0)]}")
    for m in _AGE.finditer(source):
        age = m.group(1)
        hints.append(f"{m.group(0)} = {age}-year-old" if m.group(2) else f"{m.group(0)} = {age} years old")
    for m in _YEARS_PAST.finditer(source):
        n = int(m.group(1)) if m.group(1).isdigit() else _cn_to_int(m.group(1))
        if n and n > 1:
            count = _SMALL_WORDS[n] if n < 10 and not m.group(1).isdigit() else str(n)
            hints.append(f"{m.group(0)} = " + (f"for more than {count} years" if m.group(2) else f"over the past {count} years"))
    return list(dict.fromkeys(hints))


def _hint_value(hint: str) -> float:
    return float(hint.split(" = ", 1)[1].split()[0])


def duration_hints(source: str) -> list[str]:
    """Spans of time whose number the checks count, in English: ``48小时 = 48 hours``, ``二十分钟 = 20 minutes``."""
    hints = []
    for m in _DURATION.finditer(source):
        unit = m.group(2)
        if unit == "月" and "个" not in m.group(0):
            continue  # 3月 is March
        n = m.group(1)
        if re.search("[一二两三四五六七八九]{2}", n):
            continue  # 二三十分钟 is 20 to 30 minutes
        value = float(n) if n[0].isdigit() else _cn_to_int(n)
        if not value or not n[0].isdigit() and value < 10:
            continue  # 两天, 一周: single Chinese digits are words, not checked numbers
        count = n if n[0].isdigit() else str(value)
        hints.append(f"{m.group(0)} = {count} {_DURATION_EN[unit]}{'' if value == 1 else 's'}")
    return list(dict.fromkeys(hints))


def duration_lost(source: str, english: str) -> list[float]:
    """The numbers of `source`'s `duration_hints` that `english` does not carry."""
    lost = set(missing_numbers(source, english))
    return [v for v in dict.fromkeys(_hint_value(h) for h in duration_hints(source)) if v in lost]


def inline_hints(source: str, lost: Iterable[float] = ()) -> str:
    """`source` with each `number_hints` conversion written in place: ``李克强30日下午`` -> ``李克强 the 30th 下午``,
    and each duration of `duration_hints` whose number is in `lost`: ``投票前的48小时`` -> ``投票前的 48 hours``.

    A model that dropped or garbled a number in its first pass copies an English form it sees in the
    input far more reliably than it follows a conversion listed in the instructions. Durations are never
    listed (the 1.5B dropped 投票前的48小时 with its clause however the hint was listed, and kept it once
    "48 hours" stood in the text), and written in only when their number is lost.

    Args:
        source: The Chinese text of the retry.
        lost: The numbers every try so far left out (`missing_numbers` values).
    """
    lost = set(lost)
    hints = number_hints(source) + [h for h in duration_hints(source) if _hint_value(h) in lost]
    for hint in hints:
        zh, en = hint.split(" = ", 1)
        source = re.sub(rf"(?<![\d.,]){re.escape(zh)}", lambda _m: f" {en} ", source)
    return re.sub(r" {2,}", " ", source)


_EN_AMOUNT = re.compile(r"(?<![\w.,])(\d+(?:,\d{3})*(?:\.\d+)?)(?:\s*(million|billion|trillion)\b)?", re.IGNORECASE)


def _significant(v: float) -> tuple[int, ...]:
    digits = Decimal(repr(v)).normalize().as_tuple().digits
    return tuple(digits)


def fix_amounts(source: str, english: str) -> str:
    """Repair 万/亿 amounts whose digits are right but whose magnitude is wrong.

    Small models turn 13亿 into "13 billion" (it is 1.3 billion) and 3.6万 into "3.6 million"; a
    retry rarely helps because the model is sure. When a 万/亿 amount of `source` is missing from
    `english` and an English amount carries the same significant digits at another power of ten
    (and matches no number of the source), that amount is rewritten, e.g. "13 billion" -> "1.3 billion".

    Returns:
        `english` with such amounts rewritten; unchanged when there is nothing to repair.
    """
    have = english_numbers(english)
    known = [v for v in source_numbers(source) if isinstance(v, float)]
    wanted = [v for v in known if v >= 1e4 and not _kept(v, have)]
    if not wanted:
        return english
    edits: list[tuple[int, int, str]] = []
    used: set[int] = set()
    for v in wanted:
        for m in _EN_AMOUNT.finditer(english):
            if m.start() in used:
                continue
            w = float(m.group(1).replace(",", "")) * (_SCALES[m.group(2).lower()] if m.group(2) else 1)
            if not m.group(2) and w < 1e4 or w == v or any(abs(w - k) <= 1e-6 * max(1.0, k) for k in known):
                continue
            ratio = max(w, v) / min(w, v) if min(w, v) > 0 else 0
            if _significant(w) == _significant(v) and ratio <= 1e4 + 1e-6:
                edits.append((m.start(), m.end(), english_amount(v)))
                used.add(m.start())
                break
    for start, end, text in sorted(edits, reverse=True):
        english = english[:start] + text + english[end:]
    return english


def format_number(v: float | str) -> str:
    """Human form of a canonical number for warnings."""
    if isinstance(v, str):
        return f"month {v[1:]}"
    return f"{v:,.0f}" if v == int(v) else f"{v:g}"
