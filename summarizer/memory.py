"""The answer memory: a model's answers kept in SQLite, so the same request is never paid for twice (a pasted
article run again, a client's retry, an article fetched again with one paragraph changed, a re-run batch).

The key is the model's SHA-256, the chat messages (the model's own template turns them into the same prompt), the
options (a draw's seed among them) and the Han ban, hashed: the answer a run got is the answer its rerun gets. Several processes may share one file (WAL, a
busy timeout): the CLI, Ray's workers on one machine, the server. The file is bounded by bytes: past
``memory.max_mb`` the entries used least recently go first. A file that cannot be read is set aside with a warning
and a new one started; a failure while the memory is in use turns it off for the process, never fails a request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger("summarizer")

__all__ = ["AnswerMemory", "request_key", "open_memory", "memory_path"]

_SCHEMA = ("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL, size INTEGER NOT NULL, "
           "used REAL NOT NULL)", "CREATE INDEX IF NOT EXISTS answers_used ON answers (used)")


def request_key(model_sha256: str | None, request: str | Sequence[dict], options: Any, forbid_han: bool) -> str | None:
    """The memory's key of one request, or None when it must not be remembered (a model whose file has no known
    SHA-256: the same name may hold other weights). A sampled request is remembered by its seed: the same draw again
    is its answer (the model's loop gives a draw other neighbours in its batch from one run to the next, and the
    last bits of the logits move with them; a run answered from the memory must be the run it remembers)."""
    if not model_sha256:
        return None
    opts = dataclasses.asdict(options) if dataclasses.is_dataclass(options) else options
    material = json.dumps([model_sha256, request, opts, bool(forbid_han)], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


class AnswerMemory:
    """Answers by `request_key`, in one SQLite file.

    Args:
        path: The SQLite file (made with its folder when missing).
        max_bytes: The answers' bytes kept at most; the least recently used go first past it.
        busy_seconds: How long a write waits for another process's.
    """

    def __init__(self, path: Path, max_bytes: int, busy_seconds: float = 10.0):
        self.path, self.max_bytes, self.busy_seconds = Path(path), max(0, int(max_bytes)), busy_seconds
        self._lock = threading.Lock()
        # Lookups answered from the file, and lookups that found nothing (the request went to the model).
        self.hits = 0
        self.misses = 0
        self._conn: sqlite3.Connection | None = None
        self._added = 0
        self._open()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_seconds, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("SELECT count(*) FROM answers").fetchone()
        return conn

    def _open(self) -> None:
        try:
            self._conn = self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
            logger.warning("the answer memory %s cannot be read (%s); set aside as %s, starting a new one",
                           self.path, exc, aside.name)
            try:
                self.path.replace(aside)
                for extra in ("-wal", "-shm"):
                    Path(f"{self.path}{extra}").unlink(missing_ok=True)
                self._conn = self._connect()
            except (OSError, sqlite3.Error) as again:
                logger.warning("the answer memory is off for this process: %s", again)
                self._conn = None
        except OSError as exc:
            logger.warning("the answer memory is off for this process: %s", exc)
            self._conn = None

    def _off(self, exc: BaseException) -> None:
        logger.warning("the answer memory %s failed (%s); it is off for this process", self.path, exc)
        self._conn = None

    def get(self, key: str) -> str | None:
        """The answer kept for `key`, or None (counted as a hit or a miss)."""
        with self._lock:
            answer = None
            if self._conn is not None:
                try:
                    row = self._conn.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
                    if row is not None:
                        answer = row[0]
                        self._conn.execute("UPDATE answers SET used = ? WHERE key = ?", (time.time(), key))
                except sqlite3.Error as exc:
                    self._off(exc)
            if answer is None:
                self.misses += 1
            else:
                self.hits += 1
            return answer

    def put(self, key: str, answer: str) -> None:
        """Keep `answer` for `key`, then make room when the file is past its size."""
        size = len(answer.encode("utf-8", "surrogatepass")) + len(key)
        with self._lock:
            if self._conn is None or size > self.max_bytes:
                return
            try:
                self._conn.execute("INSERT OR REPLACE INTO answers (key, answer, size, used) VALUES (?, ?, ?, ?)",
                                   (key, answer, size, time.time()))
                self._added += size
                # The total is summed again only after a 16th of the limit was added since the last sum.
                if self._added * 16 >= self.max_bytes:
                    self._added = 0
                    self._evict()
            except sqlite3.Error as exc:
                self._off(exc)

    def _evict(self) -> None:
        assert self._conn is not None
        total = self._conn.execute("SELECT coalesce(sum(size), 0) FROM answers").fetchone()[0]
        while total > self.max_bytes:
            # Down to 90 % of the limit, the least recently used first.
            rows = self._conn.execute("SELECT key, size FROM answers ORDER BY used LIMIT 200").fetchall()
            if not rows:
                return
            drop, freed = [], 0
            for key, size in rows:
                drop.append((key,))
                freed += size
                if total - freed <= self.max_bytes * 0.9:
                    break
            self._conn.executemany("DELETE FROM answers WHERE key = ?", drop)
            total -= freed

    def stats(self) -> dict[str, Any]:
        """Entries, bytes, the limit and the file, with this process's hits and misses."""
        with self._lock:
            entries = size = 0
            if self._conn is not None:
                try:
                    entries, size = self._conn.execute(
                        "SELECT count(*), coalesce(sum(size), 0) FROM answers").fetchone()
                except sqlite3.Error as exc:
                    self._off(exc)
            return {"path": str(self.path), "entries": entries, "bytes": size, "max_bytes": self.max_bytes,
                    "on": self._conn is not None, "hits": self.hits, "misses": self.misses}

    def clear(self) -> int:
        """Forget every answer; how many there were."""
        with self._lock:
            if self._conn is None:
                return 0
            n = self._conn.execute("SELECT count(*) FROM answers").fetchone()[0]
            self._conn.execute("DELETE FROM answers")
            self._conn.execute("VACUUM")
            return n

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def memory_path(configured: str) -> Path:
    """The memory's file: the configured path, else ``answers.sqlite3`` in the cache folder."""
    if configured:
        return Path(configured).expanduser()
    from .embedded import cache_dir

    return cache_dir() / "answers.sqlite3"


_OPEN: dict[tuple[str, int], AnswerMemory] = {}
_OPEN_LOCK = threading.Lock()


def open_memory(path: str, max_mb: float) -> AnswerMemory:
    """The process's memory at `path` ("" for the cache folder's), opened once and shared by its pipelines."""
    file = memory_path(path)
    key = (str(file.resolve()), int(max_mb * 1024 * 1024))
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = AnswerMemory(file, key[1])
        return _OPEN[key]
