"""Config loading: bundled TOML files, precedence file < env < arguments, errors, renamed keys."""

from __future__ import annotations

import dataclasses

import pytest

from summarizer import load_config
from summarizer.config import ConfigError, LimitsConfig, SummarizeConfig, TranslateConfig, list_configs


# What a bundled config may leave out of the tuned defaults, each with its reason in the file's comments.
OPTED_OUT = {("small", "context"), ("small", "few_shot"), ("hub-cpu", "context"), ("hub-cpu", "repair")}


def test_every_bundled_config_gets_the_tuned_defaults_unless_it_opts_out_on_purpose():
    tuned_t, tuned_s = TranslateConfig(), SummarizeConfig()
    assert "{numbers}" in tuned_t.repair_prompt and len(tuned_t.few_shot) == 3 and tuned_t.segment_tokens == 120
    for name in list_configs():
        cfg = load_config(name, environ={})
        for f in ("system_prompt", "user_prompt", "repair_prompt", "hints_prompt", "few_shot", "repair",
                  "check_numbers", "check_coverage", "context", "name_hints", "number_hints", "ban_han"):
            if (name, f) not in OPTED_OUT:
                assert getattr(cfg.translate, f) == getattr(tuned_t, f), (name, f)
            else:
                assert getattr(cfg.translate, f) != getattr(tuned_t, f), (name, f, "the opt-out no longer differs")
        for f in ("system_prompt", "user_prompt", "merge_prompt", "retry_instruction", "unsupported_instruction"):
            assert getattr(cfg.summarize, f) == getattr(tuned_s, f), (name, f)
    # A file that sets one decoding option keeps the task's other tuned ones.
    assert load_config("hub-gpu", environ={}).translate.generation.repetition_penalty == 1.05


def test_bundled_configs_state_only_what_differs_from_the_defaults():
    import tomllib

    from summarizer.config import config_dir

    defaults = {"summarize": SummarizeConfig(), "translate": TranslateConfig(), "limits": LimitsConfig()}
    for name in list_configs():
        tree = tomllib.loads((config_dir() / f"{name}.toml").read_text(encoding="utf-8"))
        for section, default in defaults.items():
            for key, value in tree.get(section, {}).items():
                if key == "generation":
                    for k, v in value.items():
                        assert v != getattr(default.generation, k), f"{name}: {section}.generation.{k} repeats the default"
                elif key not in ("model",):
                    want = getattr(default, key)
                    got = tuple(tuple(x) for x in value) if key == "few_shot" else value
                    assert got != want, f"{name}: {section}.{key} repeats the default"


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
