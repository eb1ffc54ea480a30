"""How a job's model calls reach a generator: `BudgetedGenerator` holds an article's deadline and cancel, asks for
each distinct request once and looks in the answer memory (`memory`) first; `GatheringGenerator` gathers the calls of
several threads (the articles of a batch, summarized side by side) into one backend call."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from .memory import AnswerMemory, request_key
from .models import Cancelled, Generator, Request, TimeBudgetExceeded, Usage, split_outputs

__all__ = ["BudgetedGenerator", "GatheringGenerator"]


class BudgetedGenerator(Generator):
    """A generator that refuses to start another request once a deadline has passed, and asks for each distinct
    request once.

    Requests go to the wrapped generator one backend batch at a time, so a long article is stopped
    within one request of its budget (a request itself is bounded by ``max_new_tokens``). A request equal to one
    already answered for the same work (a sentence repeated in the article, the same retry of two equal segments)
    takes that answer: the model work of an article is bounded by its distinct text, and a greedy request to the
    same model gives the same answer anyway. Sampled requests carry their seed in the options, so equal ones are
    the same draw too. A greedy request is looked up in the answer memory before it goes to the model, and its
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
        # The answer memory shared across jobs and processes (greedy requests of a model with a known SHA-256).
        self.memory = memory

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def usage_now(self) -> Usage:
        return self.inner.usage_now()

    @property
    def batch_size(self) -> int:
        """Requests the backend takes in one call (a caller that reports progress sends that many at a time)."""
        return max(1, getattr(self.inner, "batch_size", 1))

    def generate(self, requests, options, *, forbid_han=False):
        return self.generate_mixed(requests, [options] * len(requests), [forbid_han] * len(requests))

    def generate_mixed(self, requests, options, forbid_han, *, cancelled=None):
        keys = [(_request_key(r), o, bool(b)) for r, o, b in zip(requests, options, forbid_han)]
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
            sent_req, sent_opt, sent_ban = ([requests[i] for i in idx], [options[i] for i in idx],
                                            [forbid_han[i] for i in idx])
            if all(o == sent_opt[0] for o in sent_opt) and all(b == sent_ban[0] for b in sent_ban):
                outs = self._in_steps(sent_req, lambda part, span, **kw: self.inner.generate(
                    part, sent_opt[0], forbid_han=sent_ban[0], **kw))
            else:
                outs = self._in_steps(sent_req, lambda part, span, **kw: self.inner.generate_mixed(
                    part, sent_opt[span], sent_ban[span], **kw))
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

    def _in_steps(self, requests, call: Callable[..., list[str]]) -> list[str]:
        """`call(part, span)` for each backend batch of `requests`, checking the deadline and the cancel between them."""
        step = self.batch_size
        outs: list[str] = []
        for start in range(0, len(requests), step):
            if self.cancelled is not None and self.cancelled():
                self._kept_back(len(requests) - start)
                raise Cancelled("the job was cancelled")
            if time.monotonic() > self.deadline:
                raise TimeBudgetExceeded(f"stopped after {self.seconds:g} s of model work (limits.article_seconds); "
                                         "the article is too long for this machine's time budget")
            span = slice(start, start + step)
            part = requests[span]
            if self.cancelled is not None and self.inner.cancellable:
                # The backend watches the flag while it decodes: a Stop ends the call within a step, not a call.
                outs += call(part, span, cancelled=self.cancelled)
                if self.cancelled():
                    self._kept_back(len(requests) - start - len(part))
                    raise Cancelled("the job was cancelled")
            else:
                outs += call(part, span)
            if self.on_requests is not None:
                self.on_requests(len(part))
        return outs

    def _kept_back(self, n: int) -> None:
        if n and self.on_cancelled is not None:
            self.on_cancelled(n)


def _request_key(request: Request) -> str:
    """A request as a string that is equal exactly when the requests are."""
    return request if isinstance(request, str) else json.dumps(list(request), ensure_ascii=False, sort_keys=True)


class GatheringGenerator(Generator):
    """One generator shared by several threads (the articles of a batch, summarized side by side): a call waits until
    every thread still working has a call waiting, then the waiting calls that share options go to `inner` as one
    call, so a backend that decodes requests together (`multiseq`) gets them together. A thread that is done calls
    `leave`, so nobody waits for it.

    Args:
        inner: The generator the calls go to.
        parties: The threads sharing it.
        most_wait: Seconds a call waits for the others before it goes with whoever is waiting.
    """

    def __init__(self, inner: Generator, parties: int, most_wait: float = 5.0):
        self.inner, self.kind, self.info = inner, inner.kind, inner.info
        self.context_length = inner.context_length
        self._active, self._most_wait = parties, most_wait
        self._waiting: list[dict[str, Any]] = []
        self._cv = threading.Condition()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def usage_now(self) -> Usage:
        return self.inner.usage_now()

    def leave(self) -> None:
        """This thread makes no more calls."""
        with self._cv:
            self._active -= 1
            self._cv.notify_all()

    def generate(self, requests, options, *, forbid_han=False):
        call = {"requests": list(requests), "key": (options, forbid_han), "done": False, "out": None, "error": None}
        deadline = time.monotonic() + self._most_wait
        with self._cv:
            self._waiting.append(call)
            self._cv.notify_all()
            while not call["done"]:
                if call in self._waiting and (len(self._waiting) >= self._active or time.monotonic() > deadline):
                    batch = [c for c in self._waiting if c["key"] == call["key"]]
                    self._waiting = [c for c in self._waiting if c["key"] != call["key"]]
                    self._cv.release()
                    try:
                        self._send(batch, options, forbid_han)
                    finally:
                        self._cv.acquire()
                        self._cv.notify_all()
                    continue
                self._cv.wait(0.05)
        if call["error"] is not None:
            raise call["error"]
        return call["out"]

    def _send(self, batch: list[dict[str, Any]], options, forbid_han: bool) -> None:
        outs, error = None, None
        try:
            outs = self.inner.generate([r for c in batch for r in c["requests"]], options, forbid_han=forbid_han)
        except BaseException as exc:  # noqa: BLE001 - handed to the callers it concerns (`split_outputs`)
            error = exc
        start = 0
        for c in batch:
            span = range(start, start + len(c["requests"]))
            start = span.stop
            try:
                c["out"] = split_outputs(outs, error, span)
            except BaseException as exc:  # noqa: BLE001 - this caller's own failure, raised in its thread
                c["error"] = exc
            c["done"] = True

