"""Loads operation scenarios: ``tests/operations/<module>.<op>/<scenario>.json``, as pyinfra does.

Each file holds the operation's ``args``, the ``facts`` the host reports (keyed by fact class
name; every fact the operation reads must be there, or the scenario fails) and the ``commands``
expected, in order (``[]``: the host already matches, nothing to do). A test module may turn
JSON args into the objects the operation takes (``convert``).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pyinfra.context import ctx_host

OPERATIONS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Scenario:
    module: str
    op: str
    name: str
    data: dict[str, Any]


@dataclass
class FakeHost:
    """The host an operation sees: its facts from the scenario, by fact class name."""

    facts: dict[str, Any]
    name: str = "gpu01"
    data: dict[str, Any] = field(default_factory=dict)
    noops: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def get_fact(self, fact_cls: type, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(fact_cls.__name__)
        if fact_cls.__name__ not in self.facts:
            raise AssertionError(f"scenario lacks fact {fact_cls.__name__} ({args} {kwargs})")
        return self.facts[fact_cls.__name__]

    def noop(self, description: str) -> None:
        self.noops.append(description)


def scenarios(module: str) -> list[Any]:
    """One pytest param per scenario file of every ``<module>.<op>`` folder."""
    params = []
    for folder in sorted(OPERATIONS_DIR.glob(f"{module}.*")):
        for path in sorted(folder.glob("*.json")):
            scenario = Scenario(module, folder.suffix[1:], path.stem, json.loads(path.read_text()))
            params.append(pytest.param(scenario, id=f"{folder.name}/{path.stem}"))
    assert params, f"no scenarios for gpufleet.operations.{module}"
    return params


def run(
    scenario: Scenario, convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> tuple[list[str], FakeHost]:
    """The commands the operation yields on a host with the scenario's facts."""
    op = getattr(importlib.import_module(f"gpufleet.operations.{scenario.module}"), scenario.op)
    args = dict(scenario.data.get("args", {}))
    fake = FakeHost(scenario.data.get("facts", {}), scenario.data.get("host", "gpu01"))
    with ctx_host.use(fake):
        commands = [str(c) for c in op._inner(**(convert(args) if convert else args))]
    return commands, fake


def check(scenario: Scenario, convert: Callable[[dict], dict] | None = None) -> FakeHost:
    commands, fake = run(scenario, convert)
    assert commands == scenario.data["commands"]
    return fake
