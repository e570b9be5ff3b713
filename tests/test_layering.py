"""The package's dependency rules (docs/architecture.md), read from the source: no import
circles (function-level imports included), retrieval never imports evaluation, only training
code reaches into the training pipeline, and no module grows past 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "recsft"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under ``if TYPE_CHECKING:`` (annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports(path: Path) -> set[str]:
    """Every recsft module ``path`` imports at run time, at any depth of the file."""
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("recsft")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recsft"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        # ``from recsft.x import y`` names module ``recsft.x.y`` or an attribute of ``recsft.x``.
        edges[name] = {target for target in imports(path) if target in modules} - {name}
    return edges


def test_no_import_circles():
    edges = graph()
    # Package __init__ files that only re-export are leaves for this purpose: importing a
    # package's submodule runs its __init__, but the __init__ importing its own submodules is
    # not a circle between concepts.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                if not all(b.startswith(a + ".") or a.startswith(b + ".")
                           for a, b in zip(cycle, cycle[1:])):
                    cycles.append(" -> ".join(cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(cycles)


def test_retrieval_and_scoring_never_import_evaluation():
    for name, targets in graph().items():
        if name.startswith(("recsft.retrieval", "recsft.scoring")):
            assert not [t for t in targets if t.startswith("recsft.evaluation")], name


def test_only_training_code_reaches_into_the_pipeline():
    allowed = ("recsft.training", "recsft.cli.train")
    for name, targets in graph().items():
        if "recsft.training.pipeline" in targets:
            assert name.startswith(allowed), name
    for script in (ROOT / "scripts").glob("*.py"):
        for target in imports(script):
            if target.startswith("recsft.training.pipeline."):
                assert target.rsplit(".", 1)[-1] in ("run_training", "prepare_data"), script


def test_no_module_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long
