"""Output checks: Chinese left in English, repeated sentences, the glossary."""

from __future__ import annotations

from summarizer.checks import leaked_han, load_glossary, repeated_sentences

from conftest import ROOT


def test_leak_detector():
    assert leaked_han("The 12345市民热线 answers calls.") == ["市民热线"]
    assert leaked_han("Beijing's 12,345 hotline.") == []
    assert leaked_han("主题 education and 初心") == ["主题", "初心"]


def test_glossary(tmp_path):
    g = load_glossary(ROOT / "configs" / "glossary-example.toml")
    assert g.terms["蔡奇"] == "Cai Qi" and g.terms["5G"] == "5G"
    src = "北京市委书记蔡奇强调，主题教育要走在前列。"
    assert g.relevant(src) == {"北京市委": "Beijing Municipal Party Committee", "蔡奇": "Cai Qi", "主题教育": "theme education"}
    assert g.violations(src, "Cai Qi of the Beijing Municipal Party Committee stressed that theme education ...") == []
    assert sorted(g.violations(src, "Beijing party secretary Cai Qi said the education campaign ...")) == ["主题教育", "北京市委"]
    custom = tmp_path / "g.toml"
    custom.write_text('[terms]\n"一带一路" = "Belt and Road"\n"WTO" = "keep"\n', encoding="utf-8")
    assert load_glossary(custom).terms == {"一带一路": "Belt and Road", "WTO": "WTO"}


def test_repeated_sentences():
    assert repeated_sentences("甲乙丙丁。戊己庚辛。甲乙丙丁。") == ["甲乙丙丁。"]
    assert repeated_sentences("甲乙丙丁。戊己庚辛。") == []
