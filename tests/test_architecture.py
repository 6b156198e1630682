"""The import rule that keeps recognition light: nothing outside `inkdigit.training` imports it or torch,
and no two modules import each other (directly or through others)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "inkdigit"
TRAINING = "inkdigit.training"
TORCH_LIBS = ("torch", "torchvision", "onnxscript", "matplotlib")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_names(name: str) -> set[str]:
    """Every module a module imports, at the top or inside a function, resolved to absolute names."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}  # `from pkg import module`
    return found


def internal_edges(name: str) -> set[str]:
    """The inkdigit modules `name` imports (a `from pkg import name` counts as importing pkg.name when that is
    a module, else pkg). A package's own __init__ is not counted as a dependency of its modules."""
    edges = set()
    for target in imported_names(name):
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(target + "."):
            edges.add(target)
    return edges


def test_the_module_scan_sees_the_package() -> None:
    # Guards the tests below against scanning nothing: the recognition and training entry points exist.
    assert {"inkdigit.inference", "inkdigit.server.app", "inkdigit.training.loop", "inkdigit.cli"} <= set(MODULES)
    assert "inkdigit.vision.preprocess" in internal_edges("inkdigit.inference")


@pytest.mark.parametrize("name", [m for m in MODULES if m != TRAINING and not m.startswith(TRAINING + ".")])
def test_recognition_side_never_imports_training_or_torch(name: str) -> None:
    bad = sorted(t for t in imported_names(name)
                 if t == TRAINING or t.startswith(TRAINING + ".") or t.split(".")[0] in TORCH_LIBS)
    # The CLI's training commands import training inside their run(): that is the one allowed door.
    if name in {"inkdigit.cli.train", "inkdigit.cli.evaluate", "inkdigit.cli.export"}:
        bad = [t for t in bad if t.startswith(TRAINING)]
        assert all(t.split(".")[0] not in TORCH_LIBS for t in imported_names(name)), name
        return
    assert not bad, f"{name} imports {bad}"


def test_no_import_circles() -> None:
    graph = {m: internal_edges(m) for m in MODULES}
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                circles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_importing_the_recognition_side_loads_no_torch() -> None:
    modules = ["inkdigit.inference", "inkdigit.vision.segment", "inkdigit.server.app", "inkdigit.server.start",
               "inkdigit.cli", "inkdigit.cli.reading", "inkdigit.gui.present", "inkdigit.data"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'inkdigit') and "
            "(k == 'torch' or k.startswith('inkdigit.training'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md is the map a newcomer reads first: every package and module must be on it."""
    page = (SRC.parent / "docs" / "architecture.md").read_text()
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py") and p.name not in page]
    missing += [f"{d.name}/" for d in sorted(PACKAGE.iterdir()) if d.is_dir() and d.name != "__pycache__"
                and f"{d.name}/" not in page]
    assert not missing, f"docs/architecture.md does not mention: {missing}"
