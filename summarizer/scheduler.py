"""The model's one decode loop on llama.cpp: every request, alone or beside others, is answered by it.

Requests arrive at any time (`Scheduler.submit`) and leave at any time (`Scheduler.cancel`). Each `Scheduler.step`
is one ``llama_decode``: it admits waiting requests into free sequence slots, then puts the next token of every
running sequence and chunks of the prompts being read into one batch (at most `N_BATCH` tokens), as llama.cpp's own
server does. A decoded token is cheap beside prompt tokens in one batch; alone on a 2-core CPU it costs ~3 prompt
tokens.

A new request copies the longest start it shares with any sequence whose cells hold it: a running one, one still
reading its prompt, or one that finished and is kept as a cache (the system prompt and few-shot turns, the same
article's title; a draw of the same request). A request that shares more with a prompt still being read waits until
that part is read, so the shared part is read once. Kept sequences are dropped, least recently used first, when
their slot or cells are needed.

Each sequence samples with llama.cpp's own sampler chain, built as llama-cpp-python builds it for
``create_chat_completion``. The KV cells a sequence may use are counted against the context when it is admitted (its
own prompt tokens and its answer budget); a request that does not fit waits for room.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Hashable, Sequence

logger = logging.getLogger("summarizer")

__all__ = ["Ask", "SeqResult", "Scheduler", "N_BATCH", "too_long"]

# Tokens one llama_decode takes: decode tokens and prompt chunks together.
N_BATCH = 512
# KV cells kept per sequence slot beyond the shared prefix, when sizing the context.
CELLS_PER_SLOT = 512
# llama-cpp-python's defaults for create_chat_completion's sampler (top_k, min_p, the penalties' window).
_TOP_K, _MIN_P, _PENALTY_LAST_N = 40, 0.05, 64
# Prompt tokens a step reads beside running sequences: a full chunk takes seconds on a 2-core CPU, and every running
# sequence waits that long for its next token.
MIXED_PROMPT = 128
# A waiting request that would share this many more tokens with a prompt still being read waits for that part.
_WAIT_FOR_SHARE = 4


@dataclass(frozen=True)
class Ask:
    """One request for the loop: its prompt tokens and decoding settings."""

    # The prompt, tokenised with the chat template applied.
    tokens: tuple[int, ...]
    # Most tokens the answer may have.
    max_tokens: int = 256
    # 0: greedy; above 0 samples (top_k 40, top_p, min_p 0.05, as llama-cpp-python does).
    temperature: float = 0.0
    # Nucleus mass when sampling.
    top_p: float = 1.0
    # llama.cpp's repeat penalty over the last 64 tokens (1.0: none).
    repeat_penalty: float = 1.0
    # The sampling seed.
    seed: int = 0
    # Strings that end the answer (cut before them).
    stop: tuple[str, ...] = ()
    # Token ids never sampled (a numpy array: every token that writes Han), or None.
    mask: Any = field(default=None, compare=False)


@dataclass
class SeqResult:
    """One request's answer and what it cost."""

    # The answer (stop strings cut, end-of-generation token left out).
    text: str
    # Prompt tokens, and how many of them were read (the rest were copied from a sequence that held them).
    prompt_tokens: int
    evaluated_tokens: int
    # Tokens generated.
    output_tokens: int
    # A cancel ended it before its answer was complete.
    cancelled: bool = False
    # Why it got no answer when it failed on its own (too long for the context, a failed decode); "" when it did not.
    error: str = ""


@dataclass(eq=False)
class _Seq:
    key: Hashable
    ask: Ask
    chain: Any
    # Prompt tokens whose cells this sequence holds; tokens copied from `donor` at admission.
    read: int
    start: int
    donor: int | None
    # KV cells counted against the context for it.
    cost: int
    # "read" (its prompt is being read), "gen" (decoding), "kept" (finished; its prompt cells kept as a cache).
    state: str = "read"
    pos: int = -1
    token: int = -1
    out: bytes = b""
    n_out: int = 0
    evaluated: int = 0
    used: float = field(default_factory=time.monotonic)


class Scheduler:
    """Decode every request through one loop on a model llama-cpp-python loaded (its own context and KV cache).

    Not thread-safe: one thread submits, cancels and steps (the worker's loop; `llamacpp.LlamaCppGenerator` holds a
    lock for in-process callers).

    Args:
        llm: A ``llama_cpp.Llama`` (its model is shared; its own context is left alone).
        width: Most sequences decoded at once (1: one request at a time, through the same loop).
        threads: CPU threads for decoding and prompt reading.
        limit: Most tokens one request's prompt and answer may take (the model config's ``n_ctx``).
        n_ctx: KV cells in all (default: room for `width` slots beside the shared prefix).
    """

    def __init__(self, llm, width: int, threads: int, limit: int = 4096, n_ctx: int | None = None):
        import llama_cpp as L

        self.L, self.llm, self.width, self.limit = L, llm, max(1, width), limit
        params = L.llama_context_default_params()
        # The attention and rope settings llama-cpp-python gives its own context (flash attention off): another
        # kernel moves the last bits of the logits, and greedy answers part ways with create_chat_completion's.
        for name in ("flash_attn_type", "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_ext_factor",
                     "rope_freq_base", "rope_freq_scale", "rope_scaling_type", "pooling_type"):
            setattr(params, name, getattr(llm.context_params, name))
        # Room for each slot and one full-length request, within what the model was trained on.
        params.n_ctx = n_ctx or min(self.width * CELLS_PER_SLOT + 2 * N_BATCH + limit,
                                    max(limit + 2 * N_BATCH, L.llama_model_n_ctx_train(llm.model)))
        params.n_batch = params.n_ubatch = N_BATCH
        # Twice the slots: finished sequences stay as caches of their prompts until a slot is needed.
        self.slots = min(2 * self.width + 2, L.llama_max_parallel_sequences())
        params.n_seq_max = self.slots
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True
        self.n_ctx = params.n_ctx
        self.ctx = L.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not make a context of {params.n_ctx} cells for {self.width} sequences")
        self.mem = L.llama_get_memory(self.ctx)
        self.vocab = L.llama_model_get_vocab(llm.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.batch = L.llama_batch_init(N_BATCH, 0, 1)
        self._piece = ctypes.create_string_buffer(256)
        # Cells the admitted and kept sequences may use; admission keeps it within `budget`.
        self.budget = self.n_ctx - N_BATCH
        self.held = 0
        self.seqs: dict[int, _Seq] = {}
        self.waiting: deque[tuple[Hashable, Ask]] = deque()
        self._finished: list[tuple[Hashable, SeqResult]] = []
        # Sampler chains alive now (tests check that none leaks).
        self.live_samplers = 0
        # Over the loop's life: seconds in steps with prompt tokens only, decode tokens only, and both; steps by how
        # many sequences they decoded; prompt reads a cancel cut short; steps that waited for KV room.
        self.prompt_seconds = self.decode_seconds = self.mixed_seconds = 0.0
        self.widths: Counter[int] = Counter()
        self.read_stopped = 0
        self.full_waits = 0

    def close(self) -> None:
        """Free the context and the batch."""
        if self.ctx:
            for s in list(self.seqs.values()):
                self._free_chain(s)
            self.L.llama_batch_free(self.batch)
            self.L.llama_free(self.ctx)
            self.ctx = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ------------------------------------------------------------------ requests in and out

    def submit(self, key: Hashable, ask: Ask) -> None:
        """Queue a request; its answer comes from a later `step` under `key`. A prompt too long for the context
        fails alone at once."""
        if len(ask.tokens) >= self.limit:
            self._finished.append((key, SeqResult("", len(ask.tokens), 0, 0, error=too_long(len(ask.tokens),
                                                                                               self.limit))))
            return
        self.waiting.append((key, ask))

    def cancel(self, keys) -> None:
        """End these requests where they are (waiting, reading their prompt or decoding); each is answered as
        cancelled by the next `step`. Unknown keys (answered already) are ignored."""
        keys = set(keys)
        for item in [w for w in self.waiting if w[0] in keys]:
            self.waiting.remove(item)
            self._finished.append((item[0], SeqResult("", len(item[1].tokens), 0, 0, cancelled=True)))
        for sid, s in list(self.seqs.items()):
            if s.state != "kept" and s.key in keys:
                if s.state == "read":
                    self.read_stopped += 1
                self._finish(sid, cancelled=True)

    def forget(self) -> None:
        """Drop every kept prompt (the next requests read theirs from the start)."""
        while self._evict(None) is not None:
            pass

    def busy(self) -> bool:
        """Work is waiting, running or answered but not yet handed out."""
        return bool(self.waiting or self._finished or any(s.state != "kept" for s in self.seqs.values()))

    def running(self) -> int:
        """Sequences reading or decoding now."""
        return sum(s.state != "kept" for s in self.seqs.values())

    # ------------------------------------------------------------------ the loop

    def step(self) -> list[tuple[Hashable, SeqResult]]:
        """Admit what fits, run one ``llama_decode`` over every running sequence, and return the requests answered
        since the last step (by key). A failed decode ends every running request with an error and clears the
        cache; the loop goes on."""
        self._admit()
        active = {sid: s for sid, s in self.seqs.items() if s.state != "kept"}
        if active:
            self.clear()
            decode = {sid: self.add(s.token, s.pos + 1, sid, True) for sid, s in active.items() if s.state == "gen"}
            room = min(N_BATCH - len(decode), MIXED_PROMPT) if decode else N_BATCH
            read_last, read_any = {}, False
            for sid, s in active.items():
                if s.state != "read" or room <= 0:
                    continue
                n = min(room, len(s.ask.tokens) - s.read)
                for k in range(s.read, s.read + n):
                    index = self.add(s.ask.tokens[k], k, sid, k == len(s.ask.tokens) - 1)
                s.read += n
                s.evaluated += n
                room -= n
                read_any = True
                if s.read == len(s.ask.tokens):
                    read_last[sid] = index
            t = time.perf_counter()
            rc = self.L.llama_decode(self.ctx, self.batch)
            dt = time.perf_counter() - t
            if rc != 0:
                self._fail(f"llama_decode failed ({rc}): the KV cache has no room for {self.batch.n_tokens} tokens")
            else:
                if decode and read_any:
                    self.mixed_seconds += dt
                elif decode:
                    self.decode_seconds += dt
                else:
                    self.prompt_seconds += dt
                if decode:
                    self.widths[len(decode)] += 1
                for sid, index in decode.items():
                    self.seqs[sid].pos += 1
                    self._take(sid, index)
                for sid, index in read_last.items():
                    self.seqs[sid].state, self.seqs[sid].pos = "gen", len(self.seqs[sid].ask.tokens) - 1
                    self._take(sid, index)
        done, self._finished = self._finished, []
        return done

    def run(self, asks: Sequence[Ask], cancelled=None) -> list[SeqResult]:
        """Answer `asks` (nothing else is running) and return their results in order; `cancelled()` turning True
        ends them all (tests and the width probe use this; the worker steps the loop itself)."""
        keys = [("run", k) for k in range(len(asks))]
        for key, ask in zip(keys, asks):
            self.submit(key, ask)
        got: dict[Hashable, SeqResult] = {}
        while len(got) < len(keys):
            if cancelled is not None and cancelled():
                self.cancel(keys)
            got.update(self.step())
        return [got[k] for k in keys]

    # ------------------------------------------------------------------ admission and slots

    def _admit(self) -> None:
        skipped: list[tuple[Hashable, Ask]] = []
        while self.waiting and self.running() < self.width:
            key, ask = self.waiting.popleft()
            donor, start = self._donor(ask.tokens)
            # Another prompt being read shares more: wait until it has read that part, so it is read once.
            ahead = max((_shared(s.ask.tokens, ask.tokens, len(ask.tokens) - 1)
                         for s in self.seqs.values() if s.state == "read"), default=0)
            if ahead > start + _WAIT_FOR_SHARE:
                skipped.append((key, ask))
                continue
            most = min(ask.max_tokens, self.limit - len(ask.tokens))
            cost = len(ask.tokens) - start + most + 1
            while self.held + cost > self.budget and self._evict(keep=donor) is not None:
                pass
            sid = self._free_slot(keep=donor)
            if sid is None or (self.held + cost > self.budget and self.running()):
                # No room until a running sequence ends: it waits at the head of the line.
                self.full_waits += 1
                skipped.append((key, ask))
                break
            self.L.llama_memory_seq_rm(self.mem, sid, -1, -1)
            if donor is not None:
                self.L.llama_memory_seq_cp(self.mem, donor, sid, 0, start)
                self.seqs[donor].used = time.monotonic()
            self.seqs[sid] = _Seq(key, ask, self._sampler(ask), start, start, donor, cost)
            self.held += cost
        self.waiting.extendleft(reversed(skipped))

    def _donor(self, tokens: Sequence[int]) -> tuple[int | None, int]:
        """The sequence whose cells hold the longest start of `tokens`, and how long (the last token is always
        read: its logits give the first answer token)."""
        best, n = None, 0
        for sid, s in self.seqs.items():
            k = _shared(s.ask.tokens[:s.read], tokens, len(tokens) - 1)
            if k > n:
                best, n = sid, k
        return best, n

    def _free_slot(self, keep: int | None) -> int | None:
        for sid in range(self.slots):
            if sid not in self.seqs:
                return sid
        return self._evict(keep)

    def _evict(self, keep: int | None) -> int | None:
        """Drop the least recently used kept sequence (never `keep`); its slot, or None when none can go."""
        kept = [(s.used, sid) for sid, s in self.seqs.items() if s.state == "kept" and sid != keep]
        if not kept:
            return None
        sid = min(kept)[1]
        for s in self.seqs.values():
            if s.donor == sid:
                # Its copied cells were counted to the donor; now they are its own.
                s.cost += s.start
                self.held += s.start
                s.donor = None
        self.L.llama_memory_seq_rm(self.mem, sid, -1, -1)
        self.held -= self.seqs.pop(sid).cost
        return sid

    def _finish(self, sid: int, *, cancelled: bool = False, error: str = "") -> None:
        """End a sequence: hand out its result, free its sampler, keep its prompt's cells as a cache."""
        s = self.seqs[sid]
        text = s.out.decode("utf-8", errors="ignore")
        for stop in s.ask.stop:
            if stop and stop in text:
                text = text[:text.index(stop)]
        self._finished.append((s.key, SeqResult("" if error else text.strip(), len(s.ask.tokens), s.evaluated,
                                                s.n_out, cancelled=cancelled, error=error)))
        self._free_chain(s)
        self.L.llama_memory_seq_rm(self.mem, sid, s.read, -1)
        self.held -= s.cost
        s.cost, s.state, s.used = s.read - s.start if s.donor is not None else s.read, "kept", time.monotonic()
        self.held += s.cost

    def _fail(self, why: str) -> None:
        """A failed decode: every running request gets the error, and the cache starts empty."""
        logger.warning("%s; %d running request(s) fail", why, self.running())
        for sid, s in list(self.seqs.items()):
            if s.state != "kept":
                self._finish(sid, error=why)
        self.L.llama_memory_clear(self.mem, True)
        self.seqs.clear()
        self.held = 0

    # ------------------------------------------------------------------ sampling

    def _sampler(self, ask: Ask):
        L = self.L
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        if ask.repeat_penalty != 1.0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_penalties(self.n_vocab, _PENALTY_LAST_N,
                                                                            ask.repeat_penalty, 0.0, 0.0))
        if ask.temperature <= 0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        else:
            for s in (L.llama_sampler_init_top_k(_TOP_K), L.llama_sampler_init_typical(1.0, 1),
                      L.llama_sampler_init_top_p(ask.top_p, 1), L.llama_sampler_init_min_p(_MIN_P, 1),
                      L.llama_sampler_init_temp(ask.temperature), L.llama_sampler_init_dist(ask.seed & 0xFFFFFFFF)):
                L.llama_sampler_chain_add(chain, s)
        self.live_samplers += 1
        return chain

    def _free_chain(self, s: _Seq) -> None:
        if s.chain is not None:
            self.L.llama_sampler_free(s.chain)
            s.chain = None
            self.live_samplers -= 1

    def _take(self, sid: int, index: int) -> None:
        """Sample the sequence's next token from the logits at `index`; end it when its answer is done."""
        s = self.seqs[sid]
        mask = s.ask.mask
        if mask is not None and len(mask):
            import numpy as np

            logits = np.ctypeslib.as_array(self.L.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
            logits[mask] = -np.inf
        token = int(self.L.llama_sampler_sample(s.chain, self.ctx, index))
        done = bool(self.L.llama_vocab_is_eog(self.vocab, token))
        if not done:
            n = self.L.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
            s.out += self._piece.raw[:n] if n > 0 else b""
            s.n_out += 1
            s.token = token
            done = s.n_out >= min(s.ask.max_tokens, self.limit - len(s.ask.tokens)) or (
                bool(s.ask.stop) and any(x and x in s.out.decode("utf-8", errors="ignore") for x in s.ask.stop))
        if done:
            self._finish(sid)

    # ------------------------------------------------------------------ batch plumbing

    def clear(self) -> None:
        """Empty the batch."""
        self.batch.n_tokens = 0

    def add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        """Put a token of sequence `seq` at position `pos` in the batch; its index there."""
        b, i = self.batch, self.batch.n_tokens
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
        b.seq_id[i][0] = seq
        b.n_tokens = i + 1
        return i

    def decode(self) -> None:
        """Run the batch (the width probe builds its own)."""
        rc = self.L.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed ({rc})")


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
