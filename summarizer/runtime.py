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
import logging
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
                     TransformersCausalGenerator, Usage)
from .embedded import EmbeddedModelError
from .pool import Cancel, CallPool
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

    The child is ``python -c 'from summarizer.runtime import worker_main; ...'`` talking pickled messages over
    a socket pair. One request batch is in flight at a time (the child holds one model and one KV cache); calls that
    other threads make meanwhile wait and go together in the next one (`pool.CallPool`), so concurrent jobs share
    the running batch.
    """

    def __init__(self, cfg: ModelConfig):
        self.cfg = dataclasses.replace(cfg, isolation="inline")
        self.kind = BACKENDS[cfg.backend].kind if cfg.backend in BACKENDS else "chat"
        self.cancellable = BACKENDS[cfg.backend].cancellable if cfg.backend in BACKENDS else False
        self.usage = Usage()
        # Crashes since the last answered request, and in all.
        self.crashes_in_a_row = 0
        self.crashes = 0
        self._lock = threading.Lock()
        self._closed = False
        self._pool = CallPool(self._send)
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
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
        self._conn = Connection(parent.detach())
        try:
            self._conn.send(self.cfg)
            reply = self._conn.recv()
        except (EOFError, OSError):
            raise self._crashed("while loading the model") from None
        if reply[0] == "error":
            self._stop()
            raise _rebuild(reply[1], reply[2])
        _, self.info, self.context_length, batch_size = reply
        if batch_size:
            self.batch_size = batch_size
        self.load_seconds = time.perf_counter() - t0
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

    def _call(self, message: tuple, doing: str, cancelled: Cancel | None = None):
        with self._lock:
            if self._proc is not None and self._proc.poll() is not None:
                # It died while idle (killed, the OOM killer): no request was lost, so this one starts a new worker.
                name, what = _describe_exit(self._proc.returncode)
                logger.warning("the model worker died with %s while idle; starting a new one", what)
                self.crashes += 1
                self._stop()
            if self._proc is None:
                if self._closed:
                    raise ModelLoadError("the model was closed (the server is shutting down)")
                self._start()
            assert self._conn is not None
            try:
                self._conn.send(message)
                if cancelled is not None:
                    # While the worker decodes, a cancel is passed on to it: it ends the call, or drops the requests
                    # of the callers that left (a pooled call), within a step.
                    told: bool | frozenset[int] = frozenset()
                    while not self._conn.poll(0.1):
                        now = cancelled()
                        if now is True and told is not True:
                            self._conn.send(("cancel",))
                            told = True
                        elif isinstance(now, frozenset) and told is not True and now - told:
                            self._conn.send(("cancel", sorted(now)))
                            told = now
                reply = self._conn.recv()
            except (EOFError, OSError):
                raise self._crashed(doing) from None
        if reply[0] == "error":
            raise _rebuild(reply[1], reply[2])
        self.crashes_in_a_row = 0
        return reply[1:]

    def generate(self, requests, options, *, forbid_han=False, cancelled=None):
        return self._pool.call(requests, [options] * len(requests), [forbid_han] * len(requests), cancelled)

    def generate_mixed(self, requests, options, forbid_han, *, cancelled=None):
        return self._pool.call(requests, list(options), list(forbid_han), cancelled)

    def usage_now(self) -> Usage:
        return dataclasses.replace(self.usage, shared_calls=self._pool.shared_calls,
                                   cancelled=self.usage.cancelled + self._pool.cancelled)

    def _send(self, requests, options: list, forbid_han: list, cancelled: Cancel) -> list[str]:
        # One set of options for all (the usual case) goes as a plain call; a pooled call of several kinds as mixed.
        if all(o == options[0] for o in options) and all(b == forbid_han[0] for b in forbid_han):
            message: tuple = ("generate", list(requests), options[0], forbid_han[0])
        else:
            message = ("generate_mixed", list(requests), list(options), list(forbid_han))
        outs, spent, errors = self._call(message, f"while answering {len(requests)} request(s)",
                                         cancelled if self.cancellable else None)
        for f in dataclasses.fields(Usage):
            setattr(self.usage, f.name, getattr(self.usage, f.name) + getattr(spent, f.name))
        if errors:
            raise RequestFailed(outs, errors)
        return outs

    def count_tokens(self, text: str) -> int:
        return self._call(("count", text), "while counting tokens")[0]

    def _stop(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc, self._conn = None, None
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

        Does not wait for a request in flight: that request gets `ModelCrashed` (shutdown must not wait on it).
        """
        self._closed = True
        self._pool.close()
        self._stop()


def _rebuild(kind: str, message: str) -> BaseException:
    cls = _KNOWN_ERRORS.get(kind, RuntimeError)
    return cls(message) if cls is not RuntimeError or kind == "RuntimeError" else RuntimeError(f"{kind}: {message}")


_LIVE: weakref.WeakSet[WorkerGenerator] = weakref.WeakSet()


@atexit.register
def _close_workers() -> None:
    for gen in list(_LIVE):
        gen.close()


def worker_main() -> None:
    """The worker process: load the model named by the first message, then answer requests until EOF."""
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
    conn.send(("ready", gen.info, gen.context_length, getattr(gen, "batch_size", None)))
    while True:
        try:
            op, *args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op in ("generate", "generate_mixed"):
                before = gen.usage_now()
                kw = {"cancelled": _CancelWatch(conn)} if gen.cancellable else {}
                errors: dict[int, str] = {}
                try:
                    if op == "generate":
                        outs = gen.generate(args[0], args[1], forbid_han=args[2], **kw)
                    else:
                        outs = gen.generate_mixed(args[0], args[1], args[2], **kw)
                except RequestFailed as exc:  # some requests failed alone: the others' answers still go back
                    outs, errors = exc.outputs, exc.errors
                conn.send(("ok", outs, gen.usage_now().minus(before), errors))
            elif op == "cancel":
                continue  # it came as the answer went: nothing is running to cancel
            elif op == "count":
                conn.send(("ok", gen.count_tokens(args[0])))
            else:
                conn.send(("error", "ValueError", f"unknown worker request {op!r}"))
        except Exception as exc:  # noqa: BLE001 - one failed request is the parent's error, not the worker's end
            conn.send(("error", type(exc).__name__, str(exc)))


class _CancelWatch:
    """What the parent cancelled of the running call (the only messages it sends while a call runs): True for all of
    it, else the indices of the requests whose callers left."""

    def __init__(self, conn: Connection):
        self.conn, self.all, self.ids = conn, False, frozenset()

    def __call__(self) -> bool | frozenset[int]:
        while not self.all and self.conn.poll():
            message = self.conn.recv()
            if message[0] == "cancel" and len(message) > 1:
                self.ids = self.ids | frozenset(message[1])
            elif message[0] == "cancel":
                self.all = True
        return True if self.all else self.ids


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

