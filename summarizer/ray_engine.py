"""The batch job on Ray Data: the same `Pipeline`, run by a pool of model actors (one model load per actor).

Ray is an optional extra (``pip install 'summarizer[ray]'``); nothing else in the package imports this module.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .batch import Admission, JsonlSink, NoInputsError, Progress
from .config import Config
from .clean import ArticleError, read_file
from .pipeline import SKIP, ErrorRecord, Pipeline, error_record
from .text import printable

logger = logging.getLogger("summarizer")

__all__ = ["run_ray", "ArticleWorker"]


class ArticleWorker:
    """A Ray Data actor: builds one `Pipeline` (so the model loads once per actor) and processes batches.

    Rows carry the raw input: ``kind`` (``path``, ``record``, ``text``), ``source`` and ``data``
    (file bytes, a JSON record, or text). Output rows are JSON-encoded result or error records.
    """

    def __init__(self, config: Config, done: dict[str, bool] | None = None, batch_size: int | None = None):
        self.pipe = Pipeline(config)
        # id -> finished without error, from the output being resumed.
        self.done = dict(done or {})
        self.batch_size = batch_size or config.limits.batch_size

    def _item(self, kind: str, source: str, abs_path: str, data: Any):
        from .clean import clean_article

        # The same input the local engine would have had, so error records match it exactly.
        item = Path(source) if kind == "path" else (json.loads(data) if kind == "record" else str(data))
        try:
            if kind == "path":
                limits = self.pipe.config.limits
                return clean_article(bytes(data), source_name=abs_path, max_bytes=limits.max_bytes,
                                     seconds=limits.clean_seconds or None)
            return self.pipe.article(item)
        except Exception as exc:  # noqa: BLE001 - any failure of one input is that input's record
            return error_record(item, exc)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        items = [self._item(k, s, a, d) for k, s, a, d in zip(batch["kind"], batch["source"], batch["abs"], batch["data"])]
        # Done ids are reported, not dropped, so the driver counts earlier failures as the local engine does.
        out = [json.dumps({"skipped": it.id, "ok": self.done[it.id]}) for it in items if it.id in self.done]
        todo = [it for it in items if it.id not in self.done]
        out += [json.dumps(r.to_dict(), ensure_ascii=False) for r in self.pipe.process_many(todo, batch_size=self.batch_size)]
        return {"record": out}


def _rows(items: list[Any], max_bytes: int) -> tuple[list[dict[str, Any]], list[ErrorRecord]]:
    rows, errors = [], []
    for item in items:
        if isinstance(item, ErrorRecord):
            errors.append(item)
        elif isinstance(item, dict):
            rows.append({"kind": "record", "source": str(item.get("source", "")), "abs": "",
                         "data": json.dumps(item, ensure_ascii=False)})
        elif isinstance(item, os.PathLike):
            # The driver reads the bytes so workers on other nodes need no shared file system.
            try:
                data = read_file(item, max_bytes)
            except ArticleError as exc:
                errors.append(error_record(item, exc))
                continue
            rows.append({"kind": "path", "source": str(item), "abs": os.path.abspath(item), "data": data})
        else:
            rows.append({"kind": "text", "source": "", "abs": "", "data": str(item)})
    return rows, errors


def run_ray(pipe: Pipeline, items: list[Any], sink: JsonlSink, *, address: str | None = None,
            num_workers: int | None = None, gpus_per_worker: float = 0.0, limit: int | None = None,
            batch_size: int | None = None, worker_cls: type = ArticleWorker) -> int:
    """Process `items` on Ray Data and append the records to `sink`; returns the number of failed articles.

    Args:
        pipe: The configured pipeline (its config is shipped to every actor).
        items: Inputs as yielded by `discover_inputs`.
        sink: The JSONL output; ids already in it are skipped (resume) and never written twice.
        address: Ray cluster address (``auto``, ``ray://host:10001``); None starts a local instance.
        num_workers: Model actors; default one per 2 CPUs of the cluster.
        gpus_per_worker: GPUs reserved per actor.
        limit: Process at most this many inputs.
        batch_size: Articles per actor call (default ``limits.batch_size``).
        worker_cls: The actor class (a subclass of `ArticleWorker`; tests inject faults with it).
    """
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--engine ray needs Ray: pip install 'summarizer[ray]'") from exc
    if limit is not None:
        items = items[:limit]
    if not items:
        raise NoInputsError("no inputs found (no *.txt, *.html or *.jsonl files, records or text)")
    batch_size = batch_size or pipe.config.limits.batch_size
    rows, errors = _rows(items, pipe.config.limits.max_bytes)
    failed = 0
    for err in errors:
        if err.id not in sink.done:
            sink.write(err)
        failed += 1
    if not rows:
        return failed
    started = not ray.is_initialized()
    if started:
        # The workers must import this package as the driver does, from wherever it lives.
        pkg_root = str(Path(__file__).resolve().parent.parent)
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join([pkg_root, os.environ.get("PYTHONPATH", "")])}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, runtime_env=env, log_to_driver=False)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = num_workers or max(1, cpus // 2)
        threads = max(1, cpus // workers)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = sys.stderr.isatty()
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), workers * 4)))
        ds = ds.map_batches(
            worker_cls,
            fn_constructor_kwargs={"config": pipe.config, "done": dict(sink.done), "batch_size": batch_size},
            batch_size=batch_size,
            concurrency=workers,
            num_cpus=threads if not address else 1,
            num_gpus=gpus_per_worker or None,
        )
        # The batch core's duplicate filter and progress, on the records the actors send back.
        admission = Admission(dict(sink.done))
        progress = Progress(len(rows))
        skipped: set[str] = set()
        delivered: set[tuple[str, str | None]] = set()
        for row in ds.iter_rows():
            rec = json.loads(row["record"])
            if "skipped" in rec:
                if rec["skipped"] not in skipped:
                    skipped.add(rec["skipped"])
                    failed += not rec["ok"]
                    progress.total -= 1
                continue
            source = rec.get("source") or rec.get("article", {}).get("source")
            if (rec["id"], source) in delivered:
                continue  # a retried block can deliver a record twice; the output keeps one
            delivered.add((rec["id"], source))
            verdict = admission.check(rec["id"], source, "error" not in rec)
            if verdict is SKIP:
                continue
            if isinstance(verdict, ErrorRecord):
                rec = verdict.to_dict()
            if "error" in rec:
                failed += 1
                sink.write(ErrorRecord(**rec))
                print(f"error: {printable(str(rec.get('source') or rec['id']))}: {printable(str(rec['error']))}",
                      file=sys.stderr)
            else:
                sink.write(_Raw(rec))
            progress.step(_Raw(rec))
        progress.close()
    finally:
        if started:
            ray.shutdown()
    return failed


class _Raw:
    """A result already serialised by a worker, written as is."""

    def __init__(self, d: dict[str, Any]):
        self.id, self.error = d["id"], d.get("error")
        self._d = d

    def to_dict(self) -> dict[str, Any]:
        return self._d
