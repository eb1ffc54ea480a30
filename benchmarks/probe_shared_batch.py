"""Issue 44's probe: eight ways one client could fail, stall or slow another through the shared batch, each run
against a real `summarizer serve` (the `small` config, the 0.5B in its worker) over HTTP, with figures.

    python benchmarks/probe_shared_batch.py --label after                       # this checkout
    python benchmarks/probe_shared_batch.py --label before --root ../before     # a worktree of the old code

writes reports/probe-shared-batch-<label>.json. Run it alone: two model processes on 2 cores both crawl. A case
whose client waits longer than --wait seconds is recorded as a timeout (the old code held some for 400+ s).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_a4f61a660f2d4dbe.txt"
SHORT = "短讯标题\n今天北京晴，气温30度。\n市民外出游玩，公园里人很多。"
OTHER = "上海新闻\n上海今天召开会议，讨论城市交通。\n会议决定新建两条地铁线路。"
LONG = "长文\n" + "\n".join("".join(f"第{p}段第{k}句，北京市召开会议讨论城市发展和交通问题。" for k in range(28))
                            for p in range(40))


class Probe:
    """One server under probe, and what it measures."""

    def __init__(self, root: Path, wait: float):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url, self.wait = f"http://127.0.0.1:{self.port}", wait
        env = {**os.environ, "SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE": "0", "GRADIO_ANALYTICS_ENABLED": "False",
               "SUMMARIZER_MEMORY__ENABLED": "false",
               "PYTHONPATH": str(root)}
        self.proc = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--config", "small", "--port",
                                      str(self.port), "--preload"], cwd=root, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=5).json()["model"] == "loaded":
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise SystemExit("the server did not start")

    def metric(self, name: str) -> float:
        for line in httpx.get(self.url + "/metrics", timeout=30).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return float("nan")

    def post(self, body: dict, timeout: float | None = None) -> dict:
        t0 = time.time()
        try:
            r = httpx.post(self.url + "/v1/articles", json=body, timeout=timeout or self.wait)
            try:
                error = r.json().get("error") if r.status_code != 200 else None
            except ValueError:
                error = "(not JSON) " + r.text[:200]
            out = {"status": r.status_code, "seconds": round(time.time() - t0, 2), "error": error,
                   "retry_after": r.headers.get("retry-after"), "content_type": r.headers.get("content-type")}
        except httpx.TimeoutException:
            out = {"status": "timeout", "seconds": round(time.time() - t0, 2)}
        return out

    def together(self, bodies: dict[str, dict]) -> dict[str, dict]:
        out: dict = {}
        threads = [threading.Thread(target=lambda k=k, b=b: out.__setitem__(k, self.post(b))) for k, b in bodies.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def idle(self, seconds: float = 600) -> None:
        t0 = time.time()
        while time.time() - t0 < seconds:
            q = httpx.get(self.url + "/health", timeout=30).json()["queue"]
            if not q["running"] and not q["waiting"]:
                return
            time.sleep(0.5)

    def worker(self) -> int | None:
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except (OSError, ValueError):
                continue
            if ppid == self.proc.pid and b"worker_main" in cmd:
                return int(pid)
        return None

    def rss(self) -> dict[str, float | None]:
        def one(pid):
            try:
                with open(f"/proc/{pid}/status") as f:
                    return round(next(int(x.split()[1]) for x in f if x.startswith("VmRSS")) / 1024, 1)
            except (OSError, StopIteration, TypeError):
                return None
        return {"server_mb": one(self.proc.pid), "worker_mb": one(self.worker())}

    def work(self, body: dict) -> dict:
        """One request's answer, the model calls and output tokens it cost, and both processes' RSS once idle."""
        calls, tokens = self.metric("summarizer_model_calls"), self.metric("summarizer_model_output_tokens")
        out = self.post(body)
        self.idle()
        time.sleep(2)
        out.update(model_calls=self.metric("summarizer_model_calls") - calls,
                   output_tokens=self.metric("summarizer_model_output_tokens") - tokens, rss_idle=self.rss())
        return out


def _raw_post(port: int, body: dict) -> socket.socket:
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall((f"POST /v1/articles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
    return s


def case_1(p: Probe, seed: str) -> dict:
    """A's 19,000-character glossary entry beside B's article, at the same moment."""
    return p.together({"A": {"text": SHORT, "glossary": {"北京": "B" * 19_000}}, "B": {"text": OTHER}})


def case_2(p: Probe, seed: str) -> dict:
    """A long article's client leaves 3 s in; the next client, against the same request alone."""
    alone = p.post({"text": OTHER.replace("两", "四"), "tasks": ["summary"]})
    s = _raw_post(p.port, {"text": LONG, "tasks": ["summary"]})
    time.sleep(3)
    s.close()
    after = p.post({"text": OTHER.replace("两", "五"), "tasks": ["summary"]})
    p.idle()
    return {"alone": alone, "next_after_leaver": after, "long_chars": len(LONG)}


def case_3(p: Probe, seed: str) -> dict:
    """Degenerate inputs: model work, time, and both processes' memory once idle (finding 4)."""
    return {"punctuation_650": p.work({"text": "？！。，" * 40 + "\n" + "，。！？；：…" * 70}),
            "tiny_paragraphs_5000": p.work({"text": "标题\n" + "\n".join(("好", "是", "中")[i % 3]
                                                                       for i in range(5000))}),
            "repeat_2000": p.work({"text": "重复\n" + "北京召开会议，讨论城市发展问题。" * 2000})}


def case_8(p: Probe, seed: str) -> dict:
    """An empty glossary term."""
    out = p.post({"text": SHORT, "glossary": {"": "nothing"}})
    p.idle()
    return out


def case_7(p: Probe, seed: str) -> dict:
    """Six clients (four run, two wait in line) leave 2 s after the fourth started: what the counters say."""
    jobs0 = p.metric("summarizer_cancelled_jobs")
    req0 = p.metric("summarizer_model_cancelled_requests")
    socks = [_raw_post(p.port, {"text": seed.replace("北京", "城市" + "甲乙丙丁戊己"[k])}) for k in range(6)]
    t0 = time.time()
    while time.time() - t0 < 60 and httpx.get(p.url + "/health", timeout=30).json()["queue"]["running"] < 4:
        time.sleep(0.1)
    time.sleep(2)
    for s in socks:
        s.close()
    p.idle()
    return {"clients_left": 6, "cancelled_jobs": p.metric("summarizer_cancelled_jobs") - jobs0,
            "cancelled_model_requests": p.metric("summarizer_model_cancelled_requests") - req0}


def case_6(p: Probe, seed: str) -> dict:
    """/health right after the worker is killed, and the next request."""
    pid = p.worker()
    if pid:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    health = httpx.get(p.url + "/health", timeout=30).json()["model"]
    return {"health_after_kill": health, "next_request": p.post({"text": SHORT})}


def case_5(p: Probe, seed: str) -> dict:
    """SIGTERM while three requests share the batch (ends the server)."""
    out: dict = {}
    threads = [threading.Thread(target=lambda c=c: out.__setitem__(c, p.post({"text": seed.replace("北京", c)})))
               for c in ("天津", "上海", "重庆")]
    for t in threads:
        t.start()
    t0 = time.time()
    while time.time() - t0 < 60 and httpx.get(p.url + "/health", timeout=30).json()["queue"]["running"] < 3:
        time.sleep(0.1)
    time.sleep(3)
    t0 = time.time()
    p.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join()
    p.proc.wait(60)
    return {"answers": out, "exit_seconds": round(time.time() - t0, 2), "exit_code": p.proc.returncode}


# In the order they run: SIGTERM last, as it ends the server.
CASES = {"1": case_1, "2": case_2, "3": case_3, "8": case_8, "7": case_7, "6": case_6, "5": case_5}


def run(root: Path, wait: float, only: set[str]) -> dict:
    """The cases in `only` (all when empty), on a server running `root`'s code, after a warm-up on the seed."""
    p = Probe(root, wait)
    report: dict = {"root": str(root), "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                                                capture_output=True, text=True).stdout.strip()}
    try:
        seed = SEED.read_text(encoding="utf-8")
        report["warm"] = p.post({"text": seed}, timeout=900)
        p.idle()
        time.sleep(2)
        report["rss_warm"] = p.rss()
        print("warm", report["warm"], report["rss_warm"], flush=True)
        for name, case in CASES.items():
            if not only or name in only:
                report[f"case_{name}"] = case(p, seed)
                print(name, report[f"case_{name}"], flush=True)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs the server")
    ap.add_argument("--label", default="after")
    ap.add_argument("--wait", type=float, default=150, help="seconds a client waits before it counts a timeout")
    ap.add_argument("--only", default="", help="comma-separated case numbers (1-8); their figures replace those of "
                                               "the label's existing report")
    args = ap.parse_args()
    only = {c.strip() for c in args.only.split(",") if c.strip()}
    path = ROOT / "reports" / f"probe-shared-batch-{args.label}.json"
    report = run(args.root.resolve(), args.wait, only)
    if only and path.exists():
        report = {**json.loads(path.read_text(encoding="utf-8")), **{k: v for k, v in report.items()
                                                                    if k.startswith("case_")}}
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print("wrote", path)


if __name__ == "__main__":
    main()
