"""Sentence splitting and chunking on real sentences from ../shared/eval."""

from __future__ import annotations

import json

import pytest

from summarizer.text import chunk_sentences, han_ratio, has_han, split_sentences

from conftest import EVAL, SEED
from summarizer import clean_article


def test_quotes_stay_with_their_sentence():
    text = clean_article(SEED).paragraphs[1]
    sents = split_sentences(text)
    assert sents[0] == "北京市委书记蔡奇强调：“北京作为首都，与党和国家的使命紧密联系在一起，主题教育要努力走在全国前列。"
    assert sents[1].endswith("更好地履行首都职责。”")
    assert "".join(sents) == text


def test_numbers_decimals_fractions_are_not_boundaries():
    assert split_sentences("增长了6.5%，约占1/3。真的吗？是的！") == ["增长了6.5%，约占1/3。", "真的吗？", "是的！"]
    assert split_sentences("6月份铁路客流环比增长9.4%。下一句") == ["6月份铁路客流环比增长9.4%。", "下一句"]


def test_ellipses_real_wmt_sentence():
    # A WMT19 line with a spaced double ellipsis: "… …" belongs to the sentence it ends.
    line = '微博、微信朋友圈等社交平台上，随处可见网友镜头里的故宫、天安门、鸟巢、胡同 … … 各式建筑在蓝天的映衬下展现不一样的美。'
    sents = split_sentences(line)
    assert len(sents) == 2
    assert sents[0].endswith("胡同 … …") and sents[1].startswith("各式建筑")
    assert split_sentences("他说……然后走了。「好的。」") == ["他说……", "然后走了。", "「好的。」"]


def test_fraction_with_slash_and_semicolon():
    line = '儿童、军警残均为10元/人；婴儿继续免收。'  # WMT19
    assert split_sentences(line) == ["儿童、军警残均为10元/人；", "婴儿继续免收。"]


@pytest.mark.data
def test_split_covers_every_real_wmt_character():
    with open(EVAL / "translation" / "wmt19_newstest_zhen.jsonl", encoding="utf-8") as f:
        lines = [json.loads(x)["zh"] for x in f][:300]
    for line in lines:
        sents = split_sentences(line)
        assert "".join(sents).replace(" ", "") == line.replace(" ", "").strip()


def test_chunks_respect_budget_and_keep_all_text():
    paragraphs = clean_article(SEED).paragraphs
    sents = [s for p in paragraphs for s in split_sentences(p)]
    chunks = chunk_sentences(sents, 120)
    assert all(sum(len(s) for s in c) <= 120 for c in chunks)
    assert "".join("".join(c) for c in chunks) == "".join(sents)
    long = "很长的句子，" * 100 + "结束。"
    pieces = chunk_sentences([long], 50)
    assert all(len("".join(c)) <= 50 for c in pieces) and "".join("".join(c) for c in pieces) == long
    with pytest.raises(ValueError):
        chunk_sentences(sents, 0)


def test_han_detection():
    assert has_han("The 主题教育 campaign") and not has_han("Plain English, 12345.")
    assert han_ratio("中文abc") == pytest.approx(2 / 5)
