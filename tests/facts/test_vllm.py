"""Facts of gpufleet.facts.vllm: the env stamps, from real sh output."""

from __future__ import annotations

import pytest

from gpufleet.facts.vllm import VllmStacks
from tests.facts.scenarios import Scenario, check, scenarios


@pytest.mark.parametrize("scenario", scenarios("vllm"))
def test_fact_scenario(scenario: Scenario) -> None:
    check(scenario)


def test_a_stamp_that_is_not_an_object_is_unreadable() -> None:
    output = ["@@ /e/vllm-x/.gpufleet-stamp.json", "[1, 2]"]
    assert VllmStacks().process(output) == {"vllm-x": None}


def test_the_fleet_report_reads_the_stamps_of_group_datas_envs_dir() -> None:
    from gpufleet import report

    assert report.fact_spec([])[report.STACKS] == (VllmStacks, {"envs_dir": "/opt/gpufleet/envs"})
    assert report.fact_spec([], envs_dir="/srv/envs")[report.STACKS][1] == {"envs_dir": "/srv/envs"}
