"""Bar chart of the committed quality reports: each config beside its plain-prompt baseline (and lead-N, TextRank).

Usage: .venv/bin/python scripts/plot_reports.py [reports/] -> reports/quality.png (needs the dev extra: matplotlib)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TRANSLATION = [("wmt19", "WMT19 dev"), ("flores", "FLORES dev")]
SUMMARIZATION = [("crawl_headline_dev", "crawl headlines"), ("lcsts", "LCSTS")]


def _load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _bars(ax, groups: list[str], series: dict[str, list[float | None]], ylabel: str, title: str) -> None:
    width = 0.8 / max(1, len(series))
    for k, (label, values) in enumerate(series.items()):
        xs = [i + k * width for i, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        bars = ax.bar(xs, ys, width, label=label, color=f"C{k}")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(groups))], groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)


def main(folder: Path) -> Path:
    """Draw translation chrF/numbers kept and summarization ROUGE-L from the reports in `folder`."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    groups, chrf, numbers = [], {"default": [], "plain prompt": []}, {"default": [], "plain prompt": []}
    for key, label in TRANSLATION:
        main_r, plain_r = _load(folder, f"translation-{key}-default"), _load(folder, f"translation-{key}-default-plain")
        if not (main_r or plain_r):
            continue
        groups.append(label)
        for series, field, scale in ((chrf, "chrf", 1), (numbers, "numbers_kept", 100)):
            series["default"].append(main_r[field] * scale if main_r else None)
            series["plain prompt"].append(plain_r[field] * scale if plain_r else None)
    _bars(axes[0], groups, chrf, "chrF", "Translation quality (1.5B)")
    _bars(axes[1], groups, numbers, "% of source numbers kept", "Number fidelity (1.5B)")
    groups, rouge = [], {"default": [], "plain prompt": [], "lead-N": [], "TextRank": []}
    for key, label in SUMMARIZATION:
        main_r, plain_r = _load(folder, f"summarization-{key}-default"), _load(folder, f"summarization-{key}-default-plain")
        any_r = main_r or plain_r
        if not any_r:
            continue
        groups.append(label)
        rouge["default"].append(main_r["rougeL"] if main_r else None)
        rouge["plain prompt"].append(plain_r["rougeL"] if plain_r else None)
        lead = next((v for k, v in any_r["baselines"].items() if k.startswith("lead")), None)
        rouge["lead-N"].append(lead["rougeL"] if lead else None)
        rouge["TextRank"].append(any_r["baselines"].get("textrank", {}).get("rougeL"))
    _bars(axes[2], groups, rouge, "character ROUGE-L F", "Summaries (1.5B) vs extractive baselines")
    fig.tight_layout()
    out = folder / "quality.png"
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1] if len(sys.argv) > 1 else "reports")))
