"""Configuration: TOML files in configs/ -> frozen dataclasses, overridden by env SUMMARIZER_* and arguments.

Precedence (lowest to highest): dataclass defaults, the TOML file, environment variables, explicit
overrides. The dataclass defaults below are the tuned values (prompts, few-shot pairs, segment size, repair): the
one place they live. A config file states only what differs from them (its models, sizes, tasks). Environment
variables name a dotted key with ``__`` between levels, e.g. ``SUMMARIZER_SUMMARIZE__MAX_CHARS=120``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Config", "ModelConfig", "GenerationOptions", "SummarizeConfig", "TranslateConfig", "LimitsConfig",
           "MemoryConfig", "ConfigError", "load_config", "list_configs", "config_dir", "fill_prompt"]

logger = logging.getLogger("summarizer")

TASKS = ("summary", "translation")
BACKENDS = ("llama_cpp", "transformers", "seq2seq", "extractive")


class ConfigError(ValueError):
    """A config file or override that cannot be used."""


def fill_prompt(template: str, **values: object) -> str:
    """A prompt template with ``{name}`` fields filled; other braces (JSON examples, sets) are left alone."""
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", str(v))
    return out


@dataclass(frozen=True)
class GenerationOptions:
    """Decoding options passed to a backend's generate call."""

    # Most tokens one answer may have; bounds the time of one model call.
    max_new_tokens: int = 512
    # 0 = greedy decoding (reproducible); above 0 samples with top_p.
    temperature: float = 0.0
    # Nucleus sampling mass, used only when temperature > 0.
    top_p: float = 1.0
    # Beam search width (transformers backends only).
    num_beams: int = 1
    # Forbid repeating any n-gram of this size (transformers backends only); 0 = off.
    no_repeat_ngram_size: int = 0
    # Penalty on tokens already generated; 1.0 = none.
    repetition_penalty: float = 1.0
    # Strings that end an answer.
    stop: tuple[str, ...] = ()
    # Seed of sampling: different seeds give different draws of the same request (the same seed need not repeat
    # one on llama.cpp, whose cached prompt changes the last bits of the logits).
    seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """Where a model comes from and how it runs."""

    # llama_cpp, transformers (causal LM), seq2seq, or extractive (no model).
    backend: str = "llama_cpp"
    # embedded:<name> (the GGUF assembled from PyPI part packages), a hub id, or a local path.
    model: str = "embedded:qwen2.5-coder-1.5b"
    # The .gguf file inside `model` when it is a folder or hub repository.
    gguf_file: str | None = None
    # auto (cuda when available), cpu or cuda.
    device: str = "auto"
    # auto (bf16 on cuda, fp32 on cpu), bf16, fp16 or fp32 (transformers backends).
    dtype: str = "auto"
    # CPU threads; 0 = one per core.
    threads: int = 0
    # Requests per generate() call on the transformers backends.
    batch_size: int = 8
    # Sequences llama.cpp decodes together (continuous batching over a call's requests); 0 = the width with the most
    # tokens/s on this machine, measured at the first load and cached; 1 = one request at a time.
    parallel: int = 0
    # Context window in tokens (prompt + answer).
    n_ctx: int = 4096
    # Random seed of the backend.
    seed: int = 0
    # Keep a bf16 copy of an embedded GGUF for transformers, so later loads skip dequantisation.
    save_bf16: bool = True
    # process: the model runs in a supervised worker process, so a native crash (SIGILL, SIGSEGV, OOM kill) is
    # one article's ModelCrashed error and the next request starts a new worker; inline: in this process.
    isolation: str = "process"


@dataclass(frozen=True)
class SummarizeConfig:
    """The Chinese summary task. Prompts are templates with {title}, {text}, {max_chars}."""

    # Key of [models] that summarizes, or "extractive" for TextRank.
    model: str = "llm"
    # Longest summary in characters (a longer answer is cut at a sentence end, with a note).
    max_chars: int = 200
    # Most article tokens in one summary prompt; capped by the context window, at least 256. A longer
    # article is summarized chunk by chunk and the partial summaries merged.
    chunk_tokens: int = 1800
    # At most this many chunks of a long article are summarized (then merged level by level), so the
    # number of model calls is bounded for any article within limits.max_bytes.
    max_chunks: int = 8
    # System message of every summary request.
    system_prompt: str = '你是一名新闻编辑。你只用简体中文写作，忠实于原文，不添加原文没有的信息。'
    # The request for one article (or one chunk).
    user_prompt: str = ('标题：{title}\n\n正文：\n{text}\n\n'
                        '请用简体中文为这篇新闻写一段摘要：概括最重要的事实（谁、做了什么、结果），不超过{max_chars}个字，不要照抄第一段，不要用列表或标题。只输出摘要。')
    # The request that merges partial summaries ({text} holds them, one per line).
    merge_prompt: str = '标题：{title}\n\n以下是同一篇新闻各部分的要点：\n{text}\n\n请把它们合并成一段不超过{max_chars}个字的简体中文摘要，不要用列表。只输出摘要。'
    # Appended to user_prompt (after a newline) when the first answer failed a check (not Chinese, repeats, copies).
    retry_instruction: str = "必须使用简体中文，用自己的话概括，不要照抄原文，不要重复句子。"
    # Added to the retry when the first answer had numbers or names the article lacks ({items} names them).
    unsupported_instruction: str = "原文中没有“{items}”：只写原文里有的数字和人名。"
    # When set, an over-long summary is shortened by the model before any cut; off by default because on
    # crawl_headline_dev it cost 3 ROUGE-L points (reports/summarization-crawl_headline_dev-default-shorten.md).
    shorten_prompt: str = ""
    # Decoding of summary requests.
    generation: GenerationOptions = field(default_factory=lambda: GenerationOptions(max_new_tokens=320, repetition_penalty=1.1))


@dataclass(frozen=True)
class TranslateConfig:
    """The English translation task. Prompts are templates with {title}, {text}, {numbers}, {glossary}."""

    # Key of [models] that translates ("extractive" configs cannot translate).
    model: str = "llm"
    # Most source tokens in one translation request: sentences of a paragraph are packed up to this, never
    # across paragraphs, so the English stays paragraph-aligned. (Was `chunk_tokens`, still accepted.)
    segment_tokens: int = 120
    # System message of every translation request.
    system_prompt: str = ("You are a professional translator of Chinese news into English. Translate faithfully and "
                          "completely into fluent English. Keep every number, date and name. Never leave Chinese "
                          "characters in the output; write Chinese names in pinyin. Output only the translation.")
    # The request for one segment.
    user_prompt: str = 'Translate the following Chinese text into English:\n{text}'
    # The stricter request of a repair retry ({numbers} lists the source's numerals).
    repair_prompt: str = ("Translate the following Chinese text into English. Use only English words (pinyin for names). "
                          "Keep every number exactly as written{numbers}:\n{text}")
    # (Chinese, English) example pairs sent right after the system message (so llama.cpp's prompt cache covers them):
    # three WMT19 dev pairs from outside the scored first 200 (rows 369, 412, 417). On WMT19 and FLORES dev-200
    # chrF +1.7 and +0.7, numbers kept up on both (reports/translation-*-default.json); () turns them off.
    few_shot: tuple[tuple[str, str], ...] = (
        ('当日6个项目集中开工，总投资42.9亿元人民币。',
         'On that day, six projects started construction, with a total investment of 4.29 billion yuan.'),
        ('9月27日至28日，全国无膜棉现场观摩暨研讨交流活动在新疆沙雅县举行。',
         'From September 27 to 28, the nationwide film-free cotton on-site observation and discussion exchange activities were held in Xayar County, Xinjiang.'),
        ('新疆是中国最重要的产棉区，据国家统计局统计，2017年新疆棉花种植面积为3500万亩，占全国棉花面积的61 % 。',
         'Xinjiang is China’s most important cotton-producing region. According to the National Bureau of Statistics, the cotton planting area in Xinjiang in 2017 was 35 million mu, accounting for 61% of the national cotton area.'),
    )
    # Put the article title in the system message as context.
    context: bool = True
    # Send the article's previous paragraph segment (its Chinese and the English already written for it) as the
    # exchange before each request: context for pronouns, names and terms across segments. Off by default: on
    # WMT19 and FLORES dev it did not pay for its prompt tokens (README, "context"), and the segments of an
    # article then run one after another.
    previous: bool = False
    # Put the segment's names (people and places whose English is pinyin; `names.find_names`) with their
    # English in the request, one form per article, and check the English for them.
    name_hints: bool = True
    # Hold each quoted term (“不忘初心、牢记使命”, 《…》) of an article to the first English the model wrote for it in
    # the body: the title, later paragraphs and the summary get it as a hint on their retry, and are flagged
    # term_inconsistent where they still differ (`terms`). Needs name_hints.
    term_table: bool = True
    # How names, glossary terms and number conversions are introduced ({hints}: "蔡奇 = Cai Qi; 13亿 = 1.3 billion");
    # it goes before the request, after the stable system message and few-shot pairs.
    hints_prompt: str = "Use these translations: {hints}"
    # Forbid tokens with Han characters in every request, not only in repairs: English cannot leak Chinese,
    # so no request is spent re-translating a leak.
    ban_han: bool = True
    # English shorter than this many characters per Han character of the source (sources of 15+ Han
    # characters) counts as content left out: below the 0.5th percentile of the human references of both
    # WMT19 (2.27) and FLORES (1.29) dev.
    min_length_ratio: float = 1.2
    # Check for content left out: English far shorter than its source (`min_length_ratio`) or describing the text
    # instead of translating it ("The text discusses …"); such segments are redone sentence by sentence.
    check_coverage: bool = True
    # Re-translate (once) segments that leak Chinese, lose numbers or names, or leave content out; fix 万/亿 by rule.
    repair: bool = True
    # Warn about source numbers missing from the English.
    check_numbers: bool = True
    # A sentence that still loses a number after both retries gets this many sampled translations (0 = none);
    # the one kept carries every number, invents none and is closest (chrF) to the other draws. Greedy retries
    # repeat the same choice; a draw often takes the other path through the sentence (and costs a few seconds
    # only where everything else failed: about 1 sentence in 100 on the dev sets).
    number_samples: int = 4
    # Stop drawing once every drawn sentence has a draw that passes the checks (the seed's 6,500: 2 draws of
    # about 12 s instead of 4); off, all `number_samples` are drawn and the passing one closest to the rest kept.
    stop_at_good_draw: bool = True
    # Temperature of those draws (top_p 0.95).
    sample_temperature: float = 0.7
    # Quality-aware decoding: the first pass draws this many sampled translations of each segment (at
    # `sample_temperature`, decoded together where the backend can, one prompt read once) and keeps the one that
    # fails fewest checks, then agrees most (chrF) with the others (MBR); 0 or 1 = one greedy translation. Off: on the
    # 1.5B, 4 draws cost 1.1 chrF on WMT19 dev-200 and 0.5 on FLORES against greedy, at 1.7-1.8x the time
    # (reports/translation-*-default-candidates4.json, docs/quality.md "Quality-aware decoding").
    candidates: int = 0
    # Streamed (the demo): parts whose first English is asked for while the one before is checked (0: one at a time;
    # 4 made the seed's last paragraph come 14-37 % later on 2 cores, docs/speed.md).
    parts_ahead: int = 0
    # Spell out conversions small models get wrong (13亿 = 1.3 billion, 7月1日 = July 1) in the prompt.
    number_hints: bool = True
    # Path of a TOML glossary of required translations (relative paths: from the config's folder).
    glossary: str | None = None
    # Decoding of translation requests.
    generation: GenerationOptions = field(default_factory=lambda: GenerationOptions(max_new_tokens=384, repetition_penalty=1.05))


@dataclass(frozen=True)
class LimitsConfig:
    """Input and serving limits."""

    # Largest input (file, record or pasted text) in bytes of text.
    max_bytes: int = 1_000_000
    # Largest upload the web demo accepts, per file.
    max_upload_mb: float = 5.0
    # Longest text pasted into the web demo.
    max_request_chars: int = 50_000
    # Requests the web demo runs at once (model calls are serialised per model anyway).
    concurrency: int = 1
    # Most articles (pasted text + uploads) in one web request.
    max_files: int = 50
    # Seconds one article may spend in model calls before it becomes an error record; 0 = no limit.
    article_seconds: float = 1800.0
    # Seconds cleaning one input may take (it is linear: a 1 MB file takes well under one); 0 = no limit.
    clean_seconds: float = 20.0
    # Jobs (API requests, demo requests) that may wait for the model; the API answers 503 beyond it.
    queue_size: int = 16
    # Articles translated together by every batch interface (`run`, Ray, the batch route, `bench`); the demo takes one.
    batch_size: int = 4
    # Requests a minute per API key (or per client address when no keys are set); 0 = no limit.
    api_requests_per_minute: int = 60
    # Seconds an API client may take to send each piece of its request body before it gets 408.
    body_seconds: float = 30.0
    # Seconds a streamed batch (NDJSON) waits for its client to take the next record before the stream is dropped.
    write_seconds: float = 30.0
    glossary_entry_chars: int = 500  # longest glossary term or English a request may send (413); it goes in prompts
    # Most paragraphs in one article (413): each is translated on its own, so thousands of tiny ones buy as many calls.
    max_paragraphs: int = 500
    # Seconds a stopping server (SIGTERM) gives the requests in flight: each answers 503 with Retry-After at once.
    shutdown_seconds: float = 3.0


@dataclass(frozen=True)
class MemoryConfig:
    """The answer memory (`memory`): greedy model answers kept in SQLite and never paid for twice."""

    # Off: every request goes to the model (`--no-memory`).
    enabled: bool = True
    # Its file ("": answers.sqlite3 in the cache folder, SUMMARIZER_CACHE).
    path: str = ""
    # Megabytes of answers kept; past it the least recently used go first.
    max_mb: float = 256.0


@dataclass(frozen=True)
class Config:
    """A whole pipeline configuration."""

    # Name shown in every result (the TOML file's stem unless set).
    name: str = "default"
    # One line for `summarizer models`.
    description: str = ""
    # Which of "summary" and "translation" run.
    tasks: tuple[str, ...] = TASKS
    # Named models the tasks refer to.
    models: Mapping[str, ModelConfig] = field(default_factory=lambda: {"llm": ModelConfig()})
    # The Chinese summary.
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)
    # The English translation.
    translate: TranslateConfig = field(default_factory=TranslateConfig)
    # Input, time and serving limits.
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    # The answer memory.
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    # The TOML file this config came from.
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the config."""
        d = dataclasses.asdict(self)
        d["models"] = {k: dataclasses.asdict(v) for k, v in self.models.items()}
        return d


def config_dir() -> Path:
    """The folder of bundled configs (``SUMMARIZER_CONFIG_DIR`` overrides it)."""
    env = os.environ.get("SUMMARIZER_CONFIG_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "configs"


def list_configs() -> list[str]:
    """Names of the bundled configs."""
    return sorted(p.stem for p in config_dir().glob("*.toml") if not p.stem.startswith("glossary"))


def _resolve_path(name: str | os.PathLike) -> Path:
    p = Path(name)
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        return p
    candidate = config_dir() / f"{name}.toml"
    if not candidate.is_file():
        raise ConfigError(f"unknown config {str(name)!r}; bundled configs: {', '.join(list_configs())}")
    return candidate


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    parts = [p for p in key.split(".") if p]
    node = tree
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value


def parse_value(raw: str) -> Any:
    """A TOML value from an env var or --set (`120`, `true`, `["a"]`); anything else is the string itself."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


_SHORTCUTS = {
    "max_chars": "summarize.max_chars",
    "glossary": "translate.glossary",
}
_PER_MODEL = {"threads", "device", "dtype", "batch_size", "n_ctx", "parallel"}


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    # Process-level settings read elsewhere, not config keys.
    skip = {"SUMMARIZER_CACHE", "SUMMARIZER_CONFIG", "SUMMARIZER_CONFIG_DIR", "SUMMARIZER_AUTH", "SUMMARIZER_API_KEYS",
            "SUMMARIZER_HOST", "SUMMARIZER_PORT", "SUMMARIZER_SHARED", "SUMMARIZER_PORTABLE_BUILD",
            "SUMMARIZER_CPU_FEATURES", "SUMMARIZER_FORWARDED_ALLOW_IPS", "SUMMARIZER_CORS_ORIGINS"}
    for k, v in environ.items():
        if not k.startswith("SUMMARIZER_") or k in skip:
            continue
        key = k[len("SUMMARIZER_"):].lower()
        out[key.replace("__", ".")] = parse_value(v)
    return out


def load_config(
    name: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Config:
    """Load a config by bundled name or TOML path, then apply env and explicit overrides.

    Args:
        name: Bundled config name (``default``, ``small``, ...) or a path to a TOML file. Default:
            env ``SUMMARIZER_CONFIG`` or ``default``.
        overrides: Dotted keys to set, e.g. ``{"summarize.max_chars": 120}``.
        environ: Environment to read ``SUMMARIZER_*`` from (default ``os.environ``).
        **kwargs: Shortcuts: ``max_chars``, ``glossary``, ``tasks``, and per-model ``threads``,
            ``device``, ``dtype``, ``batch_size``, ``n_ctx``, ``parallel`` (applied to every model).

    Returns:
        The frozen `Config`.

    Raises:
        ConfigError: Unknown config, bad TOML, unknown keys or wrong types.
    """
    environ = os.environ if environ is None else environ
    name = name or environ.get("SUMMARIZER_CONFIG") or "default"
    path = _resolve_path(name)
    try:
        tree = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    tree.setdefault("name", path.stem)
    tree["source"] = str(path)
    flat = dict(_env_overrides(environ))
    flat.update(overrides or {})
    for k, v in kwargs.items():
        if v is None:
            continue
        if k in _PER_MODEL:
            for model_name in tree.get("models", {"llm": {}}):
                flat[f"models.{model_name}.{k}"] = v
        elif k == "tasks":
            flat["tasks"] = list(v.split(",")) if isinstance(v, str) else list(v)
        elif k in _SHORTCUTS:
            flat[_SHORTCUTS[k]] = v
        else:
            flat[k] = v
    for key, value in flat.items():
        _set_dotted(tree, key, value)
    return _build(tree, str(path))


def _build(tree: dict[str, Any], where: str) -> Config:
    tree = dict(tree)
    models_raw = tree.pop("models", None) or {"llm": {}}
    if not isinstance(models_raw, dict):
        raise ConfigError(f"{where}: [models] must be a table")
    models = {k: _make(ModelConfig, v, f"{where}: models.{k}") for k, v in models_raw.items()}
    for k, m in models.items():
        if m.backend not in BACKENDS:
            raise ConfigError(f"{where}: models.{k}.backend must be one of {BACKENDS}, not {m.backend!r}")
        if m.isolation not in ("process", "inline"):
            raise ConfigError(f"{where}: models.{k}.isolation must be process or inline, not {m.isolation!r}")
    summarize = _make(SummarizeConfig, tree.pop("summarize", {}), f"{where}: summarize")
    translate_raw = tree.pop("translate", {})
    if isinstance(translate_raw, dict) and "chunk_tokens" in translate_raw:
        # The old name meant something else than summarize.chunk_tokens; accepted so existing files keep working.
        translate_raw = dict(translate_raw)
        old = translate_raw.pop("chunk_tokens")
        translate_raw.setdefault("segment_tokens", old)
        logger.warning("%s: translate.chunk_tokens is now translate.segment_tokens", where)
    translate = _make(TranslateConfig, translate_raw, f"{where}: translate")
    limits = _make(LimitsConfig, tree.pop("limits", {}), f"{where}: limits")
    memory = _make(MemoryConfig, tree.pop("memory", {}), f"{where}: memory")
    tasks = tree.pop("tasks", list(TASKS))
    if isinstance(tasks, str):
        tasks = tasks.split(",")
    tasks = tuple(t.strip() for t in tasks if t.strip())
    for t in tasks:
        if t not in TASKS:
            raise ConfigError(f"{where}: unknown task {t!r}; tasks are {', '.join(TASKS)}")
    for task_name, task in (("summarize", summarize), ("translate", translate)):
        if task.model != "extractive" and task.model not in models:
            raise ConfigError(f"{where}: {task_name}.model {task.model!r} is not a key of [models]")
    rest = _make(Config, tree, where, skip={"models", "summarize", "translate", "limits", "memory", "tasks"})
    return dataclasses.replace(rest, models=models, summarize=summarize, translate=translate, limits=limits,
                               memory=memory, tasks=tasks)


def _make(cls, raw: Any, where: str, skip: set[str] = frozenset()):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    values = {}
    for k, v in raw.items():
        if k in skip:
            continue
        if k == "generation":
            # A file that sets one decoding option keeps the task's other tuned ones (translate's 1.05 penalty).
            base = dataclasses.asdict(known[k].default_factory()) if isinstance(v, dict) else {}
            v = _make(GenerationOptions, {**base, **v} if isinstance(v, dict) else v, f"{where}.generation")
        elif k in ("stop", "tasks"):
            v = tuple(v)
        elif k == "few_shot":
            v = tuple(tuple(pair) for pair in v)
        else:
            v = _coerce(known[k], v, f"{where}.{k}")
        values[k] = v
    return cls(**values)


def _coerce(f: dataclasses.Field, v: Any, where: str) -> Any:
    t = str(f.type)
    if t.startswith("int") and not isinstance(v, bool):
        if isinstance(v, (int, float)) or (isinstance(v, str) and v.lstrip("-").isdigit()):
            return int(v)
    elif t.startswith("float"):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    elif t.startswith("bool"):
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("1", "0", "true", "false", "yes", "no"):
            return v.lower() in ("1", "true", "yes")
    elif t.startswith("str"):
        if isinstance(v, (str, type(None))) and (v is not None or "None" in t):
            return v
        if isinstance(v, (int, float)):
            return str(v)
    else:
        return v
    raise ConfigError(f"{where}: expected {t}, got {json.dumps(v, default=str)}")
