"""Soak the REST API with a mix of good, bad, abandoned and slow clients against a fresh `summarizer serve`.

Every few seconds one client of a random kind runs (seeded, so a rerun sends the same traffic): a good single
article, a good batch read to the end, a batch abandoned after its first record, a batch never read, a client that
leaves before the first byte, a stalled body, a body over the limit, bad JSON, a lone surrogate, a wrong key, and
the clients of issue 34: an article of 49,998 spaces, a second batch that waits for the model, random 8 KB paths
without a key, a 300 MB chunked body to the demo, a body of ``[],[],…``, and cross-site posts (text/plain, form,
another Origin). A prober asks ``/health`` twice a second throughout. It prints and records the server's RSS (the
server and its model worker, apart and together; the first row after a warm-up of one request of each kind) over
time, p50/p99 latency of the good requests and of ``/health``, the size of
``/metrics`` at the end, the slots free at the end (all must be), and the count of 5xx answers (must be 0).

    python benchmarks/soak_api.py --minutes 30 --config small --output reports/soak-api-small.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "soak-key"
GOOD = ["北京召开会议\n北京市委今天召开会议，研究部署城市更新工作。会议指出，今年要完成100个老旧小区改造。",
        "上海发布新规\n上海市政府发布新规，从下月起全市推行垃圾分类。违反规定的单位最高罚款5万元。",
        "广州举办展会\n广州国际车展今天开幕，共有1200家企业参展。展会将持续10天。"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_parts(pid: int) -> tuple[float, float]:
    """The server's RSS and its children's (the model worker), in MB."""
    server = children = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        if entry.name == str(pid):
            server += rss
        elif fields.get("PPid", "").strip() == str(pid):
            children += rss
    return server, children


class Soak:
    def __init__(self, url: str, port: int):
        self.url, self.port = url, port
        self.auth = {"Authorization": f"Bearer {KEY}"}
        self.latency: list[float] = []
        self.codes: dict[str, list[int]] = {}

    def _note(self, kind: str, code: int) -> None:
        self.codes.setdefault(kind, []).append(code)

    def _raw(self, data: bytes) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        s.sendall(data)
        return s

    def _head(self, path: str, length: int) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()

    def good(self, rnd: random.Random) -> None:
        t0 = time.perf_counter()
        r = httpx.post(self.url + "/v1/articles", json={"text": rnd.choice(GOOD)}, headers=self.auth, timeout=900)
        if r.status_code == 200:
            self.latency.append(time.perf_counter() - t0)
        self._note("good", r.status_code)

    def batch(self, rnd: random.Random) -> None:
        body = {"articles": [{"text": t} for t in rnd.sample(GOOD, 2)]}
        with httpx.stream("POST", self.url + "/v1/articles:batch", json=body, headers=self.auth, timeout=900) as r:
            lines = [line for line in r.iter_lines() if line]
        self._note("batch", r.status_code if len(lines) == 2 else 599)

    def abandoned(self, rnd: random.Random) -> None:
        body = json.dumps({"articles": [{"text": t} for t in GOOD]}).encode()
        s = self._raw(self._head("/v1/articles:batch", len(body)) + body)
        s.settimeout(900)
        got = b""
        while b"\n{" not in got:
            piece = s.recv(4096)
            if not piece:
                break
            got += piece
        s.close()
        self._note("abandoned", int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/1.1") else 0)

    def never_read(self, rnd: random.Random) -> None:
        body = json.dumps({"articles": [{"text": GOOD[0]}]}).encode()
        s = self._raw(self._head("/v1/articles:batch", len(body)) + body)
        timer = threading.Timer(120, s.close)
        timer.daemon = True  # the soak's end must not wait for it
        timer.start()
        self._note("never_read", 0)

    def gone(self, rnd: random.Random) -> None:
        body = json.dumps({"text": GOOD[1]}).encode()
        self._raw(self._head("/v1/articles", len(body)) + body).close()
        self._note("gone", 0)

    def stalled(self, rnd: random.Random) -> None:
        s = self._raw(self._head("/v1/articles", 500) + b'{"text": ')
        s.settimeout(120)
        answer = s.recv(4096)
        s.close()
        self._note("stalled", int(answer.split(b" ", 2)[1]) if answer else 0)

    def oversized(self, rnd: random.Random) -> None:
        r = httpx.post(self.url + "/v1/articles", json={"text": "北" * 60_000}, headers=self.auth, timeout=60)
        self._note("oversized", r.status_code)

    def bad(self, rnd: random.Random) -> None:
        body = rnd.choice([b"{not json", b'{"text": "\xff"}', b'{"record": {"text": "x", "source": "\\ud800"}}',
                           b"[" * 3000, b'{"text": "a\\u0000b"}'])
        r = httpx.post(self.url + "/v1/articles", content=body, headers={**self.auth, "content-type":
                                                                          "application/json"}, timeout=60)
        self._note("bad", r.status_code)

    def wrong_key(self, rnd: random.Random) -> None:
        r = httpx.post(self.url + "/v1/articles", json={"text": GOOD[0]}, timeout=60,
                       headers={"Authorization": f"Bearer wrong-{rnd.random()}"})
        self._note("wrong_key", r.status_code)


    def spaces(self, rnd: random.Random) -> None:
        r = httpx.post(self.url + "/v1/articles", json={"text": " " * 49_998 + "北"}, headers=self.auth, timeout=120)
        self._note("spaces", r.status_code)

    def second_batch(self, rnd: random.Random) -> None:
        """Two batches at once: the second waits for the model (off the event loop, or every route would hang)."""
        body = {"articles": [{"text": t} for t in rnd.sample(GOOD, 2)]}
        codes: list[int] = []

        def one() -> None:
            with httpx.stream("POST", self.url + "/v1/articles:batch", json=body, headers=self.auth,
                              timeout=900) as r:
                lines = [line for line in r.iter_lines() if line]
            codes.append(r.status_code if len(lines) == 2 else 599)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for code in codes:
            self._note("second_batch", code)

    def random_paths(self, rnd: random.Random) -> None:
        for _ in range(20):
            path = "/v1/zz" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8000))
            r = httpx.post(self.url + path, content=b"{}", headers={"content-type": "application/json"}, timeout=30)
            self._note("random_paths", r.status_code)

    def demo_flood(self, rnd: random.Random) -> None:
        head = (b"POST /gradio_api/call/process HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
        s = self._raw(head)
        s.settimeout(60)
        answer = b""
        try:
            for _ in range(300):
                s.sendall(piece)
        except OSError:
            pass
        try:
            answer = s.recv(4096)
        except OSError:
            pass
        s.close()
        self._note("demo_flood", int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0)

    def skeleton(self, rnd: random.Random) -> None:
        body = b'{"articles": [' + b"[]," * 2_400_000 + b"[]]}"
        r = httpx.post(self.url + "/v1/articles:batch", content=body, headers={**self.auth,
                       "content-type": "application/json"}, timeout=120)
        self._note("skeleton", r.status_code)

    def cross_site(self, rnd: random.Random) -> None:
        body = json.dumps({"text": GOOD[0]})
        kind, headers = rnd.choice([("text/plain", {}), ("application/x-www-form-urlencoded", {}),
                                    ("application/json", {"Origin": "http://evil.example"})])
        r = httpx.post(self.url + "/v1/articles", content=body, timeout=60,
                       headers={**self.auth, "content-type": kind, **headers})
        self._note("cross_site", r.status_code)


class Prober(threading.Thread):
    """Asks /health twice a second for the whole soak: no client may stall the server."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.times, self.failures = url, [], 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            t0 = time.perf_counter()
            try:
                httpx.get(self.url + "/health", timeout=30).raise_for_status()
                self.times.append(time.perf_counter() - t0)
            except httpx.HTTPError:
                self.failures += 1


KINDS = ["good", "good", "good", "batch", "abandoned", "never_read", "gone", "stalled", "oversized", "bad",
         "wrong_key", "spaces", "second_batch", "random_paths", "demo_flood", "skeleton", "cross_site"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--config", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUMMARIZER_") or k == "SUMMARIZER_CACHE"}
        env["SUMMARIZER_MEMORY__ENABLED"] = "false"  # the model is measured, not the answer memory
        env.update(TMPDIR=tmp, GRADIO_ANALYTICS_ENABLED="False", SUMMARIZER_API_KEYS=KEY,
                   SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE="0", SUMMARIZER_LIMITS__BODY_SECONDS="5")
        log = open(Path(tmp) / "serve.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--port", str(port), "--config",
                                 args.config, "--preload"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        soak = Soak(url, port)
        prober = Prober(url)
        rows = []
        try:
            for _ in range(600):
                try:
                    httpx.get(url + "/health", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            # Warm-up, before the clock and the first memory row: one request of each kind, so the lazy loads
            # (the name finder's LAC model and dictionaries, Gradio's routes, the worker's first batch) are behind
            # the baseline and the rows show growth, not start-up.
            for kind in dict.fromkeys(KINDS):
                try:
                    getattr(soak, kind)(rnd)
                except (httpx.HTTPError, OSError):
                    pass
            soak.latency.clear()
            soak.codes.clear()
            prober.start()
            t0 = time.time()
            server_mb, worker_mb = _rss_parts(proc.pid)
            rows.append({"minute": 0.0, "requests": 0, "rss_mb": round(server_mb + worker_mb, 1),
                         "server_mb": round(server_mb, 1), "worker_mb": round(worker_mb, 1)})
            print(json.dumps(rows[0]), flush=True)
            n = 0
            while time.time() - t0 < args.minutes * 60:
                kind = rnd.choice(KINDS)
                try:
                    getattr(soak, kind)(rnd)
                except (httpx.HTTPError, OSError) as exc:
                    soak._note(kind, -1)
                    print(f"{kind}: {type(exc).__name__}: {exc}", flush=True)
                n += 1
                if n % 10 == 0:
                    server_mb, worker_mb = _rss_parts(proc.pid)
                    row = {"minute": round((time.time() - t0) / 60, 1), "requests": n,
                           "rss_mb": round(server_mb + worker_mb, 1), "server_mb": round(server_mb, 1),
                           "worker_mb": round(worker_mb, 1),
                           "queue": httpx.get(url + "/health", timeout=30).json()["queue"]}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            time.sleep(5)
            prober.stop.set()
            metrics_bytes = len(httpx.get(url + "/metrics", timeout=30).content)
            end_queue = None
            for _ in range(240):
                end_queue = httpx.get(url + "/health", timeout=30).json()["queue"]
                if end_queue["running"] == 0 and end_queue["waiting"] == 0:
                    break
                time.sleep(1)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        lat = sorted(soak.latency)
        health = sorted(prober.times)
        fivexx = sum(1 for codes in soak.codes.values() for c in codes if c >= 500 and c != 503)
        report = {
            "config": args.config, "minutes": args.minutes, "requests": n, "seed": args.seed,
            "rss_mb_first": rows[0]["rss_mb"] if rows else None, "rss_mb_last": rows[-1]["rss_mb"] if rows else None,
            "rss_mb_max": max((r["rss_mb"] for r in rows), default=None),
            "good_p50_s": round(statistics.median(lat), 2) if lat else None,
            "good_p99_s": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2) if lat else None,
            "good_requests": len(lat), "queue_at_end": end_queue,
            "health_probes": len(health), "health_failures": prober.failures,
            "health_p50_s": round(statistics.median(health), 3) if health else None,
            "health_p99_s": round(health[min(len(health) - 1, int(len(health) * 0.99))], 3) if health else None,
            "health_max_s": round(health[-1], 3) if health else None,
            "metrics_bytes_at_end": metrics_bytes,
            "rss_growth": round(rows[-1]["rss_mb"] / rows[0]["rss_mb"] - 1, 3) if len(rows) > 1 else None,
            "slots_free_at_end": bool(end_queue and end_queue["running"] == 0 and end_queue["waiting"] == 0),
            "five_xx": fivexx, "exit_code": proc.returncode,
            "codes": {k: {str(c): v.count(c) for c in sorted(set(v))} for k, v in soak.codes.items()},
            "rows": rows,
        }
        print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
