"""Numbers: extraction from Chinese and English, hints, the magnitude repair, unsupported numbers."""

from __future__ import annotations

import pytest

from summarizer import clean_article
from summarizer.numbers import (
    duration_hints,
    duration_lost,
    english_numbers,
    fix_amounts,
    inline_hints,
    invented_numbers,
    missing_numbers,
    number_hints,
    source_numbers,
    unsupported_numbers,
)

from conftest import SEED


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
    assert {"13亿 = 1.3 billion", "6月15日 = June 15", "4月 = April", "9月 = September", "30日 = on the 30th"} <= set(hints)
    inlined = inline_hints(zh)
    assert "the 30th" in inlined and "April" in inlined and "1.3 billion" in inlined and "June 15" in inlined
    assert "30日" not in inlined and "13亿" not in inlined
    assert inline_hints("第14月") == "第14月"


def test_durations_are_written_into_a_retry_but_never_listed():
    # WMT19 dev row 76: every greedy retry and draw dropped "在美国民众投票前的48小时" with its number until
    # "48 hours" stood in the text; FLORES writes the space (24 小时).
    zh = "据报道，在美国民众投票前的48小时，特朗普忙着出席共和党候选人的造势场合"
    assert duration_hints(zh) == ["48小时 = 48 hours"]
    assert "48 hours" in inline_hints(zh, [48.0]) and "48小时" not in inline_hints(zh, [48.0])
    # Only a lost duration is written in: the 0.5B lost the seed's 6,500 when its kept 24小时 was.
    assert inline_hints(zh) == zh and inline_hints(zh, [6500.0]) == zh
    assert duration_lost(zh, "Before the vote, Trump was busy.") == [48.0]
    assert duration_lost(zh, "In the 48 hours before the vote, Trump was busy.") == []
    assert duration_lost("热线24小时服务，每天约6500个电话。", "The 24-hour hotline takes many calls.") == []
    assert number_hints(zh) == []
    assert duration_hints("提供 24 小时服务，3 个月后，十二个小时，1小时，1.5小时") == [
        "24 小时 = 24 hours", "3 个月 = 3 months", "十二个小时 = 12 hours", "1小时 = 1 hour", "1.5小时 = 1.5 hours"]
    # Anniversaries, weekdays, months, ordinals, ranges and single Chinese digits (words, not checked numbers).
    for text in ("建国69周年", "69周岁", "5周五", "3月", "第48小时", "二三十分钟", "两周", "一个月", "几十天"):
        assert duration_hints(text) == [], text
    # Every conversion carries the number the check looks for.
    for text in ("40周", "72小时", "18个月", "2.9秒", "二十分钟"):
        ((zh, en),) = [h.split(" = ") for h in duration_hints(text)]
        assert missing_numbers(text, en) == [], (text, en)


def test_unsupported_numbers_in_summary():
    article = clean_article(SEED).text
    assert unsupported_numbers("北京12345热线每天约6500个电话。", article) == []
    assert unsupported_numbers("北京热线每天约9999个电话。", article) == [9999.0]


def test_flores_spacing_gets_the_same_hints_and_checks():
    # FLORES dev writes a space between digits and units (these sentences are from it); the rules were first
    # fitted to WMT19's unspaced text, so the hints never fired there.
    assert number_hints("今天的公告也延续了政府在今年 3 月作出的承诺") == ["3 月 = March"]
    assert source_numbers("政府在今年 3 月作出的承诺") == ["M3"]
    assert missing_numbers("政府在今年 3 月作出的承诺", "the commitment made in March of this year") == []
    assert number_hints("1969 年 5 月 3 日") == ["5 月 3 日 = May 3"]
    assert number_hints("28 岁的维达尔") == ["28 岁的 = 28-year-old"]
    assert number_hints("10 年来，巴西国民议会") == ["10 年来 = over the past 10 years"]
    assert number_hints("他入党40多年来") == ["40多年来 = for more than 40 years"]
    assert number_hints("2019年来华访问") == []
    # Chinese numerals too (FLORES 二十年来 → "since 1980" before; WMT19 has 五年来, 两年来, 十年来).
    assert number_hints("跌到了二十年来的最低水平") == ["二十年来 = over the past 20 years"]
    assert number_hints("五年来，世界互联网大会") == ["五年来 = over the past five years"]
    assert number_hints("几十年来最艰难的") == number_hints("多年来") == number_hints("二百五十年来") == []


def test_decades_and_numbers_a_translation_made_up():
    # FLORES dev: 二十年来的最低水平 → the reference's "lowest level for two decades" keeps the 20.
    assert missing_numbers("原油出口已经跌到了二十年来的最低水平", "exports fell to their lowest level for two decades") == []
    assert missing_numbers("原油出口已经跌到了二十年来的最低水平", "exports fell to their lowest level since 1980") == [20.0]
    assert 10.0 in english_numbers("a decade ago") and 30.0 not in english_numbers("for decades")
    # A draw that says "In 2017" or "280 million" invents a number; 20 points, 5 points and the 2.8 million
    # (280 万) are in the source, as Chinese numerals or scaled.
    assert invented_numbers("今年 6 月至 8 月，这座城市", "In 2017, from June to August, the city") == [2017.0]
    assert invented_numbers("哈姆林落后二十分，是第三名，但领先鲍耶五分。",
                            "Hamlin was 20 points behind, in third place, but 5 points ahead of Bowyer.") == []
    assert invented_numbers("仅为一天 280 万桶。", "just 2.8 million barrels a day") == []
    assert invented_numbers("仅为一天 280 万桶。", "just 280 million barrels a day") == [280_000_000.0]
