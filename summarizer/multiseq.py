"""Several sequences decoded together on llama.cpp (continuous batching), and the probe that picks how many.

One decode step on a CPU is not compute-bound: adding one token to each of N sequences in one ``llama_decode`` costs
far less than N steps (on a 2-core AVX-512 machine 16 sequences give ~2x the tokens/s of one). `MultiSeq` answers a
list of prompts that way: the prompts' common prefix (system prompt, few-shot turns) is evaluated once into a
sequence of its own and copied into each new sequence's KV cache, and a longer start that a running sequence shares
with a new one (the same article's title and few-shot turns, a draw of the same request) is copied from that
sequence; every step decodes one token of each running sequence; a sequence that ends frees its slot and the next
waiting prompt starts in it. Each sequence samples with
llama.cpp's own sampler chain, built as llama-cpp-python builds it for ``create_chat_completion``, so greedy output is
the same tokens wherever the logits are.

llama.cpp's ``batched`` and ``parallel`` examples show the loop this follows.
"""

from __future__ import annotations

import ctypes
import json
import logging
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

logger = logging.getLogger("summarizer")

__all__ = ["MultiSeq", "SeqResult", "per_prompt", "too_long", "probe_widths", "pick_width", "measure_widths", "probe_child", "PROBE_WIDTHS"]

# Widths the probe tries; the curve is not monotonic (8 and 12 were slower than 4 on one machine), so each is measured.
PROBE_WIDTHS = (1, 4, 8, 16, 32)
# Tokens a batch holds for one llama_decode, and cells of KV cache kept per sequence slot beyond the prefix.
_N_BATCH = 512
_CELLS_PER_SLOT = 1024
# llama-cpp-python's defaults for create_chat_completion's sampler (top_k, min_p, the penalties' window).
_TOP_K, _MIN_P, _PENALTY_LAST_N = 40, 0.05, 64


@dataclass
class SeqResult:
    """One prompt's answer and what it cost."""

    # The answer (stop strings cut, end-of-generation token left out).
    text: str
    # Prompt tokens, and how many of them were evaluated (the rest came from the shared prefix).
    prompt_tokens: int
    evaluated_tokens: int
    # Tokens generated.
    output_tokens: int
    # A cancel ended it before its answer was complete.
    cancelled: bool = False
    # Why this prompt got no answer when it failed on its own (too long for the context); "" when it did not.
    error: str = ""


@dataclass
class _Seq:
    """A running sequence: its prompt, sampler, position of its last token, answer so far and budget."""

    i: int
    chain: object
    pos: int
    cells: int
    max_tokens: int
    evaluated: int
    out: bytes = b""
    n_out: int = 0
    token: int = -1


class MultiSeq:
    """Decode up to `width` sequences together on a model llama-cpp-python loaded (its own context and KV cache).

    Args:
        llm: A ``llama_cpp.Llama`` (its model is shared; its own context is left alone).
        width: Most sequences decoded at once.
        threads: CPU threads for decoding and prompt reading.
        n_ctx: KV cells in all (default: room for the prefix and `width` slots).
    """

    def __init__(self, llm, width: int, threads: int, n_ctx: int | None = None):
        import llama_cpp as L

        self.L, self.llm, self.width = L, llm, max(1, width)
        params = L.llama_context_default_params()
        # Room for the prefix and each slot, within what the model was trained on (a longer unified cache only warns).
        params.n_ctx = n_ctx or min(self.width * _CELLS_PER_SLOT + 2 * _N_BATCH + llm.n_ctx(),
                                    max(llm.n_ctx(), L.llama_model_n_ctx_train(llm.model)))
        params.n_batch = params.n_ubatch = _N_BATCH
        # One more sequence than slots: the shared prefix lives in sequence `width`.
        params.n_seq_max = self.width + 1
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True
        self.n_ctx = params.n_ctx
        self.ctx = L.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not make a context of {params.n_ctx} cells for {self.width} sequences")
        self.mem = L.llama_get_memory(self.ctx)
        self.vocab = L.llama_model_get_vocab(llm.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.batch = L.llama_batch_init(_N_BATCH, 0, self.width + 1)
        self.prefix_seq = self.width
        # The tokens sequence `prefix_seq` holds, kept across calls: the next call's prompts often share them.
        self.prefix: list[int] = []
        self._piece = ctypes.create_string_buffer(256)
        # Seconds spent reading prompts and decoding, over this decoder's life.
        self.prompt_seconds = 0.0
        self.decode_seconds = 0.0
        # Prompt reads a cancel cut short between two chunks, over this decoder's life.
        self.read_stopped = 0

    def close(self) -> None:
        """Free the context and the batch."""
        if self.ctx:
            self.L.llama_batch_free(self.batch)
            self.L.llama_free(self.ctx)
            self.ctx = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ------------------------------------------------------------------ batch plumbing

    def _clear(self) -> None:
        self.batch.n_tokens = 0

    def _add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        b, i = self.batch, self.batch.n_tokens
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
        b.seq_id[i][0] = seq
        b.n_tokens = i + 1
        return i

    def _decode(self) -> None:
        rc = self.L.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed ({rc}): the KV cache has no room for {self.batch.n_tokens} tokens")

    def _eval(self, tokens: Sequence[int], start: int, seq: int,
              stop: Callable[[], bool] | None = None) -> int | None:
        """Evaluate `tokens` at positions `start`... of `seq`, `_N_BATCH` at a time; the batch index of the last
        token's logits, or None (no tokens, or `stop` answered True between two chunks: a cancel lands within one
        chunk of a long prompt, not after all of it)."""
        last = None
        for lo in range(0, len(tokens), _N_BATCH):
            if lo and stop is not None and stop():
                self.read_stopped += 1
                return None
            self._clear()
            chunk = tokens[lo:lo + _N_BATCH]
            for k, tok in enumerate(chunk):
                last = self._add(tok, start + lo + k, seq, lo + k == len(tokens) - 1)
            self._decode()
        return last if tokens else None

    def _set_prefix(self, prefix: list[int], stop: Callable[[], bool] | None = None) -> int:
        """Make the prefix sequence hold `prefix`, keeping what it already shares with it; tokens evaluated. When
        `stop` cut the read short, the prefix held is the part read."""
        keep = 0
        for a, b in zip(self.prefix, prefix):
            if a != b:
                break
            keep += 1
        self.L.llama_memory_seq_rm(self.mem, self.prefix_seq, keep, -1)
        read = keep
        for lo in range(keep, len(prefix), _N_BATCH):
            if lo > keep and stop is not None and stop():
                self.read_stopped += 1
                break
            self._eval(prefix[lo:lo + _N_BATCH], lo, self.prefix_seq)
            read = min(len(prefix), lo + _N_BATCH)
        self.prefix = list(prefix[:read])
        return read - keep

    # ------------------------------------------------------------------ sampling

    def _sampler(self, temperature: float, top_p: float, repeat_penalty: float, seed: int):
        L = self.L
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        if repeat_penalty != 1.0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_penalties(self.n_vocab, _PENALTY_LAST_N, repeat_penalty, 0.0, 0.0))
        if temperature <= 0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        else:
            for s in (L.llama_sampler_init_top_k(_TOP_K), L.llama_sampler_init_typical(1.0, 1),
                      L.llama_sampler_init_top_p(top_p, 1), L.llama_sampler_init_min_p(_MIN_P, 1),
                      L.llama_sampler_init_temp(temperature), L.llama_sampler_init_dist(seed & 0xFFFFFFFF)):
                L.llama_sampler_chain_add(chain, s)
        return chain

    def _sample(self, chain, index: int, mask) -> int:
        if mask is not None and len(mask):
            import numpy as np

            logits = np.ctypeslib.as_array(self.L.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
            logits[mask] = -np.inf
        return int(self.L.llama_sampler_sample(chain, self.ctx, index))

    def _piece_bytes(self, token: int) -> bytes:
        n = self.L.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[:n] if n > 0 else b""

    # ------------------------------------------------------------------ the loop

    def run(self, prompts: Sequence[Sequence[int]], *, max_tokens: int | Sequence[int], temperature: Any = 0.0,
            top_p: Any = 1.0, repeat_penalty: Any = 1.0, seed: Any = 0, stop: Sequence[Any] = (), mask: Any = None,
            cancelled: Callable[[], "bool | frozenset[int]"] | None = None) -> list[SeqResult]:
        """Answer every prompt (token lists), `width` at a time, in order of the prompts.

        Each decoding setting is one value for every prompt, or a list with one per prompt (`per_prompt`): the calls
        of several jobs pooled into one (`pool.CallPool`) may decode with different settings side by side.

        Args:
            prompts: Tokenised prompts (chat template applied).
            max_tokens: Most tokens an answer may have.
            temperature: 0 for greedy; above 0 samples (top_k 40, top_p, min_p 0.05, as llama-cpp-python does).
            top_p: Nucleus mass when sampling.
            repeat_penalty: llama.cpp's repeat penalty over the last 64 tokens (1.0: none).
            seed: The sampling seed of every sequence.
            stop: Strings that end an answer (cut before them).
            mask: Token ids never sampled (numpy array), e.g. every token that writes Han.
            cancelled: Checked before each step: True ends every sequence where it is; a set of prompt indices ends
                those (running or waiting) while the others go on (a pooled call whose callers left).
        """
        L = self.L
        if not prompts:
            return []
        n = len(prompts)
        max_tokens, temperature, top_p, repeat_penalty, seed = (
            per_prompt(v, n) for v in (max_tokens, temperature, top_p, repeat_penalty, seed))
        stops = [[s for s in one if s] for one in per_prompt(stop, n, sequence=True)]
        masks = mask if isinstance(mask, list) else [mask] * n
        limit = self.llm.n_ctx()
        results: list[SeqResult | None] = [None] * len(prompts)
        # A prompt too long for the context fails alone: the call may carry other clients' prompts.
        for i, p in enumerate(prompts):
            if len(p) >= limit:
                results[i] = SeqResult("", len(p), 0, 0, error=too_long(len(p), limit))
        valid = [i for i in range(n) if results[i] is None]
        if not valid:
            return results  # type: ignore[return-value]

        def cancel_state() -> bool | frozenset[int]:
            return cancelled() if cancelled is not None else False

        def dropped(i: int) -> bool:
            c = cancel_state()
            return c is True or bool(c) and i in c

        common = list(prompts[valid[0]])
        for i in valid[1:]:
            common = common[:_shared(common, prompts[i], len(common))]
        # Each prompt keeps at least one token of its own, whose logits give its first answer token.
        common = common[:max(0, min(len(prompts[i]) for i in valid) - 1)]
        # Everyone's prefix: only a cancel of the whole call stops reading it.
        evaluated = self._set_prefix(common, stop=lambda: cancel_state() is True) if common or self.prefix else 0
        base = len(self.prefix) if common else 0
        if len(self.prefix) < len(common):  # the whole call was cancelled while its prefix was read
            for i in valid:
                results[i] = SeqResult("", len(prompts[i]), 0, 0, cancelled=True)
            return results  # type: ignore[return-value]
        keys = [tuple(p) for p in prompts]
        waiting = deque(valid)
        free = list(range(self.width))[::-1]
        running: dict[int, _Seq] = {}
        budget = self.n_ctx - base - _N_BATCH
        reserved = 0

        def finish(slot: int) -> None:
            nonlocal reserved
            seq = running.pop(slot)
            text = seq.out.decode("utf-8", errors="ignore")
            for s in stops[seq.i]:
                if s in text:
                    text = text[:text.index(s)]
            results[seq.i] = SeqResult(text.strip(), len(prompts[seq.i]), seq.evaluated, seq.n_out)
            L.llama_sampler_free(seq.chain)
            L.llama_memory_seq_rm(self.mem, slot, -1, -1)
            reserved -= seq.cells
            free.append(slot)

        def take(slot: int, index: int) -> None:
            """Sample the slot's next token from the logits at `index`; end the sequence when its answer is done."""
            seq = running[slot]
            token = self._sample(seq.chain, index, masks[seq.i])
            done = bool(L.llama_vocab_is_eog(self.vocab, token))
            if not done:
                seq.out += self._piece_bytes(token)
                seq.n_out += 1
                seq.token = token
                done = seq.n_out >= seq.max_tokens or (
                    bool(stops[seq.i]) and any(s in seq.out.decode("utf-8", errors="ignore") for s in stops[seq.i]))
            if done:
                finish(slot)

        while waiting or running:
            # Start waiting prompts in free slots while the KV cache has room for their worst case.
            while waiting and free:
                i = waiting[0]
                if dropped(i):  # its caller left while it waited: never read
                    waiting.popleft()
                    results[i] = SeqResult("", len(prompts[i]), 0, 0, cancelled=True)
                    continue
                most = min(max_tokens[i], limit - len(prompts[i]))
                cells = len(prompts[i]) - base + most + 1
                if running and reserved + cells > budget:
                    break
                waiting.popleft()
                slot = free.pop()
                reserved += cells
                L.llama_memory_seq_rm(self.mem, slot, -1, -1)
                # A running sequence whose prompt starts as this one does beyond the call's common prefix (a segment
                # of the same article: the title in the system message, then the few-shot turns; a draw of the same
                # request) lends its cells for that part, so only the rest is read. The last token is always read:
                # its logits give the first answer token.
                donor, start = None, base
                for s, q in running.items():
                    n = _shared(keys[q.i], keys[i], len(prompts[i]) - 1)
                    if n > start:
                        donor, start = s, n
                if donor is not None:
                    L.llama_memory_seq_cp(self.mem, donor, slot, 0, start)
                elif base:
                    L.llama_memory_seq_cp(self.mem, self.prefix_seq, slot, -1, -1)
                suffix = list(prompts[i][start:])
                running[slot] = _Seq(i, self._sampler(temperature[i], top_p[i], repeat_penalty[i], seed[i]),
                                     start + len(suffix) - 1, cells, most, len(suffix) + (evaluated if i == valid[0] else 0))
                t = time.perf_counter()
                index = self._eval(suffix, start, slot, stop=lambda i=i: dropped(i))
                self.prompt_seconds += time.perf_counter() - t
                if index is None:  # cancelled between two chunks of its prompt
                    finish(slot)
                    results[i].cancelled = True
                    continue
                take(slot, index)
            if not running:
                continue
            now = cancelled() if cancelled is not None else False
            if now:
                for slot in [s for s, q in running.items() if now is True or q.i in now]:
                    i = running[slot].i
                    finish(slot)
                    results[i].cancelled = True
                for i in [i for i in waiting if now is True or i in now]:
                    waiting.remove(i)
                    results[i] = SeqResult("", len(prompts[i]), 0, 0, cancelled=True)
                if now is True:
                    break
                if not running:
                    continue
            # One step: the last token of every running sequence, decoded together.
            self._clear()
            index_of = {}
            for slot, seq in running.items():
                seq.pos += 1
                index_of[slot] = self._add(seq.token, seq.pos, slot, True)
            t = time.perf_counter()
            self._decode()
            self.decode_seconds += time.perf_counter() - t
            for slot, index in index_of.items():
                take(slot, index)
        return results  # type: ignore[return-value] - every prompt has its result by now


def too_long(tokens: int, limit: int) -> str:
    """The plain message of a prompt too long for the model's context."""
    return (f"a model request of {tokens:,} tokens is over the model's context of {limit:,} tokens (the text with "
            "its hints and glossary entries); shorten the glossary or the paragraph")


def _shared(a: Sequence[int], b: Sequence[int], most: int) -> int:
    """How many leading tokens `a` and `b` have in common, at most `most`."""
    n = 0
    for x, y in zip(a[:most], b):
        if x != y:
            break
        n += 1
    return n


def per_prompt(value: Any, n: int, sequence: bool = False) -> list:
    """One value for each of `n` prompts: `value` itself when it is already a list of them, else `value` n times (a
    setting that is itself a sequence, the stop strings, counts as one value unless it is a list of sequences)."""
    if isinstance(value, list) and len(value) == n and (not sequence or all(isinstance(v, (list, tuple)) for v in value)):
        return value
    return [value] * n


def probe_widths(llm, threads: int, widths: Sequence[int] = PROBE_WIDTHS, steps: int = 8) -> dict[int, float]:
    """Tokens/s of decoding `w` sequences together, for each width: a shared prefix, then `steps` steps (the faster
    half counted, as the machine may be busy). A few seconds on a 2-core machine with the 1.5B."""
    prefix = llm.tokenize("北京市委书记蔡奇强调，北京作为首都，与党和国家的使命紧密联系在一起。".encode() * 3, add_bos=False)
    rates: dict[int, float] = {}
    for w in widths:
        ms = MultiSeq(llm, w, threads, n_ctx=len(prefix) + w * (steps + 4) + _N_BATCH)
        try:
            ms._set_prefix(prefix)
            for s in range(w):
                ms.L.llama_memory_seq_cp(ms.mem, ms.prefix_seq, s, -1, -1)
            times = []
            for k in range(steps):
                ms._clear()
                for s in range(w):
                    ms._add(prefix[(k + s) % len(prefix)], len(prefix) + k, s, True)
                t = time.perf_counter()
                ms._decode()
                times.append(time.perf_counter() - t)
            fast = sorted(times)[:max(1, steps // 2)]
            rates[w] = round(w / (sum(fast) / len(fast)), 2)
        finally:
            ms.close()
    return rates


def _cache_file() -> Path:
    from .embedded import cache_dir

    return cache_dir() / "multiseq-widths.json"


def pick_width(llm, model_path: Path, threads: int, *, force: bool = False) -> tuple[int, dict[int, float]]:
    """The width with the most tokens/s on this machine, probed at the first load of a build, CPU, model and thread
    count, then read from the cache beside the build's smoke-test result. Returns (width, the probe's table)."""
    from .smoke import build_key, save_json

    key = f"{build_key(model_path)}-t{threads}"
    path = _cache_file()
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key) if isinstance(cache, dict) and not force else None
    if not entry:
        t = time.perf_counter()
        rates = probe_widths(llm, threads)
        entry = {"rates": {str(k): v for k, v in rates.items()}, "seconds": round(time.perf_counter() - t, 1),
                 "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
        cache = cache if isinstance(cache, dict) else {}
        cache[key] = entry
        save_json(path, cache, "the decode widths")
        logger.info("decode widths on this machine (tokens/s): %s", entry["rates"])
    rates = {int(k): float(v) for k, v in entry["rates"].items()}
    return max(rates, key=lambda w: (rates[w], -w)), rates


def probe_child() -> None:
    """A child process's main: load the GGUF named on the command line, probe the widths again, print the result."""
    from llama_cpp import Llama

    path, threads = Path(sys.argv[1]), int(sys.argv[2])
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    width, rates = pick_width(llm, path, threads, force=True)
    print(json.dumps({"width": width, "rates": rates}))


def measure_widths(model_path: Path, threads: int, timeout: float = 600) -> tuple[int, dict[int, float]]:
    """Probe the decode widths again in a child process (a build that crashes there cannot take the caller), cache
    the result for the next load, and return (the best width, tokens/s per width)."""
    cmd = [sys.executable, "-c", "from summarizer.multiseq import probe_child; probe_child()", str(model_path),
           str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise RuntimeError(f"the decode-width probe failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return int(data["width"]), {int(k): float(v) for k, v in data["rates"].items()}
