"""summarizer: clean crawled Chinese news, summarize it in Chinese and translate it into English.

Quick start::

    from pathlib import Path
    import summarizer
    pipe = summarizer.load_pipeline("small")
    result = pipe.process(Path("seeds/000_a4f61a660f2d4dbe.txt"))   # a str is article text, a Path a file
    print(result.summary_zh, result.paragraphs_en[0])
"""

from .clean import Article, ArticleError, InputTooLarge, clean_article, clean_file
from .config import Config, ConfigError, load_config
from .embedded import EmbeddedModelError, ensure_embedded
from .pipeline import Pipeline, load_pipeline
from .records import ArticleResult, ErrorRecord
from .text import split_sentences

__version__ = "0.1.0"

__all__ = [
    "Article",
    "ArticleError",
    "ArticleResult",
    "Config",
    "ConfigError",
    "EmbeddedModelError",
    "ErrorRecord",
    "InputTooLarge",
    "Pipeline",
    "clean_article",
    "clean_file",
    "ensure_embedded",
    "load_config",
    "load_pipeline",
    "split_sentences",
]
