"""Loads the fact scenarios: ``tests/facts/<module>.<Fact>/<scenario>.json``, as pyinfra does.

Each file holds the ``command`` and ``requires_command`` the fact must build (for ``arg`` when
the fact takes one), the raw ``output`` lines captured on a real host (see captures/README.md),
and the ``fact`` expected from them; ``source`` says which capture the output came from.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import FactBase

FACTS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Scenario:
    fact_cls: type[FactBase]
    name: str
    data: dict[str, Any]

    def args(self) -> list[Any]:
        return [self.data["arg"]] if "arg" in self.data else []


def scenarios(module: str) -> list[Any]:
    """One pytest param per scenario file of every ``<module>.<Fact>`` folder."""
    params = []
    for folder in sorted(FACTS_DIR.glob(f"{module}.*")):
        fact_cls = getattr(importlib.import_module(f"gpufleet.facts.{module}"), folder.suffix[1:])
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text())
            scenario = Scenario(fact_cls, path.stem, data)
            params.append(pytest.param(scenario, id=f"{folder.name}/{path.stem}"))
    assert params, f"no scenarios for gpufleet.facts.{module}"
    return params


def gather(fact: FactBase, output: list[str]) -> Any:
    """What pyinfra's get_fact returns for this stdout: ``default()`` when empty, else process."""
    return fact.process(output) if output else fact.default()


def check(scenario: Scenario) -> None:
    fact = scenario.fact_cls()
    args = scenario.args()
    assert str(fact.command(*args)) == scenario.data["command"]
    assert fact.requires_command(*args) == scenario.data["requires_command"]
    assert gather(fact, scenario.data["output"]) == scenario.data["fact"]


def gather_without_command(host: Any, fact_cls: type[FactBase], *args: Any) -> Any:
    """Run ``fact_cls`` through pyinfra on ``host`` as if its required binary were missing."""

    def requires_command(self: FactBase, *_args: Any, **_kwargs: Any) -> str:
        return "gpufleet-test-no-such-binary"

    missing = type(
        f"{fact_cls.__name__}CommandMissing", (fact_cls,), {"requires_command": requires_command}
    )
    return host.get_fact(missing, *args)
