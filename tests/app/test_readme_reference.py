"""The README's command and endpoint references against the real CLI and API.

Every `agentledger ...` command line the README shows must name a real command and only options it accepts,
every endpoint it names must be served, and every command and route must be documented there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from agentledger.app.cli import app as cli_app
from agentledger.core.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
ROOT = typer.main.get_command(cli_app)
_CODE = re.compile(r"`([^`\n]+)`")
_ENDPOINT = re.compile(r"(/(?:api|v1)/[A-Za-z0-9_/{}.-]*[A-Za-z0-9_}]|/healthz)")


def readme_command_lines() -> list[str]:
    """Every code span of the README that is an `agentledger` command line."""
    return sorted({span for span in _CODE.findall(README) if span.startswith("agentledger ")})


def is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The (click-style) command that ``words`` name (after ``agentledger``) and the words after it."""
    command: Any = ROOT
    rest = list(words)
    while rest and is_group(command) and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    return command, rest


def options_of(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def leaf_commands(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if is_group(command):
        return [
            leaf for name, sub in command.commands.items() for leaf in leaf_commands(sub, (*prefix, name))
        ]
    return [prefix]


@pytest.mark.parametrize("line", readme_command_lines())
def test_every_readme_command_line_names_a_command_and_its_options(line: str) -> None:
    words = line.replace("\\|", "|").split()[1:]
    options = {w.split("=")[0].strip("[]") for w in words if w.lstrip("[").startswith("--")}
    global_options = options & options_of(ROOT)
    command, _ = resolve([w for w in words if w not in global_options and w != "..."])
    assert not is_group(command) or command is ROOT and global_options, (
        f"README: `{line}` does not name a command"
    )
    unknown = options - global_options - options_of(command)
    assert not unknown, f"README: `{line}`: {sorted(unknown)} not accepted by `agentledger {command.name}`"


def test_every_cli_command_is_in_the_readme() -> None:
    documented = " ".join(readme_command_lines()) + " " + " ".join(_CODE.findall(README))
    missing = [
        " ".join(leaf)
        for leaf in leaf_commands(ROOT)
        if f"agentledger {' '.join(leaf)}" not in documented and " ".join(leaf) not in documented
    ]
    assert not missing, f"commands the README does not mention: {missing}"


_SOURCE_APIS = ("/api/public/", "/v1/request/", "/spend/logs")


@pytest.fixture(scope="module")
def routes() -> set[str]:
    from agentledger.app.api import create_app

    api: Any = create_app(Settings(warehouse="duckdb:///:memory:", _env_file=None))
    return set(api.openapi()["paths"])


def test_every_readme_endpoint_is_served(routes: set[str]) -> None:
    named = {m.group(1) for span in _CODE.findall(README) for m in _ENDPOINT.finditer(span)}
    # The sources' own APIs (Langfuse, Helicone, LiteLLM) that the collectors call.
    named = {path for path in named if path in routes or not path.startswith(_SOURCE_APIS)}
    assert named, "no endpoint found in the README"
    assert not named - routes, f"README names endpoints the API does not serve: {sorted(named - routes)}"


def test_every_route_is_in_the_readme(routes: set[str]) -> None:
    missing = sorted(path for path in routes if path not in README)
    assert not missing, f"routes the README does not document: {missing}"


def test_every_operation_is_listed_under_one_tag() -> None:
    """The OpenAPI schema groups each endpoint once (a tag given twice listed it twice in the docs)."""
    from agentledger.app.api import create_app

    api: Any = create_app(Settings(warehouse="duckdb:///:memory:", _env_file=None))
    tags = {
        (path, method): operation.get("tags", [])
        for path, methods in api.openapi()["paths"].items()
        for method, operation in methods.items()
    }
    assert {key: t for key, t in tags.items() if len(t) != 1} == {}
    assert {t[0] for t in tags.values()} == {"ingest", "query", "recommendations", "alerts", "meta"}
