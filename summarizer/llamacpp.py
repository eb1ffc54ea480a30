"""GGUF models through llama-cpp-python: the embedded default. Every request goes through one decode loop
(`scheduler.Scheduler`), as many at once as the config's ``parallel`` allows (0: as wide as this machine decodes
best, `multiseq.pick_width`); a request alone is the same loop at width 1."""

from __future__ import annotations

import dataclasses
import itertools
import threading

from .config import ModelConfig
from .models import (Cancelled, Generator, ModelInfo, ModelLoadError, RequestFailed, Usage, cpu_threads, each_request,
                     gguf_path, han_token)
from .scheduler import Ask, Scheduler

__all__ = ["LlamaCppGenerator"]


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
            # Its own context is used for nothing but loading: the loop makes the one that decodes.
            n_ctx=512,
            n_threads=cpu_threads(cfg.threads),
            n_threads_batch=cpu_threads(cfg.threads),
            n_batch=512,
            n_gpu_layers=-1 if device == "cuda" else 0,
            seed=cfg.seed,
            verbose=False,
        )
        self.context_length = cfg.n_ctx
        # The GGUF file (a worker's parent loads its vocabulary alone to count tokens).
        self.path = path
        self.info = ModelInfo(name=path.name, backend="llama_cpp", sha256=sha, device=device)
        self.usage = Usage()
        self._han_ids = None
        # In-process callers (threads) take turns to submit and step; the worker's loop is one thread anyway.
        self._lock = threading.Lock()
        self._keys = itertools.count()
        self._answers: dict = {}
        self._format = self._chat_formatter()
        width = cfg.parallel
        if width <= 0:
            from .multiseq import pick_width

            width, _rates = pick_width(self._llm, path, cpu_threads(cfg.threads))
        self.loop = Scheduler(self._llm, width, cpu_threads(cfg.threads), limit=cfg.n_ctx)
        # Most requests decoded at once.
        self.batch_size = self.loop.width
        self.info = dataclasses.replace(self.info, parallel=self.batch_size)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    @property
    def llama(self):
        """The ``llama_cpp.Llama`` this generator holds."""
        return self._llm

    def _chat_formatter(self):
        """The GGUF's own chat template, as `create_chat_completion` applies it (ChatML for a GGUF without one)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter, format_chatml

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return format_chatml
        model = self._llm._model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        return Jinja2ChatFormatter(template=template, eos_token=model.token_get_text(eos) if eos >= 0 else "",
                                   bos_token=model.token_get_text(bos) if bos >= 0 else "", stop_token_ids=[eos])

    def prompt_tokens(self, messages) -> list[int]:
        """A chat request's tokens, the GGUF's chat template applied as `create_chat_completion` applies it."""
        res = self._format(messages=list(messages))
        return self._llm.tokenize(res.prompt.encode("utf-8"), add_bos=not res.added_special, special=True)

    def han_mask(self):
        """The ids of every token that writes Han (or a partial UTF-8 sequence that could), built once."""
        import numpy as np

        if self._han_ids is None:
            ids = []
            for i in range(self._llm.n_vocab()):
                piece = self._llm.detokenize([i]).decode("utf-8", errors="replace")
                if han_token(piece):
                    ids.append(i)
            self._han_ids = np.array(ids, dtype=np.int64)
        return self._han_ids


    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        """Answer `requests` through the loop, beside whatever other threads of this process asked.

        `options` and `forbid_han` are one value for all or a list with one per request. `cancelled()` turning True
        ends them where they are and raises `Cancelled`; `on_done(k)` hears as k of them have their answer.
        """
        opts, bans = each_request(options, forbid_han, len(requests))
        keys = [("inline", next(self._keys)) for _ in requests]
        with self._lock:
            for key, request, o, ban in zip(keys, requests, opts, bans):
                self.submit(key, request, o, ban)
        mine: dict = {}
        told = False
        while len(mine) < len(keys):
            with self._lock:
                if not told and cancelled is not None and cancelled():
                    self.cancel(keys)
                    told = True
                for key, *answer in self.step():
                    self._answers[key] = answer
                for key in keys:
                    if key in self._answers and key not in mine:
                        mine[key] = self._answers.pop(key)
            if on_done is not None:
                on_done(len(mine))
        if told:
            raise Cancelled("the job was cancelled")
        outs = [mine[k][0] for k in keys]
        errors = {i: mine[k][1] for i, k in enumerate(keys) if mine[k][1]}
        if errors:
            raise RequestFailed(outs, errors)
        return outs

    # ------------------------------------------------------------------ the loop, driven by the worker

    def submit(self, key, request, options, forbid_han: bool) -> None:
        """Queue one chat request under `key` (its answer comes from a later `step`)."""
        tokens = tuple(self.prompt_tokens(request))
        self.loop.submit(key, Ask(tokens, max_tokens=options.max_new_tokens, temperature=options.temperature,
                                  top_p=options.top_p, repeat_penalty=options.repetition_penalty, seed=options.seed,
                                  stop=tuple(options.stop), mask=self.han_mask() if forbid_han else None))

    def cancel(self, keys) -> None:
        """End these requests where they are."""
        self.loop.cancel(keys)

    def busy(self) -> bool:
        """Requests are waiting or running."""
        return self.loop.busy()

    def step(self) -> list[tuple]:
        """One step of the loop; the requests answered, as ``(key, text, error, cancelled)``."""
        loop, u = self.loop, self.usage
        before = (loop.prompt_seconds, loop.decode_seconds, loop.mixed_seconds, sum(loop.widths.values()),
                  sum(w * n for w, n in loop.widths.items()), sum(n for w, n in loop.widths.items() if w > 1))
        done = loop.step()
        after = (loop.prompt_seconds, loop.decode_seconds, loop.mixed_seconds, sum(loop.widths.values()),
                 sum(w * n for w, n in loop.widths.items()), sum(n for w, n in loop.widths.items() if w > 1))
        d = [a - b for a, b in zip(after, before)]
        u.prompt_seconds += d[0]
        u.decode_seconds += d[1]
        u.mixed_seconds += d[2]
        u.steps += d[3]
        u.decode_tokens += d[4]
        u.shared_steps += d[5]
        out = []
        for key, r in done:
            u.calls += 1
            u.prompt_tokens += r.prompt_tokens
            u.cached_prompt_tokens += r.prompt_tokens - r.evaluated_tokens
            u.output_tokens += r.output_tokens
            u.cancelled += r.cancelled
            out.append((key, r.text, r.error, r.cancelled))
        return out



class TokenCounter:
    """Counts tokens with a GGUF's vocabulary alone (no weights, no context): a worker's parent counts here, so a
    count never waits behind the model's loop. The same tokenizer call as `LlamaCppGenerator.count_tokens`."""

    def __init__(self, path: str):
        import llama_cpp as L

        self.L = L
        params = L.llama_model_default_params()
        params.vocab_only = True
        self.model = L.llama_model_load_from_file(path.encode("utf-8"), params)
        if not self.model:
            raise ModelLoadError(f"could not read the vocabulary of {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        """Tokens `text` takes (no BOS, special tokens read as text)."""
        data = text.encode("utf-8")
        size = len(data) + 8
        with self._lock:
            buf = (self.L.llama_token * size)()
            n = self.L.llama_tokenize(self.vocab, data, len(data), buf, size, False, False)
        return -n if n < 0 else n

    def __del__(self):
        try:
            self.L.llama_model_free(self.model)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
