"""Setup's llama.cpp check: smoke-test the installed build in a child, rebuild it once portable if it crashes.

Run by scripts/setup.sh after the package is installed. Env SUMMARIZER_PORTABLE_BUILD=1 builds portable from
the start (an image built on one machine and run on others); SUMMARIZER_CPU_FEATURES=AVX,AVX2,FMA,F16C names the
features such a build may use. Writes the build that passed to .venv/.llama-build.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from summarizer.embedded import EMBEDDED_MODELS, ensure_embedded
from summarizer.smoke import BuildBroken, ensure_working_build, record_pass, run_smoke


def installed_model() -> Path | None:
    """The smallest embedded model whose part packages are all installed (assembled and verified)."""
    for model in sorted(EMBEDDED_MODELS.values(), key=lambda m: m.size):
        try:
            for i in range(1, model.parts + 1):
                metadata.distribution(f"{model.package}{i}")
        except metadata.PackageNotFoundError:
            continue
        return ensure_embedded(model.name)
    return None


def rebuild(cmake_args: str) -> None:
    """Reinstall the same llama-cpp-python version from source with `cmake_args`."""
    version = metadata.version("llama_cpp_python")
    env = dict(os.environ, CMAKE_ARGS=cmake_args, FORCE_CMAKE="1")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", "--no-cache-dir",
           "--no-binary", "llama-cpp-python", f"llama-cpp-python=={version}"]
    proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
    # pip.conf here names extra index folders that may be absent; their warnings are noise.
    noise = ("WARNING: Location", "WARNING: The index url")
    sys.stderr.write("".join(line for line in proc.stderr.splitlines(keepends=True) if not line.startswith(noise)))
    proc.check_returncode()


def main() -> int:
    stamp = Path(sys.argv[1] if len(sys.argv) > 1 else ".venv/.llama-build.json")
    path = installed_model()
    if path is None:
        print("setup: no embedded model installed; the llama.cpp build is checked on its first use")
        return 0
    force = os.environ.get("SUMMARIZER_PORTABLE_BUILD", "").strip().lower() in ("1", "true", "yes", "on")
    last = {}

    def smoke():
        last["result"] = run_smoke(path)
        return last["result"]

    try:
        ensure_working_build(smoke, rebuild, stamp, force_portable=force)
    except BuildBroken as exc:
        print(f"setup: error: {exc}", file=sys.stderr)
        return 1
    record_pass(path, last["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
