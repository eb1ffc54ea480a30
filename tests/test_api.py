"""The REST API over HTTP against a running `summarizer serve` (extractive config; one end-to-end call on the real 0.5B),
its refusals (401/413/422/429/503), NDJSON streaming, health, metrics, and a schemathesis fuzz from its own OpenAPI."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conftest import Server, records, run_cli

# Real server or worker processes: seconds each, so in make test, not in make check.
pytestmark = pytest.mark.slow

SHORT = "短讯标题\n今天北京晴，气温30度。\n市民外出游玩，公园里人很多。"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    # No rate limit here: the fuzz and the other tests send many requests from one address.
    srv = Server(tmp_path_factory.mktemp("api"), env={"SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE": "0"})
    yield srv
    srv.stop()


def _post(srv: Server, path: str, body, **kw) -> httpx.Response:
    return httpx.post(srv.url + path, json=body, timeout=120, **kw)


def test_one_article_gives_the_record_the_cli_writes(api, tmp_path):
    r = _post(api, "/v1/articles", {"text": SHORT})
    assert r.status_code == 200, r.text
    got = r.json()
    out = tmp_path / "out"
    assert run_cli("run", "-", "-o", str(out), "--config", "extractive", input=SHORT).returncode == 0
    (cli,) = records(out)
    for rec in (got, cli):
        rec.pop("timings")
    assert got == cli
    assert got["article"]["title"] == "短讯标题" and got["summary_zh"]


def test_html_and_record_inputs_and_options(api):
    r = _post(api, "/v1/articles", {"html": "<script>alert(1)</script><p>北京召开会议。</p><p>讨论发展。</p>", "max_chars": 20})
    assert r.status_code == 200 and r.json()["article"]["paragraphs"] == ["北京召开会议。", "讨论发展。"]
    assert len(r.json()["summary_zh"]) <= 20
    r = _post(api, "/v1/articles", {"record": {"id": "rec-1", "title": "标题", "text": "上海召开会议。"}})
    assert r.status_code == 200 and r.json()["id"] == "rec-1"


@pytest.mark.parametrize("body, words", [
    ({}, "exactly one"),
    ({"text": "北京。", "html": "<p>北京。</p>"}, "exactly one"),
    ({"text": "   "}, "empty"),
    ({"text": "北京。", "tasks": ["dance"]}, "tasks"),
    ({"text": "北京。", "max_chars": 5}, "max_chars"),
    ({"text": "北京。", "tasks": ["translation"]}, "no translation model"),
    ({"record": {"id": {"x": 1}, "text": "北京。"}}, "id must be"),
    ({"text": "北京。", "surprise": 1}, "surprise"),
])
def test_bad_input_is_422_with_a_plain_error(api, body, words):
    r = _post(api, "/v1/articles", body)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error"} and words in r.json()["error"]


def test_too_large_is_413(api):
    assert _post(api, "/v1/articles", {"text": "北" * 50_001}).status_code == 413
    many = {"articles": [{"text": "北京。"}] * 51}
    r = _post(api, "/v1/articles:batch", many)
    assert r.status_code == 413 and "limit is 50" in r.json()["error"]
    huge = b'{"text": "' + b"a" * 9_000_000 + b'"}'
    r = httpx.post(api.url + "/v1/articles", content=huge, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413


def test_batch_streams_ndjson_one_record_per_article(api):
    body = {"articles": [{"text": SHORT}, {"text": "  "}, {"record": {"id": "r2", "text": "广州召开会议。"}}]}
    with httpx.stream("POST", api.url + "/v1/articles:batch", json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert len(lines) == 3
    assert lines[0]["article"]["title"] == "短讯标题"
    # The batch core's error ids, as `summarizer run` gives them: a hash of the input, the record's own id.
    assert lines[1]["id"].startswith("err-") and "empty" in lines[1]["error"] and lines[1]["kind"] == "ArticleError"
    assert lines[2]["id"] == "r2"


def test_a_batch_is_the_cli_job_duplicates_and_error_ids_included(api, tmp_path):
    texts = [f"标题{i}\n北京第{i}次会议讨论了城市发展问题。" for i in range(5)]
    inputs = [{"id": f"a{i}", "text": t} for i, t in enumerate(texts)] + [{"id": "a1", "text": "上海。"}]
    body = {"articles": [{"record": r} for r in inputs] + [{"text": "  "}]}
    with httpx.stream("POST", api.url + "/v1/articles:batch", json=body, timeout=120) as r:
        got = [json.loads(line) for line in r.iter_lines() if line]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in inputs), encoding="utf-8")
    assert run_cli("run", str(src), "-o", str(tmp_path / "out"), "--config", "extractive").returncode == 2
    cli = records(tmp_path / "out")
    assert [g["id"] for g in got[:5]] == [c["id"] for c in cli[:5]]
    # A duplicate's id hashes its source (a JSONL line for the CLI, none over HTTP), so it is stable across runs.
    assert got[5]["id"].startswith("dup-") and cli[5]["id"].startswith("dup-")
    assert "duplicate id 'a1'" in got[5]["error"] and "duplicate id 'a1'" in cli[5]["error"]
    assert got[6]["id"].startswith("err-") and [g["summary_zh"] for g in got[:5]] == [c["summary_zh"] for c in cli[:5]]


def test_health_metrics_and_docs(api):
    h = httpx.get(api.url + "/health").json()
    assert h["status"] == "ok" and h["config"] == "extractive" and h["model_loaded"] is True
    assert h["queue"] == {"running": 0, "waiting": 0, "concurrency": 1, "max_waiting": 16}
    _post(api, "/v1/articles", {"text": SHORT})
    m = httpx.get(api.url + "/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    text = m.text
    for name in ("summarizer_http_requests_total", "summarizer_articles_total", "summarizer_stage_seconds_bucket",
                 "summarizer_model_calls", "summarizer_errors_total", "summarizer_queue_waiting"):
        assert name in text, name
    assert 'summarizer_articles_total{outcome="ok"}' in text
    docs = httpx.get(api.url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(api.url + "/openapi.json").json()
    assert {"/v1/articles", "/v1/articles:batch", "/health", "/metrics"} <= set(spec["paths"])
    assert {"ArticleIn", "ResultOut", "ArticleOut", "ErrorOut"} <= set(spec["components"]["schemas"])


def test_the_demo_is_still_served_beside_the_api(api):
    event, out = api.call([SHORT, None, 100])
    assert event == "complete" and out[0] == "短讯标题"


def test_api_keys_and_the_rate_limit(tmp_path):
    srv = Server(tmp_path / "keys", env={"SUMMARIZER_API_KEYS": "k-one,k-two",
                                         "SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE": "3"})
    try:
        assert _post(srv, "/v1/articles", {"text": SHORT}).status_code == 401
        bad = _post(srv, "/v1/articles", {"text": SHORT}, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        ok = {"Authorization": "Bearer k-one"}
        assert [_post(srv, "/v1/articles", {"text": SHORT}, headers=ok).status_code for _ in range(3)] == [200] * 3
        limited = _post(srv, "/v1/articles", {"text": SHORT}, headers=ok)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        # The limit is per key.
        assert _post(srv, "/v1/articles", {"text": SHORT}, headers={"Authorization": "Bearer k-two"}).status_code == 200
    finally:
        srv.stop()


def test_a_password_protected_demo_does_not_leave_the_api_open(tmp_path):
    srv = Server(tmp_path / "locked", auth="alice:s3cret")
    try:
        r = _post(srv, "/v1/articles", {"text": SHORT})
        assert r.status_code == 401 and "SUMMARIZER_API_KEYS" in r.json()["error"]
    finally:
        srv.stop()


def test_a_full_queue_is_503_with_retry_after(tmp_path):
    srv = Server(tmp_path / "busy", env={"SUMMARIZER_LIMITS__QUEUE_SIZE": "0",
                                         "SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE": "0"})
    try:
        slow = "标题\n" + "".join(f"北京第{i}次会议讨论了城市发展问题。" for i in range(300))
        # Forty different articles (the same text twice is a duplicate id) hold the one slot for several seconds.
        body = {"articles": [{"text": f"{slow}{i}"} for i in range(40)]}
        holder = threading.Thread(target=lambda: _post(srv, "/v1/articles:batch", body).read(), daemon=True)
        holder.start()
        deadline = time.time() + 30
        while time.time() < deadline and httpx.get(srv.url + "/health").json()["queue"]["running"] == 0:
            time.sleep(0.05)
        r = _post(srv, "/v1/articles", {"text": SHORT})
        assert r.status_code == 503 and r.headers["retry-after"] == "30"
        holder.join(120)
        assert _post(srv, "/v1/articles", {"text": SHORT}).status_code == 200
    finally:
        srv.stop()


def test_fuzz_from_the_openapi_schema(api):
    # No 500s, and every response matches the schema (status codes, content types, bodies), for every route.
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 4
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            # Not "schema-valid data must be accepted": some valid JSON is no article (text that cleans to
            # nothing, two inputs at once, a task this config lacks) and gets a documented 422.
            case.call_and_validate(timeout=120, excluded_checks=[positive_data_acceptance])

        fuzz()


@pytest.mark.model
def test_end_to_end_with_the_real_small_model(tmp_path):
    srv = Server(tmp_path / "model", config="small")
    try:
        r = _post(srv, "/v1/articles", {"text": SHORT})
        assert r.status_code == 200, r.text
        rec = r.json()
        assert len(rec["paragraphs_en"]) == 2 and all(p and p.isascii() for p in rec["paragraphs_en"])
        assert rec["model"]["translation"]["backend"] == "llama_cpp"
        # The sentence pairs over HTTP: the title, both paragraphs and the summary, each Chinese sentence of the
        # source once, beside the English its passage was given, with flags from the vocabulary only.
        from summarizer.flags import FLAGS

        slots = [(p["slot"], p["index"]) for p in rec["sentences"]]
        assert set(slots) == {("title", 0), ("para", 0), ("para", 1), ("summary", 0)}, slots
        for p in rec["sentences"]:
            zh = "".join(pair["zh"] for pair in p["pairs"])
            english = " ".join(pair["en"] for pair in p["pairs"])
            if p["slot"] == "para":
                assert zh == rec["article"]["paragraphs"][p["index"]]
                assert english == rec["paragraphs_en"][p["index"]]
            assert all(f["kind"] in FLAGS for pair in p["pairs"] for f in pair["flags"])
        assert {f["where"] for f in rec["findings"]} <= {"title", "para", "summary", "summary_zh", "article"}
        # The article's term table over HTTP: 北京 has one English, from the dictionary (issue 37).
        assert {"zh": "北京", "en": "Beijing", "source": "dictionary"} in rec["terms"], rec["terms"]
        assert httpx.get(srv.url + "/health").json()["model_loaded"] is True
        assert "summarizer_model_calls " in httpx.get(srv.url + "/metrics").text
    finally:
        srv.stop()


def test_the_routes_are_module_functions_that_can_be_called_alone():
    from summarizer.api import router
    from summarizer.bodies import parse_batch
    from summarizer.config import LimitsConfig

    assert {r.path for r in router.routes} == {"/v1/articles", "/v1/articles:batch", "/health", "/metrics"}
    assert parse_batch(b'{"articles": [{"text": "x"}]}', LimitsConfig(max_files=50)) == [{"text": "x"}]
    for body, status in ((b'{"articles": []}', 422), (b'{"articles": [1]}', 422), (b"[]", 422),
                         (b'{"articles": [{}, {}]}', 413)):
        with pytest.raises(Exception) as refused:
            parse_batch(body, LimitsConfig(max_files=1))
        assert refused.value.status == status, body


def test_metrics_and_statuses_come_from_fields_never_from_message_text():
    # Every message below is worded as no code expects: the counts and the status must still be right.
    from prometheus_client import generate_latest

    from summarizer import ArticleResult, ErrorRecord, clean_article, load_pipeline
    from summarizer.metrics import Metrics
    from summarizer.workqueue import WorkQueue

    metrics = Metrics(load_pipeline("extractive"), WorkQueue())
    article = clean_article("北京召开会议。")
    metrics.observe(ArticleResult(article=article, notes=("worded in any way at all",), retried_segments=3))
    metrics.observe(ErrorRecord(id="x", source=None, error="rephrased: far too big", kind="InputTooLarge"))
    text = generate_latest(metrics.registry).decode()
    assert "summarizer_retried_segments_total 3.0" in text
    assert 'summarizer_errors_total{kind="InputTooLarge"} 1.0' in text


def test_sentences_are_in_the_record_unless_asked_not_to_and_the_schema_names_the_flags(api):
    with_pairs = _post(api, "/v1/articles", {"text": SHORT}).json()
    assert with_pairs["sentences"] == []  # extractive: no translation, no pairs
    without = _post(api, "/v1/articles?sentences=false", {"text": SHORT}).json()
    assert "sentences" not in without and without["summary_zh"] == with_pairs["summary_zh"]
    with httpx.stream("POST", api.url + "/v1/articles:batch?sentences=false", json={"articles": [{"text": SHORT}]},
                      timeout=60) as r:
        (line,) = [json.loads(x) for x in r.iter_lines() if x]
    assert "sentences" not in line
    spec = httpx.get(api.url + "/openapi.json").json()
    kinds = spec["components"]["schemas"]["FlagOut"]["properties"]["kind"]
    assert {"number_lost", "name_missing", "name_unsupported", "repaired", "sampled", "weekday_added",
            "description", "term_inconsistent", "summary_unsupported", "office_wrong",
            "term_unverified"} <= set(kinds["enum"])
    assert "number_lost: a number" in kinds["description"]
    sources = spec["components"]["schemas"]["TermOut"]["properties"]["source"]["enum"]
    assert sources == ["glossary", "dictionary", "gazetteer", "office table", "model"]
    assert with_pairs["terms"] == []  # extractive: no translation, no terms


def test_the_demo_and_the_api_refuse_one_article_with_the_same_limits_and_words():
    # One shared function (serving) holds the size limits and the failure -> status mapping of a single request.
    import gradio as gr

    from summarizer import ArticleError, InputTooLarge, load_pipeline
    from summarizer.app import make_handler
    from summarizer.models import Cancelled, TimeBudgetExceeded
    from summarizer.runtime import ModelCrashed
    from summarizer.serving import Refused, check_text, refusal, status_for

    pipe = load_pipeline("extractive", {"limits.max_request_chars": 100})
    big = "北京召开会议。" * 20
    with pytest.raises(Refused) as api_side:
        check_text(big, pipe.config.limits)
    assert api_side.value.status == 413 and api_side.value.kind == "InputTooLarge"
    with pytest.raises(gr.Error) as demo_side:
        next(make_handler(pipe)(big, None, None))
    assert api_side.value.message in str(demo_side.value) and "the limit is 100" in api_side.value.message
    assert [status_for(e) for e in (InputTooLarge("x"), ArticleError("x"), TimeBudgetExceeded("x"), Cancelled("x"),
                                    ModelCrashed("x"), RuntimeError("x"))] == [413, 422, 504, 499, 503, 500]
    assert refusal(ArticleError("the file is empty")).message == "the file is empty"
    assert refusal(RuntimeError("boom")).kind == "RuntimeError"
