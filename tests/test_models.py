"""The model layer on tiny random models built here (no network, seconds), and config loading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from summarizer import clean_article, load_config, load_pipeline
from summarizer.config import ConfigError, GenerationOptions, ModelConfig, list_configs
from summarizer.models import (
    Seq2SeqGenerator,
    TransformersCausalGenerator,
    clear_generators,
    get_generator,
    resolve_device,
)
from summarizer.text import has_han

from conftest import SEED

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    text = clean_article(SEED).text
    corpus = [text, "The Beijing party committee said the 12345 hotline answered 6500 calls in June."] * 5
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<|im_end|>", bos_token="<|im_start|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory) -> Path:
    """A 2-layer random Qwen2 causal LM with a BPE tokenizer trained on the seed."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    tok = _tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    model = Qwen2ForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny-causal")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_seq2seq(tmp_path_factory) -> Path:
    """A random 1-layer BART encoder-decoder with the same tokenizer."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    tok = _tokenizer()
    cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=256,
                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                     decoder_start_token_id=tok.bos_token_id, forced_eos_token_id=None)
    model = BartForConditionalGeneration(cfg)
    out = tmp_path_factory.mktemp("tiny-seq2seq")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


MESSAGES = [
    [{"role": "system", "content": "Translate."}, {"role": "user", "content": "北京市委书记蔡奇强调"}],
    [{"role": "user", "content": "12345市民热线"}],
    [{"role": "user", "content": "主题教育"}],
]


def test_causal_generate_is_batched_and_ordered(tiny_causal):
    gen = TransformersCausalGenerator(ModelConfig(backend="transformers", model=str(tiny_causal), batch_size=2))
    opts = GenerationOptions(max_new_tokens=8)
    outs = gen.generate(MESSAGES, opts)
    assert len(outs) == 3 and all(isinstance(o, str) for o in outs)
    # Greedy decoding is deterministic, and a batch of one gives the same text as inside a padded batch.
    assert gen.generate(MESSAGES[1:2], opts) == outs[1:2]
    assert gen.info.backend == "transformers" and gen.info.device == "cpu"
    assert gen.count_tokens("北京市委书记") > 0


def test_forbid_han_removes_every_han_token(tiny_causal):
    gen = TransformersCausalGenerator(ModelConfig(backend="transformers", model=str(tiny_causal)))
    opts = GenerationOptions(max_new_tokens=24, repetition_penalty=1.0)
    free = gen.generate(MESSAGES, opts)
    constrained = gen.generate(MESSAGES, opts, forbid_han=True)
    # The random model trained on the seed's vocabulary writes Han freely; the constraint forbids it.
    assert any(has_han(o) for o in free)
    assert not any(has_han(o) for o in constrained)


def test_seq2seq_generate(tiny_seq2seq):
    gen = Seq2SeqGenerator(ModelConfig(backend="seq2seq", model=str(tiny_seq2seq), batch_size=2))
    outs = gen.generate(["北京市委书记", "12345市民热线", MESSAGES[0]], GenerationOptions(max_new_tokens=6, num_beams=2))
    assert len(outs) == 3 and gen.kind == "seq2seq"


def test_generators_load_once_and_are_reused(tiny_causal):
    clear_generators()
    cfg = ModelConfig(backend="transformers", model=str(tiny_causal))
    a = get_generator(cfg)
    assert get_generator(cfg) is a
    assert get_generator(dataclasses.replace(cfg, batch_size=3)) is not a
    clear_generators()


def test_pipeline_on_tiny_model_keeps_paragraph_alignment(tiny_causal, tmp_path):
    cfg_path = tmp_path / "tiny.toml"
    cfg_path.write_text(
        f'[models.llm]\nbackend = "transformers"\nmodel = "{tiny_causal}"\nbatch_size = 4\nn_ctx = 512\n'
        '[summarize]\nmodel = "extractive"\n'
        '[translate]\nmodel = "llm"\nchunk_tokens = 40\nrepair = true\n'
        '[translate.generation]\nmax_new_tokens = 6\n',
        encoding="utf-8",
    )
    pipe = load_pipeline(cfg_path)
    result = pipe.process(SEED)
    assert len(result.paragraphs_en) == len(result.article.paragraphs) == 18
    assert result.summary_zh and has_han(result.summary_zh)
    assert result.model["translation"]["backend"] == "transformers"
    assert set(result.timings) >= {"clean", "summary", "translation", "total"}
    # The random model's Han output is repaired with the Han-free constraint wherever it helps.
    assert not any(has_han(p) for p in result.paragraphs_en)
    clear_generators()


def test_device_auto_is_cpu_here():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


# ---------------------------------------------------------------- config

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


def test_hub_config_loads_up_to_the_download_step():
    import os
    import subprocess
    import sys

    code = (
        "from summarizer import load_config\n"
        "from summarizer.models import get_generator, ModelLoadError\n"
        "cfg = load_config('hub-cpu', environ={})\n"
        "try:\n    get_generator(cfg.models['translator'])\n"
        "except ModelLoadError as e:\n    print('LOADERROR', e)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "LOADERROR could not load 'Helsinki-NLP/opus-mt-zh-en'" in out.stdout, out.stderr[-2000:]


def test_extractive_config_refuses_translation():
    from summarizer.tasks import TaskError

    pipe = load_pipeline("extractive", tasks="summary,translation")
    with pytest.raises(TaskError, match="no translation model"):
        pipe.process(SEED)
    result = load_pipeline("extractive").process(SEED)
    assert 0 < len(result.summary_zh) <= 200 and result.paragraphs_en == ()


@pytest.mark.gpu
def test_tiny_model_on_cuda_in_bf16(tiny_causal):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    gen = TransformersCausalGenerator(ModelConfig(backend="transformers", model=str(tiny_causal), device="auto",
                                                  dtype="auto", batch_size=3))
    assert gen.info.device == "cuda" and next(gen.model.parameters()).dtype == torch.bfloat16
    outs = gen.generate(MESSAGES, GenerationOptions(max_new_tokens=8), forbid_han=True)
    assert len(outs) == 3 and not any(has_han(o) for o in outs)
