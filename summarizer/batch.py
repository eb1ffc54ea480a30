"""The batch core every interface calls (CLI, demo uploads, the API's batch route, Ray's driver), and its plumbing:
finding inputs, one scheme of error-record ids, resume, duplicates, progress, writing results."""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import itertools
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from .clean import DEFAULT_MAX_BYTES, Article, path_text
from .pipeline import SKIP, ArticleResult, ErrorRecord, Pipeline, input_id
from .repair import WARNING_FLAGS
from .text import printable

logger = logging.getLogger("summarizer")

__all__ = ["is_record", "discover_inputs", "JsonlSink", "run_local", "process", "Admission", "Progress", "read_records",
           "flagged_sentences", "write_csv", "write_markdown", "finish_outputs",
           "OUTPUT_NAMES", "OutputError", "NoInputsError"]

INPUT_SUFFIXES = (".txt", ".html", ".htm", ".jsonl")
OUTPUT_NAMES = {"jsonl": "results.jsonl", "csv": "results.csv", "md": "results.md"}
LOCK_NAME = ".summarizer.lock"


class OutputError(RuntimeError):
    """The output folder cannot be used: results already there, another run holds it, or it cannot be written."""


class NoInputsError(RuntimeError):
    """The inputs named no file, folder entry or record to process."""


def discover_inputs(inputs: Iterable[str], stdin: TextIO | None = None, *,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Any]:
    """Expand CLI inputs into items for `Pipeline.process_many`.

    Files are yielded as `pathlib.Path`s (so a name with a newline is still a file); directories are
    walked recursively for ``*.txt``, ``*.html`` and ``*.jsonl`` (sorted, symlinked folders not
    followed, so a symlink loop ends); globs are expanded; a JSONL file yields one record dict per line
    with ``source`` set to ``FILE:LINE``; ``-`` reads stdin (JSONL when every line is a JSON object,
    else one article). A line that is not a JSON object yields an `ErrorRecord`; a path that is not a
    readable file is yielded as is and gets its precise error ("no such file", "is a directory", ...)
    when it is cleaned.
    """
    for raw in inputs:
        if raw == "-":
            yield from _from_stdin(stdin or sys.stdin, max_bytes)
            continue
        paths: list[Path]
        if any(ch in raw for ch in "*?[") and not os.path.lexists(raw):
            paths = [Path(p) for p in sorted(glob.glob(raw, recursive=True))]
            if not paths:
                yield ErrorRecord(id=input_id(Path(raw)), source=path_text(raw), error=f"no files match {path_text(raw)!r}")
        else:
            paths = [Path(raw)]
        for path in paths:
            if path.is_dir():
                for f in _walk(path):
                    yield from _from_file(f, max_bytes)
            else:
                yield from _from_file(path, max_bytes)


def _walk(root: Path) -> Iterator[Path]:
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in files:
            p = Path(folder) / name
            if p.suffix.lower() in INPUT_SUFFIXES and p.is_file():
                found.append(p)
    yield from sorted(found)


def _from_file(path: Path, max_bytes: int) -> Iterator[Any]:
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        yield path
        return
    try:
        f = open(path, "r", encoding="utf-8", errors="replace")
    except OSError as exc:
        yield ErrorRecord(id=input_id(path), source=path_text(path), error=f"cannot read the file: {exc.strerror or exc}")
        return
    with f:
        lineno = 0
        while True:
            # A line is read with a cap, so one huge line costs bounded memory before it is refused.
            line = f.readline(4 * max_bytes + 2)
            if not line:
                break
            lineno += 1
            source = f"{path_text(path)}:{lineno}"
            if not line.endswith("\n") and len(line) > 4 * max_bytes:
                while line and not line.endswith("\n"):
                    line = f.readline(1 << 20)
                yield ErrorRecord(id=input_id(Path(source)), source=source,
                                  error=f"the line is over the limit of {max_bytes:,} bytes", kind="InputTooLarge")
                continue
            yield from _record(line, source)


def _record(line: str, source: str) -> Iterator[Any]:
    if not line.strip():
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        yield ErrorRecord(id=input_id(Path(source)), source=source,
                          error=f"not a JSON line: {exc.msg} at column {exc.colno}")
        return
    except (ValueError, RecursionError) as exc:
        # RecursionError: a line of 200,000 '[' nests deeper than the parser goes.
        yield ErrorRecord(id=input_id(Path(source)), source=source,
                          error=f"not a usable JSON line: {type(exc).__name__}: {str(exc)[:200]}")
        return
    if not isinstance(record, dict):
        yield ErrorRecord(id=input_id(Path(source)), source=source,
                          error="a JSONL line must be an object with 'text' or 'html'")
        return
    record["source"] = source
    yield record


def _from_stdin(stream: TextIO, max_bytes: int) -> Iterator[Any]:
    data = stream.read()
    lines = [ln for ln in data.splitlines() if ln.strip()]
    if lines and all(ln.lstrip().startswith("{") for ln in lines):
        for n, line in enumerate(lines, start=1):
            yield from _record(line, f"<stdin>:{n}")
    elif data.strip():
        yield data
    else:
        yield ErrorRecord(id=input_id(Path("<stdin>")), source="<stdin>", error="the input is empty")


class JsonlSink:
    """Append-only JSONL results file that survives being killed at any moment.

    Each record is written as one line with a single write and flushed. A lock file in the folder
    keeps a second run off the same output. Existing results are never deleted quietly: without
    `resume` or `overwrite` they are refused. On resume, every readable record is kept and only
    unreadable lines (a torn write from a kill, wherever it sits) are dropped and redone.
    """

    def __init__(self, path: Path, *, resume: bool, overwrite: bool = False):
        from filelock import FileLock, Timeout

        self.path = path
        self.done: dict[str, bool] = {}
        out = path.parent
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out} exists and is not a folder; -o names the output folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(out / LOCK_NAME))
            self._lock.acquire(timeout=0)
        except Timeout:
            raise OutputError(f"another summarizer run is writing to {out} (lock {out / LOCK_NAME}); "
                              "wait for it to finish or choose another output folder") from None
        except OSError as exc:
            raise OutputError(f"cannot write to the output folder {out}: {exc.strerror or exc}") from None
        try:
            self._open(resume, overwrite)
        except OSError as exc:
            self._lock.release()
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        except OutputError:
            self._lock.release()
            raise

    def _open(self, resume: bool, overwrite: bool) -> None:
        path = self.path
        if path.exists() and path.stat().st_size and not overwrite:
            if not resume:
                n = len(read_records(path))
                raise OutputError(f"{path} already holds {n} record(s); use --resume to finish that job, "
                                  "or --overwrite to replace the results")
            self._recover()
        elif overwrite and path.exists():
            path.unlink()
        self._f = open(path, "ab")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        good: list[bytes] = []
        dropped = 0
        for line in data.splitlines(keepends=True):
            rec = _parse(line) if line.endswith(b"\n") else None
            if rec is None:
                # A torn write from a kill, or a line that is no record of ours: either way it cannot be resumed.
                dropped += line.strip() != b""
                continue
            good.append(line)
            self.done[str(rec["id"])] = "error" not in rec
        if dropped:
            logger.warning("%s: dropping %d line(s) that are no readable result record (torn writes, or another "
                           "program's JSON); those articles will be redone", self.path, dropped)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(b"".join(good))
            os.replace(tmp, self.path)

    def write(self, record: ArticleResult | ErrorRecord) -> None:
        """Append one record and flush it to the OS."""
        d = record.to_dict()
        try:
            line = (json.dumps(d, ensure_ascii=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (e.g. from an undecodable file name) cannot be UTF-8; escaped JSON is still exact.
            line = (json.dumps(d) + "\n").encode("ascii")
        self._f.write(line)
        self._f.flush()
        self.done[str(d["id"])] = "error" not in d

    def close(self) -> None:
        """Close the file and release the folder's lock."""
        self._f.close()
        self._lock.release()


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return rec if is_record(rec) else None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _pairs_ok(passage: Any) -> bool:
    return (isinstance(passage, dict) and isinstance(passage.get("slot"), str)
            and isinstance(passage.get("index"), int) and isinstance(passage.get("pairs"), list)
            and all(isinstance(p, dict) and isinstance(p.get("zh"), str) and isinstance(p.get("en"), str)
                    and isinstance(p.get("flags"), list)
                    and all(isinstance(f, dict) and isinstance(f.get("kind"), str) and isinstance(f.get("detail"), str)
                            for f in p["flags"])
                    for p in passage["pairs"]))


def is_record(rec: Any) -> bool:
    """Whether `rec` is a record this package writes (a result or an error record) with every field the CSV, the
    report and resume read; a line of another program's JSON in a results file is not one."""
    if not isinstance(rec, dict) or isinstance(rec.get("id"), bool) or not isinstance(rec.get("id"), (str, int)):
        return False
    if "error" in rec:
        return isinstance(rec["error"], str) and isinstance(rec.get("source"), (str, type(None)))
    art = rec.get("article")
    return (isinstance(art, dict) and isinstance(art.get("title"), str) and _strings(art.get("paragraphs"))
            and isinstance(art.get("source"), (str, type(None)))
            and all(isinstance(rec.get(k), str) for k in ("summary_zh", "title_en", "summary_en"))
            and _strings(rec.get("paragraphs_en")) and _strings(rec.get("warnings"))
            and isinstance(rec.get("timings", {}), dict) and isinstance(rec.get("config", ""), str)
            and all(isinstance(v, (int, float)) for v in rec.get("timings", {}).values())
            and isinstance(rec.get("sentences", []), list) and all(_pairs_ok(p) for p in rec.get("sentences", [])))


def run_local(pipe: Pipeline, items: Iterable[Any], sink: JsonlSink, *, limit: int | None = None,
              batch_size: int | None = None, progress: bool = True) -> int:
    """The batch job on this machine: inputs -> resume/duplicate filter -> `Pipeline.process_many` -> `sink`.

    Args:
        pipe: The configured pipeline.
        items: Inputs as yielded by `discover_inputs`.
        sink: The JSONL output; ids already in it are skipped (a previous error counts as failed).
        limit: Take at most this many inputs.
        batch_size: Articles translated together (default ``limits.batch_size``).
        progress: Show a progress bar (terminal) or progress lines on stderr.

    Returns:
        The number of failed articles (error records written now or found from an earlier run).

    Raises:
        NoInputsError: No input at all.
        ModelLoadError: The model cannot be loaded.
        ModelCrashed: The model worker crashed `runtime.CRASHES_TO_STOP` times in a row.
    """
    items = list(itertools.islice(items, limit) if limit is not None else items)
    if not items:
        raise NoInputsError("no inputs found (no *.txt, *.html or *.jsonl files, records or text)")
    # A model that cannot load (missing weights, a llama.cpp build that crashes on this CPU) ends the job with its
    # message here, instead of one error record per article.
    pipe.warm_up()
    failed = 0
    admit = Admission(sink.done)
    bar = Progress(len(items)) if progress else None
    try:
        for result in process(pipe, items, admission=admit, batch_size=batch_size):
            sink.write(result)
            if isinstance(result, ErrorRecord):
                failed += 1
                print(f"error: {printable(result.source or result.id)}: {printable(result.error)}", file=sys.stderr)
            if bar is not None:
                bar.total = len(items) - admit.skipped
                bar.step(result)
    finally:
        if bar is not None:
            bar.close()
    return failed + admit.failed_before


def process(pipe: Pipeline, items: Iterable[Any], *, admission: Admission | None = None, batch_size: int | None = None,
            max_chars: int | None = None, cancel: Any = None) -> Iterator[ArticleResult | ErrorRecord]:
    """The batch core: inputs -> cleaning -> resume and duplicate filter -> `Pipeline.process_many` (articles
    translated together) -> records in input order. The CLI, the demo's uploads, the API's batch route and Ray's
    driver all go through it, so an input gets the same record, and a failure the same error id, everywhere.

    Args:
        pipe: The configured pipeline.
        items: Inputs as for `Pipeline.process_many` (paths, text, records, ready `ErrorRecord`s).
        admission: The resume/duplicate filter; a fresh one (nothing done yet) when None. Share one across calls
            to find duplicates across them.
        batch_size: Articles translated together (default ``limits.batch_size``).
        max_chars: Summary length limit (default from the config).
        cancel: A `threading.Event`; when set the work stops before its next model request (`Cancelled`).
    """
    admission = admission if admission is not None else Admission({})
    yield from pipe.process_many(items, batch_size=batch_size, max_chars=max_chars, admit=admission, cancel=cancel)


class Admission:
    """Decides, per cleaned input, whether to process it: ids already done are skipped (resume), a repeated id
    becomes a "duplicate id" error record with a ``dup-`` id stable across runs."""

    def __init__(self, done: dict[str, bool]):
        """Args: done: ids already written, each with whether it succeeded (`JsonlSink.done`)."""
        self.done = done
        self.seen: dict[str, str] = {}
        self.count: dict[str, int] = {}
        # Inputs skipped because done, and of those the ones that had failed.
        self.skipped = 0
        self.failed_before = 0

    def __call__(self, rec: Article | ErrorRecord):
        return self.check(rec.id, rec.source, isinstance(rec, Article))

    def check(self, rid: str, source: str | None, is_article: bool = True):
        """None to go on, `SKIP` to drop the input (done before), or the `ErrorRecord` of a duplicate id."""
        if rid in self.seen and is_article:
            n = self.count[rid] = self.count.get(rid, 0) + 1
            dup_id = "dup-" + hashlib.sha256(f"{rid}\0{source}\0{n}".encode("utf-8", "replace")).hexdigest()[:12]
            if dup_id in self.done:
                return self._skip(dup_id)
            return ErrorRecord(id=dup_id, source=source,
                               error=f"duplicate id {rid!r}: {self.seen[rid]} already has it")
        if rid in self.done:
            self.seen.setdefault(rid, "an earlier record")
            return self._skip(rid)
        self.seen[rid] = source or "an earlier record"
        return None

    def _skip(self, rid: str):
        self.skipped += 1
        if not self.done[rid]:
            self.failed_before += 1
        return SKIP


class Progress:
    """Progress of a batch job on stderr: a tqdm bar on a terminal, plain log lines otherwise."""

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="article", file=sys.stderr)

    def step(self, result) -> None:
        """One record written (an `ArticleResult`, an `ErrorRecord`, or anything with ``id`` and ``error``)."""
        self.n += 1
        elapsed = time.perf_counter() - self.t0
        rate = self.n / elapsed * 60 if elapsed else 0.0
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.set_postfix_str(f"{rate:.1f} articles/min")
            self.bar.update(1)
        else:
            eta = (self.total - self.n) / (self.n / elapsed) if self.n and elapsed else 0.0
            status = "error" if isinstance(result, ErrorRecord) or getattr(result, "error", None) else "ok"
            print(f"[{self.n}/{self.total}] {printable(str(result.id))} {status} · {rate:.1f} articles/min · "
                  f"ETA {eta:.0f}s",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        """End the bar."""
        if self.bar is not None:
            self.bar.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """All readable records of a results JSONL file (torn or unreadable lines are left out)."""
    with open(path, "rb") as f:
        return [rec for rec in (_parse(line) for line in f if line.endswith(b"\n")) if rec is not None]


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
