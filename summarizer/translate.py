"""The English translation: paragraph-aligned segments, number hints, news datelines by rule, checks and repair."""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from .checks import Glossary
from .clean import Article
from .config import TranslateConfig, fill_prompt
from .models import Generator
from .flags import Finding, Flag
from .repair import (Check, Passage, Repair, Segment, SentencePair, dateline_months, flag_details, sentence_pairs,
                     tidy_english)
from .foreign import article_spellings, transliterations
from .namecheck import recover_names
from .names import Name
from .offices import names_and_offices
from .numbers import english_numbers, format_number
from .terms import Term, confirmed, quoted_terms, renderings, summary_unsupported, terms_of
from .numbers import inline_hints, number_hints
from .text import MONTH_NAMES, ascii_punctuation, chunk_sentences, has_han, split_sentences

logger = logging.getLogger("summarizer")

__all__ = ["translate_many", "Translation", "TaskError", "english_dateline", "translation_problems", "dateline_months"]


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
    # What the checks still doubt in the final English, by kind and place.
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Segments repair translated again (leaked Chinese, lost numbers or names, content left out), and how many
    # of those passed every check after it.
    retried: int = 0
    repaired: int = 0
    # The title, each paragraph and the summary as Chinese sentences beside their English, with flags.
    sentences: list[Passage] = field(default_factory=list)
    # One English per name and quoted term of the article (`terms.Term`), as the English uses it.
    terms: list[Term] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """The findings as sentences for a reader."""
        return [f.text for f in self.findings]


def _segments(i: int, article: Article, summary: str, budget: int, count: Callable[[str], int]) -> list[Segment]:
    segs = [Segment(i, "title", 0, article.title)] if article.title else []
    for p, para in enumerate(article.paragraphs):
        for chunk in chunk_sentences(split_sentences(para), budget, count):
            seg = Segment(i, "para", p, "".join(chunk))
            dateline = english_dateline(seg.source)
            if dateline and has_han(dateline[1]):
                seg.prefix, seg.source = dateline
            segs.append(seg)
    if summary:
        segs.append(Segment(i, "summary", 0, summary))
    return segs


def _translate_messages(cfg: TranslateConfig, seg: Segment, title: str, hints: list[str], template: str,
                        numbers: str = "", previous: Segment | None = None) -> list[dict]:
    # The stable part comes first so llama.cpp reuses it from its prompt cache: the system message (with the
    # title as context: small models translate whatever sits in the user turn), then the few-shot pairs. What
    # changes per segment (its names and numbers, then the text) is last. The title's own request has the same
    # system message, so the article's prefix is evaluated once, not once for the title and again for the rest.
    system = cfg.system_prompt
    if cfg.context and title:
        system += f"\nThe text is part of a news article titled: {title}"
    messages = [{"role": "system", "content": system}]
    for zh, en in cfg.few_shot:
        messages.append({"role": "user", "content": fill_prompt(cfg.user_prompt, text=zh, title="", context="", glossary="")})
        messages.append({"role": "assistant", "content": en})
    if previous is not None:
        # The text just before, as an exchange already answered: it reads as the running translation.
        messages.append({"role": "user", "content": fill_prompt(cfg.user_prompt, text=previous.source, title="",
                                                                context="", glossary="")})
        messages.append({"role": "assistant", "content": previous.output})
    user = fill_prompt(template, text=seg.source, title=title, glossary="", numbers=numbers, context="")
    if hints:
        user = fill_prompt(cfg.hints_prompt, hints="; ".join(hints)) + "\n" + user
    messages.append({"role": "user", "content": user})
    return messages


def translate_many(
    articles: Sequence[Article],
    summaries: Sequence[str] | Callable[[], Sequence[str]],
    generator: Generator | None,
    cfg: TranslateConfig,
    glossary: Glossary | None = None,
    on_part: Callable[[int, str, int, str, list[SentencePair]], None] | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
) -> list[Translation]:
    """Translate several articles (title, every paragraph, summary) in one batched pass.

    Paragraphs are split into sentences and packed into segments of at most ``cfg.segment_tokens`` tokens
    (never across paragraphs, so the output keeps the paragraph count and order). Each request carries the
    segment's names (one English form per article, the user glossary first) and number conversions. A segment
    whose English leaks Chinese, drops a number or a name, describes instead of translating, or is far shorter
    than its source is repaired once: only its failing sentences where the English aligns with them,
    else the segment (sentence by sentence when the English is no translation at all). A warning stays when
    the repair fails too.

    Args:
        articles: The cleaned articles.
        summaries: Their Chinese summaries ("" for none), translated too; or a callable that waits for them, so the
            title and paragraphs go to the model while the summaries are written, and the summaries' English follows.
        generator: The translation model.
        cfg: Prompts, segment size, repair switches.
        glossary: Required translations, put in the prompt and checked.
        on_part: When given, the title, each paragraph and the summary are translated (and repaired) one
            after another, and ``on_part(article_index, slot, index, english, pairs)`` is called as each is done
            (slot is "title", "para" or "summary"; pairs its `SentencePair`s), so a caller can show them as they come.
        on_step: When given, told what runs as it goes, as ``on_step(what, parts done, parts)`` (a part is a title,
            a paragraph or a summary): "translating" as each backend batch of first English comes in, then
            "checks and retries"; with `on_part`, "translating the paragraph 3" and "checks and retries of …".

    Raises:
        TaskError: No translation model is configured.
    """
    if generator is None:
        raise TaskError("this config has no translation model (extractive configs only summarize); "
                        "use a config with a model, or --tasks summary")
    budget = max(32, cfg.segment_tokens)
    # Summaries still being written: the title and paragraphs start now, the summaries' English joins when they come.
    later = summaries if callable(summaries) else None
    summaries = [""] * len(articles) if later is not None else list(summaries)
    segs = [s for i, (a, summ) in enumerate(zip(articles, summaries))
            for s in _segments(i, a, summ, budget, generator.count_tokens)]
    if not segs and later is None:
        return [Translation() for _ in articles]
    tables = [_name_table(a, summ, glossary) if cfg.name_hints else [] for a, summ in zip(articles, summaries)]
    texts = ["\n".join([a.title, *a.paragraphs, summ]) for a, summ in zip(articles, summaries)]
    quoted = [quoted_terms(t) for t in texts]
    build = _Requests(cfg, generator, articles, tables, glossary)
    repair = Repair(generator, cfg, build, tables, [dateline_months(a) for a in articles])
    pairs_of: dict[int, list[SentencePair]] = {}
    parts = _parts(segs)
    # The part each segment completes (its last segment), for the progress: parts done, in order. A summary still to
    # come counts as a part of its article.
    ends = {id(p[-1]): n + 1 for n, p in enumerate(parts)}
    total = len(parts) + (len(articles) if later is not None else 0)
    step = (lambda what, done: on_step(what, done, total)) if on_step is not None else (lambda what, done: None)

    def run(g: int, group: list[Segment], first: Future | None = None) -> None:
        # A segment with no Han (digits, punctuation, a Latin name) has nothing to translate: it is copied.
        sent = [s for s in group if has_han(s.source)]
        for seg in group:
            if not has_han(seg.source):
                seg.output = ascii_punctuation(seg.source)
        if on_part is not None:
            step(f"translating the {_label(group[0])}", g)
        if first is not None:
            first.result()
        elif sent:
            _first_pass(sent, segs, generator, cfg, build, repair,
                        None if on_part is not None else lambda k: step("translating", _done_parts(sent[:k], ends)))
        if cfg.name_hints:
            # A person the English spelled wrong in pinyin ("Wang Yong" for 汪洋) joins the name table, so the
            # name check finds the segment and its retry is told the right form.
            for seg in group:
                known = {n.source for n in tables[seg.article]}
                tables[seg.article] += [n for n in recover_names(seg.source, seg.output) if n.source not in known]
            # A foreign name the segments spell two ways ("Moran", "Molan") takes the article's usual spelling,
            # so the name check finds the odd segment out and its retry is told the form.
            for i in dict.fromkeys(seg.article for seg in group):
                new = transliterations("\n".join(s.source for s in group if s.article == i), tables[i])
                if new:
                    done = [(s.source, s.output) for s in segs if s.article == i and s.output]
                    tables[i] += _outside(article_spellings(done, tables[i], new), glossary)
            if cfg.term_table:
                for i in dict.fromkeys(seg.article for seg in group):
                    tables[i] += _first_terms(i, segs, tables[i], quoted[i], glossary)
        if cfg.repair and sent:
            step("checks and retries" + (f" of the {_label(group[0])}" if on_part is not None else ""),
                 g if on_part is not None else len(parts))
            repair(sent)
        for seg in group:
            pairs_of[id(seg)] = _pairs(seg, repair, glossary)
        if on_part is not None:
            first = group[0]
            on_part(first.article, first.slot, first.index, " ".join(s.prefix + s.output for s in group).strip(),
                    [p for s in group for p in pairs_of[id(s)]])

    if on_part is None:
        if segs:
            run(0, segs)
    else:
        # Part by part, in order, for the caller to show; the first English of the next ``parts_ahead`` parts is
        # asked for at once, so the model's loop decodes them while the earlier ones are checked and retried.
        ahead_n = 0 if cfg.previous else max(0, cfg.parts_ahead)
        early = ThreadPoolExecutor(ahead_n, thread_name_prefix="summarizer-parts") if ahead_n else None
        firsts: list[Future | None] = []
        try:
            for g, group in enumerate(list(parts)):
                while early is not None and len(firsts) < min(len(parts), g + ahead_n):
                    ahead = [s for s in parts[len(firsts)] if has_han(s.source)]
                    firsts.append(early.submit(_first_pass, ahead, segs, generator, cfg, build, repair)
                                  if ahead else None)
                run(g, group, firsts[g] if early is not None else None)
        finally:
            if early is not None:
                early.shutdown(wait=True, cancel_futures=True)
    if later is not None:
        summaries = list(later())
        extra = [Segment(i, "summary", 0, summ) for i, summ in enumerate(summaries) if summ]
        for seg in extra:
            i = seg.article
            texts[i] += "\n" + seg.source
            quoted[i] = quoted_terms(texts[i])
            if cfg.name_hints:
                known = {n.source for n in tables[i]}
                tables[i] += [n for n in _outside(names_and_offices(seg.source), glossary) if n.source not in known]
        segs += extra
        for seg in extra:
            parts.append([seg])
            ends[id(seg)] = len(parts)
        for group in ([extra] if on_part is None and extra else [[seg] for seg in extra] if on_part is not None else []):
            run(len(parts) - len(extra) if on_part is None else ends[id(group[0])] - 1, group)
    results = [Translation() for _ in articles]
    for i in sorted(repair.retried):
        results[i].retried, results[i].repaired = repair.retried[i], repair.fixed.get(i, 0)
        results[i].notes.append(f"retried {repair.retried[i]} segment(s) that leaked Chinese, lost numbers or names, "
                                f"or left content out; {repair.fixed.get(i, 0)} fully repaired")
    for seg in segs:
        results[seg.article].findings += _findings(seg, repair.check(seg, seg.source, seg.output), glossary)
    for seg in segs:
        if seg.slot == "summary" and seg.output:
            _check_summary(seg, [s for s in segs if s.article == seg.article and s.slot != "summary"],
                           results[seg.article], pairs_of)
    if cfg.name_hints and cfg.term_table:
        for i in range(len(articles)):
            _flag_unverified(i, segs, tables[i], quoted[i], results[i], pairs_of, glossary)
    for i, text in enumerate(texts):
        results[i].terms = terms_of(text, tables[i], glossary.relevant(text) if glossary else None)
    for i, article in enumerate(articles):
        _assemble(results[i], article, [seg for seg in segs if seg.article == i], pairs_of)
    return results


class _Requests:
    """Builds the request for a segment: the system message and few-shot pairs, the segment's names, glossary terms
    and number conversions, then its text (`_translate_messages`)."""

    def __init__(self, cfg: TranslateConfig, generator: Generator, articles: Sequence[Article],
                 tables: list[list[Name]], glossary: Glossary | None):
        self.cfg, self.generator, self.articles, self.tables, self.glossary = cfg, generator, articles, tables, glossary

    def __call__(self, seg: Segment, template: str, numbers: str = "", inline: bool = False,
                 previous: Segment | None = None, lost: list[float] | None = None):
        # `inline`: number conversions written into the text; `lost`: the durations' numbers every try so far left
        # out of this segment, written in too.
        cfg = self.cfg
        if self.generator.kind == "seq2seq":
            return seg.source
        source = inline_hints(seg.source, lost or ()) if inline else seg.source
        present = [n for n in self.tables[seg.article] if n.source in seg.source]
        # 北京 inside 北京市 needs no hint of its own.
        hints = [f"{n.source} = {n.english}" for n in present
                 if not any(n.source in m.source and n.source != m.source for m in present)]
        if self.glossary:
            hints += [f"{k} = {v}" for k, v in self.glossary.relevant(seg.source).items()]
        if cfg.number_hints and not inline:
            hints += number_hints(seg.source)
        return _translate_messages(cfg, replace(seg, source=source), self.articles[seg.article].title,
                                   list(dict.fromkeys(hints)), template, numbers, previous)


def _label(seg: Segment) -> str:
    """What a part is, for a reader: "title", "paragraph 3", "summary"."""
    return f"paragraph {seg.index + 1}" if seg.slot == "para" else seg.slot


def _done_parts(done: list[Segment], ends: dict[int, int]) -> int:
    """Parts done when the segments `done` (a prefix, in order) have their English."""
    return max((ends[id(s)] for s in done if id(s) in ends), default=0)


def _first_pass(group: list[Segment], segs: list[Segment], generator: Generator, cfg: TranslateConfig,
                build: _Requests, repair: Repair, on_done: Callable[[int], None] | None = None) -> None:
    """The first English of each segment of `group`: batched, or one after another with the previous paragraph
    segment and its English as context (``translate.previous``), or the best of `translate.candidates` draws.
    `on_done(k)` hears when the first k segments have theirs (batched: after each backend batch)."""
    if cfg.candidates > 1 and generator.kind == "chat" and not cfg.previous:
        # A segment's draws sit side by side, so a backend that decodes together reads their one prompt once.
        k = cfg.candidates
        draws = [replace(cfg.generation, temperature=cfg.sample_temperature, top_p=0.95, seed=j + 1) for j in range(k)]
        requests = [build(s, cfg.user_prompt) for s in group]
        outs = generator.generate([r for r in requests for _ in range(k)], draws * len(group), forbid_han=cfg.ban_han)
        for n, seg in enumerate(group):
            seg.output = repair.pick(seg, [tidy_english(o) for o in outs[n * k:(n + 1) * k]])
    elif cfg.previous and generator.kind == "chat":
        previous_of = {id(b): a for a, b in zip(segs, segs[1:]) if a.article == b.article and a.slot == b.slot == "para"}
        for seg in group:
            request = build(seg, cfg.user_prompt, previous=previous_of.get(id(seg)))
            seg.output = tidy_english(generator.generate([request], cfg.generation, forbid_han=cfg.ban_han)[0])
    else:
        requests = [build(s, cfg.user_prompt) for s in group]
        # All at once: the model's loop takes them as it has room, and tells as each is done.
        outs = generator.generate(requests, cfg.generation, forbid_han=cfg.ban_han, on_done=on_done)
        for seg, out in zip(group, outs):
            seg.output = tidy_english(out)


def _findings(seg: Segment, check: Check, glossary: Glossary | None) -> list[Finding]:
    """What a reader should know about the final English of `seg`: the same kinds and details as its flags."""
    missed = glossary.violations(seg.source, seg.output) if glossary else []
    return [Finding(kind, ", ".join(d for d in details if d), where=seg.slot, index=seg.index)
            for kind, details in flag_details(check, missed).items()]


def _pairs(seg: Segment, repair: Repair, glossary: Glossary | None) -> list[SentencePair]:
    """The segment's sentence pairs with their flags (`repair.sentence_pairs`), the dateline's English in front."""
    made = tuple(k for k, ids in (("repaired", repair.redone), ("sampled", repair.sampled)) if id(seg) in ids)
    missed = glossary.violations(seg.source, seg.output) if glossary else []
    pairs = sentence_pairs(seg, repair.check, missed, made)
    if seg.prefix and pairs:  # the dateline written by rule belongs to the first sentence's English
        pairs[0] = replace(pairs[0], en=seg.prefix + pairs[0].en)
    return pairs


def _assemble(res: Translation, article: Article, segs: list[Segment], pairs_of: dict[int, list[SentencePair]]) -> None:
    """Put an article's English together from its segments, one paragraph per source paragraph, and its
    sentence pairs, one passage per title, paragraph and summary."""
    paras: list[list[str]] = [[] for _ in article.paragraphs]
    passages: dict[tuple[str, int], list[SentencePair]] = {}
    for seg in segs:
        passages.setdefault((seg.slot, seg.index), []).extend(pairs_of[id(seg)])
        if seg.slot == "title":
            res.title_en = seg.output
        elif seg.slot == "summary":
            res.summary_en = seg.output
        else:
            paras[seg.index].append(seg.prefix + seg.output)
    res.paragraphs_en = [" ".join(p).strip() for p in paras]
    res.sentences = [Passage(slot, index, tuple(pairs)) for (slot, index), pairs in passages.items()]


def _first_terms(i: int, segs: list[Segment], table: list[Name], quoted: list[str],
                 glossary: Glossary | None) -> list[Name]:
    """The article's quoted terms no name or glossary term covers, each with the first English the model wrote for it:
    the paragraphs in order first, then the title and the summary (a title's English is short and title-cased)."""
    known = {n.source for n in table} | (set(glossary.terms) if glossary else set())
    wanted = [t for t in quoted if t not in known]
    if not wanted:
        return []
    found = _renderings(i, segs, wanted)
    # A rendering is held only once confirmed (two agree, or the dictionary backs it): one wrong first English
    # held everywhere is worse than one wrong once.
    held = {zh: confirmed(zh, ens) for zh, ens in found.items()}
    return [Name(zh, en, "term", origin="model") for zh, en in held.items() if en]


def _renderings(i: int, segs: list[Segment], wanted: list[str]) -> dict[str, list[str]]:
    done = [s for s in segs if s.article == i and s.output]
    ordered = [s for s in done if s.slot == "para"] + [s for s in done if s.slot != "para"]
    return renderings([(s.source, s.output) for s in ordered], wanted)


def _flag_unverified(i: int, segs: list[Segment], table: list[Name], quoted: list[str], res: Translation,
                     pairs_of: dict[int, list[SentencePair]], glossary: Glossary | None) -> None:
    """Flag ``term_unverified`` where a quoted term the article repeats has no confirmed English held: on each
    sentence that has it, with what the model wrote for it."""
    mine = [s for s in segs if s.article == i]
    held = {n.source for n in table} | (set(glossary.terms) if glossary else set())
    repeated = [t for t in quoted if t not in held and sum(s.source.count(t) for s in mine) >= 2]
    if not repeated:
        return
    said = _renderings(i, segs, repeated)
    for term in repeated:
        detail = f"{term} ({' / '.join(dict.fromkeys(said.get(term, []))) or 'no English found'})"
        for seg in mine:
            if term not in seg.source:
                continue
            pairs = pairs_of[id(seg)]
            marked = [p for p in pairs if term in p.zh] or pairs
            pairs_of[id(seg)] = [replace(p, flags=p.flags + (Flag("term_unverified", detail),)) if p in marked else p
                                 for p in pairs]
            res.findings.append(Finding("term_unverified", detail, where=seg.slot, index=seg.index))


def _check_summary(seg: Segment, body: list[Segment], res: Translation, pairs_of: dict[int, list[SentencePair]]) -> None:
    """Flag the English summary where it gives a name or number the article's English (title and paragraphs) does
    not: the summary is translated from the Chinese summary, so it may part from the body it summarizes."""
    body_en = " ".join(s.prefix + s.output for s in body)
    names = summary_unsupported(seg.output, body_en)
    have = english_numbers(body_en)
    numbers = [v for v in english_numbers(seg.output) if v not in have]
    details = names + [format_number(v) if not isinstance(v, str) else v for v in numbers]
    if not details:
        return
    res.findings.append(Finding("summary_unsupported", ", ".join(details), where="summary"))
    pairs = pairs_of[id(seg)]
    marked = [p for p in pairs if any(d in p.en for d in names)
              or any(v in english_numbers(p.en) for v in numbers)] or pairs
    pairs_of[id(seg)] = [replace(p, flags=p.flags + (Flag("summary_unsupported", ", ".join(details)),)) if p in marked
                         else p for p in pairs]


def _name_table(article: Article, summary: str, glossary: Glossary | None) -> list[Name]:
    """One English form per name, office and body for the whole article (title, paragraphs, summary); the glossary
    wins."""
    return _outside(names_and_offices("\n".join([article.title, *article.paragraphs, summary])), glossary)


def _outside(names: list[Name], glossary: Glossary | None) -> list[Name]:
    """The names no glossary term covers: the user's form wins."""
    if not glossary:
        return names
    return [n for n in names if not any(n.source in term or term in n.source for term in glossary.terms)]


def translation_problems(source: str, english: str, cfg: TranslateConfig, names: list[Name] | None = None,
                         months: frozenset[str] = frozenset()) -> dict:
    """The checks repair uses, on one Chinese source and its English (e.g. to measure them on references).

    Returns:
        ``leaks``, ``numbers`` (lost values), ``names`` (lost `Name`s), ``invented`` (pinyin people and places,
        and famous names, the source does not have), and booleans ``meta`` (describes instead of translating),
        ``short`` (far shorter than the source), ``weekday`` and ``month`` (a weekday or month the source does not
        give).
    """
    c = Check(source, english, names_and_offices(source) if names is None else names, cfg, months)
    return {"leaks": c.leaks, "numbers": c.numbers, "names": c.names, "invented": c.invented, "meta": c.meta,
            "short": c.short,
            "weekday": c.weekday, "month": c.month, "year": c.year}


def _parts(segs: list[Segment]) -> list[list[Segment]]:
    """Segments grouped by what they translate (the title, one paragraph, the summary), in order."""
    groups: list[list[Segment]] = []
    for seg in segs:
        if groups and (groups[-1][0].article, groups[-1][0].slot, groups[-1][0].index) == (seg.article, seg.slot, seg.index):
            groups[-1].append(seg)
        else:
            groups.append([seg])
    return groups


