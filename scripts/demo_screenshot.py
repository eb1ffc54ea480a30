"""The README's screenshot: the demo's sentence view of the seed with a config's model (default: the 1.5B); with
--mid, the page while the article runs, the warnings box saying the step and the time left.

Starts `summarizer serve`, pastes the seed into headless Chromium (reduced motion), waits for the whole result,
switches to the sentence view and saves the page.

    .venv/bin/python scripts/demo_screenshot.py [--config default] [--output docs/demo.png]
    .venv/bin/python scripts/demo_screenshot.py --mid --output docs/demo-progress.png
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_a4f61a660f2d4dbe.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--output", type=Path, default=ROOT / "docs" / "demo.png")
    ap.add_argument("--mid", action="store_true", help="save the page once a third of the parts are done")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--port", str(port), "--config",
                               args.config, "--preload"], cwd=ROOT)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1500}, reduced_motion="reduce")
            page.goto(url)
            page.wait_for_selector("#run-button", timeout=120_000)
            page.locator("#article-input textarea").fill(SEED.read_text(encoding="utf-8"))
            page.click("#run-button")
            t0 = time.time()
            while time.time() - t0 < 1800:
                box = page.locator("#warnings textarea").input_value()
                if args.mid and " parts done" in box:
                    done, total = (int(x) for x in box.split(" parts done")[0].rsplit("·", 1)[1].split(" of "))
                    if done * 3 >= total:
                        page.screenshot(path=str(args.output), full_page=True)
                        print(f"{box!r} after {time.time() - t0:.0f} s", flush=True)
                        return
                if box and not box.startswith("(working…)"):
                    break
                page.wait_for_timeout(1000)
            print(f"done after {time.time() - t0:.0f} s", flush=True)
            page.locator("#view-mode").get_by_text("sentences").click()
            page.wait_for_timeout(2000)
            page.screenshot(path=str(args.output), full_page=True)
            print(page.locator("#sentence-view").inner_text()[:3000])
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
