"""Reading the deployment files the way Docker and Compose read them (no engine needed).

- ``Dockerfile``: instructions (dockerfile-parse), grouped into stages (``FROM … AS name``), and
  the stages a target builds on.
- ``docker-compose.yml``: ``${VAR}`` interpolation with Compose's rules, and each service's
  container environment (``env_file:`` then ``environment:``, which wins).
- ``.env.example``: its values (python-dotenv), and the comment that documents each variable.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dotenv
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
VENV_BIN = ROOT / ".venv" / "bin"
# The api image is built without the train extra: these top-level modules are made unimportable
# (sitecustomize in WITHOUT_TRAIN_EXTRA, on PYTHONPATH) to run API processes as in that image.
TRAIN_MODULES = "tensorflow,keras,tf2onnx,onnx,sklearn"
WITHOUT_TRAIN_EXTRA = Path(__file__).parent / "without_train_extra"

# ------------------------------------------------------------------------------ Dockerfile


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, USER …
    args: str  # the rest of the logical line, continuations joined
    line: int


@dataclass
class Stage:
    name: str
    base: str  # an image reference or an earlier stage's name
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def copy_from(self) -> list[str]:
        found = []
        for copy in self.all("COPY"):
            match = re.search(r"--from=(\S+)", copy.args)
            if match:
                found.append(match.group(1))
        return found


def parse_dockerfile(path: Path = DOCKERFILE) -> dict[str, Stage]:
    """Stages by name (an unnamed stage is named by its index)."""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for item in DockerfileParser(path=str(path)).structure:
        keyword, args = item["instruction"], item["value"]
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            current = Stage(name=name, base=words[0])
            stages[name] = current
            continue
        assert current is not None, f"{keyword} before FROM"
        current.instructions.append(Instruction(keyword, args, item["startline"] + 1))
    return stages


def stage_chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The target and the stages it is built FROM, base first."""
    chain = []
    name: str | None = target
    while name in stages:
        chain.append(stages[name])
        name = stages[name].base
    return list(reversed(chain))


def stage_closure(stages: dict[str, Stage], target: str) -> list[Stage]:
    """Every stage that building ``target`` builds: its FROM chain and COPY --from sources."""
    seen: dict[str, Stage] = {}

    def visit(name: str) -> None:
        if name in seen or name not in stages:
            return
        seen[name] = stages[name]
        visit(stages[name].base)
        for source in stages[name].copy_from():
            visit(source)

    visit(target)
    return list(seen.values())


def effective(stages: dict[str, Stage], target: str, keyword: str) -> Instruction | None:
    """The last USER / HEALTHCHECK / CMD … in effect for a target (inherited through FROM)."""
    found = None
    for stage in stage_chain(stages, target):
        for instruction in stage.all(keyword):
            found = instruction
    return found


def exec_form(args: str) -> list[str]:
    """``["a", "b"]`` (JSON array) or a shell-form string split like sh."""
    if args.startswith("["):
        return list(yaml.safe_load(args))
    return shlex.split(args)


def shell_commands(run_args: str) -> list[str]:
    """A RUN's shell command split at ``&&``, ``||`` and ``;`` (good enough for pip calls)."""
    return [part.strip() for part in re.split(r"&&|\|\||;(?=\s)", run_args) if part.strip()]


# ------------------------------------------------------------------------------ dotenv


@dataclass
class EnvLine:
    name: str
    value: str
    active: bool  # False for a commented-out example (``# NAME=value``)
    comment: str  # the comment lines directly above it


def read_env_example(path: Path = ENV_EXAMPLE) -> list[EnvLine]:
    """Every variable with the comment lines above it, commented-out examples (``# NAME=…``)
    included: python-dotenv reads the values only, so the documentation is read here."""
    active = dotenv_values(path)
    lines: list[EnvLine] = []
    comment: list[str] = []
    assignment = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        match = assignment.match(stripped)
        if match:
            name, example = match.group(2), match.group(1) is not None
            value = active[name] if not example else _unquote(match.group(3))
            lines.append(EnvLine(name, value, not example, "\n".join(comment)))
            comment = []
        elif stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
        else:
            comment = []
    return lines


def dotenv_values(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """The active ``NAME=value`` lines, as Compose reads an env file (no interpolation)."""
    values = dotenv.dotenv_values(path, interpolate=False)
    return {name: value or "" for name, value in values.items()}


def _unquote(value: str) -> str:
    """A commented-out example's value, quotes removed as dotenv removes them."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


# ------------------------------------------------------------------------------ compose
# Compose v2 is written in Go and no maintained Python package implements its interpolation
# (the Python docker-compose v1 is retired), so its documented rules are implemented here.

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class InterpolationError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name


@dataclass(frozen=True)
class Usage:
    name: str
    op: str | None  # None, "-", ":-", "?", ":?", "+", ":+"
    arg: str

    @property
    def required(self) -> bool:
        return self.op in ("?", ":?")

    @property
    def has_default(self) -> bool:
        return self.op in ("-", ":-")


def variable_usages(value: Any) -> list[Usage]:
    """Every ``${VAR}`` in the string values of a parsed compose file (comments don't count)."""
    if isinstance(value, dict):
        return [u for v in value.values() for u in variable_usages(v)]
    if isinstance(value, list):
        return [u for v in value for u in variable_usages(v)]
    if not isinstance(value, str):
        return []
    usages = []
    for match in _VARIABLE.finditer(value):
        name = match.group("braced") or match.group("bare")
        if name:
            usages.append(Usage(name, match.group("op"), match.group("arg") or ""))
    return usages


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's interpolation of every string in a parsed compose file."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        is_set = name in variables
        non_empty = bool(variables.get(name))
        if op in ("?", ":?") and not (non_empty if op == ":?" else is_set):
            raise InterpolationError(name, arg)
        if op in ("-", ":-") and not (non_empty if op == ":-" else is_set):
            return arg
        if op in ("+", ":+"):
            return arg if (non_empty if op == ":+" else is_set) else ""
        return variables.get(name, "")

    return _VARIABLE.sub(replace, value)


def raw_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def load_compose(variables: dict[str, str]) -> dict[str, Any]:
    """The compose file as Compose sees it after interpolation."""
    return dict(interpolate(raw_compose(), variables))


def env_file_paths(service: dict[str, Any]) -> list[tuple[str, bool]]:
    """(path, required) for each ``env_file:`` entry."""
    entries = service.get("env_file", [])
    if isinstance(entries, str):
        entries = [entries]
    out = []
    for entry in entries:
        if isinstance(entry, str):
            out.append((entry, True))
        else:
            out.append((entry["path"], str(entry.get("required", True)).lower() != "false"))
    return out


def service_environment(
    service: dict[str, Any], env_files: dict[str, dict[str, str]]
) -> dict[str, str]:
    """A container's environment: env files in order, then ``environment:`` over them.

    ``env_files`` maps an ``env_file`` path to its contents (the tests pass what ``.env`` would
    hold); a path not given is treated as absent, which is an error unless ``required: false``.
    """
    env: dict[str, str] = {}
    for path, required in env_file_paths(service):
        if path in env_files:
            env.update(env_files[path])
        elif required:
            raise FileNotFoundError(f"env_file {path} is required")
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    for key, value in environment.items():
        env[key] = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


def command_argv(service: dict[str, Any]) -> list[str]:
    """The service's ``command``, else the CMD of the Dockerfile target it is built from."""
    command = service.get("command")
    if command is None:
        cmd = effective(parse_dockerfile(), service["build"]["target"], "CMD")
        assert cmd is not None, f"no command and no CMD for target {service['build']['target']}"
        return exec_form(cmd.args)
    return list(command) if isinstance(command, list) else shlex.split(command)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency → condition (the short list form means service_started)."""
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) for each mount; type is volume, bind or tmpfs."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts.append((entry.get("type", "volume"), entry.get("source", ""), entry["target"]))
            continue
        parts = entry.split(":")
        if len(parts) == 1:
            mounts.append(("volume", "", parts[0]))  # anonymous volume
            continue
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith(("/", ".", "~", "$")) else "volume"
        mounts.append((kind, source, target))
    return mounts


def service_secrets(service: dict[str, Any]) -> dict[str, str]:
    """Secret name → the path it is mounted at in the container (short or long syntax)."""
    found = {}
    for entry in service.get("secrets", []):
        if isinstance(entry, str):
            found[entry] = f"/run/secrets/{entry}"
        else:
            target = entry.get("target", entry["source"])
            found[entry["source"]] = target if target.startswith("/") else f"/run/secrets/{target}"
    return found


def default_services(compose: dict[str, Any], profiles: tuple[str, ...] = ()) -> set[str]:
    """The services `docker compose up` starts with these profiles enabled (a service with no
    ``profiles`` always starts)."""
    return {
        name
        for name, service in compose["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


def merge_override(compose: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A second compose file over the first, for the keys an override here uses (services'
    mappings merged key by key, sequences such as ``profiles`` appended), as Compose merges."""

    def merge(base: Any, extra: Any) -> Any:
        if isinstance(base, dict) and isinstance(extra, dict):
            return {k: merge(base[k], v) if k in base else v for k, v in extra.items()} | {
                k: v for k, v in base.items() if k not in extra
            }
        if isinstance(base, list) and isinstance(extra, list):
            return base + [v for v in extra if v not in base]
        return extra

    merged: dict[str, Any] = merge(compose, override)
    return merged
