"""Facts of gpufleet.facts.nvidia against output captured on real hosts."""

from __future__ import annotations

import pytest

from gpufleet.facts.nvidia import GpuProcesses, NouveauLoaded, NvidiaDriver, NvidiaGpus
from tests.facts.scenarios import Scenario, check, gather_without_command, scenarios


@pytest.mark.parametrize("scenario", scenarios("nvidia"))
def test_fact_scenario(scenario: Scenario) -> None:
    check(scenario)


@pytest.mark.parametrize("fact_cls", [NvidiaGpus, GpuProcesses])
def test_without_nvidia_smi_gives_empty_list(local_host, fact_cls) -> None:
    # A fresh host has no driver yet, so no nvidia-smi: an empty answer, not an error.
    assert gather_without_command(local_host, fact_cls) == []


def test_defaults_without_driver() -> None:
    assert NvidiaDriver().default() is None
    assert NouveauLoaded().default() is False


# Constructed inputs, not captures: no host at hand shows these cases. Each line follows the
# format of the captured line next to it, changing only the part the case is about.


def test_proprietary_module_banner() -> None:
    # The proprietary module's banner names no "Open Kernel Module".
    line = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Release Build  (nixbld@)  "
    assert NvidiaDriver().process([line]) == {
        "version": "580.159.04",
        "kernel_module": "proprietary",
    }


def test_process_memory_not_available() -> None:
    assert GpuProcesses().process(["433, python3, [N/A]"]) == [
        {"pid": 433, "process_name": "python3", "used_memory_mib": None},
    ]


def test_nouveau_line_in_proc_modules() -> None:
    line = "nouveau 2834432 0 - Live 0xffffffffc0400000"
    assert NouveauLoaded().process([line]) is True
