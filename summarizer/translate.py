"""The English translation: paragraph-aligned segments, number hints, news datelines by rule, checks and repair."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from .checks import Glossary, leaked_han
from .clean import Article
from .config import TranslateConfig, fill_prompt
from .models import Generator
from .numbers import fix_amounts, format_number, inline_hints, missing_numbers, number_hints
from .text import MONTH_NAMES, chunk_sentences, has_han, split_sentences

logger = logging.getLogger("summarizer")

__all__ = ["translate_many", "Translation", "TaskError", "english_dateline"]


class TaskError(RuntimeError):
    """A task that cannot run with this configuration (e.g. translation without a model)."""


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


@dataclass
class Translation:
    """English output for one article, paragraph-aligned with the source."""

    title_en: str = ""
    paragraphs_en: list[str] = field(default_factory=list)
    summary_en: str = ""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Segment:
    # Which article of the batch, and where its English goes: "title", "para" (paragraph `index`) or "summary".
    article: int
    slot: str
    index: int
    # The Chinese sent to the model (a dateline already rendered by rule is cut off into `prefix`).
    source: str
    output: str = ""
    prefix: str = ""


def _segments(i: int, article: Article, summary: str, budget: int, count: Callable[[str], int]) -> list[_Segment]:
    segs = [_Segment(i, "title", 0, article.title)] if article.title else []
    for p, para in enumerate(article.paragraphs):
        for chunk in chunk_sentences(split_sentences(para), budget, count):
            seg = _Segment(i, "para", p, "".join(chunk))
            dateline = english_dateline(seg.source)
            if dateline and has_han(dateline[1]):
                seg.prefix, seg.source = dateline
            segs.append(seg)
    if summary:
        segs.append(_Segment(i, "summary", 0, summary))
    return segs


def _translate_messages(cfg: TranslateConfig, seg: _Segment, title: str, glossary: Glossary | None,
                        template: str, numbers: str = "") -> list[dict]:
    # Context goes into the system message: small models translate whatever sits in the user turn.
    system = cfg.system_prompt
    if cfg.context and title and seg.slot != "title":
        system += f"\nThe text is part of a news article titled: {title}"
    glossary_lines = glossary.prompt_lines(seg.source) if glossary else ""
    if glossary_lines:
        system += f"\nAlways use these translations:\n{glossary_lines}"
    hints = number_hints(seg.source) if cfg.number_hints else []
    if hints:
        system += "\nUse these number conversions: " + "; ".join(hints)
    user = fill_prompt(template, text=seg.source, title=title, glossary=glossary_lines, numbers=numbers, context="")
    messages = [{"role": "system", "content": system}]
    for zh, en in cfg.few_shot:
        messages.append({"role": "user", "content": fill_prompt(cfg.user_prompt, text=zh, title="", context="", glossary="")})
        messages.append({"role": "assistant", "content": en})
    messages.append({"role": "user", "content": user})
    return messages


_PREAMBLE = re.compile(r"^\s*(?:[^:\n]{0,60}\b(?:translat\w*|in english)\b[^:\n]{0,40}|english|译文)\s*[:：]\s*",
                       re.IGNORECASE)


def _tidy_english(text: str) -> str:
    text = _PREAMBLE.sub("", text.strip())
    text = text.strip()
    if len(text) > 1 and text[0] == text[-1] == '"' and text.count('"') == 2:
        text = text[1:-1]
    return re.sub(r"\s*\n\s*", " ", text).strip()


def translate_many(
    articles: Sequence[Article],
    summaries: Sequence[str],
    generator: Generator | None,
    cfg: TranslateConfig,
    glossary: Glossary | None = None,
    on_part: Callable[[int, str, int, str], None] | None = None,
) -> list[Translation]:
    """Translate several articles (title, every paragraph, summary) in one batched pass.

    Paragraphs are split into sentences and packed into segments of at most ``cfg.segment_tokens`` tokens
    (never across paragraphs, so the output keeps the paragraph count and order). Segments whose
    English still holds Han characters or drops a number are retried with a stricter prompt and a
    decoding constraint that forbids Han tokens; a warning stays only when the retry fails too.

    Args:
        articles: The cleaned articles.
        summaries: Their Chinese summaries ("" for none), translated too.
        generator: The translation model.
        cfg: Prompts, segment size, repair switches.
        glossary: Required translations, put in the prompt and checked.
        on_part: When given, the title, each paragraph and the summary are translated (and repaired) one
            after another, and ``on_part(article_index, slot, index, english)`` is called as each is done
            (slot is "title", "para" or "summary"), so a caller can show them as they come.

    Raises:
        TaskError: No translation model is configured.
    """
    if generator is None:
        raise TaskError("this config has no translation model (extractive configs only summarize); "
                        "use a config with a model, or --tasks summary")
    budget = max(32, cfg.segment_tokens)
    segs = [s for i, (a, summ) in enumerate(zip(articles, summaries))
            for s in _segments(i, a, summ, budget, generator.count_tokens)]
    if not segs:
        return [Translation() for _ in articles]

    def build(seg: _Segment, template: str, numbers: str = ""):
        if generator.kind == "seq2seq":
            return seg.source
        return _translate_messages(cfg, seg, articles[seg.article].title, glossary, template, numbers)

    results = [Translation() for _ in articles]
    retried: dict[int, int] = {}
    fixed: dict[int, int] = {}
    groups = [segs] if on_part is None else _parts(segs)
    for group in groups:
        outs = generator.generate([build(s, cfg.user_prompt) for s in group], cfg.generation)
        for seg, out in zip(group, outs):
            seg.output = _tidy_english(out)
        if cfg.repair:
            _repair(group, generator, cfg, build, retried, fixed)
        if on_part is not None:
            first = group[0]
            on_part(first.article, first.slot, first.index, " ".join(s.prefix + s.output for s in group).strip())
    for i in sorted(retried):
        results[i].notes.append(f"retried {retried[i]} segment(s) with leaked Chinese or lost numbers; "
                                f"{fixed.get(i, 0)} fully repaired")
    for seg in segs:
        res = results[seg.article]
        leaks = leaked_han(seg.output)
        if leaks:
            res.warnings.append(f"Chinese left in the English {seg.slot}: {' '.join(leaks[:5])}")
        if cfg.check_numbers:
            lost = missing_numbers(seg.source, seg.output)
            if lost:
                res.warnings.append(f"numbers not kept in the English {seg.slot}: "
                                    + ", ".join(format_number(v) for v in lost))
        if glossary:
            bad = glossary.violations(seg.source, seg.output)
            if bad:
                res.warnings.append("glossary terms not followed: " + ", ".join(bad))
    for i, article in enumerate(articles):
        res = results[i]
        paras = [[] for _ in article.paragraphs]
        for seg in segs:
            if seg.article != i:
                continue
            if seg.slot == "title":
                res.title_en = seg.output
            elif seg.slot == "summary":
                res.summary_en = seg.output
            else:
                paras[seg.index].append(seg.prefix + seg.output)
        res.paragraphs_en = [" ".join(p).strip() for p in paras]
    return results


_NUMERAL = re.compile(r"\d+(?:[.,/]\d+)*%?")


def _parts(segs: list[_Segment]) -> list[list[_Segment]]:
    """Segments grouped by what they translate (the title, one paragraph, the summary), in order."""
    groups: list[list[_Segment]] = []
    for seg in segs:
        if groups and (groups[-1][0].article, groups[-1][0].slot, groups[-1][0].index) == (seg.article, seg.slot, seg.index):
            groups[-1].append(seg)
        else:
            groups.append([seg])
    return groups


def _repair(segs, generator: Generator, cfg: TranslateConfig, build, retried: dict[int, int],
            fixed: dict[int, int]) -> None:
    """Repair `segs` in place; counts retried and fully repaired segments per article into the dicts."""
    for seg in segs:
        seg.output = fix_amounts(seg.source, seg.output)
    bad = [s for s in segs if leaked_han(s.output) or (cfg.check_numbers and missing_numbers(s.source, s.output))]
    if not bad:
        return
    def numbers(seg: _Segment) -> str:
        found = _NUMERAL.findall(seg.source)
        return f" (including {', '.join(dict.fromkeys(found))})" if found else ""

    def attempt(items: list[_Segment]) -> list[str]:
        # Each item is retried with the number conversions written into its text and, when that changes the
        # text, as it is too; the output losing the fewest numbers wins (either one can be the one that works).
        variants = []
        for k, x in enumerate(items):
            inlined = replace(x, source=inline_hints(x.source)) if cfg.number_hints else x
            variants.append((k, inlined))
            if inlined.source != x.source:
                variants.append((k, x))
        outs = generator.generate([build(v, cfg.repair_prompt, numbers(v)) for _, v in variants], cfg.generation,
                                  forbid_han=True)
        best: list[str] = [""] * len(items)
        for (k, _), out in zip(variants, outs):
            cand = fix_amounts(items[k].source, _tidy_english(out))
            if cand and (not best[k] or _cost(items[k].source, cand) < _cost(items[k].source, best[k])):
                best[k] = cand
        return best

    outs = attempt(bad)
    for seg, new in zip(bad, outs):
        old_cost, new_cost = _cost(seg.source, seg.output), _cost(seg.source, new)
        if new and new_cost < old_cost:
            seg.output = new
        if new and new_cost == 0:
            fixed[seg.article] = fixed.get(seg.article, 0) + 1
    # Still losing numbers: a long chunk makes small models compress; translate its sentences one by one.
    still = [s for s in bad if len(split_sentences(s.source)) > 1 and _cost(s.source, s.output) > 0]
    if still:
        pieces = [(seg, sent) for seg in still for sent in split_sentences(seg.source)]
        sub = [_Segment(seg.article, seg.slot, seg.index, sent) for seg, sent in pieces]
        joined: dict[int, list[str]] = {}
        for (seg, _), out in zip(pieces, attempt(sub)):
            joined.setdefault(id(seg), []).append(out)
        for seg in still:
            candidate = " ".join(joined[id(seg)])
            if _cost(seg.source, candidate) < _cost(seg.source, seg.output):
                seg.output = candidate
                if _cost(seg.source, candidate) == 0:
                    fixed[seg.article] = fixed.get(seg.article, 0) + 1
    for seg in bad:
        retried[seg.article] = retried.get(seg.article, 0) + 1


def _cost(source: str, english: str) -> int:
    return len(leaked_han(english)) * 10 + len(missing_numbers(source, english))
