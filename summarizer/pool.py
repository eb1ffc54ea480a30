"""Model calls from several threads pooled into one running batch: the REST API's concurrent requests and the demo's
jobs share the model instead of taking turns for it.

A call waits until every job that holds a slot of the server's queue (`JOBS`, counted by `workqueue.WorkQueue`) has a
call waiting too, or until `most_wait` seconds passed, and never while the model is busy; then every waiting call
goes as one backend call, each request with its own decoding options (one job's summary beside another's
translation), so a backend that decodes requests together (`multiseq`) decodes them side by side. With no job counted (the CLI,
a Python caller) a call goes at once. A caller that cancels (its client left, Stop) leaves at once: its requests are dropped from the
running call while the other callers' go on, and a call whose callers all left is cancelled whole.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .models import Cancelled, split_outputs

logger = logging.getLogger("summarizer")

__all__ = ["CallPool", "Cancel", "JOBS", "Jobs"]

# What a backend's ``cancelled`` callable answers: True to end every request of the call, or the indices of the
# requests to drop (an empty set: none).
Cancel = Callable[[], "bool | frozenset[int]"]


class Jobs:
    """How many jobs that may call the model are running now (the queue's held slots)."""

    def __init__(self):
        self._n = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        """A job started."""
        with self._lock:
            self._n += 1

    def leave(self) -> None:
        """A job ended."""
        with self._lock:
            self._n = max(0, self._n - 1)

    def count(self) -> int:
        """Jobs running."""
        with self._lock:
            return self._n


# The jobs of this process: a pooled call waits for each to have a call waiting (or for `most_wait`).
JOBS = Jobs()


@dataclass(eq=False)
class _Call:
    requests: list[Any]
    key: tuple
    cancelled: Callable[[], bool] | None
    # When the call came (time.monotonic()).
    since: float = field(default_factory=time.monotonic)
    # Set by the caller's thread when it gave up; read by the pool's thread.
    left: bool = False
    done: bool = False
    out: list[str] | None = None
    error: BaseException | None = field(default=None, repr=False)

    def gone(self) -> bool:
        return self.left or (self.cancelled is not None and bool(self.cancelled()))


class CallPool:
    """Pools the calls of several threads to one backend (see the module's docstring).

    Args:
        send: Makes one backend call: ``send(requests, options, forbid_han, cancelled)`` returns one output per
            request, with `options` and `forbid_han` lists of one per request (the calls may differ: a summary and
            a translation); ``cancelled()`` answers True (end them all) or the indices of the requests to drop.
        name: The pool thread's name.
        most_wait: Seconds a call waits for the other running jobs' calls before it goes with whoever is waiting (a
            job may be cleaning or checking between its calls).
        jobs: The running jobs to wait for.
        linger: Seconds a call waits in any case while jobs are counted, so that the calls of requests that came
            at the same moment (one may have taken its slot a few milliseconds after the other) go together.
    """

    def __init__(self, send: Callable[[list[Any], Any, bool, Cancel], list[str]], name: str = "summarizer-model-pool",
                 most_wait: float = 2.0, jobs: Jobs = JOBS, linger: float = 0.05):
        self._send, self._name, self._most_wait, self._jobs, self._linger = send, name, most_wait, jobs, linger
        self._cv = threading.Condition()
        self._waiting: list[_Call] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        # Backend calls started, and how many of them carried more than one caller's requests (for metrics).
        self.calls = 0
        self.shared_calls = 0
        # Requests whose caller left before they were sent.
        self.cancelled = 0

    def call(self, requests: Sequence[Any], options: Sequence[Any], forbid_han: Sequence[bool],
             cancelled: Callable[[], bool] | None = None) -> list[str]:
        """Answer `requests` in the next backend call, with whatever other callers are waiting by then.

        `options` and `forbid_han` hold one value per request.

        Raises:
            Cancelled: `cancelled` turned true before the answer came (the requests are dropped from the call).
            RequestFailed: Some of these requests failed on their own (the other callers' requests went on).
            Whatever else the backend call raised (every caller of that call gets it: the worker died).
        """
        call = _Call(list(requests), (list(options), list(forbid_han)), cancelled)
        with self._cv:
            if self._closed:
                raise RuntimeError("the model was closed (the server is shutting down)")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._waiting.append(call)
            self._cv.notify_all()
            while not call.done:
                if cancelled is not None and cancelled():
                    call.left = True
                    if call in self._waiting:
                        # Never sent: counted here, as the backend counts the requests it drops.
                        self._waiting.remove(call)
                        self.cancelled += len(call.requests)
                    raise Cancelled("the job was cancelled")
                self._cv.wait(0.05)
        if cancelled is not None and cancelled():
            raise Cancelled("the job was cancelled")  # the answer came as the cancel did: it is cut short
        return split_outputs(call.out, call.error, range(len(call.requests)))

    def waiting(self) -> int:
        """Calls waiting for the next backend call."""
        with self._cv:
            return len(self._waiting)

    def close(self) -> None:
        """No more calls; the pool's thread ends once the calls already waiting are answered."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def _ready(self) -> bool:
        """Time to call the backend: every running job has a call waiting, or the oldest waited long enough."""
        if not self._waiting:
            return self._closed
        jobs, age = self._jobs.count(), time.monotonic() - self._waiting[0].since
        if self._closed or not jobs:
            return True
        return age >= self._linger and (len(self._waiting) >= jobs or age >= self._most_wait)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._ready():
                    self._cv.wait(0.02 if self._waiting else None)
                if not self._waiting:
                    return
                batch, self._waiting = self._waiting, []
                # Counted as the call starts, so a watcher sees a shared call while it runs.
                self.calls += 1
                self.shared_calls += len(batch) > 1
            spans, start = [], 0
            for c in batch:
                spans.append(range(start, start + len(c.requests)))
                start += len(c.requests)

            def cancelled(batch=batch, spans=spans) -> bool | frozenset[int]:
                gone = [span for c, span in zip(batch, spans) if c.gone()]
                if len(gone) == len(batch):
                    return True
                return frozenset(i for span in gone for i in span)

            outs: list[str] | None = None
            error: BaseException | None = None
            try:
                outs = self._send([r for c in batch for r in c.requests],
                                  [o for c in batch for o in c.key[0]], [b for c in batch for b in c.key[1]],
                                  cancelled)
            except BaseException as exc:  # noqa: BLE001 - every caller of the call gets the error
                error = exc
            with self._cv:
                for c, span in zip(batch, spans):
                    # Each caller gets its own answers or its own failure (`split_outputs`), indexed from 0.
                    try:
                        c.out, c.error = split_outputs(outs, error, span), None
                    except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                        c.error = exc
                    c.done = True
                self._cv.notify_all()
            if len(batch) > 1:
                logger.debug("one model call for %d callers, %d requests", len(batch), start)
