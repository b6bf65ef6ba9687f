"""Facts of gpufleet.facts.conda: Miniforge, env dirs and service links, from real sh output."""

from __future__ import annotations

import pytest

from gpufleet.facts.conda import CondaEnvs, Miniforge, ServiceEnvLinks
from tests.facts.scenarios import Scenario, check, scenarios


@pytest.mark.parametrize("scenario", scenarios("conda"))
def test_fact_scenario(scenario: Scenario) -> None:
    check(scenario)


def test_paths_are_quoted_for_the_shell() -> None:
    assert "'/opt/my envs'/*/" in CondaEnvs().command("/opt/my envs")
    assert "'/opt/a b'/*/*" in ServiceEnvLinks().command("/opt/a b")
    assert "[ -d '/opt/c d' ]" in Miniforge().command("/opt/c d")


def test_a_conda_that_does_not_answer_reads_none() -> None:
    assert Miniforge().process(["prefix", "installed 24.11.3-2"]) == {
        "installed": "24.11.3-2",
        "conda": None,
    }
