"""The eval's own English number reader, for ``numbers_ref_kept``: the share of the numbers in a human reference that
the output also has. It shares no code with `numbers` (the reader the repair loop retries against), so the figure is
no agreement with the checker: both the reference and the output are read here, the same way.

What it reads: digits (``6,500``, ``6.5``, ``20%``, ``2019``) and number words (``two``…``ninety-nine``, ``hundred``),
each times a following ``thousand``, ``million``, ``billion`` or ``trillion``. "one" and "a" are not read: as
pronoun and article they are no numbers, and a reference writes them where an output need not.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

__all__ = ["reference_numbers", "numbers_ref_kept"]

_UNITS = {w: n for n, w in enumerate(
    "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen".split()) if w != "_"}
_TENS = {w: 10 * n for n, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split(), 0)
         if w != "_"}
_SCALES = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9, "trillion": 10 ** 12}
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[a-z]+")


def reference_numbers(text: str) -> Counter:
    """The numbers an English text gives, as a multiset of values (floats)."""
    tokens = _TOKEN.findall(text.lower())
    found: Counter = Counter()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        value: float | None = None
        if tok[0].isdigit():
            digits = tok.rstrip(",").replace(",", "")
            try:
                value = float(digits)
            except ValueError:
                value = None
            i += 1
        elif tok in _UNITS or tok in _TENS:
            value = 0.0
            while i < len(tokens) and (tokens[i] in _UNITS or tokens[i] in _TENS or tokens[i] == "hundred"):
                value = value * 100 if tokens[i] == "hundred" else value + _UNITS.get(tokens[i], _TENS.get(tokens[i], 0))
                i += 1
        else:
            i += 1
            continue
        if value is None:
            continue
        if i < len(tokens) and tokens[i] in _SCALES:
            value *= _SCALES[tokens[i]]
            i += 1
        found[round(value, 6)] += 1
    return found


def numbers_ref_kept(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, int]:
    """(share of the references' numbers the outputs also give, row by row; how many numbers the references give)."""
    total = kept = 0
    for hyp, ref in zip(hypotheses, references):
        want = reference_numbers(ref)
        total += sum(want.values())
        kept += sum((want & reference_numbers(hyp)).values())
    return (round(kept / total, 4) if total else 1.0), total
