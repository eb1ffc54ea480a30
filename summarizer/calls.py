"""How a job's model calls reach a generator: `BudgetedGenerator` holds an article's deadline and cancel, asks for
each distinct request once and looks in the answer memory (`memory`) first. Several threads may share one backend:
its loop decodes their requests side by side (`scheduler`)."""

from __future__ import annotations

import json
import time
from typing import Callable

from .memory import AnswerMemory, request_key
from .models import Cancelled, Generator, Request, TimeBudgetExceeded, Usage, each_request

__all__ = ["BudgetedGenerator"]


class BudgetedGenerator(Generator):
    """A generator that ends its requests where they are once a deadline has passed or the caller cancelled, and asks
    for each distinct request once.

    Requests go to the wrapped generator at once (its loop admits them as it has room); the deadline and the cancel
    are watched while they run, so a long article stops within a step of its budget. A request equal to one
    already answered for the same work (a sentence repeated in the article, the same retry of two equal segments)
    takes that answer: the model work of an article is bounded by its distinct text, and a greedy request to the
    same model gives the same answer anyway. Sampled requests carry their seed in the options, so equal ones are
    the same draw too. A request (a draw by its seed) is looked up in the answer memory before it goes to the model, and its
    answer kept there after (never an answer a cancel, the deadline or a failure cut short: those raise first).
    """

    def __init__(self, inner: Generator, seconds: float, deadline: float | None = None,
                 on_requests: Callable[[int], None] | None = None, cancelled: Callable[[], bool] | None = None,
                 on_cancelled: Callable[[int], None] | None = None, memory: AnswerMemory | None = None):
        self.inner = inner
        self.kind = inner.kind
        self.info = inner.info
        self.context_length = inner.context_length
        self.seconds = seconds
        # time.monotonic() after which no request starts (none when seconds <= 0); wrappers may share one.
        if seconds <= 0:
            self.deadline = float("inf")
        else:
            self.deadline = time.monotonic() + seconds if deadline is None else deadline
        # Told how many requests each backend call carried (the pipeline counts model calls with it).
        self.on_requests = on_requests
        # True once the caller gave up (a Stop button): no further request starts.
        self.cancelled = cancelled
        # Told how many requests a cancel kept from being sent (the pipeline counts them for its metrics).
        self.on_cancelled = on_cancelled
        # The answers given so far, by request, options and Han ban: this wrapper lives for one batch of articles.
        self._answers: dict[tuple, str] = {}
        # Requests answered from `_answers` instead of the model.
        self.reused = 0
        # The answer memory shared across jobs and processes (requests of a model with a known SHA-256).
        self.memory = memory

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def usage_now(self) -> Usage:
        return self.inner.usage_now()

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        opts, bans = each_request(options, forbid_han, len(requests))
        keys = [(_request_key(r), o, bool(b)) for r, o, b in zip(requests, opts, bans)]
        first: dict[tuple, int] = {}
        for i, k in enumerate(keys):
            if k not in self._answers:
                first.setdefault(k, i)
        todo = list(first)
        self.reused += len(keys) - len(todo)
        if todo and self.memory is not None:
            todo = self._remembered(todo, first, requests)
        if todo:
            idx = [first[k] for k in todo]
            outs = self._send([requests[i] for i in idx], [opts[i] for i in idx], [bans[i] for i in idx], cancelled,
                              on_done)
            self._answers.update(zip(todo, outs))
            if self.memory is not None:
                for k, out in zip(todo, outs):
                    mkey = request_key(self.info.sha256, requests[first[k]], k[1], k[2])
                    if mkey is not None:
                        self.memory.put(mkey, out)
        return [self._answers[k] for k in keys]

    def _remembered(self, todo: list[tuple], first: dict[tuple, int], requests) -> list[tuple]:
        """Fill `_answers` from the memory; the keys it did not hold."""
        assert self.memory is not None
        left = []
        for k in todo:
            mkey = request_key(self.info.sha256, requests[first[k]], k[1], k[2])
            answer = self.memory.get(mkey) if mkey is not None else None
            if answer is None:
                left.append(k)
            else:
                self._answers[k] = answer
        return left

    def _send(self, requests, options, bans, cancelled=None, on_done=None) -> list[str]:
        """The requests to the backend at once (its loop takes them as it has room), ended where they are by the
        caller's cancel or the deadline."""
        if self._stopped():
            self._kept_back(len(requests))
            self._raise_stop()
        mine = cancelled

        def stop() -> bool:
            return bool(mine is not None and mine()) or self._stopped()

        # One value where all share it (the usual case): a backend that groups requests by options needs no grouping.
        same = all(o == options[0] for o in options) and all(b == bans[0] for b in bans)
        try:
            outs = self.inner.generate(requests, options[0] if same else options, forbid_han=bans[0] if same else bans,
                                       cancelled=stop, on_done=on_done)
        except Cancelled:
            self._raise_stop()
            raise
        if self.on_requests is not None:
            self.on_requests(len(requests))
        if on_done is not None:
            on_done(len(requests))  # a backend that does not tell as they come
        return outs

    def _stopped(self) -> bool:
        return bool(self.cancelled is not None and self.cancelled()) or time.monotonic() > self.deadline

    def _raise_stop(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled("the job was cancelled")
        if time.monotonic() > self.deadline:
            raise TimeBudgetExceeded(f"stopped after {self.seconds:g} s of model work (limits.article_seconds); "
                                     "the article is too long for this machine's time budget")

    def _kept_back(self, n: int) -> None:
        if n and self.on_cancelled is not None:
            self.on_cancelled(n)


def _request_key(request: Request) -> str:
    """A request as a string that is equal exactly when the requests are."""
    return request if isinstance(request, str) else json.dumps(list(request), ensure_ascii=False, sort_keys=True)
