"""Shared fixtures and helpers: paths to the seed and ../shared/eval, the CLI in a subprocess, scripted and tiny
random models, and one real-model run of the seed per session."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from summarizer import clean_article
from summarizer.models import Generator, ModelInfo

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_a4f61a660f2d4dbe.txt"
SHARED = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared"))
EVAL = SHARED / "eval"
CRAWL = EVAL / "crawl"
CRAWL_BAD = EVAL / "crawl_bad"
DATA = Path(__file__).resolve().parent / "data"


def pytest_collection_modifyitems(config, items):
    """Tests marked `data` read ../shared/eval. Where it is absent: with ``CI=true`` the run stops with an error (a CI
    that skipped them would pass without them); otherwise they are skipped with one message, and the summary at the
    end says how many did not run."""
    data = [item for item in items if "data" in item.keywords]
    config.stash[_DATA_TESTS] = (len(data), sum("test_every_crawl_file_cleans" in item.nodeid for item in data))
    if (EVAL / "translation").is_dir() and CRAWL.is_dir():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError(f"{EVAL} is absent, so {len(data)} data tests (WMT19, FLORES, the crawl) would be "
                                "skipped; CI runs them: put the shared folder beside the clone or set SUMMARIZER_SHARED")
    config.stash[_DATA_MISSING] = True
    skip = pytest.mark.skip(reason=f"{EVAL} is absent (set SUMMARIZER_SHARED to the shared folder): data tests skipped")
    for item in data:
        item.add_marker(skip)


_DATA_TESTS = pytest.StashKey[tuple]()
_DATA_MISSING = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say what the pass count holds: the data tests, and how many of them are the one crawl smoke check."""
    total, smoke = config.stash.get(_DATA_TESTS, (0, 0))
    if config.stash.get(_DATA_MISSING, False):
        terminalreporter.write_line(f"data tests: {total} did NOT run: {EVAL} is absent (set SUMMARIZER_SHARED)",
                                    red=True)
    elif total:
        terminalreporter.write_line(f"data tests: {total} ran on {EVAL}" + (
            f"; {smoke} of them are one smoke check (test_every_crawl_file_cleans) parametrized over the crawl files, "
            "one per file" if smoke else ""))


def crawl_files() -> list[Path]:
    """The 520 raw crawler files, sorted."""
    return sorted(p for p in CRAWL.rglob("*.txt"))


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def small_pipeline():
    """The `small` config (embedded 0.5B on llama.cpp), loaded once for the whole session."""
    import summarizer

    return summarizer.load_pipeline("small")


@pytest.fixture(scope="session")
def seed_result(small_pipeline):
    """The seed processed once with the real 0.5B model (summary + translation)."""
    return small_pipeline.process(SEED)


CLI = [sys.executable, "-m", "summarizer.cli"]

# The answer memory is off in tests, in this process and in the servers and CLI runs they start: a test that times
# the model, counts its tokens or cancels it must meet the model, not an answer an earlier test left. The memory's
# own tests turn it on with a file of their own.
os.environ["SUMMARIZER_MEMORY__ENABLED"] = "false"
KEPT_ENV = ("SUMMARIZER_CACHE", "SUMMARIZER_MEMORY__ENABLED")


def clean_env() -> dict[str, str]:
    """This process's environment without SUMMARIZER_* settings (the cache location and the memory switch stay)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SUMMARIZER_") or k in KEPT_ENV}


def run_cli(*args: str, input: str | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``summarizer ARGS`` in a subprocess from the repository root."""
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, input=input, timeout=timeout,
                          env=clean_env())


def records(out: Path) -> list[dict]:
    """The records of OUT/results.jsonl."""
    return [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScriptedGenerator(Generator):
    """Returns fixed strings: leaked Chinese normally, clean English under the Han-free constraint."""

    kind = "chat"
    info = ModelInfo(name="scripted", backend="test")

    def __init__(self):
        self.calls = []

    def count_tokens(self, text):
        return len(text)

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        self.calls.append((len(requests), forbid_han))
        if forbid_han:
            return ["The 12345 hotline gets 6,500 calls a day."] * len(requests)
        return ["The 12345市民热线 gets calls."] * len(requests)


class CountingGenerator:
    """A real-shaped chat generator that answers with a fixed Chinese sentence and counts its calls."""

    kind = "chat"
    context_length = 4096

    def __init__(self, delay: float = 0.0, answer: str = "北京召开会议，讨论城市发展问题。"):
        from summarizer.models import ModelInfo

        self.info = ModelInfo(name="counting", backend="test")
        self.calls, self.delay, self.answer = 0, delay, answer

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        self.calls += len(requests)
        time.sleep(self.delay * len(requests))
        return [self.answer for _ in requests]


# ---------------------------------------------------------------- tiny random models (no network, seconds)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer():
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


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory) -> Path:
    """A 2-layer random Qwen2 causal LM with a BPE tokenizer trained on the seed."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    tok = tiny_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    model = Qwen2ForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny-causal")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory) -> Path:
    """A random 1-layer BART encoder-decoder with the same tokenizer."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    tok = tiny_tokenizer()
    cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=256,
                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                     decoder_start_token_id=tok.bos_token_id, forced_eos_token_id=None)
    model = BartForConditionalGeneration(cfg)
    out = tmp_path_factory.mktemp("tiny-seq2seq")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


class Server:
    """`summarizer serve` in a subprocess with its own temp folder (so its files can be counted)."""

    def __init__(self, tmp: Path, auth: str | None = None, config: str = "extractive", env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        extra_env = env or {}
        env = clean_env()
        env.update(GRADIO_ANALYTICS_ENABLED="False", TMPDIR=str(tmp))
        if auth:
            env["SUMMARIZER_AUTH"] = auth
        env.update(extra_env)
        self.log = tmp / "serve.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "summarizer.cli", "serve", "--port", str(self.port),
                                      "--config", config], cwd=ROOT, env=env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                assert self.proc.poll() is None, self.log.read_text()
                time.sleep(0.3)
        raise AssertionError("server did not start: " + self.log.read_text())

    def call(self, data: list, timeout: float = 120) -> tuple[str, object]:
        """POST to the /process API route and read its event stream: ("complete", outputs) or ("error", message)."""
        req = urllib.request.Request(self.url + "/gradio_api/call/process", data=json.dumps({"data": data}).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            event_id = json.load(r)["event_id"]
        with urllib.request.urlopen(f"{self.url}/gradio_api/call/process/{event_id}", timeout=timeout) as r:
            body = r.read().decode("utf-8")
        event = body.split("event: ")[-1].split("\n", 1)[0].strip()
        payload = json.loads(body.rsplit("data: ", 1)[-1])
        return event, payload

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

    def stop(self) -> float:
        t0 = time.time()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        return time.time() - t0
