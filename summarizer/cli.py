"""Command line: ``summarizer run | clean | models | serve | eval | bench``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .text import printable

logger = logging.getLogger("summarizer")

EXIT_FAILED_ARTICLES = 2


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", default=None,
                   help="bundled config name (default, small, extractive, hub-cpu, hub-gpu) or a TOML path; "
                        "default: env SUMMARIZER_CONFIG or 'default'")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set translate.segment_tokens=120 (repeatable)")
    p.add_argument("--no-memory", action="store_true",
                   help="ask the model every time: the answer memory is neither read nor written (memory.enabled)")


def _overrides(args: argparse.Namespace) -> dict:
    from .config import parse_value

    out = {}
    for item in args.set:
        if "=" not in item:
            raise SystemExit(f"--set needs KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = parse_value(v.strip())
    if getattr(args, "no_memory", False):
        out["memory.enabled"] = False
    return out


def _measuring(args: argparse.Namespace) -> dict:
    """The overrides of a command that measures the model (eval, bench): the memory is off unless --set turns it on,
    or a second run would measure the memory."""
    return {"memory.enabled": False, **_overrides(args)}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="summarizer",
        description="Clean crawled Chinese news articles, summarize them in Chinese and translate them into English.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="process files, folders, globs, JSONL or stdin into JSONL/CSV/Markdown",
                         description="Process articles in batch. Results go to OUT/results.jsonl (one record per "
                                     "article, flushed as each finishes), plus results.csv / results.md by --format. "
                                     "Exit code 2 when any article failed (its error record is in the output).")
    run.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="file, directory (recursive *.txt, *.html, *.jsonl), glob, or - for stdin")
    run.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output folder")
    run.add_argument("--format", default="jsonl", help="jsonl, csv, md, comma-separated, or all (default jsonl)")
    _add_config(run)
    run.add_argument("--max-chars", type=int, default=None, help="summary length limit in characters")
    run.add_argument("--tasks", default=None, help="summary,translation (default from config)")
    run.add_argument("--glossary", default=None, help="TOML glossary of required translations")
    run.add_argument("--resume", action="store_true", help="keep OUT/results.jsonl and skip the articles already in it")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the results already in OUT (without this or --resume they are refused)")
    run.add_argument("--limit", type=int, default=None, help="process at most N articles")
    run.add_argument("--batch-size", type=int, default=None,
                     help="articles translated together (default: the config's limits.batch_size, 4)")
    run.add_argument("--threads", type=int, default=None, help="CPU threads for the model (default: all cores)")
    run.add_argument("--engine", choices=("local", "ray"), default="local", help="local process or Ray Data")
    run.add_argument("--ray-address", default=None, help="Ray cluster to join (auto, ray://host:10001); default: start a local one")
    run.add_argument("--num-workers", type=int, default=None, help="Ray: model actors (default: 1 per 2 CPUs)")
    run.add_argument("--gpus-per-worker", type=float, default=0.0, help="Ray: GPUs per model actor")

    clean = sub.add_parser("clean", help="print cleaned articles as JSON lines (one per file or JSONL record)")
    clean.add_argument("inputs", nargs="+", metavar="INPUT", help="file, directory, glob, JSONL, or - for stdin")

    models = sub.add_parser("models", help="list configs; assemble and verify the embedded model")
    models.add_argument("--verify", action="store_true",
                        help="assemble the embedded GGUF from its parts, check its SHA-256, and smoke-test the "
                             "llama.cpp build with it in a child process (a crash is reported, not suffered)")
    models.add_argument("--model", action="append", default=None,
                        help="embedded model to verify (qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, or small/default)")

    serve = sub.add_parser("serve", help="start the Gradio web demo")
    serve.add_argument("--host", default=os.environ.get("SUMMARIZER_HOST", "127.0.0.1"), help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("SUMMARIZER_PORT", "7860")))
    _add_config(serve)
    serve.add_argument("--preload", action="store_true", help="load the model before serving the first request")
    serve.add_argument("--forwarded-allow-ips", default=os.environ.get("SUMMARIZER_FORWARDED_ALLOW_IPS"),
                       metavar="IPS", help="comma-separated proxy addresses whose X-Forwarded-For is trusted "
                                           "(default: none, so no client can choose the address rate limits see)")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="another Host name a keyless server on 127.0.0.1 answers to (repeatable)")

    ev = sub.add_parser("eval", help="score translation or summarization on a JSONL dataset")
    ev.add_argument("task", choices=("translation", "summarization"))
    ev.add_argument("data", type=Path, help="JSONL with zh/en (translation) or text/summary (summarization)")
    _add_config(ev)
    ev.add_argument("--limit", type=int, default=None)
    ev.add_argument("--skip", type=int, default=0, help="leave out the first N rows (--skip 200 --limit 200: rows 200-399)")
    ev.add_argument("--baseline", action="store_true", help="plain prompt: no context, no repair, no few-shot")
    ev.add_argument("--max-chars", type=int, default=None)
    ev.add_argument("--join", type=int, default=1,
                    help="translation: join every N consecutive sentences into one paragraph (default 1)")
    ev.add_argument("--article", type=int, default=0,
                    help="translation: run every N consecutive rows as one article's paragraphs through "
                         "Pipeline.process (the whole article path), each row scored on its own")
    ev.add_argument("--output", type=Path, default=None, help="report JSON path (a .md is written beside it)")

    mem = sub.add_parser("memory", help="the answer memory: stats, or clear it",
                         description="The model's greedy answers kept in SQLite (memory.path; default "
                                     "answers.sqlite3 in the cache folder), so the same request is not paid twice.")
    mem.add_argument("action", choices=("stats", "clear"))
    _add_config(mem)

    bench = sub.add_parser("bench", help="throughput and memory of a config on the seed and crawl articles")
    _add_config(bench)
    bench.add_argument("--articles", type=int, default=20)
    bench.add_argument("--output", type=Path, default=None)
    bench.add_argument("--naive", action="store_true", help="also run the naive baseline (one sentence at a time, no reuse)")
    bench.add_argument("--folder", type=Path, default=None,
                       help="crawled *.txt files for the articles after the seed (default: the bundled examples)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``summarizer`` console script."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    from .clean import ArticleError
    from .config import ConfigError
    from .embedded import EmbeddedModelError
    from .models import ModelLoadError
    from .runtime import ModelCrashed
    from .inputs import NoInputsError
    from .sink import OutputError
    from .translate import TaskError

    try:
        return _COMMANDS[args.command](args)
    except (ConfigError, EmbeddedModelError, ModelLoadError, ModelCrashed, TaskError, ArticleError, OutputError,
            NoInputsError) as exc:
        print(f"summarizer: error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _formats(spec: str) -> set[str]:
    items = {s.strip().lower() for s in spec.split(",") if s.strip()}
    if "all" in items:
        return {"jsonl", "csv", "md"}
    bad = items - {"jsonl", "csv", "md"}
    if bad:
        raise SystemExit(f"unknown --format {', '.join(sorted(bad))}; use jsonl, csv, md or all")
    return items | {"jsonl"}


def cmd_run(args: argparse.Namespace) -> int:
    """``summarizer run``: the batch job."""
    from .batch import run_job
    from .inputs import discover_inputs
    from .sink import OUTPUT_NAMES, JsonlSink
    from .writers import finish_outputs
    from .pipeline import load_pipeline
    from .runtime import ModelCrashed

    formats = _formats(args.format)
    if args.resume and args.overwrite:
        raise SystemExit("summarizer: error: --resume and --overwrite exclude each other")
    pipe = load_pipeline(args.config, _overrides(args), max_chars=args.max_chars, tasks=args.tasks,
                         glossary=args.glossary, threads=args.threads)
    out_dir: Path = args.output
    sink = JsonlSink(out_dir / OUTPUT_NAMES["jsonl"], resume=args.resume, overwrite=args.overwrite)
    items = discover_inputs(args.inputs, max_bytes=pipe.config.limits.max_bytes)
    stopped, crashed = None, None
    try:
        with _signals_as_interrupt():
            engine = None
            if args.engine == "ray":
                from .ray_engine import RayEngine

                engine = RayEngine(address=args.ray_address, num_workers=args.num_workers,
                                   gpus_per_worker=args.gpus_per_worker)
            failed = run_job(pipe, items, sink, engine=engine, limit=args.limit, batch_size=args.batch_size)
    except _Stopped as exc:
        stopped, failed = exc.signum, 0
    except ModelCrashed as exc:
        crashed, failed = exc, 0
    finally:
        sink.close()
    written = finish_outputs(out_dir, formats)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    memory = pipe.memory
    if memory is not None and memory.hits + memory.misses:
        print(f"answer memory: {memory.hits} model request(s) answered from it, {memory.misses} asked of the model",
              file=sys.stderr)
    if crashed is not None:
        print(f"summarizer: error: the model worker crashed {crashed.in_a_row} times in a row, so the run stops "
              f"(last: {crashed}). The results so far are kept; fix the cause and run the same command with "
              "--resume", file=sys.stderr)
        return 1
    if stopped is not None:
        print(f"summarizer: stopped by {signal.Signals(stopped).name}; the results so far are kept, "
              "run the same command with --resume to finish", file=sys.stderr)
        return 128 + stopped
    return EXIT_FAILED_ARTICLES if failed else 0


class _Stopped(BaseException):
    """SIGINT/SIGTERM arrived; unwinds the batch loop so the results written so far are closed cleanly."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_as_interrupt():
    def stop(signum, _frame):
        raise _Stopped(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_memory(args: argparse.Namespace) -> int:
    """``summarizer memory stats | clear``: the answer memory's size, or forget it."""
    from .config import load_config
    from .memory import open_memory

    cfg = load_config(args.config, _overrides(args)).memory
    memory = open_memory(cfg.path, cfg.max_mb)
    if args.action == "clear":
        print(f"cleared {memory.clear()} answer(s) from {memory.path}")
        return 0
    stats = memory.stats()
    print(json.dumps({k: v for k, v in stats.items() if k not in ("hits", "misses")} | {"enabled": cfg.enabled}))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """``summarizer clean``: print cleaned articles as JSON lines (one per file or JSONL record)."""
    from .inputs import NoInputsError, discover_inputs
    from .pipeline import load_pipeline
    from .records import ErrorRecord, error_record

    pipe = load_pipeline("extractive")
    items = list(discover_inputs(args.inputs, max_bytes=pipe.config.limits.max_bytes))
    if not items:
        raise NoInputsError("no inputs found (no *.txt, *.html or *.jsonl files)")
    failed = 0
    for item in items:
        if isinstance(item, ErrorRecord):
            rec = item
        else:
            try:
                print(json.dumps(pipe.article(item).to_dict(), ensure_ascii=False))
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                rec = error_record(item, exc)
        failed += 1
        print(f"error: {printable(rec.source or rec.id)}: {printable(rec.error)}", file=sys.stderr)
    return EXIT_FAILED_ARTICLES if failed else 0


def cmd_models(args: argparse.Namespace) -> int:
    """``summarizer models``: list configs and embedded models; with --verify assemble and check them."""
    from .config import load_config, list_configs
    from .embedded import EMBEDDED_MODELS, cache_dir

    print("configs:")
    for name in list_configs():
        cfg = load_config(name, environ={})
        models = ", ".join(f"{m.backend}:{m.model}" for m in cfg.models.values())
        print(f"  {name:<11} {cfg.description}  [{models}]")
    print(f"embedded models (cache: {cache_dir()}):")
    for m in EMBEDDED_MODELS.values():
        present = (cache_dir() / m.filename).exists()
        print(f"  {m.name:<20} {m.filename}  {m.size:,} bytes  sha256 {m.sha256[:16]}…  "
              f"{'assembled' if present else 'not assembled'}")
    if args.verify:
        return _verify(args.model)
    return 0


def _verify(wanted: list[str] | None) -> int:
    """Assemble and hash-check each embedded model, then smoke-test the llama.cpp build with it in a child."""
    from importlib import metadata

    import subprocess

    from .embedded import EMBEDDED_MODELS, ensure_embedded
    from .models import cpu_threads
    from .multiseq import measure_widths
    from .smoke import BuildBroken, check_runtime

    aliases = {"default": "qwen2.5-coder-1.5b", "small": "qwen2.5-coder-0.5b"}
    names = [aliases.get(n, n) for n in (wanted or list(EMBEDDED_MODELS))]
    broken = 0
    for name in names:
        model = EMBEDDED_MODELS.get(name)
        if wanted is None and model is not None:
            try:
                metadata.distribution(f"{model.package}1")
            except metadata.PackageNotFoundError:
                print(f"skipped {name}: not installed ({model.pip_command()})")
                continue
        t0 = time.perf_counter()
        path = ensure_embedded(name)
        print(f"verified {name}: {path} (sha256 ok, {time.perf_counter() - t0:.1f}s)")
        try:
            result = check_runtime(path, force=True)
        except BuildBroken as exc:
            print(f"summarizer: error: {printable(str(exc))}", file=sys.stderr)
            broken += 1
            continue
        print(f"runtime check {name}: llama.cpp {result.describe() if result else 'passed'}")
        try:
            width, rates = measure_widths(path, cpu_threads(0))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            print(f"summarizer: error: {printable(str(exc))}", file=sys.stderr)
            broken += 1
            continue
        table = ", ".join(f"{w}: {r:.1f}" for w, r in rates.items())
        print(f"decode widths {name} (sequences: tokens/s): {table} -> {width} at once")
    return 1 if broken else 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``summarizer serve``: the Gradio demo and the REST API."""
    import importlib.util

    missing = [m for m in ("fastapi", "gradio", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"summarizer: error: serve needs the web extra ({', '.join(missing)} missing): "
              "pip install 'summarizer[serve]'", file=sys.stderr)
        return 1
    from .server import serve

    return serve(config=args.config, overrides=_overrides(args), host=args.host, port=args.port, preload=args.preload,
                 forwarded_allow_ips=args.forwarded_allow_ips, allowed_hosts=tuple(args.allowed_host))


def cmd_eval(args: argparse.Namespace) -> int:
    """``summarizer eval``: quality reports."""
    from .evaluate import run_eval

    report = run_eval(args.task, args.data, config=args.config, overrides=_measuring(args), limit=args.limit,
                      baseline=args.baseline, max_chars=args.max_chars, output=args.output, join=args.join,
                      article=args.article, skip=args.skip)
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, (list, dict))}, ensure_ascii=False, indent=1))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``summarizer bench``: throughput and memory."""
    from .bench import run_bench

    report = run_bench(config=args.config, overrides=_measuring(args), articles=args.articles, naive=args.naive,
                       output=args.output, folder=args.folder)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


_COMMANDS = {"run": cmd_run, "clean": cmd_clean, "models": cmd_models, "serve": cmd_serve, "eval": cmd_eval,
             "bench": cmd_bench, "memory": cmd_memory}


if __name__ == "__main__":
    sys.exit(main())
