"""The batch job on Ray Data: an engine for the batch core whose actors each hold one `Pipeline` (one model load per
actor) and run the core's `batch.process_shard` on the articles the driver cleaned and admitted.

Ray is an optional extra (``pip install 'summarizer[ray]'``); nothing else in the package imports this module.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from .batch import process_shard, run_job
from .clean import Article
from .config import Config
from .pipeline import Pipeline
from .records import ErrorRecord, RecordDict
from .sink import JsonlSink

logger = logging.getLogger("summarizer")

__all__ = ["RayEngine", "ArticleWorker", "run_ray"]


class ArticleWorker:
    """A Ray Data actor: one `Pipeline`, warmed up when the actor starts, running `batch.process_shard`.

    Input rows carry one cleaned article each (``article``: its JSON). Output rows are JSON records; an error that
    ends the whole job (a model that cannot load, a worker that crashes on everything) comes back as
    ``{"fatal": ...}`` and the driver raises it, as the local engine would.
    """

    def __init__(self, config: Config, batch_size: int | None = None):
        self.pipe = Pipeline(config)
        self.batch_size = batch_size or config.limits.batch_size
        self.fatal: BaseException | None = None
        try:
            self.pipe.warm_up()
        except Exception as exc:  # noqa: BLE001 - sent to the driver, which raises it
            self.fatal = exc

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from .runtime import ModelCrashed

        if self.fatal is not None:
            return {"record": [_fatal(self.fatal)] * len(batch["article"])}
        articles = []
        for raw in batch["article"]:
            d = json.loads(raw)
            articles.append(Article(**{**d, "paragraphs": tuple(d["paragraphs"])}))
        try:
            out = [json.dumps(r.to_dict(), ensure_ascii=False) for r in process_shard(self.pipe, articles,
                                                                                         batch_size=self.batch_size)]
        except ModelCrashed as exc:
            # Crashes in a row end the job locally; here too (process_shard already retried article by article).
            return {"record": [_fatal(exc)] * len(articles)}
        return {"record": out}


def _fatal(exc: BaseException) -> str:
    try:
        data = pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - an exception a library made unpicklable still ends the job, as text
        data = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return json.dumps({"fatal": base64.b64encode(data).decode("ascii")})


class RayEngine:
    """Runs the model part of the batch core on Ray Data (`batch.Engine`).

    Args:
        address: Ray cluster address (``auto``, ``ray://host:10001``); None starts a local instance.
        num_workers: Model actors; default one per 2 CPUs of the cluster.
        gpus_per_worker: GPUs reserved per actor.
        worker_cls: The actor class (a subclass of `ArticleWorker`; tests inject faults with it).
    """

    def __init__(self, *, address: str | None = None, num_workers: int | None = None, gpus_per_worker: float = 0.0,
                 worker_cls: type = ArticleWorker):
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("--engine ray needs Ray: pip install 'summarizer[ray]'") from exc
        del ray
        self.address, self.num_workers, self.gpus_per_worker = address, num_workers, gpus_per_worker
        self.worker_cls = worker_cls

    def warm_up(self, pipe: Pipeline) -> None:
        """Nothing on the driver: each actor warms up as it starts, and a model that cannot load there ends the job
        with the same error (the driver holds no model)."""

    def records(self, pipe: Pipeline, items: Iterable[Article | ErrorRecord], *, batch_size: int | None = None,
                max_chars: int | None = None, cancel: threading.Event | None = None) -> Iterator[Any]:
        """The actors' records in the order they finish, the error records of cleaning and admission with the first of
        them: held back until an actor has shown that the model loads, so a model that cannot load ends the job before
        anything is written, as on the local engine."""
        import ray

        if max_chars is not None or cancel is not None:
            raise ValueError("the Ray engine runs whole jobs: max_chars comes from the config, and it is not cancelled")
        batch_size = batch_size or pipe.config.limits.batch_size
        rows, errors = [], []
        for item in items:
            if isinstance(item, ErrorRecord):
                errors.append(item)
            else:
                # The driver read and cleaned the file, so the actors on other nodes need no shared file system.
                rows.append({"article": json.dumps(item.to_dict(), ensure_ascii=False)})
        if not rows:
            yield from errors
            return
        started = not ray.is_initialized()
        if started:
            # The workers must import this package as the driver does, from wherever it lives.
            pkg_root = str(Path(__file__).resolve().parent.parent)
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join([pkg_root, os.environ.get("PYTHONPATH", "")])}}
            if self.address:
                ray.init(address=self.address, runtime_env=env, log_to_driver=False)
            else:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, runtime_env=env, log_to_driver=False)
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            workers = self.num_workers or max(1, cpus // 2)
            threads = max(1, cpus // workers)
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = sys.stderr.isatty()
            ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), workers * 4)))
            ds = ds.map_batches(
                self.worker_cls,
                fn_constructor_kwargs={"config": pipe.config, "batch_size": batch_size},
                batch_size=batch_size,
                concurrency=workers,
                num_cpus=threads if not self.address else 1,
                num_gpus=self.gpus_per_worker or None,
            )
            delivered: set[tuple[str, str | None]] = set()
            for row in ds.iter_rows():
                d = json.loads(row["record"])
                if "fatal" in d:
                    raise pickle.loads(base64.b64decode(d["fatal"]))
                rec = RecordDict(d)
                yield from errors
                errors = []
                if (rec.id, rec.source) in delivered:
                    continue  # a retried block can deliver a record twice; the output keeps one
                delivered.add((rec.id, rec.source))
                yield rec
        finally:
            if started:
                ray.shutdown()


def run_ray(pipe: Pipeline, items: list[Any], sink: JsonlSink, *, address: str | None = None,
            num_workers: int | None = None, gpus_per_worker: float = 0.0, limit: int | None = None,
            batch_size: int | None = None, worker_cls: type = ArticleWorker) -> int:
    """`batch.run_job` on a `RayEngine`; returns the number of failed articles."""
    engine = RayEngine(address=address, num_workers=num_workers, gpus_per_worker=gpus_per_worker,
                       worker_cls=worker_cls)
    return run_job(pipe, items, sink, engine=engine, limit=limit, batch_size=batch_size)
