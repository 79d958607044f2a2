"""The deployment files as data: the Procfile, the Dockerfile, docker-compose.yml, Terraform.

Each is read with the parser its own tool uses or the closest one on PyPI (BuildKit's for the
Dockerfile, python-hcl2 for HCL, PyYAML), so a test sees what the tool would.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import dockerfile
import hcl2
import yaml

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
ENV_ASSIGNMENT_SEPARATOR = "="


def procfile() -> dict[str, list[str]]:
    """Each process type's argv, without the leading ``VAR=value`` assignments."""
    processes: dict[str, list[str]] = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, command = line.split(":", 1)
        words = shlex.split(command)
        while words and ENV_ASSIGNMENT_SEPARATOR in words[0] and not words[0].startswith("-"):
            words.pop(0)
        processes[name.strip()] = words
    return processes


def dockerfile_instructions() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(ROOT / "Dockerfile")))


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def terraform_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


def unquote(value: Any) -> Any:
    """python-hcl2 8 keeps the quotes of string literals (``'"web"'``); drop them, recursively."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, dict):
        return {unquote(key): unquote(item) for key, item in value.items() if key != "__is_block__"}
    return value


class Module:
    """One Terraform module's blocks by kind, merged over its .tf files."""

    def __init__(self, folder: Path) -> None:
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.locals: dict[str, Any] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.tf")):
            with path.open() as handle:
                parsed = unquote(hcl2.load(handle))
            for block in parsed.get("resource", []):
                for kind, named in block.items():
                    self.resources.setdefault(kind, {}).update(named)
            for block in parsed.get("data", []):
                for kind, named in block.items():
                    self.data.setdefault(kind, {}).update(named)
            for block in parsed.get("locals", []):
                self.locals.update(block)
            for block in parsed.get("variable", []):
                self.variables.update(block)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]
