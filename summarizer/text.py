"""Chinese sentence splitting, chunking within a token budget, and script detection."""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

__all__ = ["split_sentences", "chunk_sentences", "han_chars", "has_han", "han_ratio", "english_dateline", "not_chinese"]

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


_AGENCIES = {
    "新华社": "Xinhua", "中新社": "China News Service", "中新网": "China News Service", "人民网": "People's Daily Online",
    "央视网": "CCTV", "中国日报网": "China Daily", "光明网": "Guangming Online", "环球网": "Huanqiu.com",
    "中新经纬客户端": "Zhongxin Jingwei", "澎湃新闻": "The Paper", "央广网": "CNR",
}
_PLACES = {
    "北京": "BEIJING", "上海": "SHANGHAI", "天津": "TIANJIN", "重庆": "CHONGQING", "广州": "GUANGZHOU",
    "深圳": "SHENZHEN", "武汉": "WUHAN", "南京": "NANJING", "杭州": "HANGZHOU", "成都": "CHENGDU", "西安": "XI'AN",
    "南昌": "NANCHANG", "长沙": "CHANGSHA", "郑州": "ZHENGZHOU", "济南": "JINAN", "青岛": "QINGDAO",
    "长春": "CHANGCHUN", "沈阳": "SHENYANG", "哈尔滨": "HARBIN", "大连": "DALIAN", "宁波": "NINGBO", "厦门": "XIAMEN",
    "福州": "FUZHOU", "合肥": "HEFEI", "太原": "TAIYUAN", "石家庄": "SHIJIAZHUANG", "呼和浩特": "HOHHOT",
    "兰州": "LANZHOU", "西宁": "XINING", "银川": "YINCHUAN", "乌鲁木齐": "URUMQI", "拉萨": "LHASA", "昆明": "KUNMING",
    "贵阳": "GUIYANG", "南宁": "NANNING", "海口": "HAIKOU", "香港": "HONG KONG", "澳门": "MACAO", "台北": "TAIPEI",
    "华盛顿": "WASHINGTON", "纽约": "NEW YORK", "伦敦": "LONDON", "巴黎": "PARIS", "东京": "TOKYO",
    "莫斯科": "MOSCOW", "柏林": "BERLIN", "利雅得": "RIYADH", "首尔": "SEOUL", "联合国": "UNITED NATIONS",
    "日内瓦": "GENEVA", "布鲁塞尔": "BRUSSELS", "新德里": "NEW DELHI", "堪培拉": "CANBERRA", "渥太华": "OTTAWA",
    "开罗": "CAIRO", "雅加达": "JAKARTA", "曼谷": "BANGKOK", "新加坡": "SINGAPORE", "河内": "HANOI",
}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")
_DATELINE = re.compile(
    rf"^(\s*[“\"]?)({'|'.join(sorted(_AGENCIES, key=len, reverse=True))})(\S{{0,6}}?)(\d{{1,2}})月(\d{{1,2}})日电\s*")


def english_dateline(text: str) -> tuple[str, str] | None:
    """Split a news dateline (新华社北京11月5日电) off `text` and write it in English.

    Small models drop datelines or mistranslate them, losing the date; they follow one fixed pattern,
    so they are rendered by rule. An unknown place leaves the whole text to the model.

    Returns:
        ``(english_dateline, rest_of_text)``, e.g. ``("BEIJING, November 5 (Xinhua) -- ", "...")``;
        None when `text` does not start with a dateline this function knows.
    """
    m = _DATELINE.match(text)
    if not m:
        return None
    lead, agency, place, month, day = m.groups()
    if place and place not in _PLACES or not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    date = f"{MONTH_NAMES[int(month) - 1]} {int(day)}"
    head = f"{_PLACES[place]}, {date} ({_AGENCIES[agency]}) -- " if place else f"{date} ({_AGENCIES[agency]}) -- "
    return lead.strip() + head, text[m.end():]


_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z]")


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
