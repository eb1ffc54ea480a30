"""The package's shape as the README states it: no module imports another in a circle, counting the imports made
inside functions too (a lazy import still ties the two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "summarizer"


def _imports(path: Path, modules: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            elif node.level == 0 and (node.module or "").startswith("summarizer."):
                names = [node.module.split(".")[1]]
            else:
                names = []
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("summarizer."))
    return (found & modules) - {path.stem}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package, with the package modules it imports anywhere in its code."""
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    return {m: _imports(PACKAGE / f"{m}.py", modules) for m in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle of imports, each once (starting at its smallest module name)."""
    found = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt == start:
                found.append(path)
            elif nxt > start and nxt not in path:
                walk(start, nxt, path + [nxt])

    for module in sorted(graph):
        walk(module, module, [module])
    return found


def test_no_module_imports_in_a_circle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    # The test above can fail: the circle that was there (api -> server -> api through a lazy import) is found.
    graph = {"api": {"server", "clean"}, "server": {"api"}, "clean": set()}
    assert cycles(graph) == [["api", "server"]]
    assert "server" not in import_graph()["api"] and "server" not in import_graph()["app"]


def test_the_batch_size_is_set_in_one_place():
    # limits.batch_size is the one default: no function defaults a batch of articles to a number of its own, and a
    # literal passed in is 1 (the demo and the eval take one article at a time on purpose).
    literals = []
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "batch_size" and isinstance(node.value, ast.Constant):
                literals.append((path.stem, node.value.value))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                pairs = list(zip(a.args[len(a.args) - len(a.defaults):], a.defaults)) + list(zip(a.kwonlyargs,
                                                                                                 a.kw_defaults))
                for arg, default in pairs:
                    if arg.arg == "batch_size" and isinstance(default, ast.Constant) and default.value is not None:
                        literals.append((path.stem, f"{node.name} defaults to {default.value}"))
    assert all(value == 1 for _, value in literals), literals
    from summarizer.config import LimitsConfig

    assert LimitsConfig().batch_size == 4


def test_no_module_grows_past_500_lines():
    # One job a module: the batch core, the inputs, the sink and the writers were one 566-line file, the REST API
    # with its metrics, bodies and stream one of 628. A module this long is two jobs again.
    sizes = {p.stem: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 500, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_ci_without_the_shared_data_fails_and_a_local_run_says_what_did_not_run(tmp_path):
    import os
    import subprocess
    import sys

    root = PACKAGE.parent
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "tests/test_clean.py"]
    env["SUMMARIZER_SHARED"] = str(tmp_path / "missing")
    local = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert local.returncode == 0 and "data tests: 2 did NOT run" in local.stdout, local.stdout[-2000:]
    ci = subprocess.run(cmd, cwd=root, env={**env, "CI": "true"}, capture_output=True, text=True, timeout=300)
    assert ci.returncode != 0 and "data tests (WMT19, FLORES, the crawl) would be skipped" in ci.stdout + ci.stderr
