"""The Chinese summary: checks, chunk-and-merge with bounded model calls, the shorten step, TextRank."""

from __future__ import annotations

import json

import pytest

from summarizer import Article, clean_article, load_pipeline
from summarizer.checks import repeated_sentences
from summarizer.config import SummarizeConfig
from summarizer.summarize import TEXTRANK_MAX_SENTENCES, summary_problem, tidy_summary, fit_chars, summarize

from conftest import EVAL, SEED, CountingGenerator, ScriptedGenerator


def test_summary_checks():
    article = clean_article(SEED)
    assert summary_problem("", article) == "was empty"
    assert summary_problem("Beijing launched the campaign.", article) == "was not Chinese"
    assert summary_problem("北京开展主题教育。北京开展主题教育。", article) == "repeats a sentence"
    assert summary_problem(article.paragraphs[0][:60], article) == "copies the first paragraph"
    assert summary_problem("北京市扎实开展主题教育，以12345热线解决群众诉求。", article) is None
    assert tidy_summary("摘要：\n- 北京开展主题教育。\n- **成效显现**。") == "北京开展主题教育。成效显现。"
    assert repeated_sentences("甲乙丙丁。戊己庚辛。甲乙丙丁。") == ["甲乙丙丁。"]
    text, cut = fit_chars("第一句话很长很长。第二句话也很长很长。第三句。", 18)
    assert cut and text == "第一句话很长很长。"
    assert fit_chars("短句。", 18) == ("短句。", False)


def test_long_summary_is_shortened_by_the_model_not_cut():
    class Wordy(ScriptedGenerator):
        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            self.seen = getattr(self, "seen", []) + [requests[0][-1]["content"]]
            if "缩短" in requests[0][-1]["content"]:
                return ["北京以12345热线推动主题教育走在前列。"]
            return ["北京市委书记蔡奇强调北京主题教育要走在全国前列，市民热线12345接诉即办，解决群众身边的烦心事，"
                    "各级党组织把为民办实事作为检验主题教育成效的重要标准。"]

    article = clean_article(SEED)
    gen = Wordy()
    shorten = "请把下面这段摘要缩短到不超过{max_chars}个字，只输出缩短后的摘要：\n{text}"
    out = summarize(article, gen, SummarizeConfig(shorten_prompt=shorten), max_chars=30)
    assert out.text == "北京以12345热线推动主题教育走在前列。"
    assert any("shortened by the model" in n for n in out.notes) and len(gen.seen) == 2
    assert "不超过30个字" in gen.seen[1] and "蔡奇" in gen.seen[1]
    # With the shorten step off (the default), the over-long answer is cut instead.
    cut = summarize(article, Wordy(), SummarizeConfig(), max_chars=30)
    assert len(cut.text) <= 30 and cut.text.endswith("…") and any("cut to" in n for n in cut.notes)


def test_long_article_is_chunked_then_merged_never_truncated():
    from summarizer.config import SummarizeConfig

    class Recorder(ScriptedGenerator):
        context_length = 1200

        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            self.prompts = getattr(self, "prompts", []) + [r[-1]["content"] for r in requests]
            return ["合并起来，北京开展主题教育。" if "同一篇新闻各部分" in r[-1]["content"] else "这部分讲北京开展主题教育。"
                    for r in requests]

    seed = clean_article(SEED)
    long_article = Article(id="long", title=seed.title, paragraphs=seed.paragraphs * 3)
    gen = Recorder()
    out = summarize(long_article, gen, SummarizeConfig(chunk_tokens=1500, max_chunks=50), max_chars=120)
    n_chunks = len(gen.prompts) - 1
    assert n_chunks >= 8  # 3 x 4,300 characters in chunks of <= 1,500
    assert any(f"summarized in {n_chunks} chunks, then merged" in n for n in out.notes)
    body = "".join(long_article.paragraphs)
    covered = "".join(p.split("正文：\n", 1)[1].split("\n\n请用", 1)[0] for p in gen.prompts[:-1])
    assert covered.replace("\n", "") == body  # every character went to some chunk
    assert "同一篇新闻各部分" in gen.prompts[-1] and out.text == "合并起来，北京开展主题教育。"


def test_textrank_over_8000_sentences_is_bounded_and_says_so():
    pipe = load_pipeline("extractive")
    body = "".join(f"北京第{i}次会议讨论了城市发展问题。" for i in range(8000))
    # The cap is what bounds it (the quadratic version took 88 s and 577 MB here): its note proves it was applied.
    r = pipe.process("长文\n" + body)
    assert len(r.summary_zh) <= 200
    assert any(f"first {TEXTRANK_MAX_SENTENCES} of 8000 sentences" in n for n in r.notes)


def test_llm_summary_of_a_megabyte_makes_a_bounded_number_of_model_calls():
    from summarizer.clean import Article
    from summarizer.config import SummarizeConfig
    from summarizer.summarize import summarize

    article = Article(id="big", title="长文", paragraphs=("北京召开会议，讨论城市发展。" * 2000,) * 35)
    gen = CountingGenerator()
    out = summarize(article, gen, SummarizeConfig(max_chunks=8), max_chars=100)
    assert gen.calls <= 8 + 7
    assert any("first 8 of" in n for n in out.notes) and out.text


def test_merge_is_hierarchical_when_partials_do_not_fit_one_prompt():
    from summarizer.clean import Article
    from summarizer.config import SummarizeConfig
    from summarizer.summarize import summarize

    # About 160 "tokens" (characters here), distinct sentences: two partials never fit one 256-token merge.
    gen = CountingGenerator(answer="".join(f"北京第{i}次会议讨论城市发展问题。" for i in range(10)))
    gen.context_length = 700
    meetings = "".join(f"第{i}次，" for i in range(10))  # the numbers the answers state are in the article
    article = Article(id="big", title="长文", paragraphs=(meetings + "北京召开会议，讨论城市发展。" * 200,) * 3)
    out = summarize(article, gen, SummarizeConfig(max_chunks=8), max_chars=100)
    assert gen.calls == 8 + 4 + 2 + 1  # 8 chunks, then merged in pairs level by level
    assert out.text


def test_a_summary_stating_what_the_article_does_not_is_retried_then_replaced_by_the_extractive_one():
    article = clean_article(SEED)

    class Answers(CountingGenerator):
        def __init__(self, answers):
            super().__init__()
            self.answers, self.requests = list(answers), []

        def count_tokens(self, text):
            return len(text) // 4  # the seed in one chunk, as with the real tokenizer

        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            self.requests += requests
            self.calls += len(requests)
            return [self.answers.pop(0) for _ in requests]

    wrong = "北京市委书记蔡奇调研时说，全市将新建9999个消费新地标。"
    right = "北京市委书记蔡奇调研消费新地标建设，要求打造国际消费中心城市。"
    gen = Answers([wrong, right])
    out = summarize(article, gen, SummarizeConfig(), max_chars=200)
    assert out.text == right and gen.calls == 2 and out.warnings == [] and not out.fallback
    # The retry names the number the article lacks.
    assert "9,999" in gen.requests[1][-1]["content"] and "原文中没有" in gen.requests[1][-1]["content"]

    invented = "北京市委书记王小明调研消费新地标建设。"  # a person the article never mentions
    gen = Answers([wrong, invented])
    out = summarize(article, gen, SummarizeConfig(), max_chars=200)
    assert gen.calls == 2 and "9999" not in out.text and "王小明" not in out.text
    assert any("used the extractive summary instead" in w for w in out.warnings) and out.fallback


def test_a_hard_cut_never_ends_inside_a_number():
    from summarizer.numbers import unsupported_numbers

    article = "6月份汽车产销分别达到232.5万辆和230万辆，同比增长22.2%和11.6%，连续三个月增长"
    for limit in range(20, 40):
        text, cut = fit_chars(article, limit)
        assert cut and len(text) <= limit and unsupported_numbers(text, article) == [], text
    assert fit_chars(article, 33)[0] == "6月份汽车产销分别达到232.5万辆和230万辆，同比增长…"


def test_a_leading_decimal_is_not_a_list_marker():
    assert tidy_summary("91.6%的人关注排水问题。") == "91.6%的人关注排水问题。"
    assert tidy_summary("1. 北京召开会议。\n2、讨论发展。") == "北京召开会议。讨论发展。"


def test_the_summary_call_decodes_no_tokens_that_would_be_cut_off():
    class Recording(ScriptedGenerator):
        context_length = 4096

        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            self.options = options
            return ["北京召开会议，讨论城市发展问题。"]

    gen = Recording()
    summarize(clean_article(SEED), gen, SummarizeConfig(), max_chars=40)
    assert gen.options.max_new_tokens == 72
    summarize(clean_article(SEED), gen, SummarizeConfig(shorten_prompt="缩短：{text}"), max_chars=40)
    assert gen.options.max_new_tokens == SummarizeConfig().generation.max_new_tokens


@pytest.mark.data
@pytest.mark.model
def test_a_qwen_token_carries_at_least_one_character_of_chinese_news():
    # Why the summary call may stop at max_chars + 32 tokens: real headlines, summaries and the seed never need
    # more tokens than characters with the embedded models' tokenizer.
    from llama_cpp import Llama

    from summarizer.embedded import ensure_embedded

    llm = Llama(model_path=str(ensure_embedded("qwen2.5-coder-0.5b")), vocab_only=True, verbose=False)
    texts = [json.loads(line)["summary"] for name in ("crawl_headline_dev.jsonl", "lcsts_part3_test.jsonl")
             for line in (EVAL / "summarization" / name).read_text(encoding="utf-8").splitlines()[:500]]
    texts += clean_article(SEED).paragraphs
    assert len(texts) > 900
    for text in texts:
        assert len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) <= len(text), text


@pytest.mark.model
def test_the_summary_retry_reuses_the_article_prompt_the_first_call_evaluated(small_pipeline):
    from summarizer.models import Generator
    from summarizer.runtime import get_generator

    cfg = small_pipeline.config
    real = get_generator(cfg.models[cfg.summarize.model])

    class FirstAnswerEnglish(Generator):
        """The real 0.5B, except that its first answer is replaced by English (a check failure) to force the retry."""

        kind, context_length, info = real.kind, real.context_length, real.info
        count_tokens = staticmethod(real.count_tokens)

        def __init__(self):
            self.spent = []

        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            before = real.usage_now()
            outs = real.generate(requests, options, forbid_han=forbid_han)
            self.spent.append(real.usage_now().minus(before))
            return ["This is not Chinese."] if len(self.spent) == 1 else outs

    gen = FirstAnswerEnglish()
    article = clean_article(SEED)
    out = summarize(article, gen, cfg.summarize)
    assert len(gen.spent) == 2 and out.text
    first, retry = gen.spent
    # The retry appends its instruction to the same prompt: llama.cpp evaluates only the new tail, not the article.
    assert retry.cached_prompt_tokens >= real.count_tokens(article.text) > 1000
    assert retry.prompt_tokens - retry.cached_prompt_tokens < 100
