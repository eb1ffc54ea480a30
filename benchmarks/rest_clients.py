"""N REST clients each posting one crawl article at once: how long until all are answered, with the requests taking
turns for the model (``limits.concurrency=1``, the server before issue 36; with ``--base TREE``, that tree's code)
and sharing its running batch (``limits.concurrency=N``: their requests join the model loop at its next step,
`summarizer.scheduler`), back to back on this machine. ``--env KEY=VALUE`` sets the sharing arm's environment
(``SUMMARIZER_MODELS__LLM__PARALLEL=0``).

Each arm starts its own server (`summarizer serve`), warms the model with a short article, then posts the N
articles from N threads at the same moment. Run it alone: two model processes on 2 cores both crawl.

    python benchmarks/rest_clients.py --config small --clients 4     # writes reports/bench-rest-4-clients-small.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _articles(n: int, shared: Path) -> list[str]:
    """The first `n` crawl articles of 600-1,500 characters (sorted by path): news of a usual length."""
    out = []
    for path in sorted((shared / "eval" / "crawl").rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if 600 <= len(text) <= 1500:
                out.append(text)
        if len(out) == n:
            return out
    raise SystemExit(f"fewer than {n} crawl articles of 600-1,500 characters under {shared}")


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def arm(config: str, concurrency: int, texts: list[str], tree: Path = ROOT, extra: dict | None = None) -> dict:
    """One server, the articles posted at once; seconds until the last answer, and each client's."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE": "0", "SUMMARIZER_MEMORY__ENABLED": "false",
           "SUMMARIZER_LIMITS__CONCURRENCY": str(concurrency), "PYTHONPATH": str(tree), **(extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--config", config, "--port", str(port),
                             "--preload"], cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                if httpx.get(url + "/health", timeout=5).json().get("model_loaded"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        httpx.post(url + "/v1/articles", json={"text": "短讯标题\n今天北京晴，气温30度。"}, timeout=600)
        tokens0 = _metric(url, "summarizer_model_output_tokens")
        shared0 = _metric(url, "summarizer_model_shared_steps") or _metric(url, "summarizer_model_shared_calls")
        seconds: list[float | None] = [None] * len(texts)
        codes: list[int | None] = [None] * len(texts)
        start = threading.Barrier(len(texts) + 1)
        t0 = 0.0

        def client(k: int) -> None:
            start.wait()
            r = httpx.post(url + "/v1/articles", json={"text": texts[k]}, timeout=3600)
            seconds[k], codes[k] = round(time.perf_counter() - t0, 1), r.status_code

        threads = [threading.Thread(target=client, args=(k,)) for k in range(len(texts))]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        start.wait()
        for t in threads:
            t.join()
        total = time.perf_counter() - t0
        return {"concurrency": concurrency, "total_seconds": round(total, 1), "client_seconds": seconds,
                "status": codes, "output_tokens": _metric(url, "summarizer_model_output_tokens") - tokens0,
                "shared_steps": (_metric(url, "summarizer_model_shared_steps") or _metric(url, "summarizer_model_shared_calls"))
                - shared0}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    """Both arms back to back; print and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--base", type=Path, default=ROOT, help="the code the taking-turns arm runs")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the sharing arm")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    shared = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared"))
    texts = _articles(args.clients, shared)
    turns = arm(args.config, 1, texts, args.base)
    print("taking turns:", json.dumps(turns), flush=True)
    pooled = arm(args.config, args.clients, texts, ROOT, dict(e.split("=", 1) for e in args.env))
    print("sharing the batch:", json.dumps(pooled), flush=True)
    report = {"config": args.config, "clients": args.clients, "article_chars": [len(t) for t in texts],
              "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "base": str(args.base), "sharing_env": args.env,
              "taking_turns": turns, "sharing": pooled,
              "speedup": round(turns["total_seconds"] / pooled["total_seconds"], 2)}
    print(f"speedup {report['speedup']}x ({turns['total_seconds']} s -> {pooled['total_seconds']} s)")
    out = args.output or ROOT / "reports" / f"bench-rest-{args.clients}-clients-{args.config}.json"
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
