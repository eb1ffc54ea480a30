"""Batch job plumbing shared by the local and Ray engines: finding inputs, resuming, writing results."""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from .pipeline import ArticleResult, ErrorRecord, _error_id

logger = logging.getLogger("summarizer")

__all__ = ["discover_inputs", "JsonlSink", "read_records", "write_csv", "write_markdown", "OUTPUT_NAMES"]

INPUT_SUFFIXES = (".txt", ".html", ".htm", ".jsonl")
OUTPUT_NAMES = {"jsonl": "results.jsonl", "csv": "results.csv", "md": "results.md"}


def discover_inputs(inputs: Iterable[str], stdin: TextIO | None = None) -> Iterator[Any]:
    """Expand CLI inputs into items for `Pipeline.process_many`.

    Files are yielded as paths; directories are walked recursively for ``*.txt``, ``*.html`` and
    ``*.jsonl`` (sorted, so ids and order are stable); globs are expanded; a JSONL file yields one
    record dict per line; ``-`` reads stdin (JSONL when every line is a JSON object, else one article).
    A line that is not valid JSON, or a missing path, yields an `ErrorRecord`.
    """
    for raw in inputs:
        if raw == "-":
            yield from _from_stdin(stdin or sys.stdin)
            continue
        paths: list[Path]
        if any(ch in raw for ch in "*?[") and not Path(raw).exists():
            paths = [Path(p) for p in sorted(glob.glob(raw, recursive=True))]
            if not paths:
                yield ErrorRecord(id=_error_id(raw), source=raw, error=f"no files match {raw!r}")
        else:
            paths = [Path(raw)]
        for path in paths:
            if path.is_dir():
                for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES):
                    yield from _from_file(f)
            elif path.is_file():
                yield from _from_file(path)
            else:
                yield ErrorRecord(id=_error_id(str(path)), source=str(path), error=f"no such file or directory: {path}")


def _from_file(path: Path) -> Iterator[Any]:
    if path.suffix.lower() != ".jsonl":
        yield str(path)
        return
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            yield from _record(line, f"{path}:{lineno}")


def _record(line: str, source: str) -> Iterator[Any]:
    if not line.strip():
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        yield ErrorRecord(id=_error_id(source), source=source, error=f"not a JSON line: {exc.msg} at column {exc.colno}")
        return
    if not isinstance(record, dict):
        yield ErrorRecord(id=_error_id(source), source=source, error="a JSONL line must be an object with 'text' or 'html'")
        return
    record.setdefault("source", source)
    yield record


def _from_stdin(stream: TextIO) -> Iterator[Any]:
    data = stream.read()
    lines = [ln for ln in data.splitlines() if ln.strip()]
    if lines and all(ln.lstrip().startswith("{") for ln in lines):
        for n, line in enumerate(lines, start=1):
            yield from _record(line, f"<stdin>:{n}")
    elif data.strip():
        yield data
    else:
        yield ErrorRecord(id=_error_id("<stdin>"), source="<stdin>", error="the input is empty")


class JsonlSink:
    """Append-only JSONL results file that survives being killed at any moment.

    Each record is written as one line with a single write and flushed. On open, a torn last line
    (from a kill mid-write) is cut off, and the ids already present are read so a resumed run skips them.
    """

    def __init__(self, path: Path, *, resume: bool):
        self.path = path
        self.done: dict[str, bool] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume and path.exists():
            self._recover()
        elif path.exists():
            path.unlink()
        self._f = open(path, "a", encoding="utf-8")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        good_end = 0
        pos = 0
        for line in data.splitlines(keepends=True):
            pos += len(line)
            if not line.endswith(b"\n"):
                break
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
            good_end = pos
            self.done[str(rec.get("id"))] = "error" not in rec
        if good_end < len(data):
            logger.warning("%s: dropping %d bytes of a torn last record; it will be redone", self.path, len(data) - good_end)
            with open(self.path, "r+b") as f:
                f.truncate(good_end)

    def write(self, record: ArticleResult | ErrorRecord) -> None:
        """Append one record and flush it to the OS."""
        d = record.to_dict()
        self._f.write(json.dumps(d, ensure_ascii=False) + "\n")
        self._f.flush()
        self.done[str(d["id"])] = "error" not in d

    def close(self) -> None:
        """Close the file."""
        self._f.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """All complete records of a results JSONL file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


CSV_FIELDS = ["id", "source", "title", "summary_zh", "title_en", "summary_en", "text_en", "warnings", "error"]


def csv_row(rec: dict[str, Any]) -> dict[str, str]:
    """One CSV row for a result or error record."""
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
    """A readable Markdown report: per article the title, 摘要, English title, summary, paragraphs, warnings."""
    buf = io.StringIO()
    buf.write("# Summaries and translations\n\n")
    for rec in records:
        if "error" in rec:
            buf.write(f"## ⚠ {rec.get('source') or rec['id']}\n\nError: {rec['error']}\n\n---\n\n")
            continue
        art = rec["article"]
        buf.write(f"## {_md(art['title']) or rec['id']}\n\n")
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
        meta = f"id `{rec['id']}` · config `{rec.get('config', '')}`"
        if rec.get("timings"):
            meta += f" · {rec['timings'].get('total', 0):.1f}s"
        buf.write(f"<sub>{meta}</sub>\n\n---\n\n")
    return buf.getvalue()


def _md(text: str) -> str:
    """Escape what Markdown or an HTML renderer would treat as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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


def env_flag(name: str) -> bool:
    """True when env var `name` is set to a true value."""
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
