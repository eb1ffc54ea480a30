"""How many sequences this machine decodes best at once: measured at the first load of a build, CPU, model and thread
count, and cached beside the build's smoke-test result.

One decode step on a CPU is not compute-bound: adding one token to each of N sequences in one ``llama_decode`` costs
far less than N steps (on a 2-core AVX-512 machine 16 sequences give ~2x the tokens/s of one). The curve is not
monotonic (8 was slower than 4 on one machine), so each width is measured. `scheduler.Scheduler` decodes that many.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from .scheduler import N_BATCH, Scheduler

logger = logging.getLogger("summarizer")

__all__ = ["probe_widths", "pick_width", "measure_widths", "probe_child", "PROBE_WIDTHS"]

# Widths the probe tries.
PROBE_WIDTHS = (1, 4, 8, 16, 32)


def probe_widths(llm, threads: int, widths: Sequence[int] = PROBE_WIDTHS, steps: int = 8) -> dict[int, float]:
    """Tokens/s of decoding `w` sequences together, for each width: a shared prefix, then `steps` steps (the faster
    half counted, as the machine may be busy). A few seconds on a 2-core machine with the 1.5B."""
    prefix = llm.tokenize("北京市委书记蔡奇强调，北京作为首都，与党和国家的使命紧密联系在一起。".encode() * 3, add_bos=False)
    rates: dict[int, float] = {}
    for w in widths:
        ms = Scheduler(llm, w, threads, n_ctx=len(prefix) + w * (steps + 4) + 2 * N_BATCH)
        try:
            ms.clear()
            for k, tok in enumerate(prefix):
                ms.add(tok, k, 0, False)
            ms.decode()
            for s in range(1, w):
                ms.L.llama_memory_seq_cp(ms.mem, 0, s, -1, -1)
            times = []
            for k in range(steps):
                ms.clear()
                for s in range(w):
                    ms.add(prefix[(k + s) % len(prefix)], len(prefix) + k, s, True)
                t = time.perf_counter()
                ms.decode()
                times.append(time.perf_counter() - t)
            fast = sorted(times)[:max(1, steps // 2)]
            rates[w] = round(w / (sum(fast) / len(fast)), 2)
        finally:
            ms.close()
    return rates


def _cache_file() -> Path:
    from .embedded import cache_dir

    return cache_dir() / "multiseq-widths.json"


def pick_width(llm, model_path: Path, threads: int, *, force: bool = False) -> tuple[int, dict[int, float]]:
    """The width with the most tokens/s on this machine, probed at the first load of a build, CPU, model and thread
    count, then read from the cache beside the build's smoke-test result. Returns (width, the probe's table)."""
    from .smoke import build_key, save_json

    key = f"{build_key(model_path)}-t{threads}"
    path = _cache_file()
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key) if isinstance(cache, dict) and not force else None
    if not entry:
        t = time.perf_counter()
        rates = probe_widths(llm, threads)
        entry = {"rates": {str(k): v for k, v in rates.items()}, "seconds": round(time.perf_counter() - t, 1),
                 "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
        cache = cache if isinstance(cache, dict) else {}
        cache[key] = entry
        save_json(path, cache, "the decode widths")
        logger.info("decode widths on this machine (tokens/s): %s", entry["rates"])
    rates = {int(k): float(v) for k, v in entry["rates"].items()}
    return max(rates, key=lambda w: (rates[w], -w)), rates


def probe_child() -> None:
    """A child process's main: load the GGUF named on the command line, probe the widths again, print the result."""
    from llama_cpp import Llama

    path, threads = Path(sys.argv[1]), int(sys.argv[2])
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    width, rates = pick_width(llm, path, threads, force=True)
    print(json.dumps({"width": width, "rates": rates}))


def measure_widths(model_path: Path, threads: int, timeout: float = 600) -> tuple[int, dict[int, float]]:
    """Probe the decode widths again in a child process (a build that crashes there cannot take the caller), cache
    the result for the next load, and return (the best width, tokens/s per width)."""
    cmd = [sys.executable, "-c", "from summarizer.multiseq import probe_child; probe_child()", str(model_path),
           str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise RuntimeError(f"the decode-width probe failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return int(data["width"]), {int(k): float(v) for k, v in data["rates"].items()}
