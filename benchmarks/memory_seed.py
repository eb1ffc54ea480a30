"""The answer memory on the seed (issue 47): the seed a second time through the CLI and through the demo, against the
first run (start-up included), with the records compared; then the seed with one paragraph changed, and which
requests went to the model. Each arm uses a fresh memory file of its own.

    python benchmarks/memory_seed.py --config default     # writes reports/memory-seed-default.json

Run it alone: two model processes on 2 cores both crawl.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from summarizer.clean import clean_article

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_a4f61a660f2d4dbe.txt"


def _env(memory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUMMARIZER_") or k == "SUMMARIZER_CACHE"}
    return {**env, "SUMMARIZER_MEMORY__ENABLED": "true", "SUMMARIZER_MEMORY__PATH": str(memory),
            "GRADIO_ANALYTICS_ENABLED": "False"}


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "timings"} == {k: v for k, v in b.items() if k != "timings"}


def cli_run(config: str, source: Path, out: Path, memory: Path) -> dict:
    """One `summarizer run` of `source`: wall seconds (start-up included), its record, what the memory answered."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "summarizer.cli", "run", str(source), "-o", str(out), "--config", config,
                        "--overwrite"], cwd=ROOT, env=_env(memory), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"(\d+) model request\(s\) answered from it, (\d+) asked of the model", p.stderr)
    (rec,) = [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"seconds": round(wall, 1), "exit": p.returncode, "memory_hits": int(m[1]) if m else None,
            "model_requests": int(m[2]) if m else None, "record": rec}


def demo_runs(config: str, memory: Path) -> dict:
    """The demo (Gradio's /process route) on a warm server, the seed twice: seconds from Run to done."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--config", config, "--port", str(port),
                             "--preload"], cwd=ROOT, env=_env(memory), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url + "/health", timeout=5).read()
                break
            except OSError:
                time.sleep(0.5)
        seed = SEED.read_text(encoding="utf-8")
        out = {}
        for k in ("first", "second"):
            t0 = time.perf_counter()
            req = urllib.request.Request(url + "/gradio_api/call/process", data=json.dumps(
                {"data": [seed, None, 200]}).encode(), headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=900) as r:
                event = json.load(r)["event_id"]
            seen: dict[str, float] = {}
            steps: list[tuple[float, str]] = []
            last_event = ""
            with urllib.request.urlopen(f"{url}/gradio_api/call/process/{event}", timeout=900) as r:
                for raw in r:
                    line = raw.decode("utf-8").rstrip("\n")
                    if line.startswith("event: "):
                        last_event = line[7:].strip()
                    if not line.startswith("data: ") or last_event not in ("generating", "complete"):
                        continue
                    data = json.loads(line[6:])
                    if not isinstance(data, list) or len(data) < 6:
                        continue
                    at = round(time.perf_counter() - t0, 1)
                    if data[1]:
                        seen.setdefault("summary_zh", at)
                    if data[2]:
                        seen.setdefault("title_en", at)
                    rows = data[4].get("data") if isinstance(data[4], dict) else data[4]
                    for n, row in enumerate(rows or []):
                        if len(row) > 1 and row[1]:
                            seen.setdefault(f"paragraph {n + 1}", at)
                    if data[3]:
                        seen.setdefault("summary_en", at)
                    if isinstance(data[5], str) and (not steps or steps[-1][1] != data[5]):
                        steps.append((at, data[5]))
            out[k] = {"seconds": round(time.perf_counter() - t0, 1), "ended": last_event, "shown_at": seen,
                      "warnings_box": steps}
        return out
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="default")
    args = ap.parse_args()
    report: dict = {"config": args.config, "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        first = cli_run(args.config, SEED, t / "a", t / "cli.sqlite3")
        second = cli_run(args.config, SEED, t / "b", t / "cli.sqlite3")
        report["cli"] = {"first": {k: v for k, v in first.items() if k != "record"},
                         "second": {k: v for k, v in second.items() if k != "record"},
                         "second_over_first": round(second["seconds"] / first["seconds"], 3),
                         "same_record_apart_from_timings": _same(first["record"], second["record"])}
        print(json.dumps(report["cli"]), flush=True)
        # One paragraph changed (the seventh: a number), against the memory of the seed's first run. The seed is
        # crawler HTML; the changed copy is its cleaned title and paragraphs as plain text, which clean the same.
        article = clean_article(SEED)
        paras = list(article.paragraphs)
        k = 6
        paras[k] = paras[k].replace("1/3", "1/4", 1) if "1/3" in paras[k] else paras[k] + "今天。"
        changed = t / "changed.txt"
        changed.write_text("\n".join([article.title, *paras]) + "\n", encoding="utf-8")
        assert clean_article(changed).paragraphs[:k] == article.paragraphs[:k]
        edit = cli_run(args.config, changed, t / "c", t / "cli.sqlite3")
        paras_changed = [i for i, (a, b) in enumerate(zip(first["record"]["paragraphs_en"],
                                                           edit["record"]["paragraphs_en"])) if a != b]
        report["one_paragraph_changed"] = {**{k2: v for k2, v in edit.items() if k2 != "record"},
                                           "changed_paragraph": k + 1, "english_paragraphs_that_differ": paras_changed,
                                           "first_run_model_requests": first["model_requests"]}
        print(json.dumps(report["one_paragraph_changed"]), flush=True)
        report["demo"] = demo_runs(args.config, t / "demo.sqlite3")
        print(json.dumps(report["demo"]), flush=True)
    path = ROOT / "reports" / f"memory-seed-{args.config}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print("wrote", path)


if __name__ == "__main__":
    main()
