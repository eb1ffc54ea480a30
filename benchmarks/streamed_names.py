"""Time the name work of a long article streamed paragraph by paragraph (the demo's path), without a model.

A fixed-answer generator stands in for the model, so the seconds are the translator's own: name tables, foreign
spellings, checks. Each streamed paragraph looks only at its own foreign names, so the time grows with the article,
not with its square (at d9797b8, which read the whole article again for each paragraph, 400 paragraphs took
55.6 s and 100 took 6.5 s; the first run of a process also loads LAC and CC-CEDICT, about 3 s).

    python benchmarks/streamed_names.py 100 400
"""

from __future__ import annotations

import sys
import time

from summarizer import Article
from summarizer.config import TranslateConfig
from summarizer.models import Generator, ModelInfo
from summarizer.translate import translate_many


class FixedAnswer(Generator):
    """Answers every request with one English sentence that spells 莫兰 as "Moran"."""

    kind = "chat"
    info = ModelInfo(name="fixed", backend="none")

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, requests, options, *, forbid_han=False, cancelled=None, on_done=None):
        return ["Moran said the navy is strong and training matters a lot."] * len(requests)


def main() -> None:
    for n in [int(a) for a in sys.argv[1:]] or [100, 400]:
        paragraphs = tuple("莫兰表示，训练很重要。" if i % 3 == 0 else "海军很强，训练很重要，大家都同意。" for i in range(n))
        start = time.perf_counter()
        translate_many([Article(id="a", title="", paragraphs=paragraphs)], [""], FixedAnswer(),
                       TranslateConfig(repair=False), on_part=lambda *a: None)
        print(f"{n} paragraphs streamed: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
