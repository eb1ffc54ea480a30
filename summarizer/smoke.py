"""Is this llama.cpp build safe on this CPU? A smoke test in a child process, cached per build and CPU.

A llama.cpp compiled with native CPU flags can die with SIGILL on a CPU it was not meant for, or even on the
CPU it was built on (ggml's AMX matrix code on some Xeons). A signal cannot be caught inside the process, so
the test runs a real prompt of a few hundred tokens in a child and reads how the child ended. Setup uses the
same test to decide on a portable rebuild (`ensure_working_build`), and `summarizer run`/`serve` run it once
per build before their first llama.cpp load (`check_runtime`); a passing build is remembered in the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .embedded import cache_dir

logger = logging.getLogger("summarizer")

__all__ = ["SmokeResult", "BuildBroken", "cpu_flags", "portable_features", "portable_cmake_args", "build_key", "save_json",
           "run_smoke", "check_runtime", "signal_words", "record_pass", "ensure_working_build", "REBUILD_HINT"]

# ggml's CMake options and the /proc/cpuinfo flags each needs. GGML_AVX512 compiles with -mavx512f/cd/vl/dq/bw,
# so it is on only where all five are present. AMX is never turned on in a portable build.
_GGML_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    ("GGML_AVX512_VBMI", ("avx512vbmi",)),
    ("GGML_AVX512_VNNI", ("avx512_vnni",)),
    ("GGML_AVX512_BF16", ("avx512_bf16",)),
)
_AMX_OPTIONS = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")

REBUILD_HINT = ("rebuild it without native CPU flags: SUMMARIZER_PORTABLE_BUILD=1 bash scripts/setup.sh model "
                "(or by hand: CMAKE_ARGS=\"{args}\" pip install --force-reinstall --no-deps --no-cache-dir "
                "--no-binary llama-cpp-python llama-cpp-python=={version})")

# The smoke prompt: about 300 tokens of news-like Chinese and English, enough to reach the batched matrix code
# (a prompt of one token ran on the AMX machine where every real request crashed).
_PROMPT = ("北京市委书记蔡奇到朝阳区调研，强调要坚持以人民为中心，办好群众身边的每一件事。"
           "Beijing party secretary Cai Qi visited Chaoyang district and said the city must serve its people. ") * 6


class BuildBroken(RuntimeError):
    """The installed llama.cpp build crashes or fails on this CPU (the message says how to rebuild)."""


@dataclass(frozen=True)
class SmokeResult:
    """How one smoke test ended."""

    # True when the child loaded the model, read the prompt and generated tokens, then exited 0.
    ok: bool
    # The signal that ended the child (SIGILL, SIGSEGV, ...), or "" when it exited on its own.
    signal: str = ""
    # The child's exit code (negative: killed by a signal).
    returncode: int = 0
    # Prompt tokens evaluated and tokens generated (0 when it did not get that far).
    prompt_tokens: int = 0
    output_tokens: int = 0
    # Wall seconds of the whole child.
    seconds: float = 0.0
    # The last lines the child wrote to stderr, for the error message.
    stderr: str = ""
    # The signal's plain meaning ("illegal instruction"), "" when none.
    meaning: str = field(default="")

    def describe(self) -> str:
        """One line: what happened."""
        if self.ok:
            return (f"passed: {self.prompt_tokens} prompt tokens, {self.output_tokens} generated, "
                    f"{self.seconds:.1f} s")
        if self.signal:
            return f"crashed with {self.signal} ({self.meaning})"
        tail = self.stderr.strip().splitlines()[-1:] or ["no message"]
        return f"failed with exit code {self.returncode}: {tail[0][:300]}"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is no such file)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def portable_features(flags: set[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """The ggml options a portable build turns on: env ``SUMMARIZER_CPU_FEATURES`` or those the flags allow.

    ``SUMMARIZER_CPU_FEATURES`` (e.g. ``AVX,AVX2,FMA,F16C``) names them for an image that runs on other machines
    than the one that builds it; AMX is never among them.
    """
    environ = os.environ if environ is None else environ
    named = environ.get("SUMMARIZER_CPU_FEATURES", "").strip()
    known = {opt for opt, _ in _GGML_OPTIONS}
    if named:
        wanted = {"GGML_" + f.strip().upper().removeprefix("GGML_") for f in named.split(",") if f.strip()}
        unknown = wanted - known
        if unknown:
            raise ValueError(f"SUMMARIZER_CPU_FEATURES names {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(o.removeprefix('GGML_') for o, _ in _GGML_OPTIONS)}")
        return [opt for opt, _ in _GGML_OPTIONS if opt in wanted]
    return [opt for opt, needs in _GGML_OPTIONS if all(n in flags for n in needs)]


def portable_cmake_args(flags: set[str] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """CMAKE_ARGS for a llama.cpp build with no native flags: the CPU's own features named one by one, AMX off."""
    flags = cpu_flags() if flags is None else flags
    on = portable_features(flags, environ)
    x86 = bool(flags & {"sse2", "avx"}) or bool(on)
    args = ["-DGGML_NATIVE=OFF"]
    if x86:
        args += [f"-D{opt}={'ON' if opt in on else 'OFF'}" for opt, _ in _GGML_OPTIONS]
        args += [f"-D{opt}=OFF" for opt in _AMX_OPTIONS]
    return " ".join(args)


def _llama_files() -> tuple[str, list[Path]]:
    """llama-cpp-python's version and its shared libraries, read from the distribution's file list."""
    try:
        dist = metadata.distribution("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return "", []
    libs = [Path(str(dist.locate_file(f))) for f in (dist.files or [])
            if f.name.endswith((".so", ".dylib", ".dll")) or ".so." in f.name]
    return dist.version, sorted(libs)


def build_key(model_path: Path, flags: set[str] | None = None) -> str:
    """Names this llama.cpp build on this CPU with this model: a new build, CPU or model is tested again."""
    version, libs = _llama_files()
    h = hashlib.sha256(f"llama-cpp-python {version}\n".encode())
    for lib in libs:
        try:
            st = lib.stat()
        except OSError:
            continue
        h.update(f"{lib.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    h.update(" ".join(sorted(cpu_flags() if flags is None else flags)).encode())
    try:
        h.update(f"\n{Path(model_path).resolve()} {Path(model_path).stat().st_size}".encode())
    except OSError:
        h.update(str(model_path).encode())
    return h.hexdigest()[:24]


def signal_words(code: int) -> tuple[str, str]:
    """(SIGILL, "illegal instruction") for a child's negative exit status."""
    try:
        sig = signal.Signals(-code)
    except ValueError:
        return f"signal {-code}", "unknown signal"
    return sig.name, (signal.strsignal(sig) or "signal").lower()


def run_smoke(model_path: Path, *, threads: int = 0, timeout: float = 600,
              command: Sequence[str] | None = None) -> SmokeResult:
    """Load `model_path` in a child process, read a ~300-token prompt and generate a few tokens.

    Args:
        model_path: A GGUF file.
        threads: CPU threads for the child (0: one per core).
        timeout: Seconds before the child is killed (a hang counts as a failure).
        command: The child's command line instead of this module's smoke child (tests use it).

    Returns:
        How the child ended; never raises for a crash.
    """
    cmd = list(command) if command is not None else [
        sys.executable, "-c", "from summarizer.smoke import smoke_child; smoke_child()", str(model_path), str(threads)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return SmokeResult(ok=False, returncode=-9, seconds=time.perf_counter() - t0,
                           stderr=err[-2000:] + f"\ntimed out after {timeout:g} s")
    seconds = time.perf_counter() - t0
    stderr = (proc.stderr or "")[-2000:]
    if proc.returncode < 0:
        name, meaning = signal_words(proc.returncode)
        return SmokeResult(ok=False, signal=name, meaning=meaning, returncode=proc.returncode, seconds=seconds,
                           stderr=stderr)
    report = {}
    for line in reversed((proc.stdout or "").splitlines()):
        try:
            report = json.loads(line)
            break
        except ValueError:
            continue
    ok = proc.returncode == 0 and report.get("output_tokens", 0) > 0
    return SmokeResult(ok=ok, returncode=proc.returncode, seconds=seconds, stderr=stderr,
                       prompt_tokens=int(report.get("prompt_tokens", 0)),
                       output_tokens=int(report.get("output_tokens", 0)))


def smoke_child() -> None:
    """The child's side of `run_smoke`: argv is MODEL_PATH [THREADS]; prints one JSON line."""
    from llama_cpp import Llama

    path = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 and int(sys.argv[2]) > 0 else (os.cpu_count() or 1)
    llm = Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=threads, n_threads_batch=threads,
                verbose=False, seed=0)
    tokens = llm.tokenize(_PROMPT.encode("utf-8"), add_bos=True)
    out = llm.create_completion(_PROMPT, max_tokens=4, temperature=0.0)
    usage = out.get("usage") or {}
    print(json.dumps({"prompt_tokens": len(tokens), "output_tokens": int(usage.get("completion_tokens", 0))}),
          flush=True)


def _hint() -> str:
    version, _ = _llama_files()
    return REBUILD_HINT.format(args=portable_cmake_args(), version=version or "<version>")


def _cache_file() -> Path:
    return cache_dir() / "runtime-checks.json"


def _read_cache() -> dict:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_json(path: Path, data: dict, what: str) -> None:
    """Write a cache file whole or not at all (a temp file, then a rename); a failure is a warning naming `what`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not remember %s in %s: %s", what, path, exc)


def _remember(key: str, result: SmokeResult) -> None:
    data = _read_cache()
    data[key] = {"ok": result.ok, "seconds": round(result.seconds, 2), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    save_json(_cache_file(), data, "the runtime check")


def record_pass(model_path: Path, result: SmokeResult) -> None:
    """Remember that this build passed with `model_path` (setup calls it, so the first run skips the test)."""
    if result.ok:
        _remember(build_key(model_path), result)


def check_runtime(model_path: Path, *, threads: int = 0, force: bool = False) -> SmokeResult | None:
    """Smoke-test the llama.cpp build with `model_path` once per build, CPU and model; later calls cost nothing.

    Args:
        model_path: The GGUF the caller is about to load.
        threads: CPU threads for the test.
        force: Test again even when this build already passed.

    Returns:
        The new result, or None when this build passed before.

    Raises:
        BuildBroken: The child crashed or failed; the message says how to rebuild.
    """
    key = build_key(model_path)
    if not force and _read_cache().get(key, {}).get("ok"):
        return None
    logger.info("checking the llama.cpp build on this CPU with %s (once per build)", Path(model_path).name)
    result = run_smoke(model_path, threads=threads)
    if not result.ok:
        if result.signal:
            raise BuildBroken(f"this llama.cpp build crashes on this CPU ({result.meaning or result.signal}, "
                              f"{result.signal}) while reading a prompt with {Path(model_path).name}; {_hint()}")
        raise BuildBroken(f"the llama.cpp smoke test with {Path(model_path).name} {result.describe()}")
    _remember(key, result)
    return result


def ensure_working_build(smoke: Callable[[], SmokeResult], rebuild: Callable[[str], None], stamp: Path, *,
                         force_portable: bool = False, cmake_args: str | None = None,
                         say: Callable[[str], None] = print) -> dict:
    """Setup's decision: keep the native build if its smoke test passes, else rebuild once without native flags.

    Args:
        smoke: Runs the smoke test on the installed build.
        rebuild: Reinstalls llama-cpp-python with the given CMAKE_ARGS.
        stamp: Where the build that passed is recorded (JSON).
        force_portable: Build portable without trying the native build (env ``SUMMARIZER_PORTABLE_BUILD=1``).
        cmake_args: The portable build's CMAKE_ARGS (default: `portable_cmake_args`).
        say: Where the one-line messages go.

    Returns:
        The stamp's content: ``build`` (native or portable), ``cmake_args``, ``smoke``.

    Raises:
        BuildBroken: The portable build fails its smoke test too.
    """
    cmake_args = portable_cmake_args() if cmake_args is None else cmake_args
    build = "native"
    try:
        before = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    if before.get("build") == "portable" and before.get("cmake_args") == cmake_args:
        # Another extras set of the same venv already rebuilt it: test that build, do not compile it again.
        build = "portable"
    elif force_portable:
        say(f"setup: SUMMARIZER_PORTABLE_BUILD is set: building llama-cpp-python without native flags ({cmake_args})")
        rebuild(cmake_args)
        build = "portable"
    result = smoke()
    if not result.ok and build == "native" and result.signal:
        say(f"setup: the native llama.cpp build {result.describe()} on this CPU; rebuilding it once without "
            f"native flags ({cmake_args})")
        rebuild(cmake_args)
        build = "portable"
        result = smoke()
    if not result.ok:
        raise BuildBroken(f"the {build} llama.cpp build {result.describe()} on this CPU; setup stops here. "
                          f"Try SUMMARIZER_CPU_FEATURES=AVX,AVX2,FMA,F16C SUMMARIZER_PORTABLE_BUILD=1 bash "
                          f"scripts/setup.sh, or report the CPU flags of /proc/cpuinfo.")
    record = {"build": build, "cmake_args": cmake_args if build == "portable" else "", "smoke": result.describe(),
              "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    say(f"setup: llama.cpp {build} build {result.describe()}")
    return record
