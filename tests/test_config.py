"""Config loading: bundled TOML files, precedence file < env < arguments, errors, renamed keys."""

from __future__ import annotations

import dataclasses

import pytest

from summarizer import load_config
from summarizer.config import ConfigError, GenerationOptions, list_configs


def test_default_config_has_repair_on():
    cfg = load_config("default", environ={})
    assert cfg.translate.repair and cfg.translate.check_numbers
    assert GenerationOptions().temperature == 0.0


def test_every_bundled_config_loads():
    names = list_configs()
    assert {"default", "small", "extractive", "hub-cpu", "hub-gpu"} <= set(names)
    for name in names:
        cfg = load_config(name, environ={})
        assert cfg.name == name and cfg.tasks
    assert load_config("hub-cpu", environ={}).models["translator"].model == "Helsinki-NLP/opus-mt-zh-en"
    assert load_config("hub-gpu", environ={}).models["llm"].dtype == "bf16"


def test_precedence_file_env_arguments():
    env = {"SUMMARIZER_SUMMARIZE__MAX_CHARS": "150", "SUMMARIZER_MODELS__LLM__THREADS": "2", "SUMMARIZER_PORT": "8000"}
    cfg = load_config("small", environ=env)
    assert cfg.summarize.max_chars == 150 and cfg.models["llm"].threads == 2
    cfg = load_config("small", {"summarize.max_chars": 90}, environ=env, threads=1)
    assert cfg.summarize.max_chars == 90 and cfg.models["llm"].threads == 1
    assert load_config("small", environ={}).summarize.max_chars == 200
    assert load_config("small", environ={}, tasks="summary").tasks == ("summary",)


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="unknown config 'nope'"):
        load_config("nope", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[summarize]\nmax_chars = 'many'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="max_chars"):
        load_config(bad, environ={})
    bad.write_text("[summarize]\nmax_charz = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(bad, environ={})
    bad.write_text("[models.llm]\nbackend = 'magic'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="backend"):
        load_config(bad, environ={})
    with pytest.raises(ConfigError, match="unknown task"):
        load_config("small", environ={}, tasks="poetry")


def test_config_is_frozen_and_serialisable():
    import json

    cfg = load_config("default", environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "x"
    assert json.loads(json.dumps(cfg.to_dict()))["models"]["llm"]["model"] == "embedded:qwen2.5-coder-1.5b"


def test_the_old_translate_chunk_tokens_key_still_works(tmp_path):
    f = tmp_path / "old.toml"
    f.write_text('[translate]\nchunk_tokens = 77\n', encoding="utf-8")
    cfg = load_config(f, environ={})
    assert cfg.translate.segment_tokens == 77 and cfg.summarize.chunk_tokens == 1800
