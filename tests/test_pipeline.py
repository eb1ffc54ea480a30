"""The `Pipeline`: what an input is (text vs. a file), error records for any failure, time budgets, warnings."""

from __future__ import annotations

import time

import pytest

from summarizer import ArticleError, clean_article, clean_file, load_pipeline
from summarizer.config import load_config
from summarizer.runtime import clear_generators
from summarizer.pipeline import Pipeline
from summarizer.models import Cancelled
from summarizer.records import ErrorRecord
from summarizer.text import has_han
from summarizer.translate import TaskError

from conftest import SEED, CountingGenerator, ScriptedGenerator


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline("extractive")


@pytest.mark.slow
def test_pipeline_on_tiny_model_keeps_paragraph_alignment(tiny_causal, tmp_path):
    cfg_path = tmp_path / "tiny.toml"
    cfg_path.write_text(
        f'[models.llm]\nbackend = "transformers"\nmodel = "{tiny_causal}"\nbatch_size = 4\nn_ctx = 512\n'
        '[summarize]\nmodel = "extractive"\n'
        '[translate]\nmodel = "llm"\nsegment_tokens = 40\nrepair = true\n'
        '[translate.generation]\nmax_new_tokens = 6\n',
        encoding="utf-8",
    )
    pipe = load_pipeline(cfg_path)
    result = pipe.process(SEED)
    assert len(result.paragraphs_en) == len(result.article.paragraphs) == 18
    assert result.summary_zh and has_han(result.summary_zh)
    assert result.model["translation"]["backend"] == "transformers"
    assert set(result.timings) >= {"clean", "summary", "translation", "total"}
    # The random model's Han output is repaired with the Han-free constraint wherever it helps.
    assert not any(has_han(p) for p in result.paragraphs_en)
    clear_generators()


def test_extractive_config_refuses_translation():
    pipe = load_pipeline("extractive", tasks="summary,translation")
    with pytest.raises(TaskError, match="no translation model"):
        pipe.process(SEED)
    result = load_pipeline("extractive").process(SEED)
    assert 0 < len(result.summary_zh) <= 200 and result.paragraphs_en == ()


def test_a_str_that_names_a_server_file_is_text_never_the_file(pipe):
    r = pipe.process("/etc/passwd")
    assert r.article.paragraphs == ("/etc/passwd",) and "root:" not in r.summary_zh
    assert r.article.source is None
    seed_path_as_text = str(SEED)
    with pytest.raises(ArticleError, match="a str is article text, never a path"):
        clean_article(seed_path_as_text)


def test_files_are_read_through_a_path_or_the_explicit_entry_point(pipe):
    assert pipe.process(SEED).article.title == "北京市扎实开展“不忘初心、牢记使命”主题教育"
    assert pipe.process_file(str(SEED)).article.paragraphs == clean_file(str(SEED)).paragraphs
    assert clean_file(str(SEED)).source == str(SEED)


def test_one_line_of_text_is_the_body(pipe):
    r = pipe.process("北京召开会议。讨论经济发展问题。")
    assert r.article.title == "" and r.article.paragraphs == ("北京召开会议。讨论经济发展问题。",)
    assert r.summary_zh.startswith("北京召开会议")


def test_script_in_a_record_html_is_dropped_and_escaped_text_stays_text(pipe):
    r = pipe.process({"id": "x", "html": "<script>alert(1)</script><p>北京召开会议。</p>"})
    assert "alert" not in r.summary_zh and r.article.paragraphs == ("北京召开会议。",)
    r = pipe.process({"id": "y", "text": "市民&lt;img src=x onerror=alert(1)&gt;外出。"})
    assert r.article.paragraphs == ("市民<img src=x onerror=alert(1)>外出。",) and r.article.image_count == 0


def test_any_exception_while_one_article_is_processed_becomes_its_error_record():
    class Flaky(CountingGenerator):
        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            if any("上海" in str(r) for r in requests):
                raise ZeroDivisionError("division by zero in a stage")
            return super().generate(requests, options, forbid_han=forbid_han)

    cfg = load_config("small", {"tasks": ["summary"]}, environ={})
    flaky = Pipeline(cfg, generators={"llm": Flaky()})
    items = [{"id": "a", "text": "北京召开会议。"}, {"id": "boom", "text": "上海召开会议。"}, {"id": "c", "text": "广州。"}]
    out = list(flaky.process_many(items, batch_size=4))
    assert [r.id for r in out] == ["a", "boom", "c"]
    assert isinstance(out[1], ErrorRecord) and out[1].error == "ZeroDivisionError: division by zero in a stage"
    assert out[1].kind == "ZeroDivisionError"
    assert not isinstance(out[0], ErrorRecord) and not isinstance(out[2], ErrorRecord)


@pytest.mark.slow
def test_an_article_over_its_time_budget_is_an_error_record_and_siblings_finish():
    # Only the long article's requests take time (1.5 s each, one after another, against a budget of 2 s an
    # article); the short ones answer at once, so no machine is slow enough to put them over budget. Like the model's
    # loop, the backend watches the cancel while it works.
    class SlowOnTheLongOne(CountingGenerator):
        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            for r in requests:
                if "次会议，讨论城市发展。北京召开第" in str(r):
                    for _ in range(30):
                        if cancelled is not None and cancelled():
                            raise Cancelled("cancelled")
                        time.sleep(0.05)
            return super().generate(requests, options, forbid_han=forbid_han)

    cfg = load_config("small", {"limits.article_seconds": 2, "tasks": ["summary"]}, environ={})
    pipe = Pipeline(cfg, generators={"llm": SlowOnTheLongOne()})
    # Distinct sentences: equal requests are asked once (issue 44), so a repeated one would cost one call.
    long_one = {"id": "long", "title": "长", "text": "".join(f"北京召开第{i}次会议，讨论城市发展。" for i in range(3000))}
    short = [{"id": f"s{i}", "title": "短", "text": "上海召开会议。"} for i in range(2)]
    out = list(pipe.process_many([short[0], long_one, short[1]], batch_size=3))
    assert [r.id for r in out] == ["s0", "long", "s1"]
    assert isinstance(out[1], ErrorRecord) and out[1].error.startswith("TimeBudgetExceeded: stopped after 2 s")
    assert all(not isinstance(r, ErrorRecord) and r.summary_zh for r in (out[0], out[2]))


@pytest.mark.parametrize("text,why", [
    ("Breaking news\nThe city council met on Monday to discuss the budget. It approved new parks.", "not Chinese"),
    ("速報\n東京都は月曜日に会議を開き、予算について話し合いました。新しい公園が承認されました。", "Japanese"),
    ("속보\n서울시는 월요일 회의를 열어 예산을 논의했습니다. 새 공원이 승인되었습니다.", "Korean"),
])
def test_articles_that_are_not_chinese_get_a_warning(pipe, text, why):
    r = pipe.process(text)
    assert any(f.kind == "not_chinese" and f.where == "article" and why in f.detail for f in r.findings), r.findings
    assert any("not Chinese" in w for w in r.warnings)
    assert not any(f.kind == "not_chinese" for f in pipe.process(SEED).findings)


def test_process_stream_shows_the_summary_then_each_paragraph_and_ends_with_the_result():
    pipe = Pipeline(load_config("small", environ={}), generators={"llm": ScriptedGenerator()})
    parts = list(pipe.process_stream(SEED))
    first_summary = next(i for i, p in enumerate(parts) if p.summary_zh)
    first_english = next(i for i, p in enumerate(parts) if any(p.paragraphs_en))
    assert first_summary < first_english
    filled = [sum(bool(e) for e in p.paragraphs_en) for p in parts[first_english:]]
    assert filled == sorted(filled) and filled[-1] == 18  # one paragraph after another, none lost
    assert parts[-1].timings and parts[-1].summary_en
    whole = pipe.process(SEED)
    assert (parts[-1].paragraphs_en, parts[-1].summary_zh, parts[-1].notes) == (whole.paragraphs_en, whole.summary_zh,
                                                                                 whole.notes)
    # Sentence pairs stream too: a passage joins as its title or paragraph is done, and the last is the whole set.
    passages = [len(p.sentences) for p in parts]
    assert passages == sorted(passages) and parts[first_english].sentences and parts[-1].sentences == whole.sentences
    assert len(whole.sentences) == 20 and [p.slot for p in whole.sentences][::19] == ["title", "summary"]


@pytest.mark.slow
def test_a_cancelled_stream_stops_before_its_next_model_request():
    import threading
    import time

    from summarizer.models import Cancelled

    class Slow(ScriptedGenerator):
        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            time.sleep(0.02 * len(requests))
            return super().generate(requests, options, forbid_han=forbid_han)

    def pipeline(gen):
        return Pipeline(load_config("small", environ={}), generators={"llm": gen})

    whole = Slow()
    list(pipeline(whole).process_stream(SEED))
    gen = Slow()
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        for part in pipeline(gen).process_stream(SEED, cancel=cancel):
            if any(part.paragraphs_en):
                cancel.set()
    assert len(gen.calls) < len(whole.calls) / 2


class _Recording(CountingGenerator):
    """Records the user turn of every request it is sent."""

    def __init__(self, answer: str = "The meeting was held."):
        super().__init__(answer=answer)
        self.sent: list[str] = []

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        self.sent += [r[-1]["content"] for r in requests]
        return super().generate(requests, options, forbid_han=forbid_han)


def test_a_paragraph_with_no_han_is_copied_and_never_sent_to_the_model():
    # Issue 44: 650 characters of punctuation bought over 400 s of model time. Digits and marks are copied.
    gen = _Recording()
    pipe = Pipeline(load_config("small", {"tasks": ["translation"]}, environ={}), generators={"llm": gen})
    r = pipe.process("北京召开会议\n北京召开会议。\n２０２４——１２３。、“！”\n……")
    assert r.paragraphs_en[1] == '2024--123. , "!"' and r.paragraphs_en[2] == "......"
    assert gen.sent and not any("２０２４" in s or "……" in s for s in gen.sent)


def test_an_article_with_no_han_at_all_costs_no_model_call():
    gen = _Recording()
    pipe = Pipeline(load_config("small", {}, environ={}), generators={"llm": gen})
    r = pipe.process("？！。，" * 40 + "\n" + "，。！？；：" * 100)
    assert gen.calls == 0 and not gen.sent
    assert r.summary_zh and not has_han(r.summary_zh) and r.paragraphs_en
    assert any("no Chinese text" in n for n in r.notes)


def test_a_sentence_repeated_2000_times_costs_the_model_a_handful_of_calls():
    # Issue 44: one sentence repeated 2,000 times bought 949 model calls and ~15,000 output tokens.
    gen = _Recording()
    pipe = Pipeline(load_config("small", {}, environ={}), generators={"llm": gen})
    r = pipe.process("标题\n" + "北京召开会议，讨论城市发展问题。" * 2000)
    assert len(r.paragraphs_en) == 1 and r.paragraphs_en[0]
    assert 0 < gen.calls <= 12, gen.calls
    assert len(gen.sent) == len(set(gen.sent))  # nothing asked twice


def test_an_article_of_thousands_of_tiny_paragraphs_is_refused_before_any_model_call():
    from summarizer.clean import InputTooLarge

    gen = _Recording()
    pipe = Pipeline(load_config("small", {}, environ={}), generators={"llm": gen})
    with pytest.raises(InputTooLarge, match=r"5,000 paragraphs; the limit is 500 \(limits.max_paragraphs\)"):
        pipe.process("标题\n" + "\n".join("好" for _ in range(5000)))
    assert gen.calls == 0
    (rec,) = pipe.process_many([{"id": "tiny", "title": "t", "text": "\n".join("字" * (i % 3 + 1) for i in range(600))}])
    assert isinstance(rec, ErrorRecord) and rec.kind == "InputTooLarge" and "limits.max_paragraphs" in rec.error
