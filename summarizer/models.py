"""Model backends behind one small interface: llama.cpp (GGUF), transformers causal LM, transformers seq2seq.

Every backend implements `Generator.generate(requests, options, forbid_han=False) -> list[str]`, where a
request is a list of chat messages (``{"role", "content"}``) for chat models, or a plain source text
for seq2seq models. `runtime.get_generator` loads them once per process, in a worker process by default.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from .config import GenerationOptions, ModelConfig
from .embedded import EMBEDDED_MODELS, cache_dir, ensure_embedded
from .text import has_han

logger = logging.getLogger("summarizer")

__all__ = ["Generator", "ModelInfo", "resolve_device", "ModelLoadError",
           "TimeBudgetExceeded", "RequestFailed", "each_request",
           "Cancelled", "Usage", "gguf_path", "han_token", "cpu_threads", "TransformersCausalGenerator",
           "Seq2SeqGenerator"]

Request = Union[str, Sequence[dict]]


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded (missing runtime, missing weights, no network for a hub id)."""


class RequestFailed(ValueError):
    """Some requests of one backend call failed on their own (a prompt too long for the context) while the others
    were answered: a call that carries several clients' requests must not fail them all for one client's input.

    Attributes:
        outputs: One answer per request of the call ("" where the request failed).
        errors: The failed requests' indices in the call, each with its plain message.
    """

    def __init__(self, outputs: Sequence[str], errors: dict[int, str]):
        super().__init__(next(iter(errors.values()), "a request failed"))
        self.outputs, self.errors = list(outputs), dict(errors)

    def __reduce__(self):
        # Sent from the worker process: rebuilt from its fields, not from the message alone.
        return (RequestFailed, (self.outputs, self.errors))


@dataclass(frozen=True)
class ModelInfo:
    """What produced a result: shown in every `ArticleResult`."""

    name: str
    backend: str
    sha256: str | None = None
    device: str = "cpu"
    # Sequences decoded together at most (llama.cpp's continuous batching; 1 elsewhere).
    parallel: int = 1


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is present, else ``cpu``."""
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def cpu_threads(n: int) -> int:
    """`n` threads, or one per core this process may run on for 0."""
    if n > 0:
        return n
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@dataclass
class Usage:
    """What a generator has spent so far; `summarizer bench` reports the difference around each article."""

    # Requests answered.
    calls: int = 0
    # Prompt tokens sent, and how many of them the backend reused from its cache instead of evaluating.
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    # Tokens generated.
    output_tokens: int = 0
    # Seconds spent evaluating prompts and decoding output (llama.cpp's own counters; 0 where unknown).
    prompt_seconds: float = 0.0
    decode_seconds: float = 0.0
    # Requests a cancel ended before their answer was complete (a Stop, a client that left).
    cancelled: int = 0
    # Seconds of decode steps that also read prompt chunks (llama.cpp's loop puts both in one batch).
    mixed_seconds: float = 0.0
    # Decode steps, tokens they decoded (their widths summed), and steps that decoded more than one sequence.
    steps: int = 0
    decode_tokens: int = 0
    shared_steps: int = 0

    def minus(self, earlier: Usage) -> Usage:
        """The usage between `earlier` and now."""
        return Usage(*(getattr(self, f.name) - getattr(earlier, f.name) for f in dataclasses.fields(self)))


class Generator:
    """Interface of a text generator. Subclasses set `kind` to ``chat`` or ``seq2seq``."""

    kind = "chat"
    info: ModelInfo
    context_length: int = 4096
    usage: Usage

    def usage_now(self) -> Usage:
        """A copy of the usage counters (all zero for backends that do not count)."""
        return dataclasses.replace(getattr(self, "usage", None) or Usage())

    def generate(self, requests: Sequence[Request], options: GenerationOptions | Sequence[GenerationOptions], *,
                 forbid_han: bool | Sequence[bool] = False, cancelled: Callable[[], bool] | None = None,
                 on_done: Callable[[int], None] | None = None) -> list[str]:
        """Generate one output text per request, in order.

        Args:
            requests: Chat message lists (chat models) or source strings (seq2seq models).
            options: Decoding options: one for every request, or a list with one per request.
            forbid_han: Forbid every token that contains a Han character (used to repair English output that
                leaked Chinese): one for all, or a list with one per request.
            cancelled: Checked while the requests run; True ends them and raises `Cancelled`.
            on_done: Told how many of the requests have their answer, as they come.

        Raises:
            RequestFailed: Some requests failed on their own; the others' answers are in it.
            Cancelled: `cancelled` turned True.
        """
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes for this model."""
        raise NotImplementedError

    def close(self) -> None:
        """Free the model (a worker process stops); a no-op for in-process backends."""


def each_request(options: Any, forbid_han: Any, n: int) -> tuple[list[Any], list[bool]]:
    """The decoding options and the Han ban of each of `n` requests, given one for all or a list of one each."""
    opts = list(options) if isinstance(options, (list, tuple)) else [options] * n
    bans = list(forbid_han) if isinstance(forbid_han, (list, tuple)) else [bool(forbid_han)] * n
    if len(opts) != n or len(bans) != n:
        raise ValueError(f"{n} requests with {len(opts)} options and {len(bans)} Han bans")
    return opts, bans


def han_token(piece: str) -> bool:
    """A token that writes Han, or a partial UTF-8 byte sequence that could complete one."""
    return "\ufffd" in piece or has_han(piece)


def gguf_path(cfg: ModelConfig) -> tuple[Path, str | None]:
    """The GGUF file of a llama_cpp model config (assembled and verified when embedded) and its sha256 if known."""
    if cfg.model.startswith("embedded:"):
        name = cfg.model.split(":", 1)[1]
        path = ensure_embedded(name)
        return path, EMBEDDED_MODELS[name].sha256
    p = Path(cfg.model)
    if cfg.gguf_file:
        p = p / cfg.gguf_file
    if p.is_file():
        return p, None
    raise ModelLoadError(f"GGUF file not found: {p} (the llama_cpp backend loads local .gguf files or embedded:<name>)")


def _torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
            "fp32": torch.float32, "float32": torch.float32}[name]


def _hf_source(cfg: ModelConfig) -> tuple[str, dict[str, Any], str | None]:
    """(path or hub id, extra from_pretrained kwargs, sha256) for a transformers backend."""
    if cfg.model.startswith("embedded:"):
        name = cfg.model.split(":", 1)[1]
        path = ensure_embedded(name)
        sha = EMBEDDED_MODELS[name].sha256
        converted = cache_dir() / f"{path.stem}-bf16"
        if (converted / "config.json").is_file():
            return str(converted), {}, sha
        return str(path.parent), {"gguf_file": path.name}, sha
    kwargs = {"gguf_file": cfg.gguf_file} if cfg.gguf_file else {}
    return cfg.model, kwargs, None


class _TorchGenerator(Generator):
    auto_class = "AutoModelForCausalLM"

    def __init__(self, cfg: ModelConfig):
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise ModelLoadError("the transformers backends need torch and transformers: pip install 'summarizer[hub]'") from exc
        self.device = resolve_device(cfg.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        src, kwargs, sha = _hf_source(cfg)
        dtype = _torch_dtype(cfg.dtype, self.device)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(src, **kwargs)
            model_cls = getattr(transformers, self.auto_class)
            self.model = model_cls.from_pretrained(src, dtype=dtype, **kwargs)
        except OSError as exc:
            raise ModelLoadError(f"could not load {src!r} with transformers: {exc}") from exc
        if "gguf_file" in kwargs and cfg.model.startswith("embedded:") and cfg.save_bf16:
            self._save_converted(src, kwargs["gguf_file"])
        self.model.to(self.device).eval()
        self.batch_size = max(1, cfg.batch_size)
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or cfg.n_ctx)
        self.context_length = min(self.context_length, cfg.n_ctx)
        self.info = ModelInfo(name=Path(kwargs.get("gguf_file") or src).name, backend=cfg.backend, sha256=sha,
                              device=self.device)
        self._han_ids = None
        self._lock = threading.Lock()

    def _save_converted(self, src: str, gguf_file: str) -> None:
        """Keep a bf16 copy so later loads skip the slow, RAM-hungry GGUF dequantisation."""
        import shutil

        import torch

        target = Path(src) / f"{Path(gguf_file).stem}-bf16"
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        # The weights are already dequantised; the GGUF quantizer marker only blocks saving them.
        quantizer = getattr(self.model, "hf_quantizer", None)
        try:
            self.model.hf_quantizer = None
            self.model.to(torch.bfloat16).save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            os.replace(tmp, target)
            logger.info("saved a bf16 copy of %s to %s", gguf_file, target)
        except (OSError, ValueError, RuntimeError) as exc:
            logger.warning("could not save a bf16 copy to %s: %s", target, exc)
        finally:
            self.model.hf_quantizer = quantizer
            self.model.to(_torch_dtype("auto", self.device))
            shutil.rmtree(tmp, ignore_errors=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _bad_words(self):
        if self._han_ids is None:
            special = set(self.tokenizer.all_special_ids)
            self._han_ids = [[i] for i in range(len(self.tokenizer))
                             if i not in special and han_token(self.tokenizer.decode([i]))]
        return self._han_ids

    def _gen_kwargs(self, options: GenerationOptions, forbid_han: bool) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": options.max_new_tokens,
            "num_beams": options.num_beams,
            "repetition_penalty": options.repetition_penalty,
        }
        if options.temperature > 0:
            import torch

            # generate() samples from torch's global generator: seeding it makes a draw repeatable.
            torch.manual_seed(options.seed)
            kw.update(do_sample=True, temperature=options.temperature, top_p=options.top_p)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if options.no_repeat_ngram_size:
            kw["no_repeat_ngram_size"] = options.no_repeat_ngram_size
        if forbid_han and self._bad_words():
            kw["bad_words_ids"] = self._bad_words()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        kw["pad_token_id"] = self.tokenizer.pad_token_id
        return kw

    def _prepare(self, requests: Sequence[Request]) -> list[str]:
        raise NotImplementedError

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        import torch

        texts = self._prepare(requests)
        opts, bans = each_request(options, forbid_han, len(texts))
        outs = [""] * len(texts)
        # Requests that share their options go in batches together.
        groups: dict[tuple, list[int]] = {}
        for k, key in enumerate(zip(opts, bans)):
            groups.setdefault(key, []).append(k)
        done = 0
        with self._lock, torch.inference_mode():
            for (o, ban), ks in groups.items():
                kw = self._gen_kwargs(o, ban)
                for start in range(0, len(ks), self.batch_size):
                    if cancelled is not None and cancelled():
                        raise Cancelled("the job was cancelled")
                    part = ks[start:start + self.batch_size]
                    enc = self.tokenizer([texts[k] for k in part], return_tensors="pt", padding=True,
                                         add_special_tokens=self.kind == "seq2seq")
                    enc = {k: v.to(self.device) for k, v in enc.items()}
                    out = self.model.generate(**enc, **kw)
                    if self.kind == "chat":
                        out = out[:, enc["input_ids"].shape[1]:]
                    for k, t in zip(part, self.tokenizer.batch_decode(out, skip_special_tokens=True)):
                        outs[k] = t.strip()
                    done += len(part)
                    if on_done is not None:
                        on_done(done)
        return outs


class TransformersCausalGenerator(_TorchGenerator):
    """Any causal LM with a chat template: a hub id, a local folder, or a GGUF via ``gguf_file``."""

    kind = "chat"

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.tokenizer.padding_side = "left"

    def _prepare(self, requests):
        return [self.tokenizer.apply_chat_template(list(m), tokenize=False, add_generation_prompt=True)
                for m in requests]


class Seq2SeqGenerator(_TorchGenerator):
    """Encoder-decoder models (Marian opus-mt-zh-en, mT5, Pegasus, BART) via AutoModelForSeq2SeqLM."""

    kind = "seq2seq"
    auto_class = "AutoModelForSeq2SeqLM"

    def _prepare(self, requests):
        texts = []
        for r in requests:
            if isinstance(r, str):
                texts.append(r)
            else:
                texts.append(next((m["content"] for m in reversed(list(r)) if m["role"] == "user"), ""))
        return texts


class TimeBudgetExceeded(RuntimeError):
    """An article spent its time budget (``limits.article_seconds``) in model calls."""


class Cancelled(RuntimeError):
    """The caller cancelled the job (e.g. the demo's Stop button)."""
