"""Quality evaluation: BLEU/chrF, Chinese leaks and numbers kept for translation; character ROUGE for summaries.

All scoring goes through the `Pipeline`'s public methods (`translate_segments`, `summarize_text`), so a report
measures exactly what users get. Throughput lives in `bench.py`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from .inputs import NoInputsError
from .checks import leaked_han
from .config import Config, load_config
from .namecheck import missing_names
from .names import find_names
from .text import name_key
from .numbers import missing_numbers, source_numbers, unsupported_numbers
from .pipeline import Pipeline
from .refnumbers import numbers_ref_kept
from .summarize import textrank_summary, unsupported_items

logger = logging.getLogger("summarizer")

__all__ = ["rouge_chars", "translation_scores", "run_eval", "baseline_config", "machine", "name_finder_scores",
           "ReferenceName", "load_reference_names", "name_written", "reference_names_for", "dataset_key",
           "REFERENCE_NAMES", "markdown_report"]

BASELINE_SYSTEM = "You are a helpful assistant."
BASELINE_USER = "Translate the following Chinese text into English:\n{text}"


def baseline_config(cfg: Config) -> Config:
    """The plain-prompt baseline of the same model: no context, few-shot, hints, Han ban or repair."""
    tr = replace(cfg.translate, system_prompt=BASELINE_SYSTEM, user_prompt=BASELINE_USER, few_shot=(), context=False,
                 repair=False, check_numbers=False, number_hints=False, name_hints=False, ban_han=False, glossary=None)
    sm = replace(cfg.summarize, system_prompt="You are a helpful assistant.",
                 user_prompt="请为下面的新闻写一个不超过{max_chars}字的中文摘要：\n{text}", shorten_prompt="")
    return replace(cfg, name=f"{cfg.name}-plain", translate=tr, summarize=sm)


# ---------------------------------------------------------------- metrics

def _chars(text: str) -> list[str]:
    return [c for c in text if not c.isspace()]


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_chars(hypothesis: str, reference: str) -> dict[str, float]:
    """Character-level ROUGE-1/2/L F1 (the usual LCSTS practice: every Chinese character is a token).

    Whitespace is ignored; punctuation counts as characters, as in the common LCSTS scripts.
    """
    h, r = _chars(hypothesis), _chars(reference)
    out = {}
    for n in (1, 2):
        hn, rn = _ngrams(h, n), _ngrams(r, n)
        overlap = sum((hn & rn).values())
        out[f"rouge{n}"] = _f(overlap / max(1, sum(hn.values())), overlap / max(1, sum(rn.values())))
    lcs = _lcs(h, r)
    out["rougeL"] = _f(lcs / max(1, len(h)), lcs / max(1, len(r)))
    return out


@dataclass(frozen=True)
class ReferenceName:
    """One name of a hand-made list: where it is, and the English the human reference uses."""

    # The dataset ("wmt19", "flores") and the row (0-based, in file order) the name is in.
    dataset: str
    row: int
    # The name as the Chinese source writes it.
    zh: str
    # The reference's English and accepted variants ("Ri Yong Ho|Ri Yong-ho").
    english: tuple[str, ...]
    # PER, LOC or ORG.
    kind: str


REFERENCE_NAMES = Path(__file__).resolve().parent / "examples" / "names_ref_dev.tsv"


def load_reference_names(path: Path = REFERENCE_NAMES) -> list[ReferenceName]:
    """The hand-made list of names (`REFERENCE_NAMES`: 470 names of WMT19 and FLORES dev-200, made by reading each
    source and its human reference, never from this project's name finder)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines()[1:]:
            if line.strip():
                dataset, row, zh, english, kind = line.split("\t")
                out.append(ReferenceName(dataset, int(row), zh, tuple(english.split("|")), kind))
    return out


def _name_text(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return " " + re.sub(r"[\s\-‐–—·•]+", " ", folded) + " "


def name_written(hypothesis: str, name: ReferenceName) -> bool:
    """True when one of the name's English forms is in `hypothesis` as whole words (case, accents, hyphens and
    curly apostrophes aside); a place or organisation may carry an adjective or plural ending (Russia → Russian)."""
    hyp = _name_text(hypothesis)
    ending = r"(?:'s|s|n|ns|an|ans|ian|ians)?" if name.kind != "PER" else r"(?:'s)?"
    for form in name.english:
        word = re.escape(_name_text(form).strip())
        if re.search(rf"(?<![a-z0-9]){word}{ending}(?![a-z0-9])", hyp):
            return True
    return False


def dataset_key(data: Path | str) -> str | None:
    """The reference list's key of a dataset file (wmt19_newstest_zhen.jsonl → wmt19), None when it has none."""
    stem = Path(data).stem.lower()
    return next((k for k in ("wmt19", "flores") if stem.startswith(k)), None)


def translation_scores(hypotheses: Sequence[str], references: Sequence[str], sources: Sequence[str],
                       reference_names: Sequence[Sequence[ReferenceName]] | None = None) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, 0-100), share of outputs with Han, shares of source numbers and names kept.

    ``numbers_ref_kept`` is the accuracy measure for numbers: the share of the numbers a human reference gives that
    the output gives too, both read by `refnumbers` (no code shared with the repair loop's check, whose own figure
    is ``numbers_kept``). ``names_ref_kept`` is the accuracy measure for names: the share of a hand-made list's names
    (per row, `reference_names`) whose reference English is in the output. ``finder_names_kept`` only counts the names this
    project's own finder spells in pinyin (`names.find_names`) and finds them again: it cannot see the names the
    finder misses, which are the ones that come out wrong, so it is no accuracy.
    """
    import sacrebleu

    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score
    chrf = sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score
    total = kept = names = names_kept = 0
    for src, hyp in zip(sources, hypotheses):
        n = len(source_numbers(src))
        total += n
        kept += n - len(missing_numbers(src, hyp))
        found = find_names(src)
        names += len(found)
        names_kept += len(found) - len(missing_names(src, hyp, found))
    ref_kept, ref_total = numbers_ref_kept(hypotheses, references)
    scores = {
        "bleu": round(bleu, 2),
        "chrf": round(chrf, 2),
        "leak_share": round(sum(bool(leaked_han(h)) for h in hypotheses) / max(1, len(hypotheses)), 4),
        # Against the human references, read by the eval's own reader (the headline figure for numbers).
        "numbers_ref_kept": ref_kept,
        "numbers_ref": ref_total,
        # The checker's own figure (the repair loop retries against this check), not an accuracy.
        "numbers_kept": round(kept / total, 4) if total else 1.0,
        "finder_names_kept": round(names_kept / names, 4) if names else 1.0,
        "finder_names": names,
    }
    if reference_names is not None:
        listed = [(hyp, name) for hyp, row in zip(hypotheses, reference_names) for name in row]
        written = [name for hyp, name in listed if name_written(hyp, name)]
        scores["names_ref_kept"] = round(len(written) / len(listed), 4) if listed else 1.0
        scores["names_ref"] = len(listed)
        for kind in ("PER", "LOC", "ORG"):
            of_kind = [name for _, name in listed if name.kind == kind]
            if of_kind:
                scores[f"names_ref_kept_{kind.lower()}"] = round(
                    sum(name.kind == kind for name in written) / len(of_kind), 4)
    return scores


def reference_names_for(data: Path | str, sources: Sequence[str], join: int = 1,
                        first_row: int = 0) -> list[list[ReferenceName]] | None:
    """The listed names of each (joined) row: a name applies to the row of its number only where that row's source
    holds it (a list made for one file says nothing of another file's rows). None when no listed name applies, so
    a dataset the list does not cover gets no names score.

    Args:
        data: The dataset file (its name picks the list: wmt19…, flores…).
        sources: The Chinese of each (joined) row scored.
        join: Rows joined into one.
        first_row: The file row of the first row scored (``--skip``).
    """
    key = dataset_key(data)
    by_row: dict[int, list[ReferenceName]] = {}
    for name in load_reference_names():
        if name.dataset == key:
            by_row.setdefault(name.row, []).append(name)
    out = [[name for j in range(join) for name in by_row.get(first_row + i * join + j, []) if name.zh in source]
           for i, source in enumerate(sources)]
    return out if any(out) else None


def _load_jsonl(path: Path, limit: int | None, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise NoInputsError(f"{path}, line {number}: not JSON ({exc.msg})") from exc
                if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in fields):
                    raise NoInputsError(f"{path}, line {number}: needs string fields {', '.join(fields)}")
                rows.append(row)
                if limit and len(rows) >= limit:
                    break
    except (OSError, UnicodeDecodeError) as exc:
        raise NoInputsError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise NoInputsError(f"{path} has no records")
    return rows


# ---------------------------------------------------------------- eval

def run_eval(task: str, data: Path, *, config: str | None = None, overrides: dict | None = None,
             limit: int | None = None, baseline: bool = False, max_chars: int | None = None,
             output: Path | None = None, batch: int = 8, join: int = 1, article: int = 0,
             skip: int = 0) -> dict[str, Any]:
    """Score a config on a dataset and write a JSON + Markdown report.

    Args:
        task: ``translation`` (rows ``{"zh","en"}``) or ``summarization`` (rows ``{"text","summary"}``).
        data: JSONL dataset.
        config: Config name or path.
        overrides: Dotted config overrides.
        limit: Use the first N rows (after `skip`).
        skip: Leave out the file's first rows (``--skip 200 --limit 200``: rows 200-399, never tuned on).
        baseline: Score the plain-prompt baseline of the same model instead.
        max_chars: Summary length limit (summarization).
        output: Report path; default ``reports/<task>-<dataset>-<config>.json``.
        batch: Sentences translated per batched call.
        join: Translation: join every `join` consecutive rows (sentences of one document in WMT19 and FLORES)
            into one paragraph, so segment size and context can be measured on paragraphs.
        article: Translation: run every `article` consecutive rows as the paragraphs of one article through
            `Pipeline.process` (the whole article path: one name table per article, batching, repair), each row
            still scored against its own reference; 0 translates rows as segments (`Pipeline.translate_segments`).

    Returns:
        The report; top-level keys for translation: ``bleu``, ``chrf``, ``leak_share``, ``numbers_kept``,
        ``seconds_per_item``, ``n``.
    """
    cfg = load_config(config, overrides)
    if baseline:
        cfg = baseline_config(cfg)
    pipe = Pipeline(cfg)
    if task not in ("translation", "summarization"):
        raise ValueError(f"unknown eval task {task!r}")
    rows = _load_jsonl(Path(data), None if limit is None else skip + limit,
                       ("zh", "en") if task == "translation" else ("text", "summary"))[skip:]
    if task == "translation" and join > 1:
        rows = [{"zh": "".join(r["zh"] for r in rows[i:i + join]), "en": " ".join(r["en"] for r in rows[i:i + join])}
                for i in range(0, len(rows), join)]
    t0 = time.perf_counter()
    if task == "translation":
        names = reference_names_for(data, [r["zh"] for r in rows], join, skip)
        report = (_eval_articles(pipe, rows, article, names) if article > 0
                  else _eval_translation(pipe, rows, batch, names))
    elif task == "summarization":
        report = _eval_summarization(pipe, rows, max_chars or cfg.summarize.max_chars)
    else:
        raise ValueError(f"unknown eval task {task!r}")
    elapsed = time.perf_counter() - t0
    report.update(task=task, data=str(data), config=cfg.name, n=len(rows), skip=skip, join=join, article=article,
                  seconds_per_item=round(elapsed / max(1, len(rows)), 3), machine=machine())
    output = output or Path("reports") / f"{task}-{Path(data).stem}-{cfg.name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    output.with_suffix(".md").write_text(markdown_report(report), encoding="utf-8")
    return report


def _eval_translation(pipe: Pipeline, rows: list[dict[str, Any]], batch: int,
                      reference_names: list[list[ReferenceName]] | None = None) -> dict[str, Any]:
    hyps: list[str] = []
    warnings = 0
    for start in range(0, len(rows), batch):
        outs = pipe.translate_segments([r["zh"] for r in rows[start:start + batch]])
        hyps.extend(o.paragraphs_en[0] for o in outs)
        warnings += sum(bool(o.warnings) for o in outs)
        logger.info("translated %d/%d", len(hyps), len(rows))
    scores = translation_scores(hyps, [r["en"] for r in rows], [r["zh"] for r in rows], reference_names)
    samples = [{"zh": r["zh"], "ref": r["en"], "hyp": h} for r, h in zip(rows[:5], hyps[:5])]
    leaks = [{"zh": r["zh"], "hyp": h} for r, h in zip(rows, hyps) if leaked_han(h)][:10]
    return {**scores, "flagged_share": round(warnings / max(1, len(rows)), 4), "samples": samples, "leaks": leaks,
            "hypotheses": hyps}


def _eval_articles(pipe: Pipeline, rows: list[dict[str, Any]], size: int,
                   reference_names: list[list[ReferenceName]] | None) -> dict[str, Any]:
    from .clean import Article

    translate_only = pipe.variant(tasks=("translation",))
    articles = [Article(id=f"rows-{i}", title="", paragraphs=tuple(r["zh"] for r in rows[i:i + size]))
                for i in range(0, len(rows), size)]
    hyps: list[str] = []
    warnings = 0
    for result in translate_only.process_many(articles, batch_size=1):
        if not hasattr(result, "paragraphs_en"):
            raise RuntimeError(f"an eval article failed: {result.error}")
        hyps.extend(result.paragraphs_en)
        warnings += bool(result.warnings)
        logger.info("translated %d/%d", len(hyps), len(rows))
    scores = translation_scores(hyps, [r["en"] for r in rows], [r["zh"] for r in rows], reference_names)
    samples = [{"zh": r["zh"], "ref": r["en"], "hyp": h} for r, h in zip(rows[:5], hyps[:5])]
    return {**scores, "flagged_article_share": round(warnings / max(1, len(articles)), 4), "samples": samples,
            "hypotheses": hyps}


def _eval_summarization(pipe: Pipeline, rows: list[dict[str, Any]], max_chars: int) -> dict[str, Any]:
    systems: dict[str, list[str]] = {pipe.config.name: [], f"lead-{max_chars}": [], "textrank": []}
    refs = []
    over = unsupported = unsupported_any = fallbacks = 0
    examples: list[dict[str, Any]] = []
    for r in rows:
        # The same cleaning (and byte limit) as every other input; dataset texts have no title line.
        article = pipe.article(r["text"], id=str(r.get("id")), title="")
        out = pipe.summarize_text(article, max_chars=max_chars)
        systems[pipe.config.name].append(out.text)
        systems[f"lead-{max_chars}"].append(article.text.replace("\n", "")[:max_chars])
        systems["textrank"].append(textrank_summary(article, max_chars))
        refs.append(r["summary"])
        over += len(out.text) > max_chars
        unsupported += bool(unsupported_numbers(out.text, article.text))
        items = unsupported_items(out.text, article)
        unsupported_any += bool(items)
        if items and len(examples) < 10:
            examples.append({"id": r.get("id"), "summary": out.text, "unsupported": items})
        fallbacks += out.fallback
    scores = {}
    for name, hyps in systems.items():
        per = [rouge_chars(h, ref) for h, ref in zip(hyps, refs)]
        scores[name] = {k: round(100 * sum(p[k] for p in per) / max(1, len(per)), 2) for k in ("rouge1", "rouge2", "rougeL")}
    main = scores[pipe.config.name]
    return {
        **main,
        "baselines": {k: v for k, v in scores.items() if k != pipe.config.name},
        "max_chars": max_chars,
        "over_limit_share": round(over / max(1, len(rows)), 4),
        "unsupported_number_share": round(unsupported / max(1, len(rows)), 4),
        # Numbers or people's names the article lacks (what the summary check retries on).
        "unsupported_share": round(unsupported_any / max(1, len(rows)), 4),
        "unsupported_examples": examples,
        "extractive_fallback_share": round(fallbacks / max(1, len(rows)), 4),
        "rouge": "character-level ROUGE-1/2/L F1 x100, own implementation (summarizer.evaluate.rouge_chars)",
        "samples": [{"ref": ref, "hyp": h} for ref, h in zip(refs[:5], systems[pipe.config.name][:5])],
        "hypotheses": systems[pipe.config.name],
    }


def name_finder_scores(listing: Path, crawl: Path) -> dict[str, Any]:
    """Precision and recall of `names.find_names` against a hand-made list of every pinyin name in some articles.

    Args:
        listing: TSV with columns split, file, source, english, kind (``tests/data/names_crawl.tsv``); a file
            appears once with empty columns when it has no such name.
        crawl: The folder the listed files are relative to (``../shared/eval/crawl``).

    Returns:
        Per split and for all: ``names`` (listed), ``found`` (finder outputs), ``correct`` (source and English
        both right), ``precision``, ``recall``; plus ``wrong`` (outputs not listed or spelled otherwise) and
        ``missed`` (listed names not found) with their files.
    """
    from .clean import clean_file

    gold: dict[str, dict[str, str]] = {}
    split_of: dict[str, str] = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(("#", "split\t")):
            continue
        split, file, source, english, _kind = (line.split("\t") + [""] * 5)[:5]
        split_of[file] = split
        if source:
            gold.setdefault(file, {})[source] = english
    counts: dict[str, Counter] = {}
    wrong, missed = [], []
    for file, split in split_of.items():
        article = clean_file(crawl / file)
        # The list holds pinyin names only: names with other English (kind "foreign") are outside its scope.
        found = {n.source: n.english for n in find_names(article.title + "\n" + article.text) if n.kind != "foreign"}
        want = gold.get(file, {})
        right = {s for s, e in found.items() if s in want and name_key(want[s]) == name_key(e)}
        for key in (split, "all"):
            c = counts.setdefault(key, Counter())
            c.update(names=len(want), found=len(found), correct=len(right))
        wrong += [{"file": file, "source": s, "english": e, "listed": want.get(s)} for s, e in found.items() if s not in right]
        missed += [{"file": file, "source": s, "english": e} for s, e in want.items() if s not in right]
    out: dict[str, Any] = {}
    for key, c in counts.items():
        out[key] = {**c, "precision": round(c["correct"] / max(1, c["found"]), 3),
                    "recall": round(c["correct"] / max(1, c["names"]), 3)}
    return {**out, "wrong": wrong, "missed": missed}


def foreign_spelling_scores(data: Path | str, n_rows: int = 200) -> dict[str, Any]:
    """How well `foreign.spelling_in` reads a transliterated name's English off a human reference.

    For each transliteration `foreign.transliterations` finds in a dataset's first rows, the spelling read off the
    human reference is judged against the hand-made reference list (`REFERENCE_NAMES`), never against this
    project's own finder.

    Returns:
        ``found`` (transliterations), ``listed`` (those the list judges), ``right``, ``wrong``, ``none`` (no
        spelling read), ``precision`` (right of read), ``recall`` (right of listed); the wrong and unread ones.
    """
    from .foreign import spelling_in, transliterations

    listed: dict[int, list[ReferenceName]] = {}
    for name in load_reference_names():
        if name.dataset == dataset_key(data):
            listed.setdefault(name.row, []).append(name)
    rows = _load_jsonl(Path(data), n_rows, ("zh", "en"))
    c: Counter = Counter()
    wrong, unread = [], []
    for i, row in enumerate(rows):
        for word in transliterations(row["zh"], find_names(row["zh"])):
            spelled = spelling_in(row["en"], word)
            judged = [n for n in listed.get(i, []) if word in n.zh]
            c.update(found=1, listed=bool(judged))
            if not judged:
                continue
            if spelled is None:
                c.update(none=1)
                unread.append({"row": i, "source": word, "reference": judged[0].english[0]})
            elif any(name_key(spelled) in name_key(form) for n in judged for form in n.english):
                c.update(right=1)
            else:
                c.update(wrong=1)
                wrong.append({"row": i, "source": word, "spelled": spelled, "reference": judged[0].english[0]})
    return {**{k: c[k] for k in ("found", "listed", "right", "wrong", "none")},
            "precision": round(c["right"] / max(1, c["right"] + c["wrong"]), 3),
            "recall": round(c["right"] / max(1, c["listed"]), 3), "wrong_spellings": wrong, "unread": unread}


def machine() -> dict[str, Any]:
    """CPU, core count and Python version, recorded in every report."""
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}


def markdown_report(report: dict[str, Any]) -> str:
    """A report as Markdown: its numbers in a table, then the samples."""
    lines = [f"# {report['task']} · {Path(report['data']).name} · config `{report['config']}`", ""]
    lines.append(f"n = {report['n']}, {report['seconds_per_item']} s/item on {report['machine']['cores']} cores")
    lines.append("")
    lines.append("| metric | value |\n|---|---|")
    for k, v in report.items():
        if isinstance(v, (int, float)) and k not in ("n", "seconds_per_item"):
            lines.append(f"| {k} | {v} |")
    for name, vals in report.get("baselines", {}).items():
        lines.append(f"| {name} (baseline) | R1 {vals['rouge1']} · R2 {vals['rouge2']} · RL {vals['rougeL']} |")
    lines.append("")
    for s in report.get("samples", []):
        lines.append(f"- ref: {s.get('ref')}\n  - hyp: {s.get('hyp')}")
    return "\n".join(lines) + "\n"
