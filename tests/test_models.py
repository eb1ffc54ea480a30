"""The model layer on tiny random models built here (no network, seconds)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from summarizer.config import GenerationOptions, ModelConfig
from summarizer.calls import BudgetedGenerator
from summarizer.models import (
    Cancelled,
    Generator,
    ModelInfo,
    Seq2SeqGenerator,
    TimeBudgetExceeded,
    TransformersCausalGenerator,
    resolve_device,
)
from summarizer.runtime import clear_generators, get_generator
from summarizer.text import has_han

from conftest import CountingGenerator

MESSAGES = [
    [{"role": "system", "content": "Translate."}, {"role": "user", "content": "北京市委书记蔡奇强调"}],
    [{"role": "user", "content": "12345市民热线"}],
    [{"role": "user", "content": "主题教育"}],
]


@pytest.mark.slow
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
    sources = ["北京市委书记", "12345市民热线", MESSAGES[0]]
    outs = gen.generate(sources, GenerationOptions(max_new_tokens=6, num_beams=2))
    assert len(outs) == 3 and gen.kind == "seq2seq" and all(isinstance(o, str) for o in outs)
    # Each source is its own request: alone or in a padded batch of two, the same text, every time.
    assert [gen.generate([src], GenerationOptions(max_new_tokens=6, num_beams=2))[0] for src in sources] == outs
    # A chat request (messages) is read as its last user turn's text, as the seq2seq backend documents.
    assert gen.generate([MESSAGES[0][-1]["content"]], GenerationOptions(max_new_tokens=6, num_beams=2)) == outs[2:]
    assert not any(has_han(o) for o in gen.generate(sources, GenerationOptions(max_new_tokens=12), forbid_han=True))


def test_generators_load_once_and_are_reused(tiny_causal):
    clear_generators()
    cfg = ModelConfig(backend="transformers", model=str(tiny_causal), isolation="inline")
    a = get_generator(cfg)
    assert get_generator(cfg) is a
    assert get_generator(dataclasses.replace(cfg, batch_size=3)) is not a
    clear_generators()


def test_device_auto_is_cpu_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda") == "cuda"


@pytest.mark.slow
def test_hub_config_loads_up_to_the_download_step():
    import os
    import subprocess
    import sys

    code = (
        "from summarizer import load_config\n"
        "from summarizer.models import ModelLoadError\nfrom summarizer.runtime import get_generator\n"
        "cfg = load_config('hub-cpu', environ={})\n"
        "try:\n    get_generator(cfg.models['translator'])\n"
        "except ModelLoadError as e:\n    print('LOADERROR', e)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "LOADERROR could not load 'Helsinki-NLP/opus-mt-zh-en'" in out.stdout, out.stderr[-2000:]


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


def test_a_budgeted_generator_ends_its_requests_at_the_deadline_and_starts_none_after():
    # The backend answers one request at a time and watches the cancel it is given, as the model's loop does.
    class OneByOne(CountingGenerator):
        def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
            for k in range(len(requests)):
                if cancelled is not None and cancelled():
                    raise Cancelled("cancelled")
                self.calls += 1
                time.sleep(0.1)
            return [self.answer for _ in requests]

    inner = OneByOne()
    gen = BudgetedGenerator(inner, 0.3)
    with pytest.raises(TimeBudgetExceeded, match="stopped after 0.3 s"):
        gen.generate([[{"role": "user", "content": f"x{i}"}] for i in range(10)], GenerationOptions())
    assert 2 <= inner.calls <= 4  # ended within a request of the deadline, not after all ten
    with pytest.raises(TimeBudgetExceeded):
        gen.generate([[{"role": "user", "content": "later"}]], GenerationOptions())
    assert inner.calls <= 4  # nothing starts after it


class _Echo(Generator):
    """Answers each request with its own text and records the calls it got."""

    kind, context_length = "chat", 4096
    info = ModelInfo(name="echo", backend="test")

    def __init__(self, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def count_tokens(self, text):
        return len(text)

    def usage_now(self):
        from summarizer.models import Usage

        return Usage()

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        self.calls.append([r[-1]["content"] for r in requests])
        if self.fail_on and any(self.fail_on in c for c in self.calls[-1]):
            raise RuntimeError("the backend failed")
        return [f"{r[-1]['content']}!" for r in requests]


def _ask(text):
    return [{"role": "user", "content": text}]


def test_an_article_asks_the_model_once_for_each_distinct_request():
    # Issue 44: one sentence repeated 2,000 times bought 949 model calls. Equal requests (same messages, options and
    # Han ban) within one batch's work are answered once; other options or another ban are another request.
    inner = _Echo()
    calls: list[int] = []
    gen = BudgetedGenerator(inner, 0, on_requests=calls.append)
    opts = GenerationOptions()
    out = gen.generate([_ask("same"), _ask("other"), _ask("same"), _ask("same")], opts)
    assert out == ["same!", "other!", "same!", "same!"]
    assert inner.calls == [["same", "other"]] and sum(calls) == 2
    # A later call of the same work reuses the answer too; a sampled draw with another seed does not.
    again = gen.generate([_ask("same"), _ask("same"), _ask("new")],
                         [opts, dataclasses.replace(opts, temperature=0.7, seed=3), opts], forbid_han=[False, False, True])
    assert again == ["same!", "same!", "new!"]
    assert inner.calls[1:] == [["same", "new"]]
    assert gen.reused == 3


