"""The batch CLI end to end, through subprocesses, on the seed and real crawl files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLI, CRAWL_BAD, ROOT, SEED, clean_env, crawl_files, records, run_cli

@pytest.fixture()
def mixed_folder(tmp_path) -> Path:
    """One good crawl file, one empty file, one binary file."""
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(crawl_files()[0], d / "good.txt")
    (d / "empty.txt").write_bytes(b"")
    (d / "binary.txt").write_bytes(os.urandom(1024))
    return d


@pytest.mark.data
@pytest.mark.model
def test_run_on_seed_and_mixed_folder_with_the_real_model(tmp_path, mixed_folder):
    out = tmp_path / "out"
    p = run_cli("run", "seeds/", str(mixed_folder), "-o", str(out), "--config", "small", "--tasks", "summary",
                "--format", "all")
    assert p.returncode == 2, p.stderr
    recs = records(out)
    results = [r for r in recs if "error" not in r]
    errors = [r for r in recs if "error" in r]
    assert len(results) == 2 and len(errors) == 2
    assert {Path(r["article"]["source"]).name for r in results} == {SEED.name, "good.txt"}
    assert all(r["summary_zh"] and len(r["summary_zh"]) <= 200 for r in results)
    messages = {Path(e["source"]).name: e["error"] for e in errors}
    assert "empty" in messages["empty.txt"] and ("binary" in messages["binary.txt"] or "decode" in messages["binary.txt"])
    assert "empty.txt" in p.stderr and "binary.txt" in p.stderr
    for name in ("results.jsonl", "results.csv", "results.md"):
        assert (out / name).stat().st_size > 0


@pytest.mark.slow
def test_jsonl_input_and_all_formats(tmp_path):
    src = tmp_path / "articles.jsonl"
    seed_lines = SEED.read_text(encoding="utf-8").split("\n")
    rows = [
        json.dumps({"id": "seed", "title": "北京主题教育", "text": "\n".join(seed_lines[4:])}, ensure_ascii=False),
        json.dumps({"id": "plain", "title": "短讯", "text": "今天北京晴。\n气温30度。"}, ensure_ascii=False),
        json.dumps({"id": "blank", "title": "空", "text": "   "}, ensure_ascii=False),
        "{not json",
    ]
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    p = run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--format", "all")
    assert p.returncode == 2, p.stderr
    recs = records(out)
    assert [r["id"] for r in recs if "error" not in r] == ["seed", "plain"]
    errors = [r for r in recs if "error" in r]
    assert len(errors) == 2 and any("not a JSON line" in e["error"] for e in errors)
    seed = next(r for r in recs if r["id"] == "seed")
    assert seed["article"]["title"] == "北京主题教育" and len(seed["article"]["paragraphs"]) == 18
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as f:
        rows_csv = list(csv.DictReader(f))
    assert [r["id"] for r in rows_csv][:2] == ["seed", "plain"] and rows_csv[0]["summary_zh"] == seed["summary_zh"]
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "## 北京主题教育" in md and "**摘要**" in md and "Error:" in md


@pytest.mark.slow
def test_all_good_input_exits_zero_and_stdin_works(tmp_path):
    out = tmp_path / "out"
    p = run_cli("run", "-", "-o", str(out), "--config", "extractive", input=SEED.read_text(encoding="utf-8"))
    assert p.returncode == 0, p.stderr
    (rec,) = records(out)
    assert rec["article"]["title"] == "北京市扎实开展“不忘初心、牢记使命”主题教育"


@pytest.mark.slow
def test_ids_are_stable_across_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("run", "seeds/", "-o", str(a), "--config", "extractive").returncode == 0
    assert run_cli("run", str(SEED), "-o", str(b), "--config", "extractive").returncode == 0
    assert records(a)[0]["id"] == records(b)[0]["id"]


def _six_articles(tmp_path) -> Path:
    d = tmp_path / "six"
    d.mkdir()
    for i, f in enumerate(crawl_files()[:6]):
        shutil.copy(f, d / f"{i}.txt")
    return d


@pytest.mark.data
@pytest.mark.model
def test_resume_after_sigkill_gives_each_article_exactly_once(tmp_path):
    src = _six_articles(tmp_path)
    out = tmp_path / "out"
    args = ["run", str(src), "-o", str(out), "--config", "small", "--tasks", "summary", "--batch-size", "1"]
    proc = subprocess.Popen([*CLI, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    jsonl = out / "results.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline:
        if jsonl.exists() and len(jsonl.read_bytes().splitlines()) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(jsonl.read_bytes().splitlines())
    assert 2 <= done_before < 6
    # A kill mid-write leaves a torn line; --resume must cut it off and redo that article.
    with open(jsonl, "ab") as f:
        f.write(b'{"id": "torn", "article": {"title": "half')
    p = run_cli(*args, "--resume")
    assert p.returncode == 0, p.stderr
    recs = records(out)
    ids = [r["id"] for r in recs]
    assert len(recs) == 6 and len(set(ids)) == 6 and "torn" not in ids
    assert all("error" not in r for r in recs)


@pytest.mark.slow
@pytest.mark.data
def test_resume_skips_done_articles_without_work(tmp_path):
    src = _six_articles(tmp_path)
    out = tmp_path / "out"
    assert run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--limit", "4").returncode == 0
    assert len(records(out)) == 4
    p = run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--resume")
    assert p.returncode == 0
    assert len(records(out)) == 6 and len({r["id"] for r in records(out)}) == 6
    assert "[2/2]" in p.stderr  # only the two missing articles were processed


@pytest.mark.data
def test_clean_subcommand_and_errors(tmp_path):
    p = run_cli("clean", str(SEED), str(CRAWL_BAD / "empty_body.txt"))
    assert p.returncode == 2
    art = json.loads(p.stdout.splitlines()[0])
    assert art["title"] == "北京市扎实开展“不忘初心、牢记使命”主题教育" and art["image_count"] == 1
    assert "no text" in p.stderr


@pytest.mark.model
def test_models_subcommand_lists_configs_and_verifies():
    p = run_cli("models", "--verify", "--model", "small")
    assert p.returncode == 0, p.stderr
    for name in ("default", "small", "extractive", "hub-cpu", "hub-gpu"):
        assert f"  {name}" in p.stdout
    assert "verified qwen2.5-coder-0.5b" in p.stdout and "sha256 ok" in p.stdout


@pytest.mark.parametrize("sub", ["run", "serve", "models", "clean", "eval", "bench"])
def test_help_for_each_subcommand(sub):
    p = run_cli(sub, "--help")
    assert p.returncode == 0 and "usage: summarizer " + sub in p.stdout


def test_unknown_config_is_a_clear_error(tmp_path):
    p = run_cli("run", str(SEED), "-o", str(tmp_path / "o"), "--config", "nope")
    assert p.returncode == 1 and "unknown config 'nope'" in p.stderr and "Traceback" not in p.stderr


def test_the_core_install_is_light_and_importing_it_loads_no_model_or_web_stack():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = " ".join(meta["dependencies"]).lower()
    for heavy in ("torch", "transformers", "gradio", "fastapi", "llama-cpp", "ray"):
        assert heavy not in core, heavy
    assert {"llm", "serve", "hub", "ray", "model", "model-small"} <= set(meta["optional-dependencies"])
    code = ("import sys, summarizer, summarizer.cli, summarizer.batch, summarizer.names, summarizer.evaluate; "
            "print(sorted(m for m in ('torch', 'transformers', 'gradio', 'fastapi', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr
