"""The deployment files (Dockerfile, compose.yaml, docs/deploy.md) use only commands,
options and settings that exist: every ``payreq ...`` invocation is checked against the
CLI, every ``PAYREQ_*`` name against ``Settings``. Docker does not run here; this test
is static on purpose."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from payreq.cli.main import app
from payreq.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SETTING = re.compile(r"\bPAYREQ_([A-Z0-9_]+)")
# compose-only variables: the proxy's host name, not a payreq setting
NOT_SETTINGS = {"PUBLIC_HOST"}


def _commands() -> list[list[str]]:
    """Every ``payreq`` invocation in the Dockerfile (CMD) and compose.yaml (command:),
    and in docs/deploy.md's code blocks."""
    found: list[list[str]] = []
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("CMD "):
            found.append(yaml.safe_load(line[4:]))
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for service in compose["services"].values():
        command = service.get("command")
        if command and command[0] == "payreq":
            found.append(command)
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for block in re.findall(r"```\n(.*?)```", guide, re.S):
        for line in block.splitlines():
            words = shlex.split(line.split("#")[0]) if "payreq " in line else []
            for i, word in enumerate(words[:-1]):
                # the program, not a user or database named payreq (pg_dump -U payreq payreq)
                program = word == "payreq" and not (i and words[i - 1].startswith("-"))
                if program and re.fullmatch(r"[a-z][a-z-]*", words[i + 1]):
                    found.append(words[i:])
    return [c for c in found if c and c[0] == "payreq"]


def _resolve(words: list[str]) -> None:
    command: Any = typer.main.get_command(app)
    rest = words[1:]
    while hasattr(command, "commands"):  # a group (typer's own click)
        assert rest and rest[0] in command.commands, f"no command {' '.join(words[:2])!r}"
        command = command.commands[rest[0]]
        rest = rest[1:]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=")[0] in options, (
                f"{' '.join(words)}: no option {word} (has {sorted(options)})"
            )


def test_every_payreq_command_the_deployment_runs_exists() -> None:
    commands = _commands()
    assert {c[1] for c in commands} >= {"serve", "worker", "migrate", "bootstrap"}
    for command in commands:
        _resolve(command)


def test_every_setting_the_deployment_names_exists() -> None:
    known = {name.upper() for name in Settings.model_fields}
    used: set[str] = set()
    for name in ("Dockerfile", "compose.yaml", "docs/deploy.md", ".env.example"):
        used |= set(SETTING.findall((ROOT / name).read_text()))
    assert used, "no setting found: the pattern is wrong"
    unknown = sorted(used - known - NOT_SETTINGS)
    assert not unknown, f"not in Settings: {unknown}"


@pytest.mark.parametrize("word", ["--no-such-option"])
def test_the_check_refuses_an_unknown_option(word: str) -> None:
    with pytest.raises(AssertionError):
        _resolve(["payreq", "serve", word])
    with pytest.raises(AssertionError):
        _resolve(["payreq", "no-such-command"])


def test_the_image_runs_as_a_non_root_user_in_two_stages() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(stages) == 2 and all("slim" in s for s in stages)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")


def test_the_proxy_container_is_given_every_variable_its_caddyfile_reads() -> None:
    """compose's ``.env`` fills in compose.yaml's own ``${...}`` only: a variable the
    Caddyfile reads must be in the proxy's environment, or Caddy uses its default."""
    read = set(re.findall(r"\{\$([A-Z0-9_]+)", (ROOT / "deploy" / "Caddyfile").read_text()))
    assert read, "no variable found: the pattern is wrong"
    proxy = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["proxy"]
    assert read <= set(proxy.get("environment", {})), read


def test_only_the_api_keeps_the_images_health_check_of_port_8000() -> None:
    """The Dockerfile's HEALTHCHECK asks :8000/healthz; a service of the image that
    serves nothing there would always read unhealthy."""
    assert "127.0.0.1:8000/healthz" in (ROOT / "Dockerfile").read_text()
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        command = service.get("command") or []
        if service.get("image") != "payreq:latest" or command[:2] == ["payreq", "serve"]:
            continue
        check = service.get("healthcheck")
        assert check is not None, f"{name} inherits the image's check of :8000"
        assert check.get("disable") or "8000" not in " ".join(check["test"]), name
