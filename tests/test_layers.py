"""Imports point one way: every module's imports (module-level and inside functions) against a declared layer order.

A module may import its own layer or any layer below it, never one above, and no two modules may import each other
round a cycle (a package `__init__` re-exporting its own submodules is not a cycle). The order, lowest first, is what
docs/architecture.md describes: core → data → models → evaluation → train → harness → distill → quant →
rerank/synth → export → bench → stages → pipeline → CLI → experiment drivers (gaitlab). Experiment drivers live
only in gaitlab, and no module is a shim that only re-exports another under an old path.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gaitcompress", "gaitlab")
# command-line tools inside the library that are not experiments: copied to a device that has no gaitcompress
DEVICE_TOOLS = {"gaitcompress.export.tensorrt_builder", "gaitcompress.bench.device_runner"}

# lowest first; a module belongs to the layer of its longest matching entry (a package covers its submodules)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("gaitcompress.__init__", "gaitcompress.errors", "gaitcompress.registry", "gaitcompress.recipe",
              "gaitcompress.progress", "gaitcompress.results", "gaitcompress.checkpoints")),
    ("data", ("gaitcompress.data",)),
    ("models", ("gaitcompress.models",)),
    ("evaluation", ("gaitcompress.evaluation",)),
    ("train", ("gaitcompress.train",)),
    ("harness", ("gaitcompress.harness",)),
    ("distill", ("gaitcompress.distill",)),
    ("quant", ("gaitcompress.quant",)),
    ("rerank, synth", ("gaitcompress.rerank", "gaitcompress.synth")),
    ("export", ("gaitcompress.export",)),
    ("bench", ("gaitcompress.bench",)),
    ("stages", ("gaitcompress.train.stage", "gaitcompress.distill.stage", "gaitcompress.quant.qat",
                "gaitcompress.quant.calibrate", "gaitcompress.rerank.stage", "gaitcompress.synth.stage",
                "gaitcompress.export.stage")),
    ("pipeline", ("gaitcompress.pipeline",)),
    ("cli", ("gaitcompress.commands", "gaitcompress.cli")),
    ("drivers", ("gaitlab",)),  # experiment drivers: import the library, never imported by it
]  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)
            found[name] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every gaitcompress/gaitlab module `path` imports, wherever the import statement sits."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t.split(".")[0] in PACKAGES}
    return out


def _layer(module: str) -> int:
    best, depth = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            exact = prefix == "gaitcompress.__init__" and module == "gaitcompress"
            covers = exact or module == prefix or module.startswith(prefix + ".")
            if covers and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best is not None, f"{module} has no declared layer: add it to LAYERS in tests/test_layers.py"
    return best


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        targets = {t if t in known else t.rsplit(".", 1)[0] for t in _imports(path, name, known)}
        # a package __init__ importing its own submodules (re-exports, registration) is how packages are built
        own = name + "." if path.name == "__init__.py" else None
        graph[name] = {t for t in targets if t != name and not (own and t.startswith(own))}
    return graph


def test_every_module_has_a_layer():
    for module in _modules():
        _layer(module)


def test_no_import_runs_up_the_layers():
    upward = [
        f"{src} ({LAYERS[_layer(src)][0]}) imports {dst} ({LAYERS[_layer(dst)][0]})"
        for src, targets in sorted(_graph().items())
        for dst in sorted(targets)
        if _layer(dst) > _layer(src)
    ]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_the_library_never_imports_the_drivers():
    leaks = [src for src, targets in _graph().items() if src.startswith("gaitcompress") and
             any(t.startswith("gaitlab") for t in targets)]  # fmt: skip
    assert not leaks


def test_experiment_drivers_live_in_gaitlab():
    """A library module with its own argparse command line is an experiment driver: it belongs in gaitlab."""
    scripts = set()
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(), str(path))
        if name.startswith("gaitcompress.") and any(
            isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names) for node in ast.walk(tree)
        ):
            scripts.add(name)
    assert scripts <= DEVICE_TOOLS, f"move these drivers into gaitlab: {sorted(scripts - DEVICE_TOOLS)}"


def test_no_module_only_re_exports_another():
    """A module whose whole body is imports from the package is an old import path kept alive: import the real one."""
    shims = set()
    for name, path in _modules().items():
        if path.name == "__init__.py":
            continue
        body = ast.parse(path.read_text(), str(path)).body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        body = [n for n in body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
        if body and all(isinstance(n, ast.ImportFrom) and (n.module or "").startswith(PACKAGES) for n in body):
            shims.add(name)
    assert not shims, f"re-export-only modules (point their importers at the real module): {sorted(shims)}"
