"""Model calls of concurrent jobs pooled into one backend call (`pool.CallPool`), with a backend that records what
it was sent; the real model's side is in test_multiseq.py and test_api_hostile.py."""

from __future__ import annotations

import threading

import pytest

from summarizer.models import Cancelled
from summarizer.pool import CallPool


class Backend:
    """Answers each request with its text upper-cased. Call k blocks until `gates[k]` is set, so the calls made
    meanwhile have to wait for a later one; `started[k]` says call k is running."""

    def __init__(self, open_all: bool = False):
        self.sent: list[list[str]] = []
        self.gates = [threading.Event() for _ in range(8)]
        self.started = [threading.Event() for _ in range(8)]
        self.cancel_seen: list[object] = []
        if open_all:
            for g in self.gates:
                g.set()

    def __call__(self, requests, options, forbid_han, cancelled):
        k = len(self.sent)
        self.sent.append(list(requests))
        self.started[k].set()
        while not self.gates[k].wait(0.01):
            now = cancelled()
            if now and now not in self.cancel_seen:
                self.cancel_seen.append(now)
            if now is True:
                return [""] * len(requests)
        return [r.upper() for r in requests]


def _start(pool: CallPool, requests, out: dict, key: str, cancel: threading.Event | None = None) -> threading.Thread:
    def go():
        try:
            out[key] = pool.call(requests, ["opts"] * len(requests), [False] * len(requests),
                                 cancel.is_set if cancel else None)
        except Cancelled as exc:
            out[key] = exc
    t = threading.Thread(target=go)
    t.start()
    return t


def _wait_waiting(pool: CallPool, n: int) -> None:
    for _ in range(2000):
        if pool.waiting() >= n:
            return
        threading.Event().wait(0.005)
    raise AssertionError("the calls never waited")


def test_calls_made_while_the_model_is_busy_go_together_in_the_next_call():
    backend = Backend()
    pool = CallPool(backend)
    out: dict = {}
    first = _start(pool, ["a"], out, "first")
    assert backend.started[0].wait(10)
    later = [_start(pool, ["b", "c"], out, "second"), _start(pool, ["d"], out, "third")]
    _wait_waiting(pool, 2)
    backend.gates[0].set()
    backend.gates[1].set()
    for t in [first, *later]:
        t.join(10)
    assert out == {"first": ["A"], "second": ["B", "C"], "third": ["D"]}
    assert backend.sent[0] == ["a"] and sorted(backend.sent[1]) == ["b", "c", "d"] and len(backend.sent) == 2
    assert (pool.calls, pool.shared_calls) == (2, 1)


def test_a_caller_that_leaves_is_dropped_from_the_running_call_and_the_others_go_on():
    backend = Backend()
    pool = CallPool(backend)
    out: dict = {}
    holder = _start(pool, ["x"], out, "holder")
    assert backend.started[0].wait(10)
    leaving = threading.Event()
    a = _start(pool, ["a1", "a2"], out, "leaves", leaving)
    b = _start(pool, ["b1"], out, "stays")
    _wait_waiting(pool, 2)
    backend.gates[0].set()
    holder.join(10)
    assert backend.started[1].wait(10)  # the two waiting callers' call is running now
    leaving.set()
    a.join(10)
    assert isinstance(out["leaves"], Cancelled) and not a.is_alive()  # it left before the call ended
    assert b.is_alive()
    for _ in range(500):
        if backend.cancel_seen:
            break
        threading.Event().wait(0.01)
    index = backend.sent[1].index("a1")
    assert backend.cancel_seen == [frozenset({index, index + 1})]  # only its requests are dropped
    backend.gates[1].set()
    b.join(10)
    assert out["stays"] == ["B1"]


def test_a_call_whose_callers_all_left_is_cancelled_whole_and_an_error_reaches_every_caller():
    backend = Backend()
    pool = CallPool(backend)
    out: dict = {}
    cancel = threading.Event()
    t = _start(pool, ["a"], out, "only", cancel)
    assert backend.started[0].wait(10)
    cancel.set()
    t.join(10)
    for _ in range(500):
        if backend.cancel_seen:
            break
        threading.Event().wait(0.01)
    assert isinstance(out["only"], Cancelled) and backend.cancel_seen == [True]

    def broken(requests, options, forbid_han, cancelled):
        raise RuntimeError("the worker died")

    failing = CallPool(broken)
    with pytest.raises(RuntimeError, match="the worker died"):
        failing.call(["a"], ["opts"], [False])


def test_a_call_waits_for_the_other_running_jobs_calls_so_simultaneous_requests_share_one_call():
    from summarizer.pool import Jobs

    backend = Backend(open_all=True)
    jobs = Jobs()
    jobs.enter()
    jobs.enter()  # two requests hold slots of the server's queue
    pool = CallPool(backend, most_wait=60, jobs=jobs)
    out: dict = {}
    first = _start(pool, ["a"], out, "first")
    _wait_waiting(pool, 1)
    assert backend.sent == []  # it waits for the other job's call, not for the clock
    second = _start(pool, ["b"], out, "second")
    first.join(10)
    second.join(10)
    assert out == {"first": ["A"], "second": ["B"]} and backend.sent == [["a", "b"]]
    jobs.leave()  # one job ended: the other's calls go at once
    assert pool.call(["c"], ["opts"], [False]) == ["C"]


def test_a_call_goes_with_whoever_waits_after_most_wait():
    from summarizer.pool import Jobs

    backend = Backend(open_all=True)
    jobs = Jobs()
    jobs.enter()
    jobs.enter()  # the other job is busy elsewhere (cleaning, checking) and makes no call
    pool = CallPool(backend, most_wait=0.2, jobs=jobs)
    assert pool.call(["a"], ["opts"], [False]) == ["A"]


def test_options_given_per_request_reach_the_backend_as_given():
    # Sampled draws of one request (`translate.candidates`) carry a seed each, a plain call one set for all.
    seen = []

    def backend(requests, options, forbid_han, cancelled):
        seen.append((list(options), list(forbid_han)))
        return [r.upper() for r in requests]

    pool = CallPool(backend, most_wait=0.5, linger=0.0)
    assert pool.call(["a", "b"], ["seed1", "seed2"], [True, False]) == ["A", "B"]
    assert pool.call(["c", "d"], ["greedy"] * 2, [True] * 2) == ["C", "D"]
    assert seen == [(["seed1", "seed2"], [True, False]), (["greedy", "greedy"], [True, True])]
    pool.close()


def test_a_request_that_fails_on_its_own_fails_only_its_caller():
    # Issue 44: one client's prompt too long for the context failed every caller of the pooled call.
    from summarizer.models import RequestFailed

    started, gate = threading.Event(), threading.Event()

    def backend(requests, options, forbid_han, cancelled):
        started.set()
        gate.wait(10)
        if requests == ["hold"]:
            return ["HOLD"]
        bad = {k: f"request {r} is too long" for k, r in enumerate(requests) if r.startswith("long")}
        outs = ["" if k in bad else r.upper() for k, r in enumerate(requests)]
        if bad:
            raise RequestFailed(outs, bad)
        return outs

    pool = CallPool(backend)
    out: dict = {}

    def go(key, requests):
        try:
            out[key] = pool.call(requests, ["opts"] * len(requests), [False] * len(requests))
        except RequestFailed as exc:
            out[key] = exc

    holder = threading.Thread(target=go, args=("holder", ["hold"]))
    holder.start()
    assert started.wait(10)
    threads = [threading.Thread(target=go, args=(k, r)) for k, r in
               (("a", ["a1", "long-a2"]), ("b", ["b1", "b2"]), ("c", ["long-c1"]))]
    for t in threads:
        t.start()
    _wait_waiting(pool, 3)
    gate.set()
    for t in [holder, *threads]:
        t.join(10)
    assert out["b"] == ["B1", "B2"]  # B shared the call and is answered in full
    assert isinstance(out["a"], RequestFailed) and out["a"].errors == {1: "request long-a2 is too long"}
    assert out["a"].outputs == ["A1", ""]  # indexed within the caller's own requests
    assert isinstance(out["c"], RequestFailed) and out["c"].errors == {0: "request long-c1 is too long"}
    assert pool.shared_calls == 1


def test_a_call_cancelled_while_it_waits_in_the_pool_is_counted():
    # Issue 44: cancels of calls still waiting in the pool were missing from summarizer_model_cancelled_requests.
    backend = Backend()
    pool = CallPool(backend)
    out: dict = {}
    holder = _start(pool, ["x"], out, "holder")
    assert backend.started[0].wait(10)
    cancel = threading.Event()
    waiting = _start(pool, ["a", "b", "c"], out, "waiting", cancel)
    _wait_waiting(pool, 1)
    cancel.set()
    waiting.join(10)
    assert isinstance(out["waiting"], Cancelled) and pool.cancelled == 3
    backend.gates[0].set()
    holder.join(10)
    assert len(backend.sent) == 1  # the cancelled call was never sent
