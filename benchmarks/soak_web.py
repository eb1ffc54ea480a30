"""Soak the web demo: N requests (default 500) against a fresh `summarizer serve`, printing the server's RSS and its
temporary folders every 50 requests, to show that memory and files stay flat over a long run.

    python benchmarks/soak_web.py --requests 500 --output reports/soak-web.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _call(url: str, data: list) -> str:
    req = urllib.request.Request(url + "/gradio_api/call/process", data=json.dumps({"data": data}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        event_id = json.load(r)["event_id"]
    with urllib.request.urlopen(f"{url}/gradio_api/call/process/{event_id}", timeout=120) as r:
        body = r.read().decode("utf-8")
    return body.split("event: ")[-1].split("\n", 1)[0].strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--config", default="extractive")
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    seed = (ROOT / "seeds" / "000_a4f61a660f2d4dbe.txt").read_text(encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUMMARIZER_") or k == "SUMMARIZER_CACHE"}
        env["SUMMARIZER_MEMORY__ENABLED"] = "false"  # the model is measured, not the answer memory
        env.update(TMPDIR=tmp, GRADIO_ANALYTICS_ENABLED="False")
        proc = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--port", str(port), "--config",
                                 args.config], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(url + "/", timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.5)
            rows = []
            t0 = time.time()
            errors = 0
            for i in range(1, args.requests + 1):
                # Alternate the seed and a short distinct text so caches see varied input.
                text = seed if i % 2 else f"短讯{i}\n北京今天召开第{i}次会议，讨论城市发展。"
                errors += _call(url, [text, None, 120]) != "complete"
                if i % 50 == 0 or i == 1:
                    files = sum(len(fs) for _, _, fs in os.walk(tmp))
                    rows.append({"requests": i, "rss_mb": round(_rss_mb(proc.pid), 1), "temp_files": files,
                                 "seconds": round(time.time() - t0, 1)})
                    print(f"{i:4d} requests  RSS {rows[-1]['rss_mb']:7.1f} MB  temp files {files:4d}  "
                          f"{rows[-1]['seconds']:6.1f} s", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    # Gradio keeps the last 256 sessions (app.SESSIONS_KEPT), so memory climbs for ~300 requests, then stays flat.
    by_n = {r["requests"]: r["rss_mb"] for r in rows}
    last = rows[-1]["requests"]
    report = {"config": args.config, "requests": args.requests, "errors": errors, "samples": rows,
              "rss_growth_mb_over_last_200": round(by_n[last] - by_n[last - 200], 1) if last - 200 in by_n else None,
              "temp_files_note": "Gradio's copies of downloads live 10 minutes (delete_cache), so files track traffic"}
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
