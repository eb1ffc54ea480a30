"""The answer memory (issue 47): greedy answers kept in SQLite and never paid for twice, bounded, shared by
processes, set aside when unreadable; through the pipeline, the CLI and, with the 0.5B, the whole article."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import subprocess
import sys
import threading

import pytest

from summarizer.config import GenerationOptions, load_config
from summarizer.memory import AnswerMemory, request_key
from summarizer.models import ModelInfo
from summarizer.pipeline import Pipeline

from conftest import CLI, ROOT, SEED, CountingGenerator, clean_env, records

# No number: the fake's English would lose it, and the repair's last try for a lost number is a sampled draw.
ARTICLE = "北京召开会议\n北京市今天召开会议，讨论城市发展问题。\n会议决定在北京新建地铁线路。"


class Known(CountingGenerator):
    """A fake model with a file hash, answering each request with a digest of it, so answers differ by request."""

    def __init__(self, sha: str = "ab" * 32):
        super().__init__()
        self.info = ModelInfo(name="fake", backend="test", sha256=sha)

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        self.calls += len(requests)
        return [f"Beijing held a meeting {abs(hash(json.dumps(r, ensure_ascii=False))) % 997}." for r in requests]


def _pipe(tmp_path, gen, **over) -> Pipeline:
    cfg = load_config("small", {"memory.enabled": True, "memory.path": str(tmp_path / "answers.sqlite3"), **over},
                      environ={})
    return Pipeline(cfg, generators={"llm": gen})


def _without_timings(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "timings"}


def test_the_same_article_twice_asks_the_model_once_and_gives_the_same_record(tmp_path):
    gen = Known()
    first = _pipe(tmp_path, gen).process(ARTICLE).to_dict()
    asked = gen.calls
    assert asked > 0
    pipe = _pipe(tmp_path, gen)
    hits = pipe.memory.hits
    second = pipe.process(ARTICLE).to_dict()
    assert gen.calls == asked  # nothing went to the model
    assert pipe.memory.hits - hits >= asked
    assert _without_timings(second) == _without_timings(first)


def test_one_changed_paragraph_sends_only_what_depends_on_it(tmp_path):
    gen = Known()
    _pipe(tmp_path, gen, tasks=["translation"]).process(ARTICLE)
    asked = gen.calls
    changed = ARTICLE.replace("新建地铁线路", "新建公交线路")
    _pipe(tmp_path, gen, tasks=["translation"]).process(changed)
    assert 1 <= gen.calls - asked <= 2  # the changed paragraph (and its one retry at most); the title is remembered


def test_another_model_file_or_another_draw_is_never_answered_from_memory(tmp_path):
    opts = GenerationOptions()
    request = [{"role": "user", "content": "北京"}]
    assert request_key("ab" * 32, request, opts, False) != request_key("cd" * 32, request, opts, False)
    assert request_key("ab" * 32, request, opts, False) != request_key("ab" * 32, request, opts, True)
    assert request_key(None, request, opts, False) is None  # a file of unknown content
    draw = dataclasses.replace(opts, temperature=0.7, seed=1)
    # A draw is remembered by its seed: the same draw, never the greedy answer or another seed's.
    assert request_key("ab" * 32, request, draw, False) not in (
        request_key("ab" * 32, request, opts, False), request_key("ab" * 32, request, dataclasses.replace(draw, seed=2),
                                                                  False))
    gen = Known()
    _pipe(tmp_path, gen).process(ARTICLE)
    other = Known(sha="cd" * 32)
    _pipe(tmp_path, other).process(ARTICLE)
    assert other.calls == gen.calls


def test_the_memory_is_bounded_by_bytes_and_keeps_the_recently_used(tmp_path):
    mem = AnswerMemory(tmp_path / "m.sqlite3", max_bytes=20_000)
    for i in range(200):
        mem.put(f"key{i:04d}", "x" * 500)
        if i % 10 == 0:
            assert mem.get("key0000") is not None  # used again and again: kept
    stats = mem.stats()
    assert stats["bytes"] <= 20_000 and stats["entries"] < 200
    assert mem.get("key0000") is not None and mem.get("key0001") is None and mem.get("key0199") is not None
    assert mem.clear() == stats["entries"] and mem.stats()["entries"] == 0


def test_an_unreadable_file_is_set_aside_and_a_new_one_started(tmp_path, caplog):
    path = tmp_path / "answers.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="summarizer"):
        mem = AnswerMemory(path, max_bytes=10_000)
    assert "cannot be read" in caplog.text
    assert [p.name.split("-")[0] for p in tmp_path.glob("answers.sqlite3.unreadable-*")] == ["answers.sqlite3.unreadable"]
    mem.put("k", "answer")
    assert mem.get("k") == "answer"


def test_several_processes_share_one_file(tmp_path):
    path = tmp_path / "shared.sqlite3"
    code = ("import sys; from summarizer.memory import AnswerMemory; m = AnswerMemory(sys.argv[1], 10**6)\n"
            "for i in range(300): m.put(f'{sys.argv[2]}{i}', 'answer %d' % i)\n")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(path), tag]) for tag in ("a", "b")]
    mem = AnswerMemory(path, 10**6)
    stop = threading.Event()
    threading.Thread(target=lambda: [mem.put(f"c{i}", "x") for i in range(300)], daemon=True).start()
    assert all(w.wait(60) == 0 for w in writers)
    stop.set()
    assert mem.get("a299") == "answer 299" and mem.get("b0") == "answer 0"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_cli_shows_and_clears_the_memory(tmp_path):
    env = {**clean_env(), "SUMMARIZER_MEMORY__PATH": str(tmp_path / "m.sqlite3")}
    AnswerMemory(tmp_path / "m.sqlite3", 10**6).put("k", "v")
    run = lambda *a: subprocess.run([*CLI, "memory", *a], cwd=ROOT, capture_output=True, text=True, env=env)  # noqa: E731
    stats = json.loads(run("stats").stdout)
    assert stats["entries"] == 1 and stats["path"].endswith("m.sqlite3") and stats["enabled"] is False
    assert "cleared 1 answer(s)" in run("clear").stdout
    assert json.loads(run("stats").stdout)["entries"] == 0


@pytest.mark.model
@pytest.mark.slow
def test_the_seed_a_second_time_through_the_cli_asks_the_model_nothing_and_writes_the_same_record(tmp_path):
    env = {**clean_env(), "SUMMARIZER_MEMORY__ENABLED": "true", "SUMMARIZER_MEMORY__PATH": str(tmp_path / "m.sqlite3")}
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        done = subprocess.run([*CLI, "run", str(SEED), "-o", str(out), "--config", "small"], cwd=ROOT,
                              capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0, done.stderr
        outs.append((records(out)[0], done.stderr))
    (first, err1), (second, err2) = outs
    assert "0 model request(s) answered from it" in err1
    assert ", 0 asked of the model" in err2, err2
    assert _without_timings(second) == _without_timings(first)
    # --no-memory asks the model again.
    out = tmp_path / "out-no-memory"
    done = subprocess.run([*CLI, "run", str(SEED), "-o", str(out), "--config", "small", "--no-memory"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0 and "answer memory" not in done.stderr


@pytest.mark.model
@pytest.mark.slow
def test_a_rest_clients_retry_is_answered_from_the_memory_and_counted_in_metrics(tmp_path):
    import httpx

    from conftest import Server

    def metric(srv, name):
        (line,) = [x for x in httpx.get(srv.url + "/metrics", timeout=10).text.splitlines() if x.startswith(name + " ")]
        return float(line.split()[1])

    srv = Server(tmp_path / "srv", config="small", env={"SUMMARIZER_MEMORY__ENABLED": "true",
                                                       "SUMMARIZER_MEMORY__PATH": str(tmp_path / "m.sqlite3"),
                                                       "SUMMARIZER_LIMITS__API_REQUESTS_PER_MINUTE": "0"})
    try:
        first = httpx.post(srv.url + "/v1/articles", json={"text": ARTICLE}, timeout=600)
        calls = metric(srv, "summarizer_model_calls")
        assert first.status_code == 200 and calls > 0 and metric(srv, "summarizer_memory_hits") == 0
        again = httpx.post(srv.url + "/v1/articles", json={"text": ARTICLE}, timeout=600)
        assert again.status_code == 200 and _without_timings(again.json()) == _without_timings(first.json())
        assert metric(srv, "summarizer_model_calls") == calls  # the retry cost the model nothing
        assert metric(srv, "summarizer_memory_hits") > 0 and metric(srv, "summarizer_memory_misses") > 0
    finally:
        srv.stop()
