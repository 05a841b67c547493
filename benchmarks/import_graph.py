"""Import graph between simkit's first-level parts (subpackages and top modules), every import counted.

Counts module-level imports, imports inside functions and ``TYPE_CHECKING`` blocks alike. Modules that
registries find by discovery (``Registry(package=...)``) are not imported by name and so make no edge: a
package that discovers its entries does not depend on them. tests/test_import_graph.py runs it.
Prints every cycle (strongly connected component of more than one part); exits 1 if there is one.

    python benchmarks/import_graph.py [--edges]
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "simkit"


def part_of(module: str) -> str | None:
    """First-level part of a dotted simkit module name (``simkit.data.writer`` -> ``data``)."""
    bits = module.split(".")
    if bits[0] != "simkit" or len(bits) < 2:
        return None
    return bits[1]


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every simkit module imported anywhere in ``path`` (relative imports resolved)."""
    mod = module_name(path, root)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("simkit")}


def graph(root: Path = ROOT) -> dict[str, dict[str, set[str]]]:
    """part -> imported part -> the files making that edge (``root``: the ``simkit`` package folder)."""
    g: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(root.rglob("*.py")):
        src = part_of(module_name(path, root))
        if src is None:
            continue
        for m in imports_of(path, root):
            dst = part_of(m)
            if dst is None or dst == src or not (root / dst).exists() and not (root / f"{dst}.py").exists():
                continue
            g[src][dst].add(str(path.relative_to(root.parent)))
    return g


def cycles(g: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    nodes = sorted(set(g) | {d for e in g.values() for d in e})

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", action="store_true", help="print every edge with the files that make it")
    args = ap.parse_args()
    g = graph()
    if args.edges:
        for src in sorted(g):
            for dst in sorted(g[src]):
                print(f"{src} -> {dst}: {', '.join(sorted(g[src][dst]))}")
    found = cycles(g)
    for comp in found:
        inner = [f"{s}->{d}" for s in comp for d in sorted(g.get(s, {})) if d in comp]
        print(f"cycle: {' '.join(comp)}\n  edges: {', '.join(inner)}")
    print(f"{len(g)} parts with imports, {sum(len(e) for e in g.values())} edges, {len(found)} cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
