"""The dependency rules (docs/architecture.md, "Layers"), as import-linter contracts
in pyproject.toml: layers from main down to the foundations, operations that import no domain
package, routers that import no router, pure ML code, and no import cycle inside any package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_point_down_and_never_in_a_cycle() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_tests_never_import_the_benchmarks() -> None:
    """Shared helpers live in tests/support, which bench/ imports; never the other way."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "bench" or n.startswith("bench.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_savepoints_go_through_the_helper_that_nests_them_on_sqlite() -> None:
    """``db.session.savepoint`` (docs/architecture.md, "Savepoints"), never ``begin_nested``
    directly: on SQLite that one could commit on its own."""
    helper = ROOT / "app" / "db" / "session.py"
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        if path != helper
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "begin_nested"
    ]
    assert offenders == []
