"""The package's layers, as the README's map draws them, checked on the import graph: every import
goes to the same or a lower layer, and there are no cycles."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "retention_utils"

#: layer of each top-level module or subpackage (README, "Layout"); lower layers never import higher ones
LAYERS = {
    "schema": 0, "runtime": 0, "formatting": 0, "privacy": 0,
    "data": 1,
    "tables": 2, "scoring": 2, "engines": 2,
    "models": 3, "recommend": 3,
    "plotting": 4,
    "decisions": 5, "causal": 5,
    "reports": 6,
}


def _modules():
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), p


def _imports(name: str, path: Path) -> set[str]:
    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                if node.module is None:
                    out |= {f"{target}.{a.name}".strip(".") for a in node.names}
                else:
                    out.add(target)
            elif node.module and node.module.startswith("retention_utils"):
                out.add(node.module.removeprefix("retention_utils").strip("."))
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix("retention_utils").strip(".") for a in node.names if a.name.startswith("retention_utils")}
    return {t for t in out if t}


def _top(module: str) -> str:
    return module.split(".")[0]


def test_every_module_has_a_layer_and_imports_go_down_or_sideways():
    bad = []
    for name, path in _modules():
        if not name:
            continue
        assert _top(name) in LAYERS, f"{name}: add its folder to the README map and to LAYERS"
        for target in _imports(name, path):
            if _top(target) not in LAYERS:
                continue
            if LAYERS[_top(target)] > LAYERS[_top(name)]:
                bad.append(f"{name} -> {target}")
    assert bad == [], "imports that run back up: " + ", ".join(bad)


def test_no_import_cycles():
    graph = {}
    names = {n for n, _ in _modules() if n}
    for name, path in _modules():
        if name:
            graph[name] = {t for t in _imports(name, path) if t in names and t != name}
    seen, stack, cycles = set(), [], []

    def visit(n):
        if n in stack:
            cycles.append(stack[stack.index(n):] + [n])
            return
        if n in seen:
            return
        seen.add(n)
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            visit(m)
        stack.pop()

    for n in sorted(graph):
        visit(n)
    assert cycles == []


def test_biggest_module_is_under_900_lines_unless_one_model_family():
    one_family = {
        "models.btyd",  # BG/NBD, Pareto/NBD, MBG/NBD, Gamma-Gamma: likelihoods, gradients, predictions
        "recommend.models",  # the next-basket recommenders, one estimator contract
    }
    sizes = {n: len(p.read_text().splitlines()) for n, p in _modules() if n}
    over = {n: s for n, s in sizes.items() if s >= 900 and n not in one_family}
    assert over == {}
