"""The package's imports follow its layers, and none runs in a circle (read from the source
with ``ast``, nothing imported)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "course_utils"

# lowest first: a module may import its own layer and the ones before it, never a later one
LAYERS = [
    {"config", "watchdog", "timing"},                         # settings, the kernel's watchdog, phase timers
    {"data"},                                                 # datasets, batches, augment, scenes, fetch
    {"plots"},                                                # figures of tensors (needs data's helpers only)
    {"models"},                                               # plain nn.Modules
    {"train", "cache", "features", "metrics"},                # the loop, checkpoints, hooks, scores
    {"steps"},                                                # the loop's VAE steps (need metrics)
    {"recipes"},                                              # what to train, cached
    {"embed", "explain"},                                     # looking inside
    {"book"},                                                 # the book tooling: runner, results, pages, CLI
]
ENTRY_POINTS = {"course_utils", "course_utils.__main__"}     # the package's lazy door and ``python -m``

BELOW_MODELS = {"config", "models"}  # what a plain nn.Module may import


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def exists(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports(path: Path) -> set[str]:
    """Every course_utils module ``path`` imports, at any depth of the file."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course_utils")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").startswith("course_utils"):
                base = node.module
            else:
                continue
            for alias in node.names:  # ``from . import data`` names a module, ``from .data import load`` does not
                found.add(f"{base}.{alias.name}" if exists(f"{base}.{alias.name}") else base)
    return found - {me}


GRAPH = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> int:
    top = name.split(".")[1]
    for i, members in enumerate(LAYERS):
        if top in members:
            return i
    raise AssertionError(f"{name} is in no layer of tests/unit/test_layout.py: place it there")


def test_every_module_has_a_layer():
    for name in set(GRAPH) - ENTRY_POINTS:
        layer(name)


def test_no_import_runs_back_up():
    upward = [f"{a} -> {b}" for a, deps in GRAPH.items() if a not in ENTRY_POINTS
              for b in deps if b != "course_utils" and layer(b) > layer(a)]
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_models_are_plain_modules():
    """Models import only config and other models: no data, cache, train or recipes."""
    wider = {a: sorted(b for b in deps if b.split(".")[1] not in BELOW_MODELS)
             for a, deps in GRAPH.items() if a.startswith("course_utils.models")}
    assert not any(wider.values()), {a: bad for a, bad in wider.items() if bad}


def test_one_training_loop():
    """``fit`` is the only training loop: no other ``def fit...`` in the package."""
    import re
    loops = [f"{p.relative_to(PACKAGE)}: {m.group(0).strip()}" for p in PACKAGE.rglob("*.py")
             for m in re.finditer(r"^\s*def fit\w*", p.read_text(), re.M)]
    assert loops == ["train.py: def fit"], loops


def test_book_tooling_is_apart():
    """The library never imports the book tooling; only the entry points and the book do."""
    users = {a for a, deps in GRAPH.items() if any(b.startswith("course_utils.book") for b in deps)}
    assert users <= ENTRY_POINTS | {a for a in GRAPH if a.startswith("course_utils.book")}, users


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str):
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt == "course_utils":
                continue
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_the_graph_is_read():
    assert "course_utils.data.datasets" in GRAPH["course_utils.data.batches"]
    assert "course_utils.book.results" in GRAPH["course_utils.book.pages"]
