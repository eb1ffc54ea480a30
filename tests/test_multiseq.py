"""Several sequences decoded together on llama.cpp (`summarizer.multiseq`), on the embedded 0.5B."""

from __future__ import annotations

import pytest

from summarizer.config import GenerationOptions, ModelConfig
from summarizer.models import Cancelled
from summarizer.text import has_han

pytestmark = pytest.mark.model

SOURCES = ["北京市委书记蔡奇讲话。", "会议在北京召开了。目前每天群众来电两万件左右。", "市民外出。", "今年上半年，全市经济增长6.5%。",
           "长江和黄河是中国最长的两条河流。", "他说，这项工作要抓紧落实。"]


def _messages(zh: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You translate Chinese news into English. Answer with the English only."},
            {"role": "user", "content": f"Translate into English:\n{zh}"}]


@pytest.fixture(scope="module")
def gen():
    from summarizer.llamacpp import LlamaCppGenerator

    # In this process (no worker), so the test can reach the decoder; 4 sequences at once.
    return LlamaCppGenerator(ModelConfig(backend="llama_cpp", model="embedded:qwen2.5-coder-0.5b", threads=2,
                                         parallel=4, isolation="inline"))


@pytest.fixture(scope="module")
def prompts(gen):
    return [gen.prompt_tokens(_messages(zh)) for zh in SOURCES]


def test_decoding_together_gives_the_tokens_of_decoding_one_at_a_time(gen, prompts):
    from summarizer.multiseq import MultiSeq

    together = gen.decoder.run(prompts, max_tokens=48)
    alone = MultiSeq(gen.llama, 1, 2)
    try:
        one_by_one = alone.run(prompts, max_tokens=48)
    finally:
        alone.close()
    assert [r.text for r in together] == [r.text for r in one_by_one]
    assert all(r.text and r.output_tokens > 0 for r in together)
    # The common prefix (system prompt, template) was read once, not once per prompt.
    assert sum(r.evaluated_tokens for r in together) < sum(r.prompt_tokens for r in together) - 3 * len(prompts)


def test_a_call_of_several_requests_matches_the_requests_alone_or_the_difference_is_small(gen):
    # The generator decodes a call's requests together; one request goes the old way (create_chat_completion). A
    # prompt read in two pieces (shared prefix, then its own part) can move the last bits of the logits, so a few
    # answers may differ; most must be the same text.
    options = GenerationOptions(max_new_tokens=48)
    together = gen.generate([_messages(zh) for zh in SOURCES], options)
    alone = [gen.generate([_messages(zh)], options)[0] for zh in SOURCES]
    same = sum(a == b for a, b in zip(together, alone))
    assert same >= len(SOURCES) - 2, list(zip(together, alone))
    assert gen.info.parallel == 4 and gen.batch_size == 4


def test_stops_budgets_and_the_han_mask_hold_for_every_sequence(gen, prompts):
    capped = gen.decoder.run(prompts, max_tokens=3)
    assert all(r.output_tokens <= 3 for r in capped)
    stopped = gen.decoder.run(prompts, max_tokens=48, stop=["."])
    assert all("." not in r.text for r in stopped)
    chinese = [gen.prompt_tokens([{"role": "user", "content": f"用中文复述：{zh}"}]) for zh in SOURCES]
    free = gen.decoder.run(chinese, max_tokens=24)
    masked = gen.decoder.run(chinese, max_tokens=24, mask=gen.han_mask())
    assert any(has_han(r.text) for r in free) and not any(has_han(r.text) for r in masked)


def test_more_prompts_than_slots_and_a_full_cache_wait_for_a_free_slot(gen, prompts):
    from summarizer.multiseq import MultiSeq

    # Room for little more than one answer at a time: the others wait, and every prompt is answered.
    small = MultiSeq(gen.llama, 4, 2, n_ctx=max(len(p) for p in prompts) + 64 + 2 * 512)
    try:
        out = small.run(prompts * 2, max_tokens=24)
    finally:
        small.close()
    assert len(out) == 12 and all(r.text for r in out)
    assert [r.text for r in out[:6]] == [r.text for r in out[6:]]


def test_a_cancelled_call_ends_its_sequences_and_frees_the_slots(gen, prompts):
    steps = []

    def cancelled() -> bool:
        steps.append(1)
        return len(steps) > 3

    cut = gen.decoder.run(prompts, max_tokens=64, cancelled=cancelled)
    assert len(cut) == len(prompts) and all(r.output_tokens <= 4 for r in cut)
    # The slots are free again: the next call answers in full.
    again = gen.decoder.run(prompts, max_tokens=24)
    assert all(r.text for r in again) and any(r.output_tokens > 4 for r in again)


def test_a_caller_that_left_loses_only_its_sequences_and_the_others_answer_in_full(gen, prompts):
    # A pooled call holds several jobs' requests; one job leaves: its sequences (running or still waiting) end, their
    # slots go to the waiting prompts, and every other answer is the one the full call gives.
    full = gen.decoder.run(prompts, max_tokens=32)
    steps = []

    def cancelled() -> frozenset[int]:
        steps.append(1)
        return frozenset({1, 4}) if len(steps) > 3 else frozenset()

    cut = gen.decoder.run(prompts, max_tokens=32, cancelled=cancelled)
    assert [r.cancelled for r in cut] == [False, True, False, False, True, False]
    assert cut[1].output_tokens <= 4 and cut[4].output_tokens <= 4
    assert [r.text for k, r in enumerate(cut) if k not in (1, 4)] == [r.text for k, r in enumerate(full)
                                                                       if k not in (1, 4)]


def test_one_call_decodes_each_prompt_with_its_own_settings(gen, prompts):
    # The calls of several jobs pooled into one carry different settings (a summary's budget, a translation's Han
    # ban): each sequence decodes with its own, and gives the tokens it gives in a call of its own kind.
    n = len(prompts)
    short = gen.decoder.run(prompts, max_tokens=6)
    banned = gen.decoder.run(prompts, max_tokens=24, mask=gen.han_mask())
    mixed = gen.decoder.run(prompts, max_tokens=[6 if k % 2 == 0 else 24 for k in range(n)],
                            mask=[None if k % 2 == 0 else gen.han_mask() for k in range(n)])
    assert [r.text for r in mixed] == [(short if k % 2 == 0 else banned)[k].text for k in range(n)]
    assert all(r.output_tokens <= 6 for r in mixed[::2]) and any(r.output_tokens > 6 for r in mixed[1::2])


def test_sampled_draws_of_one_prompt_read_it_once_and_differ_by_seed(gen, prompts):
    # Quality-aware decoding (`translate.candidates`) draws each request several times side by side: a draw whose
    # prompt another running sequence holds copies it from there and reads only its last token.
    a, b = prompts[3], prompts[4]
    draws = gen.decoder.run([a, a, b, b], max_tokens=32, temperature=0.7, top_p=0.95, seed=[1, 2, 1, 2])
    assert [r.evaluated_tokens > 1 for r in draws] == [True, False, True, False]
    assert draws[1].evaluated_tokens == draws[3].evaluated_tokens == 1
    assert all(r.text for r in draws) and draws[0].text != draws[1].text
    # Greedy, a copied prompt answers as the prompt read in full.
    greedy = gen.decoder.run([a, b, a, b], max_tokens=32)
    assert [r.text for r in greedy[2:]] == [r.text for r in greedy[:2]]


def test_a_start_shared_beyond_the_calls_common_prefix_is_copied_from_the_running_sequence(gen):
    # Two articles in one call: their system messages differ at the title, so the call's common prefix ends there;
    # the second segment of an article copies its title and instructions from the first, still running.
    def ask(title: str, zh: str) -> list[int]:
        system = f"The article is titled {title}. " + "You translate Chinese news into English. Answer in English. " * 4
        return gen.prompt_tokens([{"role": "system", "content": system}, {"role": "user", "content": zh}])

    prompts = [ask("北京", SOURCES[0]), ask("北京", SOURCES[1]), ask("上海", SOURCES[2]), ask("上海", SOURCES[3])]
    out = gen.decoder.run(prompts, max_tokens=24)
    own = [len(p) - _shared_start(p, q) for p, q in zip(prompts, [prompts[2], prompts[3], prompts[0], prompts[1]])]
    # The first of each article reads all it does not share with the other article (the long instructions after
    # the title); the second only its user turn.
    assert out[2].evaluated_tokens == own[2]
    assert out[1].evaluated_tokens < own[1] - 40 and out[3].evaluated_tokens < own[3] - 40
    assert all(r.text for r in out)


def _shared_start(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def test_quality_aware_decoding_draws_every_segment_in_the_model_worker_and_keeps_clean_english():
    import summarizer

    pipe = summarizer.load_pipeline("small", {"translate.candidates": 4}, tasks=["translation"])
    before = pipe.model_usage()
    res = pipe.process("\n\n".join(["北京召开会议", SOURCES[3], SOURCES[4]]))
    used = pipe.model_usage()
    assert len(res.paragraphs_en) == 2 and all(p and not has_han(p) for p in [res.title_en, *res.paragraphs_en])
    # Four draws of each of the three segments, then whatever the repair asked; the draws of one segment share
    # its prompt, so most of the prompt tokens were not read again.
    assert used.calls - before.calls >= 12
    assert used.cached_prompt_tokens - before.cached_prompt_tokens > (used.prompt_tokens - before.prompt_tokens) / 2


def test_concurrent_jobs_calls_of_different_kinds_go_to_the_worker_as_one_call():
    # Two running jobs (as two REST requests holding slots): one asks with a short budget, the other with the Han ban.
    # Their calls meet in the pool and go to the worker as one mixed call; each answer keeps its own settings.
    import threading

    from summarizer.pool import JOBS
    from summarizer.runtime import get_generator

    gen = get_generator(ModelConfig(backend="llama_cpp", model="embedded:qwen2.5-coder-0.5b", threads=2))
    gen.generate([_messages(SOURCES[0])], GenerationOptions(max_new_tokens=4))  # loaded and warm
    shared0 = gen.usage_now().shared_calls
    out: dict[str, str] = {}
    asks = {"short": ([_messages(SOURCES[1])], GenerationOptions(max_new_tokens=5), False),
            "banned": ([_messages(SOURCES[4]), _messages(SOURCES[5])], GenerationOptions(max_new_tokens=40), True)}

    def go(name):
        requests, options, ban = asks[name]
        out[name] = gen.generate(requests, options, forbid_han=ban)

    JOBS.enter()
    JOBS.enter()
    try:
        threads = [threading.Thread(target=go, args=(name,)) for name in asks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    finally:
        JOBS.leave()
        JOBS.leave()
    assert gen.usage_now().shared_calls == shared0 + 1
    assert len(out["short"]) == 1 and gen.count_tokens(out["short"][0]) <= 6
    assert len(out["banned"]) == 2 and all(o and not has_han(o) for o in out["banned"])


def test_the_width_probe_measures_each_width_and_is_cached(gen, tmp_path, monkeypatch):
    from summarizer.models import gguf_path
    from summarizer.multiseq import pick_width

    monkeypatch.setenv("SUMMARIZER_CACHE", str(tmp_path))
    path, _ = gguf_path(ModelConfig(backend="llama_cpp", model="embedded:qwen2.5-coder-0.5b"))
    width, rates = pick_width(gen.llama, path, 2)
    assert set(rates) == {1, 4, 8, 16, 32} and all(r > 0 for r in rates.values())
    assert rates[width] == max(rates.values())
    cached = list(tmp_path.glob("multiseq-widths.json"))
    assert cached and pick_width(gen.llama, path, 2) == (width, rates)


@pytest.mark.parametrize("n", [1, 3])
def test_a_cancel_reaches_the_model_worker_and_ends_the_call_within_a_few_steps(n):
    # One request (create_chat_completion's stopping criteria) and several (decoded together): the flag is set in
    # this process, the worker gets the cancel over its socket and stops decoding; usage then stops growing.
    import threading

    from summarizer.runtime import get_generator

    gen = get_generator(ModelConfig(backend="llama_cpp", model="embedded:qwen2.5-coder-0.5b", threads=2))
    count = [{"role": "user", "content": "Count from 1 to 2000, numbers separated by commas, nothing else."}]
    options = GenerationOptions(max_new_tokens=1500)
    gen.generate([count], GenerationOptions(max_new_tokens=4))  # loaded and warm
    flag = threading.Event()
    timer = threading.Timer(2.0, flag.set)
    before = gen.usage_now()
    timer.start()
    with pytest.raises(Cancelled):
        gen.generate([count] * n, options, cancelled=flag.is_set)
    assert flag.is_set()
    # The caller left at once; the worker's answer to the cancel comes within a step or so.
    spent = gen.usage_now().minus(before)
    for _ in range(600):
        if spent.cancelled >= n:
            break
        threading.Event().wait(0.05)
        spent = gen.usage_now().minus(before)
    assert spent.cancelled == n and spent.output_tokens < n * options.max_new_tokens // 3, spent
    after = gen.usage_now()
    assert gen.generate([count], GenerationOptions(max_new_tokens=8))  # the worker still answers
    assert gen.usage_now().output_tokens - after.output_tokens <= 8


def test_a_prompt_too_long_for_the_context_fails_alone_and_the_others_are_answered(gen, prompts):
    # Issue 44: one client's glossary made a prompt of 17,479 tokens, and the whole pooled call (another client's
    # article too) failed with "Requested tokens exceed context window".
    from summarizer.models import RequestFailed

    limit = gen.llama.n_ctx()
    huge = prompts[0][:-4] + prompts[0][-4:-3] * (limit + 10) + prompts[0][-3:]
    results = gen.decoder.run([prompts[1], huge, prompts[2]], max_tokens=24)
    assert results[1].error and "over the model's context" in results[1].error and not results[1].text
    assert results[0].text and results[2].text and not results[0].error and not results[2].error
    # Through the generator: the failure names its request; the others' answers are there.
    options = GenerationOptions(max_new_tokens=24)
    big = [{"role": "user", "content": "北京" * (limit + 10)}]
    for requests, bad in (([_messages(SOURCES[1]), big, _messages(SOURCES[2])], 1), ([big, _messages(SOURCES[2])], 0)):
        with pytest.raises(RequestFailed) as info:
            gen.generate(requests, options)
        assert list(info.value.errors) == [bad] and all(o for k, o in enumerate(info.value.outputs) if k != bad)
    # One request alone goes the create_chat_completion way, and fails the same way.
    with pytest.raises(RequestFailed):
        gen.generate([big], options)


def test_a_cancel_lands_between_the_chunks_of_a_prompt_being_read(gen):
    # Issue 44: a client that left while its article's prompts were read kept the model busy for minutes: the cancel
    # was checked only between decode steps, after every waiting prompt had been read.
    import time

    from summarizer.multiseq import MultiSeq

    ms = MultiSeq(gen.llama, 2, 2, n_ctx=4 * 1024 + 1024)
    try:
        base = gen.prompt_tokens(_messages("短"))
        long_prompts = [gen.prompt_tokens(_messages(f"第{k}篇：" + "北京市委书记蔡奇讲话，强调城市发展。" * 200))
                        for k in range(3)]
        assert all(len(p) > 3 * 512 for p in long_prompts)
        t0 = time.perf_counter()
        ms.run([long_prompts[0]], max_tokens=4)
        alone = time.perf_counter() - t0  # one long prompt read in full, four tokens decoded
        asked = []

        def cancelled():
            # True from the second check on: the first chunk of the first prompt is read, nothing more.
            asked.append(1)
            return len(asked) > 1

        t0 = time.perf_counter()
        results = ms.run(long_prompts, max_tokens=64, cancelled=cancelled)
        took = time.perf_counter() - t0
        assert all(r.cancelled for r in results)
        assert ms.read_stopped >= 1 and took < alone / 2, (took, alone)
        # The cells of the cancelled reads are freed: the next call reads the same prompts from the start.
        again = ms.run([base, base], max_tokens=8)
        assert all(r.text and not r.cancelled for r in again)
    finally:
        ms.close()


def test_one_request_alone_is_read_in_chunks_so_a_cancel_lands_within_one_and_the_answer_is_unchanged(gen):
    # Issue 44: a request alone goes through create_chat_completion, which reads its whole prompt before the cancel
    # is seen (on `default`, which decodes one request at a time, every request). Now its prompt is read a chunk at
    # a time first, the chunks it would read itself, and it finds them cached.
    import time

    long = _messages("第一篇：" + "北京市委书记蔡奇讲话，强调城市发展和交通问题。" * 150)
    assert len(gen.prompt_tokens(long)) > 3 * 512
    options = GenerationOptions(max_new_tokens=16)
    gen.generate([_messages("短")], options)  # another prompt in the cache: the long one is read from its start
    t0 = time.perf_counter()
    plain = gen.generate([long], options)
    alone = time.perf_counter() - t0
    gen.generate([_messages("短")], options)
    chunked = gen.generate([long], options, cancelled=lambda: False)
    assert chunked == plain and plain[0]
    gen.generate([_messages("短")], options)
    asked, cancelled0 = [], gen.usage.cancelled

    def leave_after_the_first_chunk():
        asked.append(1)
        return len(asked) > 1

    t0 = time.perf_counter()
    assert gen.generate([long], options, cancelled=leave_after_the_first_chunk) == [""]
    assert time.perf_counter() - t0 < alone / 2 and gen.usage.cancelled == cancelled0 + 1
