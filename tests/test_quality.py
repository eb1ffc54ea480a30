"""Fast checks of the quality machinery: leak detector, numbers, glossary, summary checks, metric wiring."""

from __future__ import annotations

import json

import pytest

from summarizer import Article, clean_article
from summarizer.config import GenerationOptions, SummarizeConfig, TranslateConfig, load_config
from summarizer.evaluate import rouge_chars, run_eval, translation_scores
from summarizer.models import Generator, ModelInfo
from summarizer.quality import (
    Glossary,
    english_numbers,
    fix_amounts,
    inline_hints,
    leaked_han,
    load_glossary,
    missing_numbers,
    number_hints,
    repeated_sentences,
    source_numbers,
    unsupported_numbers,
)
from summarizer.tasks import _summary_problem, _tidy_summary, fit_chars, summarize, translate_many

from conftest import ROOT, SEED


def test_leak_detector():
    assert leaked_han("The 12345市民热线 answers calls.") == ["市民热线"]
    assert leaked_han("Beijing's 12,345 hotline.") == []
    assert leaked_han("主题 education and 初心") == ["主题", "初心"]


@pytest.mark.parametrize("zh, value", [
    ("两万人参加", 20000.0), ("约占1/3", 1 / 3), ("24小时在线", 24.0), ("建国70周年", 70.0),
    ("12345市民热线", 12345.0), ("6500万元", 65_000_000.0), ("1.2亿", 120_000_000.0), ("增长9.4%", 9.4),
    ("十三届人大", 13.0), ("三分之一", 1 / 3), ("2019年", 2019.0), ("三千五百人", 3500.0),
])
def test_number_extractor(zh, value):
    assert any(isinstance(v, float) and abs(v - value) < 1e-5 for v in source_numbers(zh)), source_numbers(zh)


def test_dates_and_single_digits():
    assert source_numbers("6月15日启动") == ["M6", 15.0]
    assert source_numbers("一个月来，第二次") == []
    assert {"M6", 15.0} <= english_numbers("On June 15 the city")
    assert {20000.0} <= english_numbers("twenty thousand") and {20000.0} <= english_numbers("20,000")
    assert 70.0 in english_numbers("the 70th anniversary") and 9.4 in english_numbers("9.4 percent")


def test_missing_numbers():
    zh = "6月15日，北京两万人参加，约占1/3，热线12345每天接到6500个电话。"
    good = "On June 15, 20,000 people in Beijing took part, about one third; the 12345 hotline gets 6,500 calls a day."
    assert missing_numbers(zh, good) == []
    bad = "In June, 2000 people in Beijing took part; the hotline gets many calls."
    assert sorted(missing_numbers(zh, bad)) == [0.333333, 15.0, 6500.0, 12345.0, 20000.0]
    assert missing_numbers("1.2亿元", "120 million yuan") == [] and missing_numbers("1.2亿元", "0.12 billion yuan") == []


def test_words_that_look_like_numbers():
    # FLORES dev sentences the checker used to misread: 千米 is km, 十字/十分 are words, 20 世纪 70 年代 is the 1970s.
    assert source_numbers("以超过 160 千米每小时的速度七次穿过桥梁") == [160.0]
    assert source_numbers("黑手党十字军乔瓦尼") == [] and source_numbers("当天十分燥热") == []
    assert source_numbers("自 20 世纪 70 年代以来") == [1970.0]
    assert missing_numbers("自 20 世纪 70 年代以来", "since the 1970s") == []
    assert source_numbers("3千人，落后二十分") == [3000.0, 20.0]


def test_year_month_dates():
    zh = "(其间：2005.09―2006.01中央党校学习)"
    assert source_numbers(zh) == [2005.0, "M9", 2006.0, "M1"]
    assert missing_numbers(zh, "from September 2005 to January 2006") == []
    assert missing_numbers(zh, "from 2005.09 to 2006.01") == []
    assert missing_numbers(zh, "in 2005") == ["M9", 2006.0, "M1"]


@pytest.mark.parametrize("zh, wrong, right", [
    # Real 1.5B outputs on WMT19 dev: the digits are right, the power of ten is not.
    ("向中信投资100亿美元", "invested $1 billion", "invested $10 billion"),
    ("1,433亿日圆(13亿美元)损失", "143.3 billion yen (13 billion US dollars)", "143.3 billion yen (1.3 billion US dollars)"),
    ("逾5,000亿美元中国输美商品", "$5 trillion worth of goods", "$500 billion worth of goods"),
    ("形成研究论文3.6万余篇", "3.6 million research papers", "36,000 research papers"),
    ("涉及总金额260.43亿元", "totaling 260.43 billion yuan", "totaling 26.043 billion yuan"),
])
def test_fix_amounts_repairs_magnitudes(zh, wrong, right):
    assert missing_numbers(zh, wrong) and fix_amounts(zh, wrong) == right
    assert missing_numbers(zh, right) == [] and fix_amounts(zh, right) == right


def test_fix_amounts_leaves_other_numbers_alone():
    zh = "投资100亿美元，其中1亿美元用于研发。"
    # "1 billion" has the digits of 100亿 but 1亿 (100 million) is missing too; only the amount that is
    # not a source number may be rewritten, and a correct text is never touched.
    assert fix_amounts(zh, "invested $10 billion, $100 million of it in R&D") == "invested $10 billion, $100 million of it in R&D"
    assert fix_amounts("热线12345", "hotline 1,234.5 million") == "hotline 1,234.5 million"
    assert fix_amounts("增长16%", "rose 16%") == "rose 16%"


def test_number_hints_and_inline_hints():
    zh = "李克强30日下午会见，4月至9月获利，6月15日，13亿美元"
    hints = number_hints(zh)
    assert {"13亿 = 1.3 billion", "6月15日 = June 15", "4月 = April", "9月 = September", "30日 = the 30th"} <= set(hints)
    inlined = inline_hints(zh)
    assert "the 30th" in inlined and "April" in inlined and "1.3 billion" in inlined and "June 15" in inlined
    assert "30日" not in inlined and "13亿" not in inlined
    assert inline_hints("第14月") == "第14月"


def test_unsupported_numbers_in_summary():
    article = clean_article(SEED).text
    assert unsupported_numbers("北京12345热线每天约6500个电话。", article) == []
    assert unsupported_numbers("北京热线每天约9999个电话。", article) == [9999.0]


def test_glossary(tmp_path):
    g = load_glossary(ROOT / "configs" / "glossary-example.toml")
    assert g.terms["蔡奇"] == "Cai Qi" and g.terms["5G"] == "5G"
    src = "北京市委书记蔡奇强调，主题教育要走在前列。"
    assert g.relevant(src) == {"北京市委": "Beijing Municipal Party Committee", "蔡奇": "Cai Qi", "主题教育": "theme education"}
    assert "蔡奇 => Cai Qi" in g.prompt_lines(src)
    assert g.violations(src, "Cai Qi of the Beijing Municipal Party Committee stressed that theme education ...") == []
    assert sorted(g.violations(src, "Beijing party secretary Cai Qi said the education campaign ...")) == ["主题教育", "北京市委"]
    custom = tmp_path / "g.toml"
    custom.write_text('[terms]\n"一带一路" = "Belt and Road"\n"WTO" = "keep"\n', encoding="utf-8")
    assert load_glossary(custom).terms == {"一带一路": "Belt and Road", "WTO": "WTO"}


def test_summary_checks():
    article = clean_article(SEED)
    assert _summary_problem("", article) == "was empty"
    assert _summary_problem("Beijing launched the campaign.", article) == "was not Chinese"
    assert _summary_problem("北京开展主题教育。北京开展主题教育。", article) == "repeats a sentence"
    assert _summary_problem(article.paragraphs[0][:60], article) == "copies the first paragraph"
    assert _summary_problem("北京市扎实开展主题教育，以12345热线解决群众诉求。", article) is None
    assert _tidy_summary("摘要：\n- 北京开展主题教育。\n- **成效显现**。") == "北京开展主题教育。成效显现。"
    assert repeated_sentences("甲乙丙丁。戊己庚辛。甲乙丙丁。") == ["甲乙丙丁。"]
    text, cut = fit_chars("第一句话很长很长。第二句话也很长很长。第三句。", 18)
    assert cut and text == "第一句话很长很长。"
    assert fit_chars("短句。", 18) == ("短句。", False)


class ScriptedGenerator(Generator):
    """Returns fixed strings: leaked Chinese normally, clean English under the Han-free constraint."""

    kind = "chat"
    info = ModelInfo(name="scripted", backend="test")

    def __init__(self):
        self.calls = []

    def count_tokens(self, text):
        return len(text)

    def generate(self, requests, options, *, forbid_han=False):
        self.calls.append((len(requests), forbid_han))
        if forbid_han:
            return ["The 12345 hotline gets 6,500 calls a day."] * len(requests)
        return ["The 12345市民热线 gets calls."] * len(requests)


def test_translate_repairs_leaks_and_lost_numbers_with_the_constraint():
    gen = ScriptedGenerator()
    art = Article(id="a", title="", paragraphs=("热线12345每天接到6500个电话。",))
    (out,) = translate_many([art], [""], gen, TranslateConfig())
    assert out.paragraphs_en == ["The 12345 hotline gets 6,500 calls a day."]
    assert out.warnings == [] and gen.calls == [(1, False), (1, True)]
    (raw,) = translate_many([art], [""], ScriptedGenerator(), TranslateConfig(repair=False))
    assert any("Chinese left" in w for w in raw.warnings) and any("6,500" in w for w in raw.warnings)


def test_long_summary_is_shortened_by_the_model_not_cut():
    class Wordy(ScriptedGenerator):
        def generate(self, requests, options, *, forbid_han=False):
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


def test_magnitude_and_dateline_are_repaired_without_a_retry():
    class Fixed(ScriptedGenerator):
        def generate(self, requests, options, *, forbid_han=False):
            self.calls.append((len(requests), forbid_han))
            self.seen = requests
            return ["Comprehensive reports say 13 billion dollars were invested."] * len(requests)

    gen = Fixed()
    art = Article(id="a", title="", paragraphs=("中新网11月5日电 综合报道，投资13亿美元。",))
    (out,) = translate_many([art], [""], gen, TranslateConfig())
    assert out.paragraphs_en == [
        "November 5 (China News Service) -- Comprehensive reports say 1.3 billion dollars were invested."]
    assert out.warnings == [] and gen.calls == [(1, False)]
    assert "中新网" not in gen.seen[0][-1]["content"]


def test_glossary_is_enforced_in_prompt_and_checked(tmp_path):
    class Echo(ScriptedGenerator):
        def generate(self, requests, options, *, forbid_han=False):
            self.seen = requests
            return ["Party secretary Cai Qi spoke."] * len(requests)

    gen = Echo()
    glossary = Glossary({"北京市委": "Beijing Municipal Party Committee", "蔡奇": "Cai Qi"})
    art = Article(id="a", title="", paragraphs=("北京市委书记蔡奇讲话。",))
    (out,) = translate_many([art], [""], gen, TranslateConfig(), glossary)
    assert "北京市委 => Beijing Municipal Party Committee" in gen.seen[0][0]["content"]
    assert out.warnings == ["glossary terms not followed: 北京市委"]


def test_metric_wiring_on_three_lines(tmp_path):
    refs = ["The hotline gets 6,500 calls a day.", "Beijing held a meeting on Monday.", "Prices rose 9.4% in June."]
    perfect = translation_scores(refs, refs, ["热线每天接到6500个电话。", "北京周一开会。", "6月价格上涨9.4%。"])
    assert perfect == {"bleu": 100.0, "chrf": 100.0, "leak_share": 0.0, "numbers_kept": 1.0}
    hyps = ["The 热线 gets calls.", "Beijing held a meeting on Monday.", "Prices rose in June."]
    s = translation_scores(hyps, refs, ["热线每天接到6500个电话。", "北京周一开会。", "6月价格上涨9.4%。"])
    assert s["leak_share"] == pytest.approx(1 / 3, abs=1e-4) and s["numbers_kept"] == pytest.approx(1 / 3, abs=1e-4)
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
    assert report["baselines"]["lead-20"]["rouge1"] == 100.0 and report["over_limit_share"] == 0.0
    assert json.loads(out.read_text(encoding="utf-8"))["rouge2"] == 100.0
    assert out.with_suffix(".md").read_text(encoding="utf-8").startswith("# summarization")


def test_default_config_has_repair_on():
    cfg = load_config("default", environ={})
    assert cfg.translate.repair and cfg.translate.check_numbers
    assert GenerationOptions().temperature == 0.0


def test_long_article_is_chunked_then_merged_never_truncated():
    from summarizer.config import SummarizeConfig
    from summarizer.tasks import summarize

    class Recorder(ScriptedGenerator):
        context_length = 1200

        def generate(self, requests, options, *, forbid_han=False):
            self.prompts = getattr(self, "prompts", []) + [r[-1]["content"] for r in requests]
            return [f"第{len(self.prompts)}部分讲北京开展主题教育。" for _ in requests]

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
    assert "同一篇新闻各部分" in gen.prompts[-1] and out.text.startswith(f"第{n_chunks + 1}部分")
