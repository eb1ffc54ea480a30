"""GGUF models through llama-cpp-python: the embedded default. A call's requests are decoded together
(`multiseq.MultiSeq`) as wide as this machine decodes best; one request goes through ``create_chat_completion``."""

from __future__ import annotations

import dataclasses
import threading

from .config import ModelConfig
from .models import Generator, ModelInfo, ModelLoadError, RequestFailed, Usage, cpu_threads, gguf_path, han_token

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
            n_ctx=cfg.n_ctx,
            n_threads=cpu_threads(cfg.threads),
            n_threads_batch=cpu_threads(cfg.threads),
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
        # Several requests of one call are decoded together (`multiseq.MultiSeq`), as many as this machine does best;
        # None where requests go one at a time.
        self.decoder = None
        self._format = self._chat_formatter()
        width = cfg.parallel
        if width != 1 and self._format is not None:
            from .multiseq import MultiSeq, pick_width

            if width <= 0:
                width, _rates = pick_width(self._llm, path, cpu_threads(cfg.threads))
            if width > 1:
                self.decoder = MultiSeq(self._llm, width, cpu_threads(cfg.threads))
        # Requests per backend call (`BudgetedGenerator` sends this many at once).
        self.batch_size = self.decoder.width if self.decoder is not None else 1
        self.info = dataclasses.replace(self.info, parallel=self.batch_size)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    @property
    def llama(self):
        """The ``llama_cpp.Llama`` this generator holds."""
        return self._llm

    def _chat_formatter(self):
        """The GGUF's own chat template, as `create_chat_completion` applies it (None without one)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
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

    cancellable = True

    def generate(self, requests, options, *, forbid_han=False, cancelled=None):
        processors = None
        if forbid_han:
            from llama_cpp import LogitsProcessorList

            mask = self.han_mask()

            def no_han(_ids, scores):
                scores[mask] = -float("inf")
                return scores

            processors = LogitsProcessorList([no_han])
        if self.decoder is not None and len(requests) > 1:
            return self._generate_together(requests, options, forbid_han, cancelled)
        current = [0]

        def dropped() -> bool:
            """The request being answered is cancelled: the whole call, or its caller left a pooled call."""
            now = cancelled() if cancelled is not None else False
            return now is True or bool(now) and current[0] in now

        if cancelled is not None:
            from llama_cpp import LogitsProcessorList

            eos = self._llm.token_eos()

            def end_when_cancelled(_ids, scores):
                # create_chat_completion has no stopping hook: a cancel leaves only the end token to sample.
                if dropped():
                    scores[:] = -float("inf")
                    scores[eos] = 0.0
                return scores

            processors = LogitsProcessorList([*(processors or []), end_when_cancelled])
        outs = []
        errors: dict[int, str] = {}
        # One Llama object owns one KV cache; requests run in order and reuse the shared prompt prefix.
        with self._lock:
            for k, messages in enumerate(requests):
                current[0] = k
                if dropped() and cancelled() is not True:
                    outs.append("")
                    self.usage.cancelled += 1
                    continue
                # Templated and tokenised once here, for the size check and the chunked read.
                tokens = self.prompt_tokens(messages) if self._format is not None else None
                why = self._too_long(tokens)
                if why:  # this request fails alone; the call may carry other clients' requests
                    outs.append("")
                    errors[k] = why
                    continue
                if cancelled is not None and tokens is not None and not self._read_prompt(tokens, dropped):
                    outs.append("")
                    self.usage.cancelled += 1
                    if cancelled() is True:
                        outs += [""] * (len(requests) - len(outs))
                        break
                    continue
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
                if cancelled is not None and cancelled() is True:
                    self.usage.cancelled += 1
                    outs += [""] * (len(requests) - len(outs))
                    break
                if dropped():
                    self.usage.cancelled += 1
        if errors:
            raise RequestFailed(outs + [""] * (len(requests) - len(outs)), errors)
        return outs

    def _read_prompt(self, tokens: list[int], stop) -> bool:
        """Read a request's prompt into the KV cache a chunk at a time, asking `stop` between chunks, so a cancel
        lands within one chunk of a long prompt (`create_chat_completion` reads all of it first). The chunks are the
        ones it would read, from the same position, and the last is left to it: it finds the rest cached, and the
        answer is the same. False when `stop` answered True."""
        llm = self._llm
        pos = 0
        for held, new in zip(llm.input_ids[:llm.n_tokens].tolist(), tokens):
            if held != new:
                break
            pos += 1
        if len(tokens) - pos <= llm.n_batch:
            return not stop()
        llm.n_tokens = pos
        while len(tokens) - pos > llm.n_batch:
            if stop():
                return False
            llm.eval(tokens[pos:pos + llm.n_batch])
            pos += llm.n_batch
        return not stop()

    def _too_long(self, tokens: list[int] | None) -> str:
        """Why a chat request of these prompt tokens cannot be answered in this context ("" when it can, or when
        the tokens are unknown: a GGUF without a chat template)."""
        from .multiseq import too_long

        if tokens is None or len(tokens) < self._llm.n_ctx():
            return ""
        return too_long(len(tokens), self._llm.n_ctx())

    def generate_mixed(self, requests, options: list, forbid_han: list, *, cancelled=None) -> list[str]:
        """Like `generate`, with decoding options and the Han ban given per request (the calls of several jobs pooled
        into one, `pool.CallPool`): decoded together all the same when this model decodes several at once."""
        if self.decoder is not None and len(requests) > 1:
            return self._generate_together(requests, options, forbid_han, cancelled)
        return super().generate_mixed(requests, options, forbid_han, cancelled=cancelled)

    def _generate_together(self, requests, options, forbid_han, cancelled=None) -> list[str]:
        """The requests decoded together, their common prefix read once; `options` and `forbid_han` are one value
        for all of them, or lists with one per request."""
        from .multiseq import per_prompt

        n = len(requests)
        each, bans = per_prompt(options, n), per_prompt(forbid_han, n)
        with self._lock:
            multi = self.decoder
            p0, d0 = multi.prompt_seconds, multi.decode_seconds
            results = multi.run([self.prompt_tokens(m) for m in requests],
                                max_tokens=[o.max_new_tokens for o in each], temperature=[o.temperature for o in each],
                                top_p=[o.top_p for o in each], repeat_penalty=[o.repetition_penalty for o in each],
                                seed=[o.seed for o in each], stop=[tuple(o.stop) for o in each],
                                mask=[self.han_mask() if ban else None for ban in bans], cancelled=cancelled)
            u = self.usage
            u.calls += len(results)
            u.prompt_tokens += sum(r.prompt_tokens for r in results)
            u.cached_prompt_tokens += sum(r.prompt_tokens - r.evaluated_tokens for r in results)
            u.output_tokens += sum(r.output_tokens for r in results)
            u.prompt_seconds += multi.prompt_seconds - p0
            u.decode_seconds += multi.decode_seconds - d0
            u.cancelled += sum(r.cancelled for r in results)
        errors = {k: r.error for k, r in enumerate(results) if r.error}
        if errors:
            raise RequestFailed([r.text for r in results], errors)
        return [r.text for r in results]

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
