"""The web demo, served for real. Most tests run the `extractive` config over plain HTTP as a hostile client and a
careless user would (issue #10: paths vs. uploads, limits, downloads, auth throttling, signals); the browser tests
drive headless Chromium (Playwright) and gradio_client against the real 0.5B model."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from summarizer import ArticleResult, clean_article
from summarizer.text import han_chars, han_ratio

from conftest import ROOT, SEED, Server, clean_env, free_port

# Real server or worker processes: seconds each, so in make test, not in make check.
pytestmark = pytest.mark.slow

SECRET_FILE = Path("/etc/hostname")

ARTIFACTS = ROOT / "tests" / "artifacts"
XSS_ARTICLE = (
    "测试标题<script>window.__x=1</script>\n"
    "<div><span>　　今天北京天气晴朗，气温30度。<script>window.__x=1</script></span></div><div>&nbsp;</div>"
    "<div><span>　　市民&lt;script&gt;window.__x=1&lt;/script&gt;外出游玩。<img src=x onerror=\"window.__y=1\"></span></div>"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("srv"))
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


def _upload(srv: Server, path: Path) -> dict:
    """Upload a file the way the browser does; returns the FileData value to send."""
    import httpx

    with open(path, "rb") as f:
        r = httpx.post(srv.url + "/gradio_api/upload", files={"files": (path.name, f)}, timeout=60)
    r.raise_for_status()
    server_path = r.json()[0]
    return {"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def test_the_demo_sends_no_usage_report_anywhere():
    # Gradio reports usage to huggingface.co by default (seen in a server's debug log, failing offline); the demo
    # turns it off, so a server makes no connection of its own.
    from summarizer import load_pipeline
    from summarizer.app import build_app

    assert build_app(load_pipeline("extractive")).analytics_enabled is False


def test_a_pasted_path_is_article_text(server):
    event, out = server.call(["/etc/passwd", None, 200])
    assert event == "complete"
    assert out[1] == "/etc/passwd" and "root:" not in json.dumps(out)


def test_a_file_value_naming_a_server_path_is_refused(server):
    secret = SECRET_FILE.read_text().strip()
    for path in (str(SECRET_FILE), str(server.tmp / "gradio" / ".." / ".." / ".." / SECRET_FILE)):
        event, out = server.call([None, [{"path": path, "meta": {"_type": "gradio.FileData"}}], 200])
        assert event == "error", out
        assert secret not in json.dumps(out)


def test_a_real_upload_works_and_messages_show_only_the_file_name(server, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    event, out = server.call([None, [_upload(server, good)], 200])
    assert event == "complete" and out[0] == "北京市扎实开展“不忘初心、牢记使命”主题教育"
    assert out[-1][0]["article"]["source"] == "good.txt"
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    event, out = server.call([None, [_upload(server, bad)], 200])
    assert event == "error" and "bad.txt" in json.dumps(out)
    assert "gradio" not in json.dumps(out) and str(server.tmp) not in json.dumps(out)


def test_download_files_do_not_pile_up(server):
    for i in range(24):
        event, out = server.call([f"标题{i}\n北京今天召开第{i}次会议。", None, 100])
        assert event == "complete"
    roots = list(server.tmp.glob("summarizer-downloads-*"))
    assert len(roots) == 1
    assert len([p for p in roots[0].iterdir() if p.is_dir()]) <= 16


def test_the_longest_allowed_text_is_bounded_and_others_are_still_served(server):
    big = "标题\n" + "北京召开会议。" * 7142  # 49,995 characters, the limit is 50,000
    results: dict[str, tuple] = {}

    def go(name, text):
        t0 = time.time()
        results[name] = (*server.call([text, None, 200]), time.time() - t0)

    threads = [threading.Thread(target=go, args=("big", big)), threading.Thread(target=go, args=("small", "短讯\n北京晴。"))]
    for t in threads:
        t.start()
        deadline = time.time() + 60
        while time.time() < deadline and t is threads[0] and _queue(server)["running"] == 0:
            time.sleep(0.05)  # the big one holds the model before the small one comes
    for t in threads:
        t.join(120)
    assert results["big"][0] == "complete" and results["small"][0] == "complete"
    assert results["small"][2] < 60
    assert server.rss_mb() < 1500


def test_thirty_concurrent_requests_are_all_served(server):
    outcomes: list[str] = []

    def go(i):
        outcomes.append(server.call([f"标题{i}\n上海今天召开第{i}次会议。", None, 100])[0])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert outcomes.count("complete") == 30


def test_text_over_the_limit_gets_a_plain_message(server):
    event, out = server.call(["北" * 50_001, None, 200])
    assert event == "error" and "the limit is 50,000" in json.dumps(out, ensure_ascii=False)


def test_upload_over_the_cap_is_413(server, tmp_path):
    import httpx

    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (6 * 1024 * 1024))
    with open(big, "rb") as f:
        r = httpx.post(server.url + "/gradio_api/upload", files={"files": ("big.txt", f)}, timeout=60)
    assert r.status_code == 413


def test_default_bind_is_loopback(server):
    assert f"http://127.0.0.1:{server.port}" in server.log.read_text()


def test_auth_is_required_and_failed_logins_are_throttled(tmp_path):
    import httpx

    srv = Server(tmp_path / "auth", auth="alice:s3cret")
    try:
        assert httpx.post(srv.url + "/gradio_api/call/process", json={"data": ["北京。", None, 100]}).status_code == 401
        codes = [httpx.post(srv.url + "/login", data={"username": "alice", "password": f"wrong{i}"}).status_code
                 for i in range(8)]
        assert codes[:5] == [400] * 5 and codes[5:] == [429] * 3
        blocked = httpx.post(srv.url + "/login", data={"username": "alice", "password": "s3cret"})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        # Another client (another address on the loopback) is not blocked by the first one's failures.
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        assert other.post(srv.url + "/login", data={"username": "alice", "password": "s3cret"}).status_code == 200
    finally:
        srv.stop()


def _queue(srv) -> dict:
    with urllib.request.urlopen(srv.url + "/health", timeout=10) as r:
        return json.load(r)["queue"]


def test_sigterm_stops_the_server_within_seconds_even_mid_request(tmp_path):
    srv = Server(tmp_path / "term")
    text = "标题\n" + "".join(f"北京第{i}次会议讨论了城市发展问题。" for i in range(2500))
    t = threading.Thread(target=lambda: _quietly(srv.call, [text, None, 200]), daemon=True)
    t.start()
    deadline = time.time() + 60
    while time.time() < deadline and _queue(srv)["running"] == 0:
        time.sleep(0.05)
    assert _queue(srv)["running"] == 1 and t.is_alive()  # the request is in the middle of its work
    # Typically under a second; the bound is ten times that and more.
    assert srv.stop() < 15
    assert t.join(5) is None and not t.is_alive()
    # 128 + SIGTERM, as `run` exits, so a supervisor can tell a stop from a clean end; and no traceback.
    assert srv.proc.returncode == 143
    log = srv.log.read_text()
    assert "summarizer demo stopped" in log and "Traceback" not in log and "CancelledError" not in log
    assert not list(srv.tmp.glob("summarizer-downloads-*"))


def test_ctrl_c_stops_the_server_with_130(tmp_path):
    srv = Server(tmp_path / "int")
    srv.proc.send_signal(signal.SIGINT)
    srv.proc.wait(timeout=30)
    # As `run` exits after Ctrl-C (the README says so); it returned 0 before.
    assert srv.proc.returncode == 130
    assert "summarizer demo stopped" in srv.log.read_text()


def _quietly(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass


# ---------------------------------------------------------------- in a browser, with the real 0.5B model

@pytest.fixture(scope="module")
def model_server(tmp_path_factory):
    port = free_port()
    env = clean_env()
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"  # test logs stay out of the repository
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--port", str(port), "--config", "small",
                             "--preload"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
        assert proc.poll() is None, log_path.read_text()
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (Playwright's sync API allows one running instance per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(model_server, browser):
    # Reduced motion keeps the page still while a job runs; with Gradio's animations Chromium's software
    # compositor took most of a core from the model (the seed ran past 25 minutes on 2 cores).
    pg = browser.new_page(viewport={"width": 1400, "height": 1800}, reduced_motion="reduce")
    pg.goto(model_server)
    pg.wait_for_selector("#run-button", timeout=60_000)
    yield pg
    pg.close()


def _value(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first.input_value()


def _wait_value(page, elem_id: str, previous: str = "", timeout: float = 1500) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = _value(page, elem_id)
        if v and v != previous:
            return v
        page.wait_for_timeout(500)
    raise AssertionError(f"#{elem_id} never filled")


@pytest.mark.model
@pytest.mark.browser
def test_paste_seed_and_see_summary_and_translation(page):
    page.locator("#article-input textarea").fill(SEED.read_text(encoding="utf-8"))
    page.click("#run-button")
    summary = _wait_value(page, "summary-zh")
    assert page.evaluate("document.getAnimations().length") == 0  # the running job's page is still
    assert han_ratio(summary) > 0.6 and len(summary) <= 200
    assert _value(page, "title-out") == "北京市扎实开展“不忘初心、牢记使命”主题教育"
    # Streaming: the first paragraph's English is on the page while the English summary, translated last, is not.
    deadline = time.time() + 1500
    while time.time() < deadline:
        table = page.locator("#side-by-side").inner_text()
        if re.search(r"\b(?!English\b)[A-Za-z]{4,}\b", table):
            break
        page.wait_for_timeout(200)
    first_english_at = time.time()
    assert _value(page, "summary-en") == "", "the whole article was done before its first paragraph was shown"
    _wait_value(page, "summary-en")
    assert time.time() - first_english_at > 5  # the rest took a while: it really came paragraph by paragraph
    title_en = _value(page, "title-en")
    assert title_en and not han_chars(title_en) and "Beijing" in title_en
    page.wait_for_timeout(500)
    table = page.locator("#side-by-side").inner_text()
    assert "党中央召开" in table and "Beijing" in table  # the table renders its first rows; numbers are checked via the API tests
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-seed.png"), full_page=True)


@pytest.mark.model
@pytest.mark.browser
def test_empty_upload_shows_error_and_app_keeps_serving(page, tmp_path, model_server):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    page.locator("#article-input textarea").fill("")
    page.set_input_files("#file-input input[type=file]", str(empty))
    page.wait_for_timeout(1000)
    page.click("#run-button")
    page.wait_for_selector("text=/empty/", timeout=60_000)
    assert "empty.txt" in page.content()
    with urllib.request.urlopen(model_server, timeout=5) as r:
        assert r.status == 200


@pytest.mark.model
@pytest.mark.browser
def test_markup_in_an_article_never_runs(page):
    page.reload()
    page.wait_for_selector("#run-button")
    page.locator("#article-input textarea").fill(XSS_ARTICLE)
    page.click("#run-button")
    summary = _wait_value(page, "summary-zh")
    assert han_ratio(summary) > 0.3 and "window.__x" not in summary.replace("<script>", "")
    page.wait_for_timeout(1000)
    assert page.evaluate("typeof window.__x") == "undefined"
    assert page.evaluate("typeof window.__y") == "undefined"
    assert "window.__x=1" in page.locator("#side-by-side").inner_text()  # shown as text
    page.screenshot(path=str(ARTIFACTS / "demo-xss.png"), full_page=True)


@pytest.mark.model
@pytest.mark.browser
def test_gradio_client_gets_the_python_api_shape(model_server):
    from gradio_client import Client

    client = Client(model_server, verbose=False)
    out = client.predict("短讯标题\n今天北京晴，气温30度。\n市民外出游玩。", None, 80, api_name="/process")
    records = out[-1]
    assert isinstance(records, list) and len(records) == 1
    rec = records[0]
    expected = set(ArticleResult(article=clean_article(SEED)).to_dict())
    assert set(rec) == expected
    assert rec["article"]["title"] == "短讯标题" and len(rec["paragraphs_en"]) == 2
    assert han_ratio(rec["summary_zh"]) > 0.5
    assert Path(out[8][0]).suffix in (".json", ".md")


def _metric(server: str, name: str) -> float:
    with urllib.request.urlopen(server + "metrics", timeout=10) as r:
        text = r.read().decode()
    (line,) = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


@pytest.mark.model
@pytest.mark.browser
def test_stop_cancels_the_job_and_frees_the_model(page, model_server):
    # Proof from the server's own counters, not from a field that would be empty anyway: after Stop the model's
    # request is cancelled in the worker (the cancelled count goes up), no token is generated any more (the count
    # stays still over the next seconds), the article's English never completes, and a second article then runs.
    page.reload()
    page.wait_for_selector("#run-button")
    page.locator("#article-input textarea").fill(SEED.read_text(encoding="utf-8"))
    cancelled0 = _metric(model_server, "summarizer_model_cancelled_requests")
    page.click("#run-button")
    first_summary = _wait_value(page, "summary-zh")
    # The summary is shown: after ~1.5 s of finding the seed's names, the translation's calls run (a paragraph at a
    # time in the demo, each several seconds on the 0.5B).
    page.wait_for_timeout(4000)
    page.click("#stop-button")
    deadline = time.time() + 600
    while time.time() < deadline and _metric(model_server, "summarizer_model_cancelled_requests") == cancelled0:
        page.wait_for_timeout(200)
    assert _metric(model_server, "summarizer_model_cancelled_requests") > cancelled0  # the worker got the cancel
    stopped_at = _metric(model_server, "summarizer_model_output_tokens")
    page.wait_for_timeout(5000)
    assert _metric(model_server, "summarizer_model_output_tokens") == stopped_at  # nothing decodes any more
    assert _value(page, "summary-en") == ""
    page.locator("#article-input textarea").fill("短讯标题\n今天北京晴，气温30度。")
    page.click("#run-button")
    _wait_value(page, "summary-zh", previous=first_summary, timeout=600)
    deadline = time.time() + 600
    while time.time() < deadline and not _value(page, "summary-en"):
        page.wait_for_timeout(300)
    # The second article went all the way (its English summary comes last), on the model the first one left.
    assert _value(page, "summary-en") and _value(page, "title-out") == "短讯标题"
    assert _metric(model_server, "summarizer_model_output_tokens") > stopped_at


@pytest.mark.browser
def test_each_uploaded_article_joins_the_table_and_a_row_shows_it(server, browser, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("甲标题\n北京今天召开会议。会议讨论了城市发展。", encoding="utf-8")
    b.write_text("乙标题\n上海今天召开会议。会议讨论了交通问题。", encoding="utf-8")
    pg = browser.new_page(viewport={"width": 1400, "height": 1800}, reduced_motion="reduce")
    try:
        pg.goto(server.url)
        pg.wait_for_selector("#run-button", timeout=60_000)
        pg.set_input_files("#file-input input[type=file]", [str(a), str(b)])
        pg.wait_for_timeout(1500)
        pg.click("#run-button")
        deadline = time.time() + 120
        while time.time() < deadline and "乙标题" not in pg.locator("#batch-table").inner_text():
            pg.wait_for_timeout(300)
        assert "甲标题" in pg.locator("#batch-table").inner_text()
        # Each article shows as it finishes; once the batch is done the view goes back to the first. Under load the
        # last article's own update can still be on screen when its row appears (CI at 6e6e1da): wait for the end.
        deadline = time.time() + 30
        while time.time() < deadline and _value(pg, "title-out") != "甲标题":
            pg.wait_for_timeout(200)
        assert _value(pg, "title-out") == "甲标题"
        pg.locator("#batch-table").get_by_text("乙标题", exact=True).filter(visible=True).first.click()
        deadline = time.time() + 30
        while time.time() < deadline and _value(pg, "title-out") != "乙标题":
            pg.wait_for_timeout(200)
        assert _value(pg, "title-out") == "乙标题" and "上海" in _value(pg, "summary-zh")
    finally:
        pg.close()


@pytest.mark.browser
def test_api_docs_render_offline_in_a_browser(server, browser):
    pg = browser.new_page()
    try:
        pg.goto(server.url + "/docs")
        pg.wait_for_selector(".opblock", timeout=60_000)
        text = pg.locator("#swagger-ui").inner_text()
        assert "/v1/articles" in text and "/v1/articles:batch" in text and "/health" in text
    finally:
        pg.close()


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory, tiny_causal):
    """The demo on a tiny random model: its English loses every number, so a flag is certain."""
    tmp = tmp_path_factory.mktemp("tiny-serve")
    cfg = tmp / "tiny.toml"
    cfg.write_text(f'[models.llm]\nbackend = "transformers"\nmodel = "{tiny_causal}"\nbatch_size = 4\nn_ctx = 512\n'
                   '[summarize]\nmodel = "extractive"\n[translate]\nmodel = "llm"\ncontext = false\nfew_shot = []\n'
                   "number_samples = 0\n[translate.generation]\nmax_new_tokens = 8\n", encoding="utf-8")
    srv = Server(tmp / "srv", config=str(cfg))
    yield srv
    srv.stop()


@pytest.mark.browser
def test_the_sentence_view_marks_flagged_pairs_with_their_reason_and_filters_them(tiny_server, browser):
    pg = browser.new_page(viewport={"width": 1400, "height": 1800}, reduced_motion="reduce")
    try:
        pg.goto(tiny_server.url)
        pg.wait_for_selector("#run-button", timeout=60_000)
        pg.locator("#article-input textarea").fill("短讯标题\n会议召开。\n目前每天群众来电两万件左右。")
        pg.click("#run-button")
        deadline = time.time() + 300
        while time.time() < deadline and (_value(pg, "warnings") or "(working…)").startswith("(working…)"):
            pg.wait_for_timeout(300)
        assert "20,000" in _value(pg, "warnings")
        assert not pg.locator("#sentence-view").is_visible()
        pg.locator("#view-mode").get_by_text("sentences").click()
        pg.wait_for_selector("#sentence-view", state="visible", timeout=10_000)
        pg.wait_for_function("document.querySelector('#sentence-view').innerText.includes('会议召开')", timeout=10_000)
        table = pg.locator("#sentence-view").inner_text()
        # The doubt is written out beside the pair (not a colour alone), with what was lost.
        assert "目前每天群众来电两万件左右。" in table and "⚠ number_lost: 20,000" in table
        assert not pg.locator("#side-by-side").is_visible()
        pg.locator("#only-flagged input").check()
        # The first paragraph's pair (¶1, 会议召开。) passes every check: it goes; the flagged ones stay.
        pg.wait_for_function("!document.querySelector('#sentence-view').innerText.includes('¶1')", timeout=10_000)
        table = pg.locator("#sentence-view").inner_text()
        assert "⚠ number_lost: 20,000" in table and "¶2" in table and "¶1" not in table
        pg.locator("#view-mode").get_by_text("paragraphs").click()
        pg.wait_for_selector("#side-by-side", state="visible", timeout=10_000)
    finally:
        pg.close()


def test_the_warnings_box_says_the_step_the_parts_done_and_the_time_left():
    # Issue 47: the demo showed only "(working…)" for 150 s.


    from summarizer import clean_article
    from summarizer.app import StepLine
    from summarizer.records import ArticleResult

    art = clean_article("标题\n第一段。\n第二段。\n第三段。")
    line = StepLine()
    at = lambda step: line(ArticleResult(article=art, step=step))  # noqa: E731
    assert at(None) == "(working…)"
    assert at(("the Chinese summary", 0, 1)) == "(working…) the Chinese summary"
    assert at(("translating the title", 0, 5)) == "(working…) translating the title · 0 of 5 parts done"
    time.sleep(0.3)
    shown = at(("translating the paragraph 1", 1, 5))
    assert shown.startswith("(working…) translating the paragraph 1 · 1 of 5 parts done · about ") and "s left" in shown
    assert "s left" in at(("checks and retries of the paragraph 1", 1, 5))
