"""Facts of gpufleet.facts.apt against output captured on real hosts."""

from __future__ import annotations

import pytest

from gpufleet.facts.apt import AptHolds, AptPolicy, DpkgPackages
from tests.facts.scenarios import Scenario, check, gather_without_command, scenarios


@pytest.mark.parametrize("scenario", scenarios("apt"))
def test_fact_scenario(scenario: Scenario) -> None:
    check(scenario)


def test_without_apt_gives_empty_values(local_host) -> None:
    # A host that is not Debian-like has no apt-cache, apt-mark or dpkg.
    assert gather_without_command(local_host, AptPolicy, "gcc") == {
        "installed": None,
        "candidate": None,
        "versions": [],
        "held": False,
    }
    assert gather_without_command(local_host, AptHolds) == []
    assert gather_without_command(local_host, DpkgPackages) == {}


def test_policy_default_is_a_fresh_dict() -> None:
    # process() fills the default in place; two calls must not share its list.
    AptPolicy().default()["versions"].append("1.0")
    assert AptPolicy().default()["versions"] == []
