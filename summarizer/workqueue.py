"""The bounded queue in front of the one model of a server process, shared by the REST API and the demo.

It has no web dependency, so the front ends (`api`, `app`) and the server that builds them all import it from here,
and nothing imports in a circle.
"""

from __future__ import annotations

import threading

from .models import Cancelled

__all__ = ["WorkQueue", "QueueFull", "ShuttingDown", "Slot", "give_back_memory"]


class QueueFull(RuntimeError):
    """No slot free and the waiting line is full."""


class ShuttingDown(Cancelled):
    """The server is stopping (SIGTERM): the job was cancelled, and its client gets 503 with ``Retry-After``."""


class WorkQueue:
    """At most `concurrency` jobs run; at most `max_waiting` wait. The API is refused (503) when the line is full;
    the demo's own Gradio queue waits in line here."""

    def __init__(self, concurrency: int = 1, max_waiting: int = 16):
        self.concurrency, self.max_waiting = max(1, concurrency), max(0, max_waiting)
        self.running = self.waiting = 0
        self._cond = threading.Condition()
        # Set once the server stops: no job starts, and every job in flight is cancelled (`drain`).
        self.draining = threading.Event()
        # The cancel flags of the jobs in flight, set by `drain`.
        self._jobs: set[threading.Event] = set()
        # Jobs a cancel ended (a client that left, Stop, a server that stops), wherever each was: in line, cleaning,
        # waiting for a model call, being read or decoded.
        self.cancelled = 0

    def count_cancel(self) -> None:
        """One job was cancelled."""
        with self._cond:
            self.cancelled += 1

    def watch(self, cancel: threading.Event) -> None:
        """Cancel this job's flag when the server stops (`forget` it when the job ends)."""
        with self._cond:
            self._jobs.add(cancel)
            if self.draining.is_set():
                cancel.set()

    def forget(self, cancel: threading.Event) -> None:
        """The job of this flag ended."""
        with self._cond:
            self._jobs.discard(cancel)

    def drain(self) -> None:
        """The server is stopping: refuse new jobs and cancel every job in flight, so each answers at once (503)."""
        with self._cond:
            self.draining.set()
            for cancel in self._jobs:
                cancel.set()
            self._cond.notify_all()

    def slot(self, *, wait: bool = True, cancel: threading.Event | None = None) -> Slot:
        """A context manager holding one slot. It blocks while the slots are taken: call it off an event loop.

        Raises:
            QueueFull: At once, when not `wait` and the waiting line is full.
            ShuttingDown: The server is stopping.
            Cancelled: `cancel` was set while this job waited in line (its client left).
        """
        with self._cond:
            if self.draining.is_set():
                raise ShuttingDown("the server is shutting down")
            if not wait and self.running >= self.concurrency and self.waiting >= self.max_waiting:
                raise QueueFull(f"{self.running} running and {self.waiting} waiting")
            self.waiting += 1
            try:
                while self.running >= self.concurrency:
                    if self.draining.is_set():
                        raise ShuttingDown("the server is shutting down")
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("the client left while waiting for the model")
                    self._cond.wait(timeout=None if cancel is None else 0.25)
            finally:
                self.waiting -= 1
            self.running += 1
        return Slot(self._release)

    def _release(self) -> None:
        with self._cond:
            self.running -= 1
            idle = self.running == 0
            self._cond.notify()
        if idle:
            give_back_memory()

    def state(self) -> dict[str, int]:
        """Running and waiting jobs, and the limits."""
        with self._cond:
            return {"running": self.running, "waiting": self.waiting, "concurrency": self.concurrency,
                    "max_waiting": self.max_waiting}


def give_back_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``) once no job runs: a long article's
    many small strings leave the arenas fragmented, and the server's RSS would stay at its peak when idle. A few
    milliseconds; nothing where the C library has no such call."""
    global _TRIM
    if _TRIM is None:
        import ctypes

        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM = None


class Slot:
    """One held slot of a `WorkQueue`; `release` (or leaving the ``with`` block) frees it, once."""

    def __init__(self, release):
        self._free, self._held = release, True

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        """Free the slot (a second call does nothing)."""
        if self._held:
            self._held = False
            self._free()
