"""Facts of gpufleet.facts.driver: the installed driver, one toolkit directory, checksum files."""

from __future__ import annotations

import pytest

from gpufleet.facts.driver import InstalledDriver, PublishedSha256
from tests.facts.scenarios import Scenario, check, scenarios


@pytest.mark.parametrize("scenario", scenarios("driver"))
def test_fact_scenario(scenario: Scenario) -> None:
    check(scenario)


# Constructed inputs, each following a format named beside it.


def test_open_module_license_wins_over_the_log() -> None:
    # `modinfo -F license nvidia` prints "Dual MIT/GPL" for the open modules
    output = [
        "@@ installer",
        "nvidia-installer:  version 570.211.01",
        "@@ license",
        "Dual MIT/GPL",
        "@@ log",
        "--kernel-module-type=proprietary",
    ]
    assert InstalledDriver().process(output) == {"version": "570.211.01", "kernel_module": "open"}


def test_old_installer_version_line_and_m_flag() -> None:
    # the 295.20 era line (a public report) carries the builder and date after the version
    output = [
        "@@ installer",
        "",
        "nvidia-installer:  version 535.104.05  (buildmeister@builder)  Tue Aug 22 2023",
        "@@ license",
        "@@ log",
        "nvidia-installer command line:",
        "    ./nvidia-installer",
        "    --silent",
        "    -m=kernel",
    ]
    fact = InstalledDriver().process(output)
    assert fact == {"version": "535.104.05", "kernel_module": "proprietary"}


def test_published_sha256_reads_sha256sum_lines_by_base_name() -> None:
    digest = "ab" * 32
    fact = PublishedSha256()
    assert fact.requires_command("u", "x.run") == "curl"
    assert fact.process([f"{digest}  NVIDIA-Linux-x86_64-580.159.04.run"]) == {
        "NVIDIA-Linux-x86_64-580.159.04.run": digest
    }
    assert fact.process([f"{digest.upper()} *local_installers/cuda.run", "junk"]) == {
        "cuda.run": digest
    }
    assert fact.process([digest]) == {"": digest}
    assert fact.process(["<html>404</html>"]) is None
