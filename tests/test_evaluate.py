"""Metric wiring of `summarizer eval` on tiny datasets."""

from __future__ import annotations

import json

import pytest

from summarizer.inputs import NoInputsError
from summarizer.evaluate import rouge_chars, run_eval, translation_scores

from conftest import EVAL


@pytest.mark.slow
def test_metric_wiring_on_three_lines(tmp_path):
    refs = ["The hotline gets 6,500 calls a day.", "Beijing held a meeting on Monday.", "Prices rose 9.4% in June."]
    perfect = translation_scores(refs, refs, ["热线每天接到6500个电话。", "北京周一开会。", "6月价格上涨9.4%。"])
    assert perfect == {"bleu": 100.0, "chrf": 100.0, "leak_share": 0.0, "numbers_kept": 1.0, "finder_names_kept": 1.0,
                       "finder_names": 1, "numbers_ref_kept": 1.0, "numbers_ref": 2}
    hyps = ["The 热线 gets calls.", "Peking held a meeting on Monday.", "Prices rose in June."]
    s = translation_scores(hyps, refs, ["热线每天接到6500个电话。", "北京周一开会。", "6月价格上涨9.4%。"])
    assert s["leak_share"] == pytest.approx(1 / 3, abs=1e-4) and s["numbers_kept"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["finder_names"] == 1 and s["finder_names_kept"] == 0.0  # 北京 is Beijing
    # Against the references: 6,500 and 9.4 are the references' two numbers, and no output gives either.
    assert s["numbers_ref"] == 2 and s["numbers_ref_kept"] == 0.0
    assert 0 < s["bleu"] < 100 and 0 < s["chrf"] < 100
    assert rouge_chars("北京下雨", "北京下雪") == pytest.approx({"rouge1": 0.75, "rouge2": 2 / 3, "rougeL": 0.75})
    assert rouge_chars("北京", "上海") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_eval_summarization_report(tmp_path):
    data = tmp_path / "three.jsonl"
    rows = [{"id": i, "text": t, "summary": t} for i, t in enumerate(["北京今天下雨。", "上海明天晴天。", "广州气温升高。"])]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "report.json"
    report = run_eval("summarization", data, config="extractive", max_chars=20, output=out)
    assert report["n"] == 3 and report["rouge1"] == report["rougeL"] == 100.0
    assert report["unsupported_share"] == report["extractive_fallback_share"] == 0.0
    assert report["baselines"]["lead-20"]["rouge1"] == 100.0 and report["over_limit_share"] == 0.0
    assert json.loads(out.read_text(encoding="utf-8"))["rouge2"] == 100.0
    assert out.with_suffix(".md").read_text(encoding="utf-8").startswith("# summarization")


@pytest.mark.data
def test_eval_data_errors_are_clear(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(NoInputsError, match="has no records"):
        run_eval("translation", empty, config="extractive")
    with pytest.raises(NoInputsError, match="line 1: needs string fields zh, en"):
        run_eval("translation", EVAL / "summarization" / "lcsts_part3_test.jsonl", config="extractive")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "北京", "summary": "北京"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(NoInputsError, match="line 2: not JSON"):
        run_eval("summarization", bad, config="extractive")
    with pytest.raises(NoInputsError, match="cannot read"):
        run_eval("summarization", tmp_path / "missing.jsonl", config="extractive")


def test_reference_names_are_matched_as_words_in_any_listed_form():
    from summarizer.evaluate import ReferenceName, load_reference_names, name_written

    ri = ReferenceName("wmt19", 160, "李勇浩", ("Ri Yong Ho", "Ri Yong-ho"), "PER")
    assert name_written("North Korea's Ri Yong-ho told the UN", ri)
    assert name_written("RI YONG HO said", ri) and not name_written("Lee Yongha said", ri)
    ma = ReferenceName("flores", 20, "马英九", ("Ma",), "PER")
    assert name_written("Ma Ying-jeou might flee", ma) and not name_written("Mark might flee", ma)
    russia = ReferenceName("wmt19", 17, "俄罗斯", ("Russia",), "LOC")
    assert name_written("the Russian activities", russia) and not name_written("Prussia", russia)
    assert name_written("Jane’s Defence Weekly", ReferenceName("w", 0, "简氏", ("Jane's Defence Weekly",), "ORG"))
    listed = load_reference_names()
    assert len(listed) >= 400 and {n.dataset for n in listed} == {"wmt19", "flores"}


@pytest.mark.data
def test_the_reference_list_names_what_the_sources_and_references_say():
    # The list was made by hand; this keeps it honest: each name is in its source row and (in one of its listed
    # forms) in the human reference of that row.
    from summarizer.evaluate import load_reference_names, name_written

    files = {"wmt19": "wmt19_newstest_zhen.jsonl", "flores": "flores200_dev_zhen.jsonl"}
    rows = {k: [json.loads(x) for x in (EVAL / "translation" / f).read_text(encoding="utf-8").splitlines()[:200]]
            for k, f in files.items()}
    for name in load_reference_names():
        row = rows[name.dataset][name.row]
        assert name.zh in row["zh"], name
        assert name_written(row["en"], name), name


@pytest.mark.data
@pytest.mark.model
def test_eval_through_the_article_path_scores_each_row_and_the_listed_names(tmp_path):
    data = tmp_path / "flores200_dev_zhen.jsonl"
    lines = (EVAL / "translation" / "flores200_dev_zhen.jsonl").read_text(encoding="utf-8").splitlines()[:4]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_eval("translation", data, config="small", article=2, output=tmp_path / "r.json")
    assert report["n"] == 4 and len(report["hypotheses"]) == 4 and report["article"] == 2
    assert report["names_ref"] == 2  # 斯坦福大学 (row 0) and 鹰狮 (row 2) are listed
    # The score is the share of the two listed names whose reference English the output writes.
    from summarizer.evaluate import load_reference_names, name_written

    listed = {n.zh: n for n in load_reference_names() if n.dataset == "flores" and n.row in (0, 2)}
    hyps = report["hypotheses"]
    written = name_written(hyps[0], listed["斯坦福大学"]) + name_written(hyps[2], listed["鹰狮"])
    assert report["names_ref_kept"] == written / 2 and "finder_names_kept" in report


def test_the_reference_number_reader_is_the_same_on_both_sides_and_shares_nothing_with_the_checker():
    import ast

    from conftest import ROOT
    from summarizer.refnumbers import numbers_ref_kept, reference_numbers

    assert dict(reference_numbers("About 6,500 calls a day, up 20% in 2019.")) == {6500.0: 1, 20.0: 1, 2019.0: 1}
    assert dict(reference_numbers("twenty-five million people and 1.2 billion yuan")) == {25e6: 1, 1.2e9: 1}
    assert dict(reference_numbers("one of the three hundred firms")) == {300.0: 1}
    refs = ["Sales rose 9.4% to 6,500 units in June.", "Two people died."]
    hyps = ["Sales were up 9.4 percent at 6,500 units in June.", "People died."]
    assert numbers_ref_kept(hyps, refs) == (round(2 / 3, 4), 3)
    assert numbers_ref_kept(refs, refs) == (1.0, 3)
    tree = ast.parse((ROOT / "summarizer" / "refnumbers.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "collections", "typing"}, imported


@pytest.mark.data
def test_the_names_list_applies_only_to_rows_whose_source_holds_the_name():
    from summarizer.evaluate import reference_names_for

    path = EVAL / "translation" / "wmt19_newstest_zhen.jsonl"
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()[:201]]
    names = reference_names_for(path, [r["zh"] for r in rows[:200]])
    assert names is not None and sum(map(len, names)) == 244
    # The same list over rows it was not made for (one row off, another file): a name counts only where the row's
    # source holds it (neighbouring sentences of one story share some names), never as a miss for a row without it.
    sources = [r["zh"] for r in rows[1:201]]
    shifted = reference_names_for(path, sources)
    assert shifted is not None and sum(map(len, shifted)) < 244 / 3
    assert all(name.zh in src for src, row in zip(sources, shifted) for name in row)
    assert reference_names_for(EVAL / "translation" / "flores200_devtest_zhen.jsonl", ["今天天气很好。"] * 200) is None
