"""Cleaning real crawler files: the seed, all of ../shared/eval/crawl, encodings and bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import pytest

from summarizer import ArticleError, clean_article, clean_file
from summarizer.clean import decode_bytes, title_from_line

from conftest import DATA, SEED, crawl_files

TAG = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")
ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")


def test_seed_is_cleaned_exactly():
    a = clean_article(SEED)
    assert a.title == "北京市扎实开展“不忘初心、牢记使命”主题教育"
    assert a.image_count == 1
    # The seed holds 18 <span> paragraphs (issue #2 said 20; the file itself has 18).
    assert len(a.paragraphs) == 18
    assert a.paragraphs[0].startswith("党中央召开“不忘初心、牢记使命”主题教育工作会议之后")
    assert a.paragraphs[-1].endswith("深入人心。")
    for p in a.paragraphs:
        for bad in ("<", ">", "&nbsp;", "\u3000", "这里有图片", "-----"):
            assert bad not in p
    assert a.encoding == "utf-8"
    assert a.source == str(SEED)
    assert a.text == "\n".join(a.paragraphs)
    assert "12345市民热线" in a.text


def test_article_is_frozen_and_serialisable():
    a = clean_article(SEED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.title = "x"
    d = json.loads(json.dumps(a.to_dict(), ensure_ascii=False))
    assert d["title"] == a.title and d["paragraphs"] == list(a.paragraphs)


def test_ids_are_stable_and_distinct():
    a1, a2 = clean_article(SEED), clean_file(str(SEED))
    assert a1.id == a2.id and re.fullmatch(r"[0-9a-f]{16}", a1.id)
    assert clean_article(SEED, id="x1").id == "x1"
    assert clean_article(SEED.read_bytes()).id != a1.id  # no path, so a different source hash


@pytest.mark.data
@pytest.mark.parametrize("path", crawl_files(), ids=lambda p: p.name[:24])
def test_every_crawl_file_cleans(path):
    a = clean_article(path)
    first_line = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    assert a.title == first_line
    assert a.paragraphs
    for p in a.paragraphs:
        assert not TAG.search(p), p
        assert not ENTITY.search(p), p
        assert p == p.strip() and "\u3000" not in p


def test_book_title_angle_brackets_are_text_not_tags():
    path = DATA / "crawl" / "book_title_brackets.txt"  # a real crawl file (../shared/eval/crawl)
    assert "<洪涝灾区预防性消毒技术规范>" in clean_article(path).text


def test_newlines_inside_a_span_split_paragraphs():
    path = DATA / "crawl" / "newlines_in_span.txt"  # 李克强在贵州考察时强调….txt of the crawl
    a = clean_article(path)
    assert a.paragraphs[:3] == ("李克强在贵州考察时强调", "突出做好重点民生工作", "推动改革创新增强发展动力")


def test_real_empty_crawl_file_is_refused():
    with pytest.raises(ArticleError, match="no text"):
        clean_article(DATA / "crawl" / "empty_body.txt")  # the crawl's one real empty file


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-16", "utf-16-be", "utf-8-sig", "utf-8"])
def test_seed_in_other_encodings_gives_the_same_article(seed_text, encoding):
    base = clean_article(seed_text)
    data = seed_text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    a = clean_article(data)
    assert (a.title, a.paragraphs, a.image_count) == (base.title, base.paragraphs, base.image_count)
    expected = {"gbk": "gb18030", "utf-16-be": "utf-16"}.get(encoding, encoding)
    assert a.encoding == expected


@pytest.mark.parametrize("encoding", ["big5", "utf-16", "utf-8"])
def test_traditional_sample_in_big5(encoding):
    text = (DATA / "traditional_big5.txt").read_text(encoding="utf-8")
    base = clean_article(text)
    a = clean_article(text.encode(encoding))
    assert a.paragraphs == base.paragraphs and a.title == "臺北市推動綠色交通計畫"
    assert a.encoding == encoding
    assert len(a.paragraphs) == 3 and "新臺幣45億元" in a.paragraphs[0]


def test_gb18030_bytes_without_a_label_are_decoded():
    text, enc = decode_bytes("北京市委".encode("gb18030"))
    assert (text, enc) == ("北京市委", "gb18030")


def test_empty_file_is_refused(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_bytes(b"")
    with pytest.raises(ArticleError, match="empty") as e:
        clean_article(f)
    assert str(f) in str(e.value)
    with pytest.raises(ArticleError, match="empty"):
        clean_article(b"  \n\n ")


def test_random_bytes_are_refused(tmp_path):
    f = tmp_path / "random.bin"
    f.write_bytes(os.urandom(1024))
    with pytest.raises(ArticleError, match="binary|decode"):
        clean_article(f)
    no_nul = bytes((b % 255) + 1 for b in os.urandom(1024))
    with pytest.raises(ArticleError, match="binary|decode|unlikely"):
        clean_article(no_nul)


def test_file_over_the_limit_is_refused(tmp_path, seed_text):
    f = tmp_path / "big.txt"
    body = seed_text.split("\n", 1)[1]
    f.write_text(seed_text.split("\n", 1)[0] + "\n" + body * (2_000_000 // len(body.encode()) + 1), encoding="utf-8")
    assert f.stat().st_size > 2_000_000
    with pytest.raises(ArticleError, match="over the limit of 1,000,000 bytes"):
        clean_article(f)
    assert clean_article(f, max_bytes=10_000_000).paragraphs


def test_title_from_file_name_line():
    assert title_from_line("59北京市扎实开展“不忘初心、牢记使命”主题教育.txt") == "北京市扎实开展“不忘初心、牢记使命”主题教育"
    assert title_from_line("2019年“双创”成绩单来了！这五个特点亮了……") == "2019年“双创”成绩单来了！这五个特点亮了……"
    assert title_from_line("18岁、19岁、20岁……这就是抗洪一线的00后") == "18岁、19岁、20岁……这就是抗洪一线的00后"


def test_full_html_page():
    page = (
        "<!DOCTYPE html><html><head><title>页面标题</title><style>p{color:red}</style>"
        "<script>var s='<p>脚本</p>';</script></head><body><h1>页面标题</h1>"
        "<p>第一段&amp;内容&#x4e2d;&nbsp;结束</p><p>第二段<br>第三段<img src=x onerror=alert(1)></p>"
        "<!-- 注释 --></body></html>"
    )
    a = clean_article(page)
    assert a.title == "页面标题"
    assert a.paragraphs == ("第一段&内容中 结束", "第二段", "第三段")
    assert a.image_count == 1


def test_first_line_html_without_title_gives_empty_title():
    a = clean_article("<div><span>　　只有正文。</span></div><div>&nbsp;</div>")
    assert a.title == "" and a.paragraphs == ("只有正文。",)


def test_plain_text_and_jsonl_record():
    a = clean_article("普通标题\n\n第一段文字。\n\n　　第二段文字。\n")
    assert a.title == "普通标题" and a.paragraphs == ("第一段文字。", "第二段文字。")
    rec = clean_article(json.dumps({"id": "r1", "title": "记录标题", "text": "第一段。\n第二段。"}, ensure_ascii=False))
    assert (rec.id, rec.title, rec.paragraphs) == ("r1", "记录标题", ("第一段。", "第二段。"))
    html_rec = clean_article(json.dumps({"id": 7, "html": "<p>甲。</p><p>乙。</p>"}, ensure_ascii=False))
    assert (html_rec.id, html_rec.paragraphs) == ("7", ("甲。", "乙。"))


def test_image_tags_and_placeholder_lines_are_counted():
    text = "标题\n" + "-" * 40 + "\n---这里有图片---\n" + "-" * 40 + "\n<p>正文<img src='a.jpg'>一。</p><p><img src=b></p>"
    a = clean_article(text)
    assert a.image_count == 3 and a.paragraphs == ("正文一。",)


def test_only_placeholder_is_refused():
    with pytest.raises(ArticleError, match="no text"):
        clean_article("标题\n" + "-" * 40 + "\n---这里有图片---\n" + "-" * 40 + "\n")


def test_utf16_without_a_bom_is_decoded(seed_text):
    base = clean_article(seed_text)
    for enc in ("utf-16-le", "utf-16-be"):
        a = clean_article(seed_text.encode(enc))
        assert (a.title, a.paragraphs, a.encoding) == (base.title, base.paragraphs, enc)
    plain = "北京今天召开会议。会议讨论了城市发展。"  # no ASCII at all, so no NUL bytes to go by
    assert clean_article(plain.encode("utf-16-le")).paragraphs == (plain,)


@pytest.mark.data
def test_link_and_navigation_lines_of_the_crawl_are_dropped_and_no_real_paragraph_is_lost():
    # Issue 47: 详细阅读：, 详细阅读 >> and >>详细阅读： recurred in the crawl files and were translated as paragraphs.
    from collections import Counter

    from summarizer.clean import html_to_paragraphs, is_navigation_line
    from summarizer.text import han_chars

    from conftest import crawl_files

    dropped: Counter = Counter()
    for path in crawl_files():
        raw, _, _ = html_to_paragraphs(path.read_text(encoding="utf-8", errors="replace"))
        article = clean_article(path)
        assert not any(is_navigation_line(p) for p in article.paragraphs)
        kept = {re.sub(r"\s", "", p) for p in (article.title, *article.paragraphs)}
        for para in raw:
            if is_navigation_line(para):
                dropped[para.lstrip(">》» ")[:4]] += 1
            elif len(han_chars(para)) >= 10:
                assert re.sub(r"\s", "", para) in kept, (path, para)  # a real paragraph stays
    # 37 bare link words and 18 lines of 详细阅读：<the linked article's headline>; nothing else matched.
    assert dropped == {"详细阅读": 55}
    assert not is_navigation_line("更多精彩的多类型多题材新片上映。") and is_navigation_line("返回首页")
    assert is_navigation_line(" >> ") and not is_navigation_line("A>>B")
