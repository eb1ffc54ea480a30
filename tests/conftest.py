"""Shared fixtures: paths to the seed and ../shared/eval, and one real-model run of the seed per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_a4f61a660f2d4dbe.txt"
SHARED = Path(os.environ.get("SUMMARIZER_SHARED", ROOT.parent / "shared"))
EVAL = SHARED / "eval"
CRAWL = EVAL / "crawl"
CRAWL_BAD = EVAL / "crawl_bad"
DATA = Path(__file__).resolve().parent / "data"


def crawl_files() -> list[Path]:
    """The 520 raw crawler files, sorted."""
    return sorted(p for p in CRAWL.rglob("*.txt"))


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def small_pipeline():
    """The `small` config (embedded 0.5B on llama.cpp), loaded once for the whole session."""
    import summarizer

    return summarizer.load_pipeline("small")


@pytest.fixture(scope="session")
def seed_result(small_pipeline):
    """The seed processed once with the real 0.5B model (summary + translation)."""
    return small_pipeline.process(SEED)
