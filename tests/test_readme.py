"""The README's examples run as written: its Python example on the 0.5B, and each of its batch CLI lines either run
here (on the extractive config, in a folder of its own with the files it names) or named below with why not."""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CRAWL, ROOT, SEED, clean_env

README = (ROOT / "README.md").read_text(encoding="utf-8")
SHORT_A = "北京召开会议\n北京市委今天召开会议，研究城市更新工作。"
SHORT_B = "上海发布新规\n上海市政府发布新规，从下月起推行垃圾分类。"

# Each CLI line of the README, and how this test runs it: "extractive" (as written, on that config), or why not.
CLI_LINES = {
    "summarizer run seeds/ ../shared/eval/crawl/ -o out/ --format all": "extractive",
    "summarizer run articles.jsonl -o out/ --config small --resume": "extractive",
    "cat page.html | summarizer run - -o out/ --tasks summary": "extractive",
    "summarizer run big/ -o out/ --engine ray --num-workers 4": "tests/test_ray_engine.py runs --engine ray",
    "summarizer clean file.txt articles.jsonl": "extractive",
    "summarizer models --verify": "make test runs `summarizer models --verify --model small` before the tests",
    "summarizer eval translation data.jsonl --limit 200": "needs a translation model: tests/test_evaluate.py",
    "summarizer bench --config default --articles 21 --folder ../shared/eval/crawl/": "the 1.5B: tests/test_bench.py",
    "summarizer memory stats": "tests/test_memory.py runs `summarizer memory stats` and `clear` on a file of its own",
}


def _block(heading: str, lang: str) -> str:
    section = README.split(f"\n## {heading}\n", 1)[1]
    return section.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def _cli_lines() -> list[str]:
    return [line.split("  #", 1)[0].strip() for line in _block("Batch CLI", "bash").splitlines() if line.strip()]


def _workdir(tmp_path: Path) -> Path:
    """A folder holding what the examples name: seeds/, ../shared/eval/crawl/, articles.jsonl, page.html, file.txt."""
    work = tmp_path / "work"
    (work / "seeds").mkdir(parents=True)
    shutil.copy(SEED, work / "seeds" / SEED.name)
    crawl = tmp_path / "shared" / "eval" / "crawl"
    crawl.parent.mkdir(parents=True)
    crawl.symlink_to(CRAWL, target_is_directory=True)
    (work / "articles.jsonl").write_text(
        json.dumps({"id": "a1", "title": "北京召开会议", "text": "北京市委今天召开会议。"}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "a2", "html": "<p>上海召开会议。</p>"}, ensure_ascii=False) + "\n", encoding="utf-8")
    (work / "page.html").write_text("<html><head><title>广州召开会议</title></head><body><p>广州市委今天召开会议。</p>"
                                    "</body></html>", encoding="utf-8")
    (work / "file.txt").write_text(SHORT_A, encoding="utf-8")
    return work


def test_every_cli_line_of_the_readme_is_run_or_named():
    assert _cli_lines() == list(CLI_LINES), "the README's CLI block changed: say here how each line is tested"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("line", [k for k, v in CLI_LINES.items() if v == "extractive"])
def test_a_readme_cli_line_runs(tmp_path, line):
    work = _workdir(tmp_path)
    command = line.replace("summarizer ", f"{shlex.quote(sys.executable)} -m summarizer.cli ")
    if "--config" in command:
        command = re.sub(r"--config \S+", "--config extractive", command)
    elif " run " in command:
        command += " --config extractive"  # `clean` needs no model and takes no config
    env = dict(clean_env(), PYTHONPATH=str(ROOT))
    p = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, (line, p.stderr[-2000:])
    if " run " in line:
        results = [json.loads(x) for x in (work / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
        assert results and not any("error" in r for r in results), results[:2]
        if "--format all" in line:
            assert len(results) == 1 + len(list(CRAWL.rglob("*.txt")))
            assert (work / "out" / "results.csv").exists() and (work / "out" / "results.md").exists()
    else:
        cleaned = [json.loads(x) for x in p.stdout.splitlines()]
        assert [a["paragraphs"] for a in cleaned] == [["北京市委今天召开会议，研究城市更新工作。"], ["北京市委今天召开会议。"],
                                                      ["上海召开会议。"]]


@pytest.mark.model
def test_the_readme_python_example_runs_on_the_small_model(tmp_path):
    code = _block("Python API", "python").replace('load_pipeline("default")', 'load_pipeline("small")')
    assert 'load_pipeline("small")' in code
    work = _workdir(tmp_path)
    (work / "a.txt").write_text(SHORT_A, encoding="utf-8")
    (work / "b.txt").write_text(SHORT_B, encoding="utf-8")
    (work / "bad.bin").write_bytes(bytes(range(256)) * 8)
    env = dict(clean_env(), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert any("Cai Qi" in line or "Beijing" in line for line in lines)  # the seed's English
    records = [ast.literal_eval(line) for line in lines if line.startswith("{")]  # the example prints dicts
    assert [("error" in r) for r in records] == [False, False, True]
