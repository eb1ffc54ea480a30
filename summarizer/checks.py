"""Checks on model output: Chinese left in English, repeated sentences, and the user's glossary."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .text import HAN_CLASS, split_sentences

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["leaked_han", "repeated_sentences", "Glossary", "load_glossary"]

_HAN_RUN = re.compile(f"{HAN_CLASS}+")


def leaked_han(english: str) -> list[str]:
    """Runs of Han characters left in an English text (empty when clean)."""
    return _HAN_RUN.findall(english)


@dataclass(frozen=True)
class Glossary:
    """Term -> required English rendering. A value equal to the key means keep it as is."""

    terms: Mapping[str, str]

    def __post_init__(self):
        for k, v in self.terms.items():
            if not isinstance(k, str) or not k.strip():
                raise ValueError(f"glossary: an empty term ({k!r}) would match every segment; give the Chinese term")
            if not isinstance(v, str) or not v.strip():
                raise ValueError(f"glossary: the term {k!r} has no English; give it one, or \"keep\"")

    def relevant(self, source: str) -> dict[str, str]:
        """Entries whose term occurs in `source`."""
        return {k: v for k, v in self.terms.items() if k in source}

    def violations(self, source: str, english: str) -> list[str]:
        """Terms present in `source` whose rendering is missing from `english`."""
        low = english.lower()
        return [k for k, v in self.relevant(source).items() if v.lower() not in low]


def load_glossary(path: str | Path) -> Glossary:
    """Load a TOML glossary: a ``[terms]`` table of ``"中文" = "English"`` (or ``= "keep"`` to keep as is)."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    terms = data.get("terms", data)
    return Glossary({k: (k if v == "keep" else str(v)) for k, v in terms.items() if isinstance(v, str)})


def repeated_sentences(text: str) -> list[str]:
    """Sentences that occur more than once in `text`."""
    seen, dup = set(), []
    for s in split_sentences(text):
        key = re.sub(r"\W", "", s)
        if len(key) < 4:
            continue
        if key in seen and s not in dup:
            dup.append(s)
        seen.add(key)
    return dup
