"""Paired bootstrap between two eval runs of the same rows (`summarizer eval translation ... --output`): is the
difference in chrF, BLEU, numbers and names against the human references significant?

chrF and BLEU use sacrebleu's own paired bootstrap (`sacrebleu.significance.PairedTest`, 1,000 resamples); numbers
(`refnumbers`) and listed names (`evaluate.reference_names_for`) are resampled the same way, row by row: the p-value
is the share of resamples in which the second run's gain over the first is not above zero (two-sided: twice the
smaller tail).

Usage: .venv/bin/python benchmarks/paired_bootstrap.py A.json B.json [--output reports/paired-....json]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from summarizer.evaluate import name_written, reference_names_for
from summarizer.refnumbers import reference_numbers

ROOT = Path(__file__).resolve().parent.parent


def _rows(report: dict) -> tuple[list[str], list[str], list[str]]:
    data = ROOT / report["data"] if not Path(report["data"]).is_absolute() else Path(report["data"])
    rows = [json.loads(x) for x in data.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = rows[report.get("skip", 0):][:report["n"]]
    return [r["zh"] for r in rows], [r["en"] for r in rows], report["hypotheses"]


def _counts(hyps, refs, srcs, data, skip) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    numbers = []
    for h, r in zip(hyps, refs):
        want = reference_numbers(r)
        numbers.append((sum((want & reference_numbers(h)).values()), sum(want.values())))
    listed = reference_names_for(data, srcs, first_row=skip) or [[] for _ in srcs]
    names = [(sum(name_written(h, n) for n in row), len(row)) for h, row in zip(hyps, listed)]
    return numbers, names


def _paired(a: list[tuple[int, int]], b: list[tuple[int, int]], samples: int, seed: int) -> dict:
    rng = random.Random(seed)
    n = len(a)

    def share(rows, idx):
        tot = sum(rows[i][1] for i in idx)
        return sum(rows[i][0] for i in idx) / tot if tot else 1.0

    full = list(range(n))
    delta = share(b, full) - share(a, full)
    worse = better = 0
    for _ in range(samples):
        idx = [rng.randrange(n) for _ in range(n)]
        d = share(b, idx) - share(a, idx)
        worse += d <= 0
        better += d >= 0
    return {"first": round(share(a, full), 4), "second": round(share(b, full), 4), "delta": round(delta, 4),
            "p": round(min(1.0, 2 * min(worse, better) / samples), 4)}


def compare(first: dict, second: dict, samples: int = 1000, seed: int = 12345) -> dict:
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    srcs, refs, hyp_a = _rows(first)
    _, _, hyp_b = _rows(second)
    # Runs that start at different rows (`--skip`) are scored on the rows both have: the same code run from another
    # row measures what the loop's cache history alone moves.
    skip_a, skip_b = first.get("skip", 0), second.get("skip", 0)
    start, end = max(skip_a, skip_b), min(skip_a + len(hyp_a), skip_b + len(hyp_b))
    assert end > start, "the two runs share no row"
    srcs, refs = srcs[start - skip_a:end - skip_a], refs[start - skip_a:end - skip_a]
    hyp_a, hyp_b = hyp_a[start - skip_a:end - skip_a], hyp_b[start - skip_b:end - skip_b]
    test = PairedTest([("first", hyp_a), ("second", hyp_b)], {"BLEU": BLEU(), "chrF": CHRF()}, [refs],
                      test_type="bs", n_samples=samples)
    _, results = test()
    out: dict = {}
    for metric, name in (("BLEU", "bleu"), ("chrF2", "chrf")):
        a, b = results[metric]
        out[name] = {"first": round(a.score, 2), "second": round(b.score, 2),
                               "delta": round(b.score - a.score, 2), "p": round(b.p_value, 4)}
    na, ma = _counts(hyp_a, refs, srcs, first["data"], start)
    nb, mb = _counts(hyp_b, refs, srcs, first["data"], start)
    out["numbers_ref_kept"] = _paired(na, nb, samples, seed)
    out["names_ref_kept"] = _paired(ma, mb, samples, seed)
    out["same_text"] = sum(x == y for x, y in zip(hyp_a, hyp_b))
    out["rows"] = len(refs)
    out["first_row"] = start
    out["significant"] = [k for k, v in out.items() if isinstance(v, dict) and v["p"] < 0.05]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (args.first, args.second))
    result = {"first": str(args.first), "second": str(args.second), **compare(a, b, args.samples)}
    print(json.dumps(result, indent=1))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
