"""The results file of a batch job: an append-only JSONL sink that survives a kill, its lock, resume, and reading it
back (only records this package writes count)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .records import ArticleResult, ErrorRecord, content_key

logger = logging.getLogger("summarizer")

__all__ = ["JsonlSink", "OutputError", "is_record", "read_records", "OUTPUT_NAMES"]

OUTPUT_NAMES = {"jsonl": "results.jsonl", "csv": "results.csv", "md": "results.md"}
LOCK_NAME = ".summarizer.lock"


class OutputError(RuntimeError):
    """The output folder cannot be used: results already there, another run holds it, or it cannot be written."""


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
        # The results the file holds (resumed or written now), by `records.content_key`: where each line starts.
        self.contents: dict[str, int] = {}
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
        dropped = offset = 0
        for line in data.splitlines(keepends=True):
            rec = _parse(line) if line.endswith(b"\n") else None
            if rec is None:
                # A torn write from a kill, or a line that is no record of ours: either way it cannot be resumed.
                dropped += line.strip() != b""
                continue
            if "error" not in rec:
                self.contents.setdefault(content_key(rec["article"]["title"], rec["article"]["paragraphs"]), offset)
            offset += len(line)
            good.append(line)
            self.done[str(rec["id"])] = "error" not in rec
        if dropped:
            logger.warning("%s: dropping %d line(s) that are no readable result record (torn writes, or another "
                           "program's JSON); those articles will be redone", self.path, dropped)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(b"".join(good))
            os.replace(tmp, self.path)

    def read_at(self, offset: int) -> dict[str, Any] | None:
        """The record whose line starts at `offset` (from `contents`), or None when it cannot be read back."""
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                return _parse(f.readline())
        except OSError:
            return None

    def write(self, record: ArticleResult | ErrorRecord) -> None:
        """Append one record and flush it to the OS."""
        d = record.to_dict()
        try:
            line = (json.dumps(d, ensure_ascii=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (e.g. from an undecodable file name) cannot be UTF-8; escaped JSON is still exact.
            line = (json.dumps(d) + "\n").encode("ascii")
        if "error" not in d:
            self.contents.setdefault(content_key(d["article"]["title"], d["article"]["paragraphs"]), self._f.tell())
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
            and isinstance(rec.get("findings", []), list)
            and all(isinstance(f, dict) and isinstance(f.get("kind"), str) for f in rec.get("findings", []))
            and isinstance(rec.get("timings", {}), dict) and isinstance(rec.get("config", ""), str)
            and all(isinstance(v, (int, float)) for v in rec.get("timings", {}).values())
            and isinstance(rec.get("sentences", []), list) and all(_pairs_ok(p) for p in rec.get("sentences", [])))


def read_records(path: Path) -> list[dict[str, Any]]:
    """All readable records of a results JSONL file (torn or unreadable lines are left out)."""
    with open(path, "rb") as f:
        return [rec for rec in (_parse(line) for line in f if line.endswith(b"\n")) if rec is not None]
