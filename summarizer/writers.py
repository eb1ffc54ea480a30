"""CSV and Markdown made from a results file: a spreadsheet-safe CSV and a Markdown report that is also a review
queue (the sentences a check doubts first)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Iterable

from .flags import WARNING_FLAGS
from .sink import OUTPUT_NAMES, read_records
from .text import printable

__all__ = ["flagged_sentences", "csv_cell", "csv_row", "write_csv", "markdown_report", "write_markdown",
           "finish_outputs"]

CSV_FIELDS = ["id", "source", "title", "summary_zh", "title_en", "summary_en", "text_en", "warnings", "flagged_sentences",
              "error"]


def flagged_sentences(rec: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """The sentence pairs of a result record that a check doubts, as (slot, paragraph index, pair), in order."""
    return [(p["slot"], p["index"], pair) for p in rec.get("sentences") or () for pair in p["pairs"]
            if any(f["kind"] in WARNING_FLAGS for f in pair["flags"])]


# OWASP's rule against CSV (formula) injection: a spreadsheet runs a cell that starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _writable(text: str) -> str:
    """`text` as a writer can carry it: a lone surrogate or a NUL (from an old or foreign JSONL) is escaped."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets a ``'``."""
    text = _writable("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(rec: dict[str, Any]) -> dict[str, str]:
    """One CSV row for a result or error record, every cell neutralised with `csv_cell`."""
    return {k: csv_cell(v) for k, v in _csv_values(rec).items()}


def _csv_values(rec: dict[str, Any]) -> dict[str, Any]:
    if "error" in rec:
        return {"id": rec["id"], "source": rec.get("source") or "", "error": rec["error"]}
    art = rec["article"]
    return {
        "id": rec["id"],
        "source": art.get("source") or "",
        "title": art["title"],
        "summary_zh": rec["summary_zh"],
        "title_en": rec["title_en"],
        "summary_en": rec["summary_en"],
        "text_en": "\n\n".join(rec["paragraphs_en"]),
        "warnings": "; ".join(rec["warnings"]),
        "flagged_sentences": len(flagged_sentences(rec)),
        "error": "",
    }


def write_csv(records: Iterable[dict[str, Any]], path: Path) -> None:
    """Write records as CSV (UTF-8 with BOM so spreadsheet programs read the Chinese)."""
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for rec in records:
            w.writerow(csv_row(rec))


def markdown_report(records: Iterable[dict[str, Any]]) -> str:
    """A readable Markdown report that is also a review queue: at the top a count per flag over the run; per article
    the sentences a check doubts, Chinese beside English with the reason, then the title, 摘要, summary, paragraphs
    and warnings."""
    records = list(records)
    buf = io.StringIO()
    buf.write("# Summaries and translations\n\n")
    counts: dict[str, int] = {}
    for rec in records:
        for _, _, pair in flagged_sentences(rec):
            for f in pair["flags"]:
                if f["kind"] in WARNING_FLAGS:
                    counts[f["kind"]] = counts.get(f["kind"], 0) + 1
    if counts:
        buf.write("**To review**: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
                  + f" ({sum(len(flagged_sentences(r)) for r in records)} sentences)\n\n")
    for rec in records:
        if "error" in rec:
            buf.write(f"## ⚠ {_md(rec.get('source') or rec['id'])}\n\nError: {_md(rec['error'])}\n\n"
                      f"<sub>id {_code(rec['id'])}</sub>\n\n---\n\n")
            continue
        art = rec["article"]
        buf.write(f"## {_md(art['title'] or rec['id'])}\n\n")
        flagged = flagged_sentences(rec)
        if flagged:
            buf.write("### To review\n\n| where | 中文 | English | why |\n|---|---|---|---|\n")
            for slot, index, pair in flagged:
                where = f"paragraph {index + 1}" if slot == "para" else slot
                why = "; ".join(f"{f['kind']}" + (f": {f['detail']}" if f["detail"] else "")
                                for f in pair["flags"] if f["kind"] in WARNING_FLAGS)
                buf.write(f"| {where} | {_cell(pair['zh'])} | {_cell(pair['en'])} | {_cell(why)} |\n")
            buf.write("\n")
        if rec.get("title_en"):
            buf.write(f"*{_md(rec['title_en'])}*\n\n")
        if rec.get("summary_zh"):
            buf.write(f"**摘要**：{_md(rec['summary_zh'])}\n\n")
        if rec.get("summary_en"):
            buf.write(f"**Summary**: {_md(rec['summary_en'])}\n\n")
        if rec.get("paragraphs_en"):
            buf.write("### Translation\n\n")
            for zh, en in zip(art["paragraphs"], rec["paragraphs_en"]):
                buf.write(f"> {_md(zh)}\n\n{_md(en)}\n\n")
        if rec.get("warnings"):
            buf.write("**Warnings**\n\n" + "".join(f"- {_md(w)}\n" for w in rec["warnings"]) + "\n")
        meta = f"id {_code(rec['id'])} · config {_code(rec.get('config', ''))}"
        if rec.get("timings"):
            meta += f" · {rec['timings'].get('total', 0):.1f}s"
        buf.write(f"<sub>{meta}</sub>\n\n---\n\n")
    return buf.getvalue()


# Characters that open Markdown links, images, emphasis and code: escaped, a link or a remote image in an article
# (``![t](http://…)``, ``[x](javascript:…)``) is shown as text and never loaded. "_" stays: inside a word (the flag
# kinds, number_lost) it is no emphasis, and around one it can only make italics.
_MD_SPECIAL = re.compile(r"([\\`*\[\]!])")


def _md(text: Any) -> str:
    """Escape what Markdown or an HTML renderer would treat as markup, and control characters (ESC, BEL)."""
    text = _writable(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(printable(line) for line in _MD_SPECIAL.sub(r"\\\1", text).split("\n"))


def _cell(text: Any) -> str:
    """Text for a Markdown table cell: escaped, one line, pipes kept as text."""
    return _md(text).replace("\n", " ").replace("|", "\\|")


def _code(text: Any) -> str:
    """A Markdown code span that holds `text` whatever backticks it contains (CommonMark: a longer fence)."""
    text = printable(_writable(str(text)).replace("\n", " "))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def write_markdown(records: Iterable[dict[str, Any]], path: Path) -> None:
    """Write the Markdown report."""
    path.write_text(markdown_report(records), encoding="utf-8")


def finish_outputs(out_dir: Path, formats: set[str]) -> list[Path]:
    """Derive the CSV and Markdown files from the JSONL results; returns the files written."""
    jsonl = out_dir / OUTPUT_NAMES["jsonl"]
    written = [jsonl]
    records = read_records(jsonl) if jsonl.exists() else []
    if "csv" in formats:
        write_csv(records, out_dir / OUTPUT_NAMES["csv"])
        written.append(out_dir / OUTPUT_NAMES["csv"])
    if "md" in formats:
        write_markdown(records, out_dir / OUTPUT_NAMES["md"])
        written.append(out_dir / OUTPUT_NAMES["md"])
    return written
