"""The dependency locks (requirements/*.txt, written by `make lock`) against pyproject.toml,
without a network: every requirement is pinned to a version it admits, every pin is hashed, the
API lock holds none of the train extra, and the three locks agree on every version."""

from __future__ import annotations

import re
import tomllib
from functools import cache

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.files import ROOT

LOCKS = ROOT / "requirements"
TRAIN_ONLY = {"tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "scikit-learn"}


def project() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"base": data["dependencies"], **data["optional-dependencies"]}


@cache
def pins(lock: str) -> dict[str, str]:
    """Name → version of the pins that apply on this machine (a universal lock also holds
    pins for other platforms and Pythons, behind markers)."""
    text = (LOCKS / f"{lock}.txt").read_text()
    found: dict[str, str] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        line = entry.split("\\")[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        assert "--hash=sha256:" in entry, f"{lock}: {line} has no hash"
        if requirement.marker is None or requirement.marker.evaluate():
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{lock}: {line} is not pinned"
            found[canonicalize_name(requirement.name)] = spec.version
    return found


GROUPS = {"api": ["base"], "worker": ["base", "train"], "dev": ["base", "train", "dev"]}


@pytest.mark.parametrize(("lock", "groups"), GROUPS.items())
def test_every_requirement_is_pinned_to_a_version_it_admits(lock: str, groups: list[str]) -> None:
    pinned = pins(lock)
    for group in groups:
        for line in project()[group]:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{lock}.txt lacks {line} (run `make lock`)"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"{lock}.txt pins {name}=={pinned[name]}, outside {line} (run `make lock`)"
            )


def test_the_api_lock_holds_nothing_of_the_train_extra() -> None:
    assert not set(pins("api")) & TRAIN_ONLY
    assert "onnxruntime" in pins("api")


def test_the_locks_agree_on_every_version() -> None:
    dev = pins("dev")
    for lock in ("api", "worker"):
        differ = {n: (v, dev.get(n)) for n, v in pins(lock).items() if dev.get(n) != v}
        assert not differ, f"{lock}.txt and dev.txt disagree: {differ} (run `make lock`)"
    assert set(pins("api")) <= set(pins("worker")) <= set(dev)
