"""Where a model runs: in a supervised worker process by default, loaded once per process and config.

A native crash (SIGILL from a CPU the llama.cpp build does not fit, SIGSEGV, the OOM killer) cannot be caught
inside the process that has it. So the model lives in a child process, as Ollama and vLLM run theirs: a crash
becomes a `ModelCrashed` error for the work in flight, the next call starts a fresh worker, and the batch job
or server goes on. ``isolation = "inline"`` in a model's config loads it in this process instead (tiny test
models, debugging). Before the first llama.cpp load the build is smoke-tested once (see `smoke.check_runtime`).
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import logging
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from multiprocessing.connection import Connection

from .config import ModelConfig
from .llamacpp import LlamaCppGenerator
from .models import (Cancelled, Generator, ModelLoadError, RequestFailed, Seq2SeqGenerator, TimeBudgetExceeded,
                     TransformersCausalGenerator, Usage, each_request)
from .embedded import EmbeddedModelError
from .smoke import REBUILD_HINT, signal_words

logger = logging.getLogger("summarizer")

# The backends by config name; `get_generator` loads them (in a worker process by default).
BACKENDS: dict[str, type[Generator]] = {
    "llama_cpp": LlamaCppGenerator,
    "transformers": TransformersCausalGenerator,
    "seq2seq": Seq2SeqGenerator,
}

__all__ = ["ModelCrashed", "WorkerGenerator", "get_generator", "is_loaded", "is_alive", "loading",
           "clear_generators", "CRASHES_TO_STOP"]

# A run (or a server request) stops trying once the worker has died this many times in a row.
CRASHES_TO_STOP = 2

# Exceptions the worker may report, rebuilt by class name on this side (anything else: RuntimeError).
_KNOWN_ERRORS: dict[str, type[BaseException]] = {
    cls.__name__: cls for cls in (ModelLoadError, EmbeddedModelError, TimeBudgetExceeded, Cancelled, ValueError,
                                  TypeError, KeyError, MemoryError, RuntimeError)
}


class ModelCrashed(RuntimeError):
    """The model's worker process died (a signal or an unexpected exit) while it held a request.

    Attributes:
        signal: The signal's name (``SIGILL``, ``SIGKILL``...), or "" when the worker exited with a code.
        returncode: The worker's exit status (negative: the signal number).
        in_a_row: Crashes since the worker last answered a request; `CRASHES_TO_STOP` of them end a run.
    """

    def __init__(self, message: str, *, signal: str = "", returncode: int = 0, in_a_row: int = 1):
        super().__init__(message)
        self.signal, self.returncode, self.in_a_row = signal, returncode, in_a_row


def _describe_exit(code: int) -> tuple[str, str]:
    """(signal name or "", plain words) for a child's exit status."""
    if code < 0:
        name, meaning = signal_words(code)
        return name, f"{name} ({meaning})"
    return "", f"exit code {code}"


class WorkerGenerator(Generator):
    """A generator whose model lives in a child process; restarts the child after a crash.

    The child is ``python -c 'from summarizer.runtime import worker_main; ...'`` talking pickled messages over a
    socket pair. Each request goes to it as a message of its own (an id, the prompt, its options, the Han ban) the
    moment a caller has it, and joins the child's running loop at its next step (`scheduler.Scheduler`); each answer
    comes back by id as soon as it is done, to whichever thread asked. A cancel names ids. Tokens are counted here,
    with the model's vocabulary alone, so a count never waits behind the loop.
    """

    def __init__(self, cfg: ModelConfig):
        self.cfg = dataclasses.replace(cfg, isolation="inline")
        self.kind = BACKENDS[cfg.backend].kind if cfg.backend in BACKENDS else "chat"
        # What ended workers spent, and the running worker's own counters (sent with its answers).
        self.usage = Usage()
        self._worker_usage = Usage()
        # Crashes since the last answered request, and in all.
        self.crashes_in_a_row = 0
        self.crashes = 0
        self.batch_size = 1
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._keys = itertools.count()
        # Ids asked and not yet handed back; their answers ``(text, error, cancelled)``, or the worker's death.
        self._asked: set[int] = set()
        self._answers: dict[int, tuple] = {}
        self._failed: dict[int, BaseException] = {}
        self._closed, self._proc, self._conn = False, None, None
        self._vocab, self._gguf = None, None
        with self._lock:
            self._start()
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        """The worker's process id (None between a crash and the next request)."""
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        """The worker process is running (False after a crash or `kill -9`, until the next request starts one)."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    def peak_rss_mb(self) -> float | None:
        """The worker's peak resident memory in MB (Linux), None when unknown."""
        pid = self.pid
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
        except (OSError, StopIteration, ValueError):
            return None

    def _start(self) -> None:
        parent, child = socket.socketpair()
        cmd = [sys.executable, "-c", "from summarizer.runtime import worker_main; worker_main()", str(child.fileno())]
        t0 = time.perf_counter()
        try:
            self._proc = subprocess.Popen(cmd, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL)
        finally:
            child.close()
        conn = self._conn = Connection(parent.detach())
        try:
            conn.send(self.cfg)
            reply = conn.recv()
        except (EOFError, OSError):
            raise self._crashed("while loading the model") from None
        if reply[0] == "error":
            self._stop()
            raise _rebuild(reply[1], reply[2])
        _, self.info, self.context_length, batch_size, self._gguf = reply
        self.batch_size = batch_size or 1
        self.load_seconds = time.perf_counter() - t0
        threading.Thread(target=self._read, args=(conn,), name="summarizer-worker-answers", daemon=True).start()
        logger.info("model worker %d loaded %s in %.1fs", self._proc.pid, self.info.name, self.load_seconds)

    def _crashed(self, doing: str) -> ModelCrashed:
        proc = self._proc
        code = proc.wait() if proc is not None else 0
        self._proc, self._conn = None, None
        self.crashes += 1
        self.crashes_in_a_row += 1
        name, what = _describe_exit(code)
        hint = ""
        if name == "SIGILL":
            hint = ("; this llama.cpp build crashes on this CPU (illegal instruction): "
                    + REBUILD_HINT.format(args="-DGGML_NATIVE=OFF ...", version="<version>"))
        logger.warning("the model worker died with %s %s", what, doing)
        return ModelCrashed(f"the model worker died with {what} {doing} (crash {self.crashes_in_a_row} in a row; "
                            f"the next request starts a new worker){hint}",
                            signal=name, returncode=code, in_a_row=self.crashes_in_a_row)

    def _died_idle(self) -> None:
        # Killed or the OOM killer while it held no request: nothing was lost; the next request starts a new one.
        _, what = _describe_exit(self._proc.wait())
        logger.warning("the model worker died with %s while idle; the next request starts a new one", what)
        self.crashes += 1
        self._stop()

    def _read(self, conn: Connection) -> None:
        """The answers of one worker, handed to the threads that asked; its end fails what it still held."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            with self._cv:
                if message[0] == "done":
                    _, key, text, error, cancelled, self._worker_usage = message
                    self.crashes_in_a_row = 0
                    if key in self._asked:
                        self._answers[key] = (text, error, cancelled)
                elif message[0] == "count":
                    self.crashes_in_a_row = 0
                    if message[1] in self._asked:
                        self._answers[message[1]] = (message[2], "", False)
                elif message[0] == "usage":
                    self._worker_usage = message[1]
                self._cv.notify_all()
        with self._lock:
            current = self._conn is conn
            with self._cv:
                held = [k for k in self._asked if k not in self._answers]
            if current and not held and self._proc is not None:
                self._died_idle()
                error: BaseException = ModelCrashed("the model worker died while idle")
            elif current:
                error = self._crashed(f"while answering {len(held)} request(s)")
            elif self._closed:
                error = ModelCrashed("the model worker was stopped (the server is shutting down)")
            else:  # a send found it dead first and counted the crash
                error = ModelCrashed(f"the model worker died while answering {len(held)} request(s)",
                                     in_a_row=self.crashes_in_a_row)
        with self._cv:
            self.usage = _plus(self.usage, self._worker_usage)
            self._worker_usage = Usage()
            for k in held:
                self._failed[k] = error
            self._cv.notify_all()

    def _send(self, message: tuple) -> None:
        """Send to the worker, starting one first where none runs (a worker that died while idle lost nothing)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is not None:
                self._died_idle()
            if self._proc is None:
                if self._closed:
                    raise ModelLoadError("the model was closed (the server is shutting down)")
                self._start()
            assert self._conn is not None
            try:
                self._conn.send(message)
            except (OSError, ValueError):
                raise self._crashed("while taking a request") from None

    def _ask(self, message_of, n: int, cancelled=None, on_done=None) -> list[tuple]:
        """Send `message_of(keys)` for `n` new ids and wait for their answers; a cancel ends the wait at once."""
        keys = [next(self._keys) for _ in range(n)]
        with self._cv:
            self._asked.update(keys)
        try:
            self._send(message_of(keys))
            told, seen = False, 0
            with self._cv:
                while True:
                    have = sum(k in self._answers or k in self._failed for k in keys)
                    if have == n:
                        break
                    if on_done is not None and have != seen:
                        seen = have
                        on_done(have)
                    if cancelled is not None and cancelled():
                        told = True
                        break
                    self._cv.wait(0.05)
            if told:
                try:
                    self._send(("cancel", keys))
                except (ModelCrashed, ModelLoadError):
                    pass  # nothing left to stop
                raise Cancelled("the job was cancelled")
            with self._cv:
                failure = next((self._failed[k] for k in keys if k in self._failed), None)
                answers = [self._answers.get(k) for k in keys]
        finally:
            with self._cv:
                self._asked.difference_update(keys)
                for k in keys:
                    self._answers.pop(k, None)
                    self._failed.pop(k, None)
        if failure is not None:
            raise failure
        if on_done is not None and seen != n:
            on_done(n)
        return answers  # type: ignore[return-value]

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        opts, bans = each_request(options, forbid_han, len(requests))
        answers = self._ask(lambda keys: ("submit", list(zip(keys, requests, opts, bans))), len(requests),
                            cancelled, on_done) if requests else []
        errors = {k: a[1] for k, a in enumerate(answers) if a[1]}
        if errors:
            raise RequestFailed([a[0] for a in answers], errors)
        return [a[0] for a in answers]

    def usage_now(self) -> Usage:
        with self._cv:
            return _plus(self.usage, self._worker_usage)

    def count_tokens(self, text: str) -> int:
        if self._gguf is not None:
            with self._lock:
                if self._vocab is None:
                    from .llamacpp import TokenCounter

                    self._vocab = TokenCounter(self._gguf)
            return self._vocab.count(text)
        return self._ask(lambda keys: ("count", keys[0], text), 1)[0][0]

    def _stop(self) -> None:
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if conn is not None:
            conn.close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        """Stop the worker process (it also stops by itself when this process ends).

        Does not wait for requests in flight: they get `ModelCrashed` (shutdown must not wait on them).
        """
        self._closed = True
        with self._lock:
            self._stop()


def _plus(a: Usage, b: Usage) -> Usage:
    return Usage(*(getattr(a, f.name) + getattr(b, f.name) for f in dataclasses.fields(Usage)))


def _rebuild(kind: str, message: str) -> BaseException:
    cls = _KNOWN_ERRORS.get(kind, RuntimeError)
    return cls(message) if cls is not RuntimeError or kind == "RuntimeError" else RuntimeError(f"{kind}: {message}")


_LIVE: weakref.WeakSet[WorkerGenerator] = weakref.WeakSet()


@atexit.register
def _close_workers() -> None:
    for gen in list(_LIVE):
        gen.close()


def worker_main() -> None:
    """The worker process: load the model named by the first message, then run its loop until the parent closes
    the socket. A reader thread takes the parent's messages; this thread admits them between steps, steps the loop
    and sends each answer as it is done."""
    conn = Connection(int(sys.argv[1]))
    # The parent handles Ctrl-C and SIGTERM; the worker ends when the parent closes the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cfg: ModelConfig = conn.recv()
    except EOFError:
        return
    try:
        gen = _load_inline(cfg)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it there
        conn.send(("error", type(exc).__name__, str(exc)))
        return
    path = getattr(gen, "path", None)
    conn.send(("ready", gen.info, gen.context_length, getattr(gen, "batch_size", None), str(path) if path else None))
    loop = gen if hasattr(gen, "step") else _CallLoop(gen)
    inbox: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(conn, inbox), name="summarizer-worker-inbox", daemon=True).start()
    sent = time.monotonic()
    while True:
        block = not loop.busy()
        while True:
            try:
                message = inbox.get(block=block)
            except queue.Empty:
                break
            block = False
            if message is None:
                return
            op = message[0]
            if op == "submit":
                for key, request, options, ban in message[1]:
                    try:
                        loop.submit(key, request, options, ban)
                    except Exception as exc:  # noqa: BLE001 - this request's own failure
                        conn.send(("done", key, "", f"{type(exc).__name__}: {exc}", False, gen.usage_now()))
            elif op == "cancel":
                loop.cancel(message[1])
            elif op == "count":
                conn.send(("count", message[1], gen.count_tokens(message[2])))
        for key, text, error, cancelled in loop.step():
            conn.send(("done", key, text, error, cancelled, gen.usage_now()))
        if time.monotonic() - sent > 1.0:
            # Long steps (a prompt being read) still show in the parent's counters.
            conn.send(("usage", gen.usage_now()))
            sent = time.monotonic()


def _pump(conn: Connection, inbox: queue.Queue) -> None:
    while True:
        try:
            inbox.put(conn.recv())
        except (EOFError, OSError):
            inbox.put(None)
            return


class _CallLoop:
    """The loop's interface over a backend that answers whole calls (transformers): each step answers everything
    waiting, in one call."""

    def __init__(self, gen: Generator):
        self.gen, self.waiting, self.cancelled = gen, [], []

    def submit(self, key, request, options, ban) -> None:
        self.waiting.append((key, request, options, ban))

    def cancel(self, keys) -> None:
        keys = set(keys)
        self.cancelled += [w[0] for w in self.waiting if w[0] in keys]
        self.waiting = [w for w in self.waiting if w[0] not in keys]

    def busy(self) -> bool:
        return bool(self.waiting or self.cancelled)

    def step(self) -> list[tuple]:
        done = [(key, "", "", True) for key in self.cancelled]
        batch, self.waiting, self.cancelled = self.waiting, [], []
        if not batch:
            return done
        errors: dict[int, str] = {}
        try:
            outs = self.gen.generate([w[1] for w in batch], [w[2] for w in batch], forbid_han=[w[3] for w in batch])
        except RequestFailed as exc:
            outs, errors = exc.outputs, exc.errors
        except Exception as exc:  # noqa: BLE001 - every request of the call gets it
            outs, errors = [""] * len(batch), {k: f"{type(exc).__name__}: {exc}" for k in range(len(batch))}
        return done + [(w[0], outs[k], errors.get(k, ""), False) for k, w in enumerate(batch)]


def _load_inline(cfg: ModelConfig) -> Generator:
    if cfg.backend not in BACKENDS:
        raise ModelLoadError(f"backend {cfg.backend!r} has no model to load")
    return BACKENDS[cfg.backend](cfg)


_CACHE: dict[ModelConfig, Generator] = {}
_LOADING: dict[ModelConfig, threading.Lock] = {}
_CACHE_LOCK = threading.Lock()


def get_generator(cfg: ModelConfig) -> Generator:
    """The process-wide generator for `cfg`, loaded on first use and reused afterwards.

    With ``isolation = "process"`` (the default) the model loads in a worker process; with ``inline`` here.
    Loading one model does not block questions about others (`is_loaded`, `loading`).

    Raises:
        ModelLoadError: The backend or weights are unavailable, or the llama.cpp build fails on this CPU.
        ModelCrashed: The worker died while loading the model.
    """
    with _CACHE_LOCK:
        gen = _CACHE.get(cfg)
        if gen is not None:
            return gen
        lock = _LOADING.setdefault(cfg, threading.Lock())
    with lock:
        with _CACHE_LOCK:
            gen = _CACHE.get(cfg)
        if gen is not None:
            return gen
        t0 = time.perf_counter()
        gen = WorkerGenerator(cfg) if cfg.isolation == "process" else _load_inline(cfg)
        gen.load_seconds = time.perf_counter() - t0
        logger.info("loaded %s (%s, %s) in %.1fs", gen.info.name, cfg.backend, cfg.isolation, gen.load_seconds)
        with _CACHE_LOCK:
            _CACHE[cfg] = gen
            _LOADING.pop(cfg, None)
        return gen


def is_loaded(cfg: ModelConfig) -> bool:
    """True when the model of `cfg` is already loaded in this process (never waits for a load)."""
    with _CACHE_LOCK:
        return cfg in _CACHE


def is_alive(cfg: ModelConfig) -> bool:
    """True when the model of `cfg` is loaded and can answer now: its worker process runs (a worker killed since
    its last request is not alive; the next request starts a new one)."""
    with _CACHE_LOCK:
        gen = _CACHE.get(cfg)
    alive = getattr(gen, "alive", None)
    return gen is not None and (alive is None or alive())


def loading(cfg: ModelConfig) -> bool:
    """True while the model of `cfg` is being loaded."""
    with _CACHE_LOCK:
        lock = _LOADING.get(cfg)
    return lock is not None and lock.locked()


def clear_generators() -> None:
    """Drop every loaded model and stop its worker (tests and benchmarks use it to measure cold loads)."""
    with _CACHE_LOCK:
        gens = list(_CACHE.values())
        _CACHE.clear()
    for gen in gens:
        close = getattr(gen, "close", None)
        if close is not None:
            close()

