"""Finding the inputs of a batch job: files, folders (walked), globs, JSONL records (one per line, with its
``FILE:LINE``) and stdin, each as an item for the batch core; an unusable line becomes its `ErrorRecord`."""

from __future__ import annotations

import glob
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from .clean import DEFAULT_MAX_BYTES, path_text
from .records import ErrorRecord, input_id

__all__ = ["discover_inputs", "NoInputsError", "INPUT_SUFFIXES"]

INPUT_SUFFIXES = (".txt", ".html", ".htm", ".jsonl")


class NoInputsError(RuntimeError):
    """The inputs named no file, folder entry or record to process."""


def discover_inputs(inputs: Iterable[str], stdin: TextIO | None = None, *,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Any]:
    """Expand CLI inputs into items for the batch core (`batch.process`).

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
