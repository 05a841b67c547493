"""simkit's first-level parts (subpackages and top modules) import each other without a cycle (issue 18),
counting every import, also those inside functions and TYPE_CHECKING blocks."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "import_graph.py"


def _module():
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_simkit_has_no_import_cycle_between_its_parts() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("0 cycle(s)"), run.stdout


def test_the_checker_finds_a_cycle_through_an_import_inside_a_function(tmp_path: Path) -> None:
    root = tmp_path / "simkit"
    for part in ("a", "b"):
        (root / part).mkdir(parents=True)
        (root / part / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "c.py").write_text("from simkit.errors import X\n")
    (root / "errors.py").write_text("")
    (root / "a" / "x.py").write_text("from simkit.b.y import f\n")
    (root / "b" / "y.py").write_text("def f():\n    from simkit.a import x  # lazily, still an edge\n")
    mod = _module()
    g = mod.graph(root)
    assert set(g["a"]) == {"b"} and set(g["b"]) == {"a"} and set(g["c"]) == {"errors"}
    assert mod.cycles(g) == [["a", "b"]]
    (root / "b" / "y.py").write_text("def f():\n    return 1\n")
    assert mod.cycles(mod.graph(root)) == []
