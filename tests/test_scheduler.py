"""The model's one decode loop (`summarizer.scheduler`), on the embedded 0.5B: in this process, and in the worker."""

from __future__ import annotations

import threading
import time

import pytest

from summarizer.config import GenerationOptions, ModelConfig
from summarizer.models import Cancelled, RequestFailed
from summarizer.text import has_han

pytestmark = pytest.mark.model

SOURCES = ["北京市委书记蔡奇讲话。", "会议在北京召开了。目前每天群众来电两万件左右。", "市民外出。", "今年上半年，全市经济增长6.5%。",
           "长江和黄河是中国最长的两条河流。", "他说，这项工作要抓紧落实。"]
SMALL = dict(backend="llama_cpp", model="embedded:qwen2.5-coder-0.5b", threads=2)


def _messages(zh: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You translate Chinese news into English. Answer with the English only."},
            {"role": "user", "content": f"Translate into English:\n{zh}"}]


@pytest.fixture(scope="module")
def gen():
    from summarizer.llamacpp import LlamaCppGenerator

    # In this process (no worker), so the test can reach the loop; 4 sequences at once.
    return LlamaCppGenerator(ModelConfig(**SMALL, parallel=4, isolation="inline"))


@pytest.fixture(scope="module")
def prompts(gen):
    return [tuple(gen.prompt_tokens(_messages(zh))) for zh in SOURCES]


def _loop(gen, width: int, n_ctx: int | None = None):
    from summarizer.scheduler import Scheduler

    return Scheduler(gen.llama, width, 2, n_ctx=n_ctx)


def _asks(prompts, **kw):
    from summarizer.scheduler import Ask

    return [Ask(p, **kw) for p in prompts]


def _at_rest(loop) -> None:
    """Nothing runs, no sampler lives, and the cells in use are exactly the kept prompts'."""
    L = loop.L
    assert loop.running() == 0 and not loop.waiting and loop.live_samplers == 0
    for sid in range(loop.slots):
        top = L.llama_memory_seq_pos_max(loop.mem, sid)
        s = loop.seqs.get(sid)
        assert top == (s.read - 1 if s is not None else -1), (sid, top, s and s.read)
    assert loop.held == sum(s.cost for s in loop.seqs.values())


def test_decoding_together_gives_the_tokens_of_decoding_one_at_a_time(gen, prompts):
    wide, narrow = _loop(gen, 4), _loop(gen, 1)
    try:
        together = wide.run(_asks(prompts, max_tokens=48))
        one_by_one = narrow.run(_asks(prompts, max_tokens=48))
        assert [r.text for r in together] == [r.text for r in one_by_one]
        assert all(r.text and r.output_tokens > 0 for r in together)
        # The shared start (system prompt, template) was read once, not once per prompt.
        assert sum(r.evaluated_tokens for r in together) < sum(r.prompt_tokens for r in together) - 3 * len(prompts)
        assert wide.widths[4] > 0 and set(narrow.widths) == {1}
        _at_rest(wide)
        _at_rest(narrow)
    finally:
        wide.close()
        narrow.close()


def test_one_request_alone_and_in_a_batch_of_four_give_the_same_tokens(gen):
    options = GenerationOptions(max_new_tokens=48)
    for zh in SOURCES[:3]:
        alone = gen.generate([_messages(zh)], options)
        batch = gen.generate([_messages(zh)] + [_messages(z) for z in SOURCES[3:6]], options)
        assert batch[0] == alone[0] and alone[0]
    assert gen.info.parallel == 4 and gen.batch_size == 4


def test_the_loop_at_width_one_gives_the_tokens_of_create_chat_completion(gen, prompts):
    # The one decode path replaced llama-cpp-python's create_chat_completion for a request alone: greedy, the same
    # prompt read in the same chunks and the same sampler give the same answer. (Where each reads part of the prompt
    # from its cache, they split it at different places, and the last bits of the logits may differ: 5 of these 6
    # answers were the same so.)
    from llama_cpp import Llama

    llm = Llama(model_path=str(gen.path), n_ctx=2048, n_threads=2, n_batch=512, verbose=False)
    loop = _loop(gen, 1)
    try:
        for zh, p in zip(SOURCES, prompts):
            llm.reset()
            r = llm.create_chat_completion(messages=_messages(zh), max_tokens=48, temperature=0.0, top_p=1.0,
                                           repeat_penalty=1.0)
            loop.forget()
            ours = loop.run(_asks([p], max_tokens=48))[0]
            assert ours.evaluated_tokens == len(p) and (r["choices"][0]["message"]["content"] or "").strip() == ours.text
    finally:
        loop.close()


def test_stops_budgets_and_the_han_mask_hold_for_every_sequence(gen, prompts):
    loop = _loop(gen, 4)
    try:
        capped = loop.run(_asks(prompts, max_tokens=3))
        assert all(r.output_tokens <= 3 for r in capped)
        stopped = loop.run(_asks(prompts, max_tokens=48, stop=(".",)))
        assert all("." not in r.text for r in stopped)
        chinese = [tuple(gen.prompt_tokens([{"role": "user", "content": f"用中文复述：{zh}"}])) for zh in SOURCES]
        free = loop.run(_asks(chinese, max_tokens=24))
        masked = loop.run(_asks(chinese, max_tokens=24, mask=gen.han_mask()))
        assert any(has_han(r.text) for r in free) and not any(has_han(r.text) for r in masked)
        _at_rest(loop)
    finally:
        loop.close()


def test_a_full_cache_makes_a_request_wait_and_every_request_is_answered(gen, prompts):
    # Room for little more than one answer at a time: the others wait for cells (the wait is counted), and every
    # prompt gets the answer it gets with room to spare.
    roomy, tight = _loop(gen, 4), _loop(gen, 4, n_ctx=512 + max(len(p) for p in prompts) + 24 + 12)
    try:
        want = roomy.run(_asks(prompts, max_tokens=24))
        out = tight.run(_asks(prompts * 2, max_tokens=24))
        assert tight.full_waits > 0 and max(tight.widths) < 4
        assert [r.text for r in out] == [r.text for r in want] * 2
        _at_rest(tight)
    finally:
        roomy.close()
        tight.close()


def test_finished_cancelled_and_failed_sequences_give_back_their_cells_and_samplers(gen, prompts):
    from summarizer.scheduler import Ask

    loop = _loop(gen, 4, n_ctx=1200)
    try:
        loop.run(_asks(prompts[:4], max_tokens=16))
        _at_rest(loop)
        # A cancel: two of four requests leave after three steps; the other two answer as they do alone.
        for k, ask in enumerate(_asks(prompts[:4], max_tokens=32)):
            loop.submit(k, ask)
        got = {}
        for _ in range(3):
            got.update(loop.step())
        loop.cancel([1, 3])
        while len(got) < 4:
            got.update(loop.step())
        assert got[1].cancelled and got[3].cancelled and not got[0].cancelled and not got[2].cancelled
        alone = loop.run(_asks([prompts[0], prompts[2]], max_tokens=32))
        assert [got[0].text, got[2].text] == [r.text for r in alone]
        _at_rest(loop)
        # A failed llama_decode: one request alone is let in whatever its budget; the cache fills and the decode fails.
        tiny = _loop(gen, 2, n_ctx=640)
        try:
            tiny.run(_asks(prompts[:2], max_tokens=8))  # kept prompts, dropped with the failure
            count = gen.prompt_tokens([{"role": "user", "content": "Count from 1 to 2000, numbers separated by commas."}])
            failed = tiny.run([Ask(tuple(count), max_tokens=3000)])
            assert failed[0].error.startswith("llama_decode failed") and not failed[0].text
            _at_rest(tiny)
            assert not tiny.seqs and tiny.run(_asks(prompts[:2], max_tokens=8))[0].text  # the loop goes on
            _at_rest(tiny)
        finally:
            tiny.close()
    finally:
        loop.close()


def test_a_cancel_lands_while_a_prompt_is_read(gen):
    loop = _loop(gen, 2, n_ctx=4 * 1024 + 1024)
    try:
        long_prompts = [tuple(gen.prompt_tokens(_messages(f"第{k}篇：" + "北京市委书记蔡奇讲话，强调城市发展。" * 200)))
                        for k in range(3)]
        assert all(len(p) > 3 * 512 for p in long_prompts)
        t0 = time.perf_counter()
        loop.run(_asks(long_prompts[:1], max_tokens=4))
        alone = time.perf_counter() - t0  # one long prompt read in full, four tokens decoded
        asked = []
        t0 = time.perf_counter()
        results = loop.run(_asks(long_prompts[1:], max_tokens=64), cancelled=lambda: asked.append(1) or len(asked) > 1)
        took = time.perf_counter() - t0
        assert all(r.cancelled for r in results)
        assert loop.read_stopped >= 1 and took < alone / 2, (took, alone)
        _at_rest(loop)
    finally:
        loop.close()


def test_each_sequence_decodes_with_its_own_settings(gen, prompts):
    from summarizer.scheduler import Ask

    loop = _loop(gen, 4)
    try:
        short = loop.run(_asks(prompts, max_tokens=6))
        banned = loop.run(_asks(prompts, max_tokens=24, mask=gen.han_mask()))
        mixed = loop.run([Ask(p, max_tokens=6) if k % 2 == 0 else Ask(p, max_tokens=24, mask=gen.han_mask())
                          for k, p in enumerate(prompts)])
        assert [r.text for r in mixed] == [(short if k % 2 == 0 else banned)[k].text for k in range(len(prompts))]
    finally:
        loop.close()


def test_draws_of_one_prompt_read_it_once_and_a_start_held_by_any_sequence_is_copied(gen, prompts):
    from summarizer.scheduler import Ask

    loop = _loop(gen, 4)
    try:
        a, b = prompts[3], prompts[4]
        draws = loop.run([Ask(p, max_tokens=32, temperature=0.7, top_p=0.95, seed=s)
                          for p, s in ((a, 1), (a, 2), (b, 1), (b, 2))])
        assert all(r.text for r in draws) and draws[0].text != draws[1].text
        assert sorted(r.evaluated_tokens for r in draws)[:2] == [1, 1]  # a second draw reads its last token only
        # Two articles: the second segment of each copies its title and instructions from the first (kept).
        def ask(title: str, zh: str) -> tuple[int, ...]:
            system = f"The article is titled {title}. " + "You translate Chinese news into English. " * 4
            return tuple(gen.prompt_tokens([{"role": "system", "content": system}, {"role": "user", "content": zh}]))

        first = loop.run(_asks([ask("北京", SOURCES[0]), ask("上海", SOURCES[2])], max_tokens=16))
        second = loop.run(_asks([ask("北京", SOURCES[1]), ask("上海", SOURCES[3])], max_tokens=16))
        assert all(r.evaluated_tokens < r.prompt_tokens - 40 for r in second)
    finally:
        loop.close()


def test_a_prompt_too_long_for_the_context_fails_alone_and_the_others_are_answered(gen):
    options = GenerationOptions(max_new_tokens=24)
    big = [{"role": "user", "content": "北京" * (gen.context_length + 10)}]
    for requests, bad in (([_messages(SOURCES[1]), big, _messages(SOURCES[2])], 1), ([big], 0)):
        with pytest.raises(RequestFailed) as info:
            gen.generate(requests, options)
        assert list(info.value.errors) == [bad] and "over the model's context" in info.value.errors[bad]
        assert all(o for k, o in enumerate(info.value.outputs) if k != bad)


def test_the_width_probe_measures_each_width_and_is_cached(gen, tmp_path, monkeypatch):
    from summarizer.models import gguf_path
    from summarizer.multiseq import pick_width

    monkeypatch.setenv("SUMMARIZER_CACHE", str(tmp_path))
    path, _ = gguf_path(ModelConfig(**SMALL))
    width, rates = pick_width(gen.llama, path, 2)
    assert set(rates) == {1, 4, 8, 16, 32} and all(r > 0 for r in rates.values())
    assert rates[width] == max(rates.values())
    assert list(tmp_path.glob("multiseq-widths.json")) and pick_width(gen.llama, path, 2) == (width, rates)


# ---------------------------------------------------------------------------------------------- through the worker

def test_threads_requests_join_the_workers_running_loop_each_with_its_own_settings():
    from summarizer.runtime import get_generator

    gen = get_generator(ModelConfig(**SMALL))
    gen.generate([_messages(SOURCES[0])], GenerationOptions(max_new_tokens=4))  # loaded and warm
    before = gen.usage_now()
    out: dict[str, list[str]] = {}
    asks = {"short": ([_messages(SOURCES[1])], GenerationOptions(max_new_tokens=5), False),
            "banned": ([_messages(SOURCES[4]), _messages(SOURCES[5])], GenerationOptions(max_new_tokens=40), True)}

    def go(name):
        requests, options, ban = asks[name]
        out[name] = gen.generate(requests, options, forbid_han=ban)

    threads = [threading.Thread(target=go, args=(name,)) for name in asks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    spent = gen.usage_now().minus(before)
    assert spent.shared_steps > 0 and spent.calls == 3
    assert len(out["short"]) == 1 and gen.count_tokens(out["short"][0]) <= 6
    assert len(out["banned"]) == 2 and all(o and not has_han(o) for o in out["banned"])


@pytest.mark.parametrize("n", [1, 3])
def test_a_cancel_reaches_the_model_worker_and_ends_the_requests_within_a_few_steps(n):
    from summarizer.runtime import get_generator

    gen = get_generator(ModelConfig(**SMALL))
    count = [{"role": "user", "content": "Count from 1 to 2000, numbers separated by commas, nothing else."}]
    options = GenerationOptions(max_new_tokens=1500)
    gen.generate([count], GenerationOptions(max_new_tokens=4))  # loaded and warm
    flag = threading.Event()
    timer = threading.Timer(2.0, flag.set)
    before = gen.usage_now()
    timer.start()
    with pytest.raises(Cancelled):
        gen.generate([count] * n, options, cancelled=flag.is_set)
    spent = gen.usage_now().minus(before)
    for _ in range(600):
        if spent.cancelled >= n:
            break
        time.sleep(0.05)
        spent = gen.usage_now().minus(before)
    assert spent.cancelled == n and spent.output_tokens < n * options.max_new_tokens // 3, spent
    after = gen.usage_now()
    assert gen.generate([count], GenerationOptions(max_new_tokens=8))  # the worker still answers
    assert gen.usage_now().output_tokens - after.output_tokens <= 8


def test_tokens_are_counted_in_this_process_as_the_worker_counts_them():
    from summarizer.llamacpp import LlamaCppGenerator
    from summarizer.runtime import get_generator

    worker = get_generator(ModelConfig(**SMALL))
    inline = LlamaCppGenerator(ModelConfig(**SMALL, parallel=1, isolation="inline"))
    for text in SOURCES + ["Cai Qi <|im_start|> 2024年", ""]:
        assert worker.count_tokens(text) == inline.count_tokens(text)


def test_a_worker_killed_mid_batch_gives_each_article_in_flight_its_retry_or_its_error_record():
    import summarizer
    from summarizer.records import ErrorRecord
    from summarizer.runtime import get_generator

    pipe = summarizer.load_pipeline("small")
    gen = get_generator(pipe.config.models["llm"])
    articles = ["\n\n".join([f"第{k}条新闻", SOURCES[k], SOURCES[k + 1]]) for k in range(3)]
    pid = gen.pid
    killer = threading.Thread(target=_kill_when_busy, args=(gen, pid))
    killer.start()
    records = list(pipe.process_many(articles, batch_size=3))
    killer.join()
    assert gen.pid != pid and len(records) == 3
    for r in records:
        assert isinstance(r, ErrorRecord) and r.kind == "ModelCrashed" or (
            not isinstance(r, ErrorRecord) and r.paragraphs_en and all(r.paragraphs_en))


def _kill_when_busy(gen, pid) -> None:
    import os
    import signal

    start = gen.usage_now().output_tokens
    for _ in range(2000):
        if gen.usage_now().output_tokens > start + 5:
            break
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
