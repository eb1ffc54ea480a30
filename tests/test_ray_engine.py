"""`summarizer run --engine ray` on a local 2-CPU Ray instance, against the local engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, crawl_files

pytestmark = pytest.mark.ray


def _records(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in (json.loads(x) for x in path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ray-in")
    for i, f in enumerate(crawl_files()[:10]):
        shutil.copy(f, d / f"{i:02d}.txt")
    (d / "bad.txt").write_bytes(os.urandom(1024))
    return d


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "summarizer.cli", "run", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=clean_env())


def _summary(stderr: str, out: Path) -> tuple[list[str], list[str]]:
    """What a user reads on stderr, in an order both engines share: the error and final lines, and each article's
    progress line as (id, status) (Ray finishes articles in its own order, and the rates differ). The lines of the
    steps inside the articles (`[1/14] the Chinese summary · 0s in this step`) are the local engine's alone: Ray's
    actors run their pipelines in other processes."""
    lines = [x.replace(str(out), "OUT") for x in stderr.splitlines()]
    said = sorted(x for x in lines if x.startswith(("error: ", "summarizer: ", "wrote ")))
    progress = sorted(re.sub(r"^\[\d+/\d+\] (\S+) (ok|error) .*", r"\1 \2", x) for x in lines
                      if re.match(r"\[\d+/\d+\] \S+ (ok|error) ", x))
    return said, progress


@pytest.mark.data
def test_ray_and_local_give_the_same_records_exit_codes_and_stderr(inputs, tmp_path):
    # One bad file, a duplicate id, --resume after a cut-short run, and a model that cannot load: the batch core
    # decides each of them for both engines.
    (tmp_path / "dups.jsonl").write_text('{"id": "same", "text": "北京召开会议。"}\n{"id": "same", "text": "上海召开会议。"}\n',
                                         encoding="utf-8")
    args = ("seeds/", str(inputs), str(tmp_path / "dups.jsonl"), "--config", "extractive")
    runs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        first = _run(*args, "-o", str(out), "--engine", engine, "--num-workers", "2")
        lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
        records = _records(out / "results.jsonl")
        # Cut the results short (as a kill would), keeping the bad file's record and five results, and resume.
        keep = {k for k, r in records.items() if "bad.txt" in (r.get("source") or "")}
        keep |= set(sorted(k for k, r in records.items() if "error" not in r)[:5])
        kept = [x for x in lines if json.loads(x)["id"] in keep]
        (out / "results.jsonl").write_text("".join(x + "\n" for x in kept), encoding="utf-8")
        resumed = _run(*args, "-o", str(out), "--engine", engine, "--num-workers", "2", "--resume")
        broken = _run(*args, "-o", str(tmp_path / f"{engine}-broken"), "--engine", engine, "--config", "small",
                      "--set", "models.llm.model=/nonexistent/x.gguf")
        runs[engine] = (first, records, resumed, _records(out / "results.jsonl"), broken, out)
    (a1, ra, a2, rra, a3, oa), (b1, rb, b2, rrb, b3, ob) = runs["local"], runs["ray"]
    assert a1.returncode == b1.returncode == 2, b1.stderr[-3000:]
    assert set(ra) == set(rb) and len(rb) == 14, sorted(rb)
    for k in ra:
        assert set(ra[k]) == set(rb[k])
        if "error" in ra[k]:
            assert ra[k] == rb[k]
        else:
            assert ra[k]["summary_zh"] == rb[k]["summary_zh"] and ra[k]["article"] == rb[k]["article"]
            assert set(ra[k]["timings"]) == set(rb[k]["timings"]) and rb[k]["timings"]["total"] >= rb[k]["timings"]["clean"]
    # The cleaning time the core measured is in the records of both engines.
    assert all(sum(r["timings"]["clean"] for r in recs.values() if "error" not in r) > 0 for recs in (ra, rb))
    errors = [r for r in rb.values() if "error" in r]
    assert sorted(r["kind"] for r in errors) == ["ArticleError", "ArticleError"]
    assert any("bad.txt" in r["source"] for r in errors) and any("duplicate id 'same'" in r["error"] for r in errors)
    assert _summary(a1.stderr, oa) == _summary(b1.stderr, ob)
    # Resumed: the earlier failure still counts (exit 2), the rest is redone once, nothing is written twice.
    assert a2.returncode == b2.returncode == 2, b2.stderr[-3000:]
    assert set(rra) == set(rrb) == set(ra)
    assert len((ob / "results.jsonl").read_text(encoding="utf-8").splitlines()) == 14
    assert _summary(a2.stderr, oa) == _summary(b2.stderr, ob)
    # A model that cannot load ends the job with its message and exit 1 on both, not a record per article.
    assert a3.returncode == b3.returncode == 1, b3.stderr[-3000:]
    said_a, said_b = _summary(a3.stderr, tmp_path / "local-broken"), _summary(b3.stderr, tmp_path / "ray-broken")
    assert said_a == said_b and any("GGUF file not found: /nonexistent/x.gguf" in x for x in said_b[0]), said_b
    assert not (tmp_path / "ray-broken" / "results.jsonl").read_text(encoding="utf-8")


def test_ray_does_not_get_imported_by_the_package():
    code = "import sys, summarizer, summarizer.cli, summarizer.batch, summarizer.app; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.data
def test_a_crashing_worker_is_retried_and_nothing_is_lost_or_duplicated(inputs, tmp_path):
    import ray

    from summarizer.inputs import discover_inputs
    from summarizer.sink import JsonlSink
    from summarizer.pipeline import load_pipeline
    from summarizer.ray_engine import ArticleWorker, run_ray

    marker = tmp_path / "crashed-once"

    class CrashOnce(ArticleWorker):
        def __call__(self, batch):
            if not marker.exists():
                marker.write_text("x")
                os._exit(1)  # the actor process dies mid-batch
            return super().__call__(batch)

    pipe = load_pipeline("extractive")
    sink = JsonlSink(tmp_path / "out" / "results.jsonl", resume=False)
    failed = run_ray(pipe, list(discover_inputs([str(inputs)])), sink, num_workers=1, batch_size=2,
                     worker_cls=CrashOnce)
    sink.close()
    assert not ray.is_initialized()
    assert marker.exists() and failed == 1
    lines = (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [json.loads(x)["id"] for x in lines]
    assert len(ids) == 11 and len(set(ids)) == 11
