"""Facts of gpufleet.facts.pci against output captured on real hosts."""

from __future__ import annotations

import pytest

from gpufleet.facts.pci import PciGpus
from tests.facts.scenarios import Scenario, check, gather_without_command, scenarios


@pytest.mark.parametrize("scenario", scenarios("pci"))
def test_fact_scenario(scenario: Scenario) -> None:
    check(scenario)


def test_without_lspci_gives_empty_list(local_host) -> None:
    assert gather_without_command(local_host, PciGpus) == []


def test_audio_function_of_a_gpu_is_left_out() -> None:
    # Constructed, not captured: a consumer card's HDMI audio function (class 0403) shares the
    # GPU's vendor id; the display function on the line before it is kept.
    lines = [
        "0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GV100 [10de:1db5]",
        "0000:01:00.1 Audio device [0403]: NVIDIA Corporation Device [10de:10f2] (rev a1)",
    ]
    assert [gpu["slot"] for gpu in PciGpus().process(lines)] == ["0000:01:00.0"]
