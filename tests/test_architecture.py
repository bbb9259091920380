"""The dependency rules (ARCHITECTURE.md, "Dependencies point down"), as import-linter contracts
in pyproject.toml: layers from main down to the foundations, operations that import no domain
package, routers that import no router, pure ML code, and no import cycle inside any package."""

from __future__ import annotations

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
