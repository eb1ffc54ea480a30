"""The model worker process and its supervisor, the llama.cpp smoke test, and setup's rebuild decision."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from summarizer.config import GenerationOptions, ModelConfig
from summarizer.models import ModelLoadError, TransformersCausalGenerator
from summarizer.runtime import ModelCrashed, WorkerGenerator, clear_generators, get_generator, is_loaded, loading
from summarizer.smoke import (
    BuildBroken,
    SmokeResult,
    cpu_flags,
    ensure_working_build,
    portable_cmake_args,
    run_smoke,
)

from conftest import CLI, ROOT, clean_env, records

# Real server or worker processes: seconds each, so in make test, not in make check.
pytestmark = pytest.mark.slow

MESSAGES = [[{"role": "user", "content": "北京市委书记蔡奇强调"}], [{"role": "user", "content": "12345市民热线"}]]

# The flags line of the AMX Xeon where the natively built llama.cpp died with SIGILL (issue 24), and of a CPU
# with AVX2 but no AVX-512.
AMX_CPU = ("flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi2 avx512f avx512dq avx512cd avx512bw "
           "avx512vl avx512vbmi avx512_vnni avx512_bf16 avx512_fp16 avx_vnni amx_tile amx_int8 amx_bf16\n")
AVX2_CPU = "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi2\n"

DIE_BY_SIGILL = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]
PASS = [sys.executable, "-c", "print('{\"prompt_tokens\": 300, \"output_tokens\": 4}')"]


# ---------------------------------------------------------------- the worker process


@pytest.fixture(scope="module")
def worker(tiny_causal):
    gen = WorkerGenerator(ModelConfig(backend="transformers", model=str(tiny_causal), batch_size=2))
    yield gen
    gen.close()


def test_worker_answers_as_the_model_in_this_process_would(worker, tiny_causal):
    inline = TransformersCausalGenerator(ModelConfig(backend="transformers", model=str(tiny_causal), batch_size=2))
    opts = GenerationOptions(max_new_tokens=8)
    assert worker.generate(MESSAGES, opts) == inline.generate(MESSAGES, opts)
    assert worker.count_tokens("北京市委书记") == inline.count_tokens("北京市委书记")
    assert worker.info.backend == "transformers" and worker.pid != os.getpid()


def test_a_worker_killed_while_idle_is_replaced_by_the_next_request_without_an_error(worker):
    # It held no request, so none is lost (issue 44: /health said "loaded" and the next request got a 503).
    opts = GenerationOptions(max_new_tokens=4)
    first = worker.generate(MESSAGES[:1], opts)
    old, crashes = worker.pid, worker.crashes
    os.kill(old, signal.SIGKILL)
    for _ in range(200):
        if not worker.alive():
            break
        time.sleep(0.05)
    assert not worker.alive()
    assert worker.generate(MESSAGES[:1], opts) == first
    assert worker.pid not in (None, old) and worker.crashes_in_a_row == 0 and worker.crashes == crashes + 1


def _kill_during_a_request(worker, sig: int) -> ModelCrashed:
    """Kill the worker while it answers a long request; the error that request gets."""
    got: list[BaseException] = []

    def ask():
        try:
            worker.generate(MESSAGES[:1], GenerationOptions(max_new_tokens=100_000))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            got.append(exc)

    worker.count_tokens("北京")  # a worker is up
    pid = worker.pid
    t = threading.Thread(target=ask)
    t.start()
    time.sleep(0.5)
    os.kill(pid, sig)
    t.join(60)
    assert got and isinstance(got[0], ModelCrashed), got
    return got[0]


def test_a_worker_killed_in_a_request_is_that_requests_error_then_a_new_worker(worker):
    crash = _kill_during_a_request(worker, signal.SIGKILL)
    assert crash.signal == "SIGKILL" and crash.returncode == -signal.SIGKILL
    assert crash.in_a_row == 1 and "SIGKILL" in str(crash)
    # The next request starts a fresh worker, and the count of crashes in a row resets.
    assert worker.generate(MESSAGES[:1], GenerationOptions(max_new_tokens=4))
    assert worker.crashes_in_a_row == 0


def test_crashes_in_a_row_are_counted_until_an_answer(worker):
    assert _kill_during_a_request(worker, signal.SIGSEGV).signal == "SIGSEGV"
    worker.count_tokens("北京")  # a new worker answers
    assert _kill_during_a_request(worker, signal.SIGKILL).in_a_row == 1


def test_a_load_error_in_the_worker_is_the_same_error_here(tmp_path):
    with pytest.raises(ModelLoadError, match="could not load"):
        WorkerGenerator(ModelConfig(backend="transformers", model=str(tmp_path / "no-such-model")))


def test_health_questions_do_not_wait_for_a_load(tiny_causal):
    clear_generators()
    cfg = ModelConfig(backend="transformers", model=str(tiny_causal), batch_size=3)
    loader = threading.Thread(target=get_generator, args=(cfg,))
    loader.start()
    # `loading` answering True at all proves it does not wait for the load: had it waited, the load would be over
    # by the time it answered, and it would say False. No clock is read.
    seen_loading = False
    while loader.is_alive():
        seen_loading |= loading(cfg)
        assert not is_loaded(cfg) or not loading(cfg)
        time.sleep(0.05)
    loader.join()
    assert seen_loading and is_loaded(cfg) and not loading(cfg)
    clear_generators()


# ---------------------------------------------------------------- the smoke test and setup's decision


def test_portable_flags_name_the_cpu_features_and_never_amx():
    amx = portable_cmake_args(cpu_flags(AMX_CPU), environ={})
    assert "-DGGML_NATIVE=OFF" in amx
    for on in ("AVX", "AVX2", "FMA", "F16C", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AVX_VNNI"):
        assert f"-DGGML_{on}=ON" in amx.split()
    for off in ("AMX_TILE", "AMX_INT8", "AMX_BF16"):
        assert f"-DGGML_{off}=OFF" in amx.split()
    avx2 = portable_cmake_args(cpu_flags(AVX2_CPU), environ={}).split()
    assert "-DGGML_AVX2=ON" in avx2 and "-DGGML_AVX512=OFF" in avx2 and "-DGGML_AVX512_VNNI=OFF" in avx2
    # An image built for other machines names its features itself.
    named = portable_cmake_args(cpu_flags(AMX_CPU), environ={"SUMMARIZER_CPU_FEATURES": "avx,AVX2,fma"}).split()
    assert "-DGGML_AVX2=ON" in named and "-DGGML_AVX512=OFF" in named and "-DGGML_F16C=OFF" in named
    with pytest.raises(ValueError, match="AMX_INT8"):
        portable_cmake_args(cpu_flags(AMX_CPU), environ={"SUMMARIZER_CPU_FEATURES": "AVX2,AMX_INT8"})


def test_the_smoke_test_reads_a_crash_from_the_signal():
    crash = run_smoke(Path("unused.gguf"), command=DIE_BY_SIGILL)
    assert not crash.ok and crash.signal == "SIGILL" and crash.returncode == -signal.SIGILL
    assert "illegal instruction" in crash.describe()
    ok = run_smoke(Path("unused.gguf"), command=PASS)
    assert ok.ok and ok.prompt_tokens == 300 and ok.output_tokens == 4
    failed = run_smoke(Path("unused.gguf"), command=[sys.executable, "-c", "raise SystemExit('no model here')"])
    assert not failed.ok and not failed.signal and "no model here" in failed.describe()


class FakeBuilds:
    """Stands in for pip: each rebuild installs the next build, whose smoke child ends as listed."""

    def __init__(self, *outcomes: list[str]):
        self.outcomes = list(outcomes)
        self.rebuilds: list[str] = []

    def smoke(self) -> SmokeResult:
        return run_smoke(Path("unused.gguf"), command=self.outcomes[0])

    def rebuild(self, cmake_args: str) -> None:
        self.rebuilds.append(cmake_args)
        self.outcomes.pop(0)


def test_setup_rebuilds_portable_once_when_the_native_build_crashes(tmp_path):
    builds = FakeBuilds(DIE_BY_SIGILL, PASS)
    said: list[str] = []
    args = portable_cmake_args(cpu_flags(AMX_CPU), environ={})
    stamp = tmp_path / ".llama-build.json"
    record = ensure_working_build(builds.smoke, builds.rebuild, stamp, cmake_args=args, say=said.append)
    assert builds.rebuilds == [args]
    assert record["build"] == "portable" and json.loads(stamp.read_text())["cmake_args"] == args
    assert any("SIGILL" in line and "rebuilding it once without native flags" in line for line in said)
    # A rerun (another extras set of the same venv) tests the portable build again but does not rebuild it.
    again = FakeBuilds(PASS)
    ensure_working_build(again.smoke, again.rebuild, stamp, cmake_args=args, say=said.append)
    assert again.rebuilds == []


def test_setup_keeps_a_native_build_that_passes_and_stops_when_portable_crashes_too(tmp_path):
    native = FakeBuilds(PASS)
    record = ensure_working_build(native.smoke, native.rebuild, tmp_path / "a.json", cmake_args="-DX", say=print)
    assert record["build"] == "native" and native.rebuilds == []
    broken = FakeBuilds(DIE_BY_SIGILL, DIE_BY_SIGILL)
    with pytest.raises(BuildBroken, match="portable llama.cpp build crashed with SIGILL"):
        ensure_working_build(broken.smoke, broken.rebuild, tmp_path / "b.json", cmake_args="-DX", say=print)
    assert len(broken.rebuilds) == 1 and not (tmp_path / "b.json").exists()


def test_the_forced_portable_build_skips_the_native_one(tmp_path):
    builds = FakeBuilds(DIE_BY_SIGILL, PASS)
    record = ensure_working_build(builds.smoke, builds.rebuild, tmp_path / "s.json", force_portable=True,
                                  cmake_args="-DGGML_NATIVE=OFF", say=print)
    assert builds.rebuilds == ["-DGGML_NATIVE=OFF"] and record["build"] == "portable"


# ---------------------------------------------------------------- the real model


@pytest.mark.model
def test_setup_check_passes_the_installed_build_and_records_it(tmp_path):
    stamp = tmp_path / "llama-build.json"
    out = subprocess.run([sys.executable, "scripts/llama_check.py", str(stamp)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env=clean_env())
    assert out.returncode == 0, out.stderr
    record = json.loads(stamp.read_text())
    assert record["build"] in ("native", "portable") and record["smoke"].startswith("passed")
    assert "setup: llama.cpp" in out.stdout


@pytest.mark.model
def test_the_part_packages_are_read_as_data_never_imported(tmp_path):
    code = ("import sys; from summarizer.embedded import ensure_embedded\n"
            f"ensure_embedded('qwen2.5-coder-0.5b', directory=__import__('pathlib').Path({str(tmp_path)!r}))\n"
            "print(sorted(m for m in sys.modules if 'part' in m and 'sns' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").stat().st_size == 491_400_064


@pytest.mark.model
def test_models_verify_smoke_tests_the_build():
    out = subprocess.run([*CLI, "models", "--verify", "--model", "small"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env=clean_env())
    assert out.returncode == 0, out.stderr
    assert "runtime check qwen2.5-coder-0.5b: llama.cpp passed" in out.stdout
    # The decode widths measured on this machine, each with its tokens/s, and the one chosen.
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("decode widths qwen2.5-coder-0.5b")]
    table = dict(cell.split(": ") for cell in line.split("tokens/s): ", 1)[1].split(" -> ")[0].split(", "))
    assert set(table) == {"1", "4", "8", "16", "32"} and all(float(v) > 0 for v in table.values())
    chosen = line.rsplit("-> ", 1)[1].split()[0]
    assert float(table[chosen]) == max(map(float, table.values()))


ARTICLES = [
    "北京召开会议\n北京市委今天召开会议，研究部署城市更新工作。会议指出，今年要完成100个老旧小区改造。",
    "上海发布新规\n上海市政府发布新规，从下月起全市推行垃圾分类。违反规定的单位最高罚款5万元。",
    "广州举办展会\n广州国际车展今天开幕，共有1200家企业参展。展会将持续10天。",
]


def _worker_of(pid: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"worker_main" in cmdline:
            return int(entry.name)
    return None


def _start_run(tmp_path: Path, articles: list[str] = ARTICLES, batch: int = 1) -> tuple[subprocess.Popen, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, text in enumerate(articles):
        (folder / f"a{i}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "run", str(folder), "-o", str(out), "--config", "small", "--batch-size", str(batch),
                             "--format", "all"], cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, out


def _wait_for_lines(proc: subprocess.Popen, out: Path, n: int) -> None:
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        path = out / "results.jsonl"
        if path.exists() and path.read_text(encoding="utf-8").count("\n") >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {n} records: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}")


def _kill_worker_after(proc: subprocess.Popen, out: Path, n: int) -> str:
    """SIGKILL the run's model worker once `n` records are written; the run's stderr when it has ended."""
    _wait_for_lines(proc, out, n)
    pid = _worker_of(proc.pid)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return proc.communicate(timeout=900)[1]


@pytest.mark.model
def test_a_worker_killed_mid_run_costs_one_article(tmp_path):
    proc, out = _start_run(tmp_path)
    err = _kill_worker_after(proc, out, 1)
    assert proc.returncode == 2, err
    recs = records(out)
    crashed = [r for r in recs if "error" in r]
    assert len(recs) == 3 and len(crashed) == 1, recs
    assert crashed[0]["error"].startswith("ModelCrashed: the model worker died with SIGKILL"), crashed
    assert sum(1 for r in recs if r.get("paragraphs_en")) == 2
    assert (out / "results.md").exists() and (out / "results.csv").exists()


@pytest.mark.model
def test_a_worker_killed_mid_batch_retries_the_articles_in_flight_one_by_one_and_the_job_goes_on(tmp_path):
    # Two articles at a time, decoded together: the kill lands on the second pair. Its articles are retried one by one
    # on a new worker (an article that crashed it again alone would get its error record, as with --batch-size 1),
    # so nothing is lost and the fifth article follows.
    more = ARTICLES + ["深圳发布数据\n深圳今年上半年新增企业3万家。", "杭州举办赛事\n杭州马拉松今天开跑，共有3万人参赛。"]
    proc, out = _start_run(tmp_path, more, batch=2)
    err = _kill_worker_after(proc, out, 2)
    assert proc.returncode == 0, err
    assert re.search(r"the model worker died with SIGKILL \(killed\) while answering \d+ request\(s\)", err), err
    recs = records(out)
    assert len(recs) == 5 and not any("error" in r for r in recs), recs
    assert all(r["paragraphs_en"] and r["summary_zh"] for r in recs)


@pytest.mark.model
def test_two_crashes_in_a_row_stop_the_run_with_a_message(tmp_path):
    proc, out = _start_run(tmp_path)
    _wait_for_lines(proc, out, 1)
    # From now on every worker dies as it starts, as a build that crashes on this CPU would.
    while proc.poll() is None:
        pid = _worker_of(proc.pid)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    err = proc.stderr.read()
    assert proc.returncode == 1, err
    # Two or more: a worker killed as it loads and its answer reader may both see the same death.
    assert re.search(r"crashed [2-9] times in a row, so the run stops", err) and "--resume" in err, err
    recs = records(out)
    assert len([r for r in recs if "error" in r]) == 1 and len(recs) == 2, recs
    assert (out / "results.md").exists()


@pytest.mark.model
def test_the_server_answers_503_for_the_request_a_crash_took_and_stays_up(tmp_path):
    import httpx

    from conftest import Server

    srv = Server(tmp_path, config="small")
    try:
        answers: list[httpx.Response] = []
        body = {"text": ARTICLES[0], "tasks": ["translation"]}
        first = threading.Thread(target=lambda: answers.append(httpx.post(srv.url + "/v1/articles", json=body,
                                                                          timeout=600)))
        first.start()
        deadline = time.time() + 300
        pid = None
        while pid is None and time.time() < deadline:
            pid = _worker_of(srv.proc.pid)
            time.sleep(0.05)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        first.join(timeout=600)
        assert answers[0].status_code == 503, answers[0].text
        assert "ModelCrashed" in answers[0].json()["error"]
        again = httpx.post(srv.url + "/v1/articles", json=body, timeout=600)
        assert again.status_code == 200, again.text
        assert again.json()["paragraphs_en"][0]
        assert httpx.get(srv.url + "/health", timeout=30).json()["status"] == "ok"
        assert srv.proc.poll() is None
    finally:
        srv.stop()
