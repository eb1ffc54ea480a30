"""Which English sentences translate which Chinese sentences: length-based alignment anchored on numbers.

Repair redoes only the sentences that lost something, which needs the English of each Chinese sentence. The
model often splits one Chinese sentence into two or more English ones (the seed's “目前每天群众来电两万件左右，
其中诉求类占1/3，约6500件”…) or joins two, so the counts differ. This is Gale and Church's alignment (1993: pieces
scored by how far their length ratio strays from the text's own, with a prior per shape), with numbers as
anchors: an English piece that carries a number of another Chinese piece is a wrong pairing. A pairing is only
trusted where the lengths settle it; `benchmarks/align_accuracy.py` measures it on WMT19 and FLORES.
"""

from __future__ import annotations

import math
import re

from .numbers import invented_numbers, missing_numbers

__all__ = ["align_sentences", "english_sentences"]

_EN_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’']?\s+(?=[\"“‘']?[A-Z0-9])")

# Chinese sentences : English sentences of one piece, and what a piece of that shape costs. Gale and Church's
# priors (1-1 0.89, 1-2 and 2-1 0.089, 2-2 0.011) as -log p. The model cuts a long sentence of clauses into 3 or 4
# (the seed's paragraph 15: 1-3), which their two-language data did not need: priors of 2-2's order and below.
_SHAPES = {(1, 1): 0.0, (1, 2): 2.3, (2, 1): 2.3, (1, 3): 4.4, (2, 2): 4.4, (3, 1): 4.4, (1, 4): 6.5, (4, 1): 6.5}
# How far the expected length ratio is moved to see whether the pairing holds.
_WOBBLE = 1.3

# A number in an English piece that another Chinese piece has: the pairing is wrong, whatever the lengths.
_MISPLACED = 8.0
# A number of the Chinese piece that its English piece lacks: often the loss repair is looking for, so it only
# tips the balance between pairings the lengths find alike.
_MISSING = 1.0


def english_sentences(text: str) -> list[str]:
    """English text split into sentences (at . ! ? before a capital or digit).

    Abbreviations (U.S., Mr.) split wrongly; the alignment absorbs a split too many as a 1-2 piece.
    """
    return [s for s in _EN_SENTENCE_END.split(text.strip()) if s]


def align_sentences(chinese: list[str], english: list[str]) -> list[tuple[str, str]] | None:
    """Pair each run of Chinese sentences with the English sentences that translate it.

    Args:
        chinese: The source's sentences, in order.
        english: The translation's sentences, in order.

    Returns:
        (Chinese piece, English piece) in order, each piece 1–4 sentences on one side and one on the other, or
        2 and 2, one to one where the counts match; None where there is nothing to pair, the pairing changes when
        the expected length ratio is moved by 30 % (the lengths do not settle it), or it puts a number of one
        Chinese piece into the English of another.
    """
    if not chinese or not english:
        return None
    if len(chinese) == len(english):
        return list(zip(chinese, english))
    ratio = sum(map(len, english)) / max(1, sum(map(len, chinese)))
    # A number no Chinese sentence has (the 7 of "24/7" for 24小时) says nothing about where a piece ends.
    stray = set(invented_numbers("".join(chinese), " ".join(english)))
    costs: dict[tuple[int, int, int, int], tuple[float, int]] = {}
    best = _best(chinese, english, ratio, stray, costs)
    if best is None or any(_best(chinese, english, ratio * f, stray, costs) != best for f in (1 / _WOBBLE, _WOBBLE)):
        return None
    if any(costs[key][1] for key in best):
        return None
    return [("".join(chinese[i:i + a]), " ".join(english[j:j + b])) for i, a, j, b in best]


def _best(chinese: list[str], english: list[str], ratio: float, stray: set[float],
          costs: dict[tuple[int, int, int, int], tuple[float, int]]) -> list[tuple[int, int, int, int]] | None:
    """The cheapest pairing as (Chinese start, count, English start, count); `costs` keeps each piece's
    (number cost, numbers of other Chinese sentences in its English) across calls."""
    n, m = len(chinese), len(english)

    def piece(i: int, a: int, j: int, b: int) -> float:
        if (i, a, j, b) not in costs:
            zh, en = "".join(chinese[i:i + a]), " ".join(english[j:j + b])
            missing = len(missing_numbers(zh, en))
            misplaced = sum(1 for v in invented_numbers(zh, en) if v not in stray)
            costs[i, a, j, b] = (_MISSING * missing + _MISPLACED * misplaced, misplaced)
        zh_len, en_len = sum(len(c) for c in chinese[i:i + a]), sum(len(e) + 1 for e in english[j:j + b]) - 1
        expected = ratio * zh_len
        # Gale and Church's deviation: the variance grows with the length (their s² = 6.8 per character).
        return abs(en_len - expected) / math.sqrt(6.8 * max(expected, 1.0)) + costs[i, a, j, b][0]

    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if best[i][j] == inf:
                continue
            for (a, b), prior in _SHAPES.items():
                if i + a <= n and j + b <= m:
                    cost = best[i][j] + prior + piece(i, a, j, b)
                    if cost < best[i + a][j + b]:
                        best[i + a][j + b], back[i + a][j + b] = cost, (a, b)
    if best[n][m] == inf:
        return None
    path: list[tuple[int, int, int, int]] = []
    i, j = n, m
    while i or j:
        a, b = back[i][j]
        i, j = i - a, j - b
        path.append((i, a, j, b))
    return path[::-1]
