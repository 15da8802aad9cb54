"""The packages' imports run one way: no module imports itself back through others, the cells
never import the experiments, the vocabulary imports nothing of the project, and the folders of
`experiments/` follow the data: grid -> records -> engine, and records -> results.

Imports are read from the source (every `import` statement, including those inside functions, which
is where a cycle hides from Python at import time) rather than by importing the modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = ("custom_layers", "experiments")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def project_imports(path: Path, known: set[str]) -> set[str]:
    """The project modules that the file at `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from experiments import records` imports the module experiments.records
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {name: project_imports(path, set(known)) - {name} for name, path in known.items()}
    # A package's __init__ runs before any of its modules: `experiments.x` depends on it, so an
    # __init__ that imports its own modules is not a cycle; leave those edges out.
    return {
        name: {dep for dep in deps if not name.startswith(dep + ".") and dep not in PACKAGES}
        for name, deps in graph.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "experiments.engine.execution" in graph["experiments.engine.runner"]
    assert (
        "experiments.engine.execution" in graph["experiments.engine.workers"]
    )  # an import inside a function
    assert "experiments.grid.config" in graph["experiments.engine.models"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cells_never_import_the_experiments():
    graph = import_graph()
    offenders = {
        name: sorted(d for d in deps if d.startswith("experiments"))
        for name, deps in graph.items()
        if name.startswith("custom_layers")
    }
    assert not any(offenders.values()), offenders


def test_the_vocabulary_imports_nothing():
    """The names both sides share import neither the project nor a third-party package, so the
    TF-free results side and the helper pool (started before TensorFlow) can use them."""
    assert import_graph()["experiments.vocabulary"] == set()
    code = (
        "import sys, experiments.vocabulary; "
        "third = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'jax', 'numpy', 'pandas')]; assert not third, third"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# What each folder of `experiments/` may import besides itself and the shared top-level modules
# (`vocabulary`, `solving`, both standard library only). The results never reach the grid or the
# engine, so a report is drawn from records alone, without TensorFlow.
SHARED = {"experiments.vocabulary", "experiments.solving"}
FOLDER_RULE = {
    "grid": set(),
    "records": {"grid"},
    "engine": {"grid", "records"},
    "results": {"records"},
}


def folder(module: str) -> str | None:
    """The folder of `experiments/` a module lives in (`experiments.records` itself included)."""
    parts = module.split(".")
    if parts[0] == "experiments" and len(parts) >= 2 and (ROOT / "experiments" / parts[1]).is_dir():
        return parts[1]
    return None


def folder_offenders(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Per module of a folder, the project modules it imports against `FOLDER_RULE`."""
    offenders = {}
    for name, deps in graph.items():
        own = folder(name)
        if own is None:
            continue  # experiments/__main__.py and the shared top-level modules
        allowed = FOLDER_RULE[own] | {own}
        bad = sorted(
            d for d in deps if d.startswith("experiments") and d not in SHARED
            and folder(d) not in allowed
        )  # fmt: skip
        if bad:
            offenders[name] = bad
    return offenders


def test_every_folder_of_experiments_has_a_rule():
    folders = {folder(name) for name in import_graph()} - {None}
    assert folders == set(FOLDER_RULE)


def test_the_folders_import_only_what_their_rule_allows():
    offenders = folder_offenders(import_graph())
    assert not offenders, offenders


def test_the_folder_rule_catches_an_import_against_the_flow():
    graph = import_graph()
    graph["experiments.results.report"] = {"experiments.engine.models", "experiments.vocabulary"}
    graph["experiments.grid.config"] = {"experiments.records"}
    assert folder_offenders(graph) == {
        "experiments.results.report": ["experiments.engine.models"],
        "experiments.grid.config": ["experiments.records"],
    }


def test_the_results_import_no_tensorflow():
    code = (
        "import sys, experiments.records.reader, experiments.results.report, "
        "experiments.results.exports, experiments.results.plots, experiments.results.findings; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
