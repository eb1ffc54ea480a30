"""`summarizer run --engine ray` on a local 2-CPU Ray instance, against the local engine."""

from __future__ import annotations

import json
import os
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


@pytest.mark.data
def test_ray_engine_matches_local_engine(inputs, tmp_path):
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    p_local = _run("seeds/", str(inputs), "-o", str(local), "--config", "extractive")
    p_ray = _run("seeds/", str(inputs), "-o", str(ray_out), "--config", "extractive", "--engine", "ray",
                 "--num-workers", "2")
    assert p_local.returncode == p_ray.returncode == 2, p_ray.stderr[-3000:]
    a, b = _records(local / "results.jsonl"), _records(ray_out / "results.jsonl")
    assert set(a) == set(b) and len(b) == 12
    assert len((ray_out / "results.jsonl").read_text(encoding="utf-8").splitlines()) == 12  # no duplicates
    for k in a:
        assert set(a[k]) == set(b[k])
        if "error" in a[k]:
            assert a[k]["error"] == b[k]["error"] and "bad.txt" in b[k]["source"]
        else:
            assert a[k]["summary_zh"] == b[k]["summary_zh"] and a[k]["article"] == b[k]["article"]
    assert sum("error" in r for r in b.values()) == 1


@pytest.mark.data
def test_resume_counts_earlier_failures_on_ray_as_locally(inputs, tmp_path):
    out = tmp_path / "out"
    assert _run(str(inputs), "-o", str(out), "--config", "extractive").returncode == 2
    p_local = _run(str(inputs), "-o", str(out), "--config", "extractive", "--resume")
    p_ray = _run(str(inputs), "-o", str(out), "--config", "extractive", "--resume", "--engine", "ray", "--num-workers", "1")
    assert p_local.returncode == p_ray.returncode == 2, p_ray.stderr[-3000:]
    assert len(_records(out / "results.jsonl")) == 11


def test_ray_does_not_get_imported_by_the_package():
    code = "import sys, summarizer, summarizer.cli, summarizer.batch, summarizer.app; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.data
def test_a_crashing_worker_is_retried_and_nothing_is_lost_or_duplicated(inputs, tmp_path):
    import ray

    from summarizer.batch import JsonlSink, discover_inputs
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


def test_a_repeated_id_gets_the_same_duplicate_record_on_ray_as_locally(tmp_path):
    # Both engines go through the batch core's duplicate filter: one id scheme everywhere.
    src = tmp_path / "dups.jsonl"
    src.write_text('{"id": "same", "text": "北京召开会议。"}\n{"id": "same", "text": "上海召开会议。"}\n'
                   '{"id": "other", "text": "广州召开会议。"}\n', encoding="utf-8")
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    p_local = _run(str(src), "-o", str(local), "--config", "extractive")
    p_ray = _run(str(src), "-o", str(ray_out), "--config", "extractive", "--engine", "ray", "--num-workers", "1")
    assert p_local.returncode == p_ray.returncode == 2, p_ray.stderr[-3000:]
    a, b = _records(local / "results.jsonl"), _records(ray_out / "results.jsonl")
    assert set(a) == set(b) and len(b) == 3
    (dup,) = [r for r in b.values() if "error" in r]
    assert dup["id"].startswith("dup-") and "duplicate id 'same'" in dup["error"] and dup == a[dup["id"]]
