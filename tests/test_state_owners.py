"""Each state machine has one owner module, and nothing else in ``app/`` writes its status
column: jobs and batches (app.training.jobs.lifecycle), model versions (app.registry.versions),
ledger points (app.ledger.points). Read from the code's syntax tree, so a new write anywhere
else fails here."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
OWNERS = {
    "JobStatus": "training/jobs/lifecycle.py",
    "BatchStatus": "training/jobs/lifecycle.py",
    "VersionStatus": "registry/versions.py",
    "PointStatus": "ledger/points.py",
}
STATEFUL_ROWS = {"TrainingJob", "TrainingBatch", "ModelVersion", "LedgerPoint"}


def _enums_named(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in OWNERS}


def _status_writes(tree: ast.AST) -> list[tuple[int, set[str]]]:
    """(line, the state enums the written value names) of every write of a ``status``: an
    attribute assigned, ``status=`` in an UPDATE's ``values`` or a stateful row's constructor,
    a ``"status"`` key naming a state enum (rows of a bulk INSERT)."""
    writes = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and leaf.attr == "status":
                        writes.append((node.lineno, _enums_named(node)))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "values" or name in STATEFUL_ROWS:
                for keyword in node.keywords:
                    if keyword.arg == "status":
                        writes.append((node.lineno, _enums_named(keyword.value)))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "status" and _enums_named(value):
                    writes.append((node.lineno, _enums_named(value)))
    return writes


def test_only_the_owner_of_a_state_machine_writes_its_states() -> None:
    owners = set(OWNERS.values())
    strays = []
    for path in sorted(APP.rglob("*.py")):
        module = path.relative_to(APP).as_posix()
        for line, enums in _status_writes(ast.parse(path.read_text())):
            misplaced = {e for e in enums if OWNERS[e] != module}
            if misplaced or (module not in owners):
                strays.append(f"app/{module}:{line} writes a status ({sorted(enums) or '?'})")
    assert strays == []


def test_the_check_finds_a_write_outside_the_owner() -> None:
    tree = ast.parse(
        "version.status = VersionStatus.READY\n"
        "session.execute(update(Job).values(status=JobStatus.FAILED))\n"
        "rows.append({'status': PointStatus.PENDING})\n"
    )
    assert [line for line, _ in _status_writes(tree)] == [1, 2, 3]
