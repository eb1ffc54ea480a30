"""The Gradio web demo: paste or upload crawled articles, get 中文摘要 and English side by side (the UI only;
`server` mounts it beside the REST API and serves both).

Article text is only ever shown through text components (Textbox, Dataframe), never as live HTML, so
markup inside an uploaded article cannot run in the page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .writers import markdown_report
from .batch import process as batch_process
from .clean import ArticleError
from .models import Cancelled
from .pipeline import Pipeline
from .records import ArticleResult
from .serving import SHUTTING_DOWN, Refused, check_count, check_text, refusal, summary_length
from .flags import WARNING_FLAGS
from .workqueue import WorkQueue

logger = logging.getLogger("summarizer")

__all__ = ["build_app", "make_handler", "show_record", "uploaded_file", "upload_root", "Downloads", "EXAMPLES_DIR"]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
TABLE_HEADERS = ["id", "title", "摘要 (summary_zh)", "English title", "warnings / error"]
# Download folders of finished requests kept for the browser to fetch; older ones are deleted.
DOWNLOADS_KEPT = 16
DOWNLOADS_MAX_AGE_S = 600.0
SESSIONS_KEPT = 256
# Gradio's progress pulse and spinners redraw every frame while a job runs: a page left open on a machine without
# a GPU spends most of a core on it (Chromium's software compositor), a core the model on the same machine needs.
# Browsers that ask for reduced motion get a still page.
REDUCED_MOTION_CSS = """@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; }
}"""


def _examples() -> list[str]:
    # The seed (000_…) sorts first; the examples ship inside the package, so an installed copy has them too.
    return [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES_DIR.glob("*.txt"))]


SENTENCE_HEADERS = ["where", "中文", "English", "check"]


def sentence_rows(record: dict[str, Any]) -> list[list[str]]:
    """The sentence view of a result record: where, Chinese, English, and the check's doubt as text ("⚠ number_lost:
    20,000"), so a flagged pair is marked by words a screen reader says, not by colour alone."""
    rows = []
    for passage in record.get("sentences") or ():
        where = f"¶{passage['index'] + 1}" if passage["slot"] == "para" else passage["slot"]
        for pair in passage["pairs"]:
            doubts = [f["kind"] + (f": {f['detail']}" if f["detail"] else "") for f in pair["flags"]
                      if f["kind"] in WARNING_FLAGS]
            rows.append([where, pair["zh"], pair["en"], ("⚠ " + "; ".join(doubts)) if doubts else ""])
    return rows


def render_translation(view: str, only_flagged: bool, rows: list[list[str]] | None) -> tuple:
    """Which translation table shows: paragraphs, or the sentence pairs (all, or only the flagged ones)."""
    import gradio as gr

    rows = rows or []
    shown = [r for r in rows if r[3]] if only_flagged else rows
    sentences = view == "sentences"
    return gr.update(visible=not sentences), gr.update(value=shown, visible=sentences)


def _result_views(result: ArticleResult) -> dict[str, Any]:
    rows = [[zh, en] for zh, en in zip(result.article.paragraphs, result.paragraphs_en or [""] * len(result.article.paragraphs))]
    return {
        "title": result.article.title,
        "summary_zh": result.summary_zh,
        "title_en": result.title_en,
        "summary_en": result.summary_en,
        "rows": rows,
        "warnings": "\n".join(result.warnings) or "none",
    }


class Downloads:
    """Per-request download files under one private folder, pruned so a long-running server keeps a bounded few.

    Gradio copies returned files into its own cache (pruned by ``delete_cache``), so only the newest
    folders need to live on.
    """

    def __init__(self, keep: int = DOWNLOADS_KEPT, max_age_s: float = DOWNLOADS_MAX_AGE_S):
        self.root = Path(tempfile.mkdtemp(prefix="summarizer-downloads-"))
        self.keep, self.max_age_s = keep, max_age_s
        self._lock = threading.Lock()

    def write(self, records: list[dict[str, Any]]) -> list[str]:
        """Write results.json and results.md for one request; returns their paths."""
        with self._lock:
            self._prune()
            out_dir = Path(tempfile.mkdtemp(dir=self.root))
        js, md = out_dir / "results.json", out_dir / "results.md"
        js.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        md.write_text(markdown_report(records), encoding="utf-8")
        return [str(js), str(md)]

    def _prune(self) -> None:
        folders = sorted((p for p in self.root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        now = time.time()
        for n, folder in enumerate(folders):
            if n >= self.keep - 1 or now - folder.stat().st_mtime > self.max_age_s:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Delete every download folder."""
        shutil.rmtree(self.root, ignore_errors=True)


def upload_root() -> Path:
    """Gradio's upload cache: the only place an uploaded file may be read from."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def uploaded_file(value: Any) -> Path:
    """The path of one upload, refused unless it resolves inside Gradio's upload cache.

    A crafted API call can name any server path in a file value (``{"path": "/etc/passwd"}``); only
    files Gradio itself stored from an upload are read.

    Raises:
        ArticleError: The value names a file outside the upload cache.
    """
    raw = value if isinstance(value, (str, os.PathLike)) else getattr(value, "path", None) or getattr(value, "name", "")
    path = Path(raw)
    try:
        inside = path.resolve().is_relative_to(upload_root())
    except (OSError, RuntimeError):
        inside = False
    if not inside or not path.resolve().is_file():
        raise ArticleError(f"{path.name or 'the file'}: not an uploaded file; upload files through the page or the API")
    return path


def make_handler(pipe: Pipeline, downloads: Downloads | None = None, queue: WorkQueue | None = None):
    """The request handler, a generator: text and/or files in, every output component's value out, again and again.

    The view fills in as the work goes: the 中文摘要 first, then each English paragraph as soon as it is translated.
    With several files, each finished article joins the table at once. A request waits for its turn in the
    queue it shares with the REST API.
    """
    import gradio as gr

    limits = pipe.config.limits
    downloads = downloads or Downloads()
    stops = StopSignals()

    def handle(text: str | None, files: list[str] | None, max_chars: float | None, request=None):
        cancel = stops.start(getattr(request, "session_hash", None))
        items: list[tuple[str, Any]] = []
        try:
            if text and text.strip():
                check_text(text, limits)
                items.append(("pasted text", text))
            for f in files or []:
                try:
                    path = uploaded_file(f)
                except ArticleError as exc:
                    raise refusal(exc) from None
                items.append((path.name, path))
            if not items:
                raise Refused(422, "Paste an article or upload at least one crawler file.")
            check_count(len(items), limits)
            limit = summary_length(max_chars)
        except Refused as exc:
            raise gr.Error(exc.message) from None
        records: list[dict[str, Any]] = []
        if queue is not None:
            queue.watch(cancel)  # a server that stops cancels the job, and the page says why
        try:
            yield from _work(items, limit, cancel, records)
        finally:
            if queue is not None:
                queue.forget(cancel)

    def _work(items, limit, cancel, records):
        first: ArticleResult | None = None
        try:
            slot = queue.slot(wait=True, cancel=cancel) if queue is not None else contextlib.nullcontext()
        except Cancelled:
            queue.count_cancel()
            if queue.draining.is_set():
                raise gr.Error(SHUTTING_DOWN, print_exception=False) from None
            return
        with slot:
            if len(items) == 1:
                # One article streams: the summary, then each English paragraph as it is translated.
                name, item = items[0]
                line = StepLine()
                try:
                    for first in pipe.process_stream(item, max_chars=limit, cancel=cancel):
                        yield _outputs(first, records, done=False, step=line)
                except Cancelled:
                    first = None
                    if queue is not None:
                        queue.count_cancel()
                except Exception as exc:  # noqa: BLE001 - a plain message, never a stack trace
                    raise gr.Error(f"{name}: {refusal(exc, 'web request: ' + name).message}") from None
                if first is not None:
                    records.append(_public(first.to_dict(), name))
            else:
                # Several: the batch core, one article at a time so each joins the table as soon as it is done;
                # the same records and error ids `summarizer run` gives.
                done = batch_process(pipe, [item for _, item in items], batch_size=1, max_chars=limit, cancel=cancel)
                try:
                    for (name, _), rec in zip(items, done):
                        records.append(_public(rec.to_dict(), name))
                        if isinstance(rec, ArticleResult):
                            first = first or rec
                            yield _outputs(rec, records, done=False)
                except Cancelled:
                    if queue is not None:
                        queue.count_cancel()
        if queue is not None and queue.draining.is_set():
            raise gr.Error(SHUTTING_DOWN, print_exception=False)
        if first is None:
            raise gr.Error("No article could be read: " + "; ".join(f"{r['source']}: {r['error']}" for r in records))
        yield _outputs(first, records, done=True, files=downloads.write(records))

    # Gradio hands the request (for its session) to a parameter annotated gr.Request; see `pick` below.
    handle.__annotations__["request"] = gr.Request
    handle.stops = stops
    return handle


class StopSignals:
    """One cancel flag per browser session: Stop sets it, the running job sees it before its next model request.

    Gradio's own cancel stops delivering a generator's output but cannot interrupt the thread that runs it,
    so the job is told to stop through this flag as well.
    """

    def __init__(self):
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str | None) -> threading.Event:
        """A fresh flag for the job starting in `session`."""
        flag = threading.Event()
        if session:
            with self._lock:
                if len(self._flags) > 1000:
                    self._flags = {k: v for k, v in self._flags.items() if not v.is_set()}
                self._flags[session] = flag
        return flag

    def stop(self, session: str | None) -> None:
        """Stop the job of `session`, if any."""
        with self._lock:
            flag = self._flags.pop(session or "", None)
        if flag is not None:
            flag.set()


def _table(records: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["id"], r.get("article", {}).get("title", r.get("source", "")), r.get("summary_zh", ""),
             r.get("title_en", ""), r.get("error") or "; ".join(r.get("warnings", []))] for r in records]


class StepLine:
    """The line the warnings box shows while an article runs: the step, the parts done, and the time left at the
    rate the parts so far took (the summary's time is not counted in it)."""

    def __init__(self):
        self.since: float | None = None  # when the first part's translation started
        self.first_done = 0
        # The last estimate: when it was made and the seconds it said were left.
        self.estimate: tuple[float, float] | None = None

    def __call__(self, result: ArticleResult) -> str:
        if result.step is None:
            return "(working…)"
        what, done, total = result.step
        now = time.monotonic()
        if self.since is None and total and what.startswith("translating"):
            self.since, self.first_done = now, done
        line = f"(working…) {what}"
        if total and what != "the Chinese summary":
            line += f" · {done} of {total} parts done"
            # A new estimate as each part starts (the parts done over the time they took); between, the last one
            # counts down.
            if what.startswith("translating") and self.since is not None and done > self.first_done:
                self.estimate = (now, (now - self.since) / (done - self.first_done) * (total - done))
            if self.estimate is not None:
                line += f" · about {max(0.0, self.estimate[1] - (now - self.estimate[0])):.0f} s left"
        return line


def _outputs(result: ArticleResult, records: list[dict[str, Any]], *, done: bool, files: list[str] | None = None,
             step: StepLine | None = None):
    view = _result_views(result)
    warnings = view["warnings"] if done or result.timings else (step or StepLine())(result)
    return (view["title"], view["summary_zh"], view["title_en"], view["summary_en"], view["rows"], warnings,
            result.timings, _table(records), files, sentence_rows(result.to_dict()), records)


def show_record(records: list[dict[str, Any]] | None, evt: Any) -> tuple:
    """The side-by-side view of the table row a user selected."""
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    rec = (records or [])[row] if records and 0 <= row < len(records) else None
    if rec is None:
        return ("",) * 4 + ([], "", {}, [])
    if "error" in rec:
        return (rec.get("source") or rec["id"], "", "", "", [], f"error: {rec['error']}", {}, [])
    art = rec["article"]
    rows = [[zh, en] for zh, en in zip(art["paragraphs"], rec["paragraphs_en"] or [""] * len(art["paragraphs"]))]
    return (art["title"], rec["summary_zh"], rec["title_en"], rec["summary_en"], rows,
            "\n".join(rec["warnings"]) or "none", rec["timings"], sentence_rows(rec))


def _public(record: dict[str, Any], name: str) -> dict[str, Any]:
    """A record as a web client sees it: the upload's file name, never the server's path."""
    if record.get("article", {}).get("source"):
        record["article"]["source"] = name
    if record.get("source"):
        record["source"] = name
    return record


def build_app(pipe: Pipeline, downloads: Downloads | None = None, queue: WorkQueue | None = None):
    """Build the Gradio Blocks app around one shared `Pipeline` (and the queue it shares with the API)."""
    import gradio as gr

    handle = make_handler(pipe, downloads, queue)
    cfg = pipe.config
    # delete_cache=(every, older_than): Gradio's copies of uploads and downloads do not pile up.
    with gr.Blocks(title="summarizer: 中文摘要 + English", delete_cache=(60, 600), analytics_enabled=False) as demo:
        gr.Markdown(
            "# summarizer · 新闻摘要与翻译\n"
            "Paste a crawled Chinese news article (crawler HTML or plain text), or upload crawler files. "
            f"You get a Chinese summary and an English translation, paragraph by paragraph. Config: `{cfg.name}`."
        )
        with gr.Row():
            with gr.Column(scale=1):
                text = gr.Textbox(label="Article (text or crawler HTML)", lines=12, max_lines=30,
                                  elem_id="article-input")
                files = gr.File(label="…or upload crawler files (.txt, .html)", file_count="multiple",
                                file_types=[".txt", ".html", ".htm"], elem_id="file-input")
                max_chars = gr.Slider(50, 500, value=cfg.summarize.max_chars, step=10, label="summary length (characters)")
                with gr.Row():
                    run = gr.Button("Summarize and translate", variant="primary", elem_id="run-button")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop-button")
                gr.Examples(examples=[[e] for e in _examples()], inputs=[text], label="Examples (seed + crawl samples)")
            with gr.Column(scale=2):
                title = gr.Textbox(label="标题 (cleaned title)", interactive=False, elem_id="title-out")
                summary_zh = gr.Textbox(label="中文摘要", interactive=False, lines=3, elem_id="summary-zh")
                title_en = gr.Textbox(label="English title", interactive=False, elem_id="title-en")
                summary_en = gr.Textbox(label="English summary", interactive=False, lines=3, elem_id="summary-en")
        with gr.Row():
            view = gr.Radio(["paragraphs", "sentences"], value="paragraphs", label="Translation view",
                            elem_id="view-mode")
            only_flagged = gr.Checkbox(False, label="Show only flagged", elem_id="only-flagged")
        side = gr.Dataframe(headers=["中文", "English"], label="Translation, paragraph by paragraph",
                            interactive=False, wrap=True, column_widths=["50%", "50%"], elem_id="side-by-side")
        sentences = gr.Dataframe(headers=SENTENCE_HEADERS, label="Translation, sentence by sentence (⚠: a check "
                                 "doubts it, and why)", interactive=False, wrap=True, visible=False,
                                 column_widths=["8%", "34%", "34%", "24%"], elem_id="sentence-view")
        pairs = gr.JSON(visible=False)
        with gr.Row():
            warnings = gr.Textbox(label="Warnings", interactive=False, lines=3, elem_id="warnings")
            timings = gr.JSON(label="Timings (seconds)")
        table = gr.Dataframe(headers=TABLE_HEADERS, label="All articles (select a row to see it above)",
                             interactive=False, wrap=True, elem_id="batch-table")
        downloads = gr.File(label="Download results (JSON, Markdown)", file_count="multiple", interactive=False)
        records = gr.JSON(label="Results (same shape as ArticleResult.to_dict())", visible=False)
        job = run.click(handle, inputs=[text, files, max_chars],
                        outputs=[title, summary_zh, title_en, summary_en, side, warnings, timings, table, downloads,
                                 pairs, records],
                        api_name="process", concurrency_limit=cfg.limits.concurrency)
        def stop_job(request):
            handle.stops.stop(getattr(request, "session_hash", None))

        stop_job.__annotations__["request"] = gr.Request
        stop.click(stop_job, inputs=None, outputs=None, cancels=[job], api_name=False)

        def pick(recs, evt):
            return show_record(recs, evt)

        # Gradio passes the selected cell to a parameter annotated SelectData; this module's annotations are
        # strings (PEP 563) that Gradio cannot resolve for a local import, so the class is set here.
        pick.__annotations__["evt"] = gr.SelectData

        table.select(pick, inputs=[records],
                     outputs=[title, summary_zh, title_en, summary_en, side, warnings, timings, pairs], api_name=False)
        for trigger in (view.change, only_flagged.change, pairs.change):
            trigger(render_translation, inputs=[view, only_flagged, pairs], outputs=[side, sentences], api_name=False,
                    show_progress="hidden")
    return demo
