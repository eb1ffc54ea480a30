"""The English translation: repair with the Han-free constraint, rule-based fixes, glossary, datelines."""

from __future__ import annotations

import re

import pytest

from summarizer import Article, clean_article
from summarizer.checks import Glossary
from summarizer.config import TranslateConfig
from summarizer.translate import english_dateline, translate_many

from conftest import EVAL, ScriptedGenerator


def test_translate_repairs_leaks_and_lost_numbers_with_the_constraint():
    gen = ScriptedGenerator()
    art = Article(id="a", title="", paragraphs=("热线12345每天接到6500个电话。",))
    (out,) = translate_many([art], [""], gen, TranslateConfig())
    assert out.paragraphs_en == ["The 12345 hotline gets 6,500 calls a day."]
    assert out.warnings == [] and gen.calls == [(1, False), (1, True)]
    (raw,) = translate_many([art], [""], ScriptedGenerator(), TranslateConfig(repair=False))
    assert any("Chinese left" in w for w in raw.warnings) and any("6,500" in w for w in raw.warnings)


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


@pytest.mark.parametrize("zh, head, rest", [
    ("新华社北京11月5日电（记者 张三）国务院总理", "BEIJING, November 5 (Xinhua) -- ", "（记者 张三）国务院总理"),
    ("中新网11月5日电 综合报道，美国中期选举投票已进入倒计时。", "November 5 (China News Service) -- ",
     "综合报道，美国中期选举投票已进入倒计时。"),
    ("新华社利雅得3月2日电 沙特", "RIYADH, March 2 (Xinhua) -- ", "沙特"),
])
def test_english_dateline(zh, head, rest):
    assert english_dateline(zh) == (head, rest)


def test_english_dateline_leaves_unknown_or_inner_text():
    assert english_dateline("新华社火星11月5日电 x") is None
    assert english_dateline("今天新华社北京3月2日电") is None
    assert english_dateline("新华社北京13月2日电 x") is None


def test_datelines_in_the_crawl_are_recognised():
    files = sorted((EVAL / "crawl").rglob("*.txt"))
    with_dateline = [p for p in files
                     if re.search(r"新华社北京\d{1,2}月\d{1,2}日电", p.read_text(encoding="utf-8", errors="replace"))]
    assert len(with_dateline) > 50
    found = 0
    for path in with_dateline[:40]:
        art = clean_article(path)
        found += any(english_dateline(p) and english_dateline(p)[0].startswith("BEIJING, ") for p in art.paragraphs)
    assert found >= 30
