"""The Gradio web demo: paste or upload crawled articles, get 中文摘要 and English side by side.

Article text is only ever shown through text components (Textbox, Dataframe), never as live HTML, so
markup inside an uploaded article cannot run in the page.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from .batch import markdown_report
from .clean import ArticleError
from .pipeline import ArticleResult, ErrorRecord, Pipeline, load_pipeline

logger = logging.getLogger("summarizer")

__all__ = ["build_app", "serve", "EXAMPLES_DIR"]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_a4f61a660f2d4dbe.txt"
TABLE_HEADERS = ["id", "title", "摘要 (summary_zh)", "English title", "warnings / error"]


def _examples() -> list[str]:
    files = ([SEED] if SEED.exists() else []) + sorted(EXAMPLES_DIR.glob("*.txt"))
    return [p.read_text(encoding="utf-8") for p in files]


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


def _downloads(records: list[dict[str, Any]]) -> list[str]:
    out_dir = Path(tempfile.mkdtemp(prefix="summarizer-"))
    js = out_dir / "results.json"
    md = out_dir / "results.md"
    js.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    md.write_text(markdown_report(records), encoding="utf-8")
    return [str(js), str(md)]


def make_handler(pipe: Pipeline):
    """The request handler: text and/or files in, every output component's value out."""
    import gradio as gr

    limits = pipe.config.limits

    def handle(text: str | None, files: list[str] | None, max_chars: float | None,
               progress=gr.Progress()):  # noqa: B008 - Gradio injects progress through the default
        items: list[Any] = []
        if text and text.strip():
            if len(text) > limits.max_request_chars:
                raise gr.Error(f"The text is {len(text):,} characters; the limit is {limits.max_request_chars:,}.")
            items.append(text)
        for f in files or []:
            items.append(f if isinstance(f, str) else getattr(f, "name", str(f)))
        if not items:
            raise gr.Error("Paste an article or upload at least one crawler file.")
        if len(items) > limits.max_files:
            raise gr.Error(f"At most {limits.max_files} files per request.")
        limit = int(max_chars) if max_chars else None
        records: list[dict[str, Any]] = []
        first: ArticleResult | None = None
        progress(0.0, desc="loading model / cleaning")
        for n, item in enumerate(items):
            progress(n / len(items), desc=f"article {n + 1} of {len(items)}: summarizing and translating")
            try:
                result = pipe.process(item, max_chars=limit)
            except ArticleError as exc:
                name = Path(item).name if item is not text else "pasted text"
                if len(items) == 1:
                    raise gr.Error(f"{name}: {exc}") from None
                records.append(ErrorRecord(id=name, source=name, error=str(exc)).to_dict())
                continue
            first = first or result
            records.append(result.to_dict())
        progress(1.0, desc="done")
        if first is None:
            raise gr.Error("No article could be read: " + "; ".join(r["error"] for r in records))
        view = _result_views(first)
        table = [[r["id"], r.get("article", {}).get("title", r.get("source", "")), r.get("summary_zh", ""),
                  r.get("title_en", ""), r.get("error") or "; ".join(r.get("warnings", []))] for r in records]
        timings = first.timings
        return (view["title"], view["summary_zh"], view["title_en"], view["summary_en"], view["rows"],
                view["warnings"], timings, table, _downloads(records), records)

    return handle


def build_app(pipe: Pipeline):
    """Build the Gradio Blocks app around one shared `Pipeline`."""
    import gradio as gr

    handle = make_handler(pipe)
    cfg = pipe.config
    with gr.Blocks(title="summarizer: 中文摘要 + English") as demo:
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
                run = gr.Button("Summarize and translate", variant="primary", elem_id="run-button")
                gr.Examples(examples=[[e] for e in _examples()], inputs=[text], label="Examples (seed + crawl samples)")
            with gr.Column(scale=2):
                title = gr.Textbox(label="标题 (cleaned title)", interactive=False, elem_id="title-out")
                summary_zh = gr.Textbox(label="中文摘要", interactive=False, lines=3, elem_id="summary-zh")
                title_en = gr.Textbox(label="English title", interactive=False, elem_id="title-en")
                summary_en = gr.Textbox(label="English summary", interactive=False, lines=3, elem_id="summary-en")
        side = gr.Dataframe(headers=["中文", "English"], label="Translation, paragraph by paragraph",
                            interactive=False, wrap=True, column_widths=["50%", "50%"], elem_id="side-by-side")
        with gr.Row():
            warnings = gr.Textbox(label="Warnings", interactive=False, lines=3, elem_id="warnings")
            timings = gr.JSON(label="Timings (seconds)")
        table = gr.Dataframe(headers=TABLE_HEADERS, label="All articles", interactive=False, wrap=True,
                             elem_id="batch-table")
        downloads = gr.File(label="Download results (JSON, Markdown)", file_count="multiple", interactive=False)
        records = gr.JSON(label="Results (same shape as ArticleResult.to_dict())", visible=False)
        run.click(handle, inputs=[text, files, max_chars],
                  outputs=[title, summary_zh, title_en, summary_en, side, warnings, timings, table, downloads, records],
                  api_name="process", concurrency_limit=cfg.limits.concurrency)
    return demo


def _auth() -> list[tuple[str, str]] | None:
    raw = os.environ.get("SUMMARIZER_AUTH")
    if not raw:
        return None
    user, _, password = raw.partition(":")
    if not user or not password:
        raise ValueError("SUMMARIZER_AUTH must be 'user:password'")
    return [(user, password)]


def serve(config: str | None = None, overrides: dict | None = None, host: str = "127.0.0.1", port: int = 7860,
          preload: bool = False) -> None:
    """Start the demo; the model loads once (at start with `preload`, else on the first request).

    Args:
        config: Config name or path.
        overrides: Dotted config overrides.
        host: Bind address; 127.0.0.1 unless told otherwise.
        port: TCP port.
        preload: Load the models before serving.
    """
    pipe = load_pipeline(config, overrides)
    if preload:
        pipe.warm_up()
    demo = build_app(pipe)
    demo.queue(default_concurrency_limit=pipe.config.limits.concurrency, max_size=64)
    print(f"summarizer demo on http://{host}:{port} (config {pipe.config.name})", flush=True)
    demo.launch(server_name=host, server_port=port, auth=_auth(), max_file_size=int(pipe.config.limits.max_upload_mb * 1024 * 1024),
                show_error=True, footer_links=["api"])
