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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from .config import GenerationOptions, ModelConfig
from .embedded import EMBEDDED_MODELS, cache_dir, ensure_embedded
from .text import has_han

logger = logging.getLogger("summarizer")

__all__ = ["Generator", "ModelInfo", "resolve_device", "ModelLoadError", "BudgetedGenerator", "TimeBudgetExceeded",
           "Cancelled", "Usage", "BACKENDS", "gguf_path", "LlamaCppGenerator", "TransformersCausalGenerator",
           "Seq2SeqGenerator"]

Request = Union[str, Sequence[dict]]


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded (missing runtime, missing weights, no network for a hub id)."""


@dataclass(frozen=True)
class ModelInfo:
    """What produced a result: shown in every `ArticleResult`."""

    name: str
    backend: str
    sha256: str | None = None
    device: str = "cpu"


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is present, else ``cpu``."""
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def _threads(n: int) -> int:
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

    def generate(self, requests: Sequence[Request], options: GenerationOptions, *, forbid_han: bool = False) -> list[str]:
        """Generate one output text per request, in order.

        Args:
            requests: Chat message lists (chat models) or source strings (seq2seq models).
            options: Decoding options.
            forbid_han: Forbid every token that contains a Han character (used to repair English
                output that leaked Chinese).
        """
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes for this model."""
        raise NotImplementedError

    def close(self) -> None:
        """Free the model (a worker process stops); a no-op for in-process backends."""


def _han_token(piece: str) -> bool:
    """A token that writes Han, or a partial UTF-8 byte sequence that could complete one."""
    return "\ufffd" in piece or has_han(piece)


class LlamaCppGenerator(Generator):
    """GGUF models through llama-cpp-python; the embedded default."""

    kind = "chat"

    def __init__(self, cfg: ModelConfig):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelLoadError("the llama_cpp backend needs llama-cpp-python: pip install 'summarizer[llm]' "
                                 "(or bash scripts/setup.sh llm,model)") from exc
        path, sha = gguf_path(cfg)
        from .smoke import BuildBroken, check_runtime

        try:
            # Once per build, CPU and model (cached): a build that dies with SIGILL here would take the process.
            check_runtime(path, threads=cfg.threads)
        except BuildBroken as exc:
            raise ModelLoadError(str(exc)) from None
        # Layers go to a GPU only where this llama.cpp build can offload (setup builds it for the CPU): asking torch
        # whether CUDA exists would report a GPU that this build never uses.
        from llama_cpp import llama_supports_gpu_offload

        device = "cuda" if cfg.device in ("auto", "cuda") and llama_supports_gpu_offload() else "cpu"
        self._llm = Llama(
            model_path=str(path),
            n_ctx=cfg.n_ctx,
            n_threads=_threads(cfg.threads),
            n_threads_batch=_threads(cfg.threads),
            n_batch=512,
            n_gpu_layers=-1 if device == "cuda" else 0,
            seed=cfg.seed,
            verbose=False,
        )
        self.context_length = cfg.n_ctx
        self.info = ModelInfo(name=path.name, backend="llama_cpp", sha256=sha, device=device)
        self.usage = Usage()
        self._han_ids = None
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _han_mask(self):
        import numpy as np

        if self._han_ids is None:
            ids = []
            for i in range(self._llm.n_vocab()):
                piece = self._llm.detokenize([i]).decode("utf-8", errors="replace")
                if _han_token(piece):
                    ids.append(i)
            self._han_ids = np.array(ids, dtype=np.int64)
        return self._han_ids

    def generate(self, requests, options, *, forbid_han=False):
        processors = None
        if forbid_han:
            from llama_cpp import LogitsProcessorList

            mask = self._han_mask()

            def no_han(_ids, scores):
                scores[mask] = -float("inf")
                return scores

            processors = LogitsProcessorList([no_han])
        outs = []
        # One Llama object owns one KV cache; requests run in order and reuse the shared prompt prefix.
        with self._lock:
            for messages in requests:
                before = self._perf()
                r = self._llm.create_chat_completion(
                    messages=list(messages),
                    max_tokens=options.max_new_tokens,
                    temperature=options.temperature,
                    top_p=options.top_p,
                    repeat_penalty=options.repetition_penalty,
                    stop=list(options.stop) or None,
                    logits_processor=processors,
                    seed=options.seed,
                )
                outs.append((r["choices"][0]["message"]["content"] or "").strip())
                self._count(r.get("usage") or {}, before, self._perf())
        return outs

    def _perf(self) -> tuple[int, float, float]:
        import llama_cpp

        data = llama_cpp.llama_perf_context(self._llm.ctx)
        return data.n_p_eval, data.t_p_eval_ms / 1000, data.t_eval_ms / 1000

    def _count(self, usage: dict, before: tuple[int, float, float], after: tuple[int, float, float]) -> None:
        prompt = int(usage.get("prompt_tokens", 0))
        evaluated = after[0] - before[0]
        self.usage.calls += 1
        self.usage.prompt_tokens += prompt
        self.usage.cached_prompt_tokens += max(0, prompt - evaluated)
        self.usage.output_tokens += int(usage.get("completion_tokens", 0))
        self.usage.prompt_seconds += after[1] - before[1]
        self.usage.decode_seconds += after[2] - before[2]


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
                             if i not in special and _han_token(self.tokenizer.decode([i]))]
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

    def generate(self, requests, options, *, forbid_han=False):
        import torch

        texts = self._prepare(requests)
        kw = self._gen_kwargs(options, forbid_han)
        outs: list[str] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start:start + self.batch_size]
                enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=self.kind == "seq2seq")
                enc = {k: v.to(self.device) for k, v in enc.items()}
                out = self.model.generate(**enc, **kw)
                if self.kind == "chat":
                    out = out[:, enc["input_ids"].shape[1]:]
                outs.extend(t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True))
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


class BudgetedGenerator(Generator):
    """A generator that refuses to start another request once a deadline has passed.

    Requests go to the wrapped generator one backend batch at a time, so a long article is stopped
    within one request of its budget (a request itself is bounded by ``max_new_tokens``).
    """

    def __init__(self, inner: Generator, seconds: float, deadline: float | None = None,
                 on_requests: Callable[[int], None] | None = None, cancelled: Callable[[], bool] | None = None):
        self.inner = inner
        self.kind = inner.kind
        self.info = inner.info
        self.context_length = inner.context_length
        self.seconds = seconds
        # time.monotonic() after which no request starts (none when seconds <= 0); wrappers may share one.
        if seconds <= 0:
            self.deadline = float("inf")
        else:
            self.deadline = time.monotonic() + seconds if deadline is None else deadline
        # Told how many requests each backend call carried (the pipeline counts model calls with it).
        self.on_requests = on_requests
        # True once the caller gave up (a Stop button): no further request starts.
        self.cancelled = cancelled

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def usage_now(self) -> Usage:
        return self.inner.usage_now()

    def generate(self, requests, options, *, forbid_han=False):
        step = max(1, getattr(self.inner, "batch_size", 1))
        outs: list[str] = []
        for start in range(0, len(requests), step):
            if self.cancelled is not None and self.cancelled():
                raise Cancelled("the job was cancelled")
            if time.monotonic() > self.deadline:
                raise TimeBudgetExceeded(f"stopped after {self.seconds:g} s of model work (limits.article_seconds); "
                                         "the article is too long for this machine's time budget")
            part = requests[start:start + step]
            outs += self.inner.generate(part, options, forbid_han=forbid_han)
            if self.on_requests is not None:
                self.on_requests(len(part))
        return outs


# The backends by config name; `runtime.get_generator` loads them (in a worker process by default).
BACKENDS: dict[str, type[Generator]] = {
    "llama_cpp": LlamaCppGenerator,
    "transformers": TransformersCausalGenerator,
    "seq2seq": Seq2SeqGenerator,
}
