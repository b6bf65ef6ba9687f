"""Facts of gpufleet.facts.cuda against output captured on real hosts."""

from __future__ import annotations

import json

import pytest

from gpufleet.facts.cuda import CudaToolkits, NvccVersion
from tests.facts.scenarios import Scenario, check, gather_without_command, scenarios


@pytest.mark.parametrize("scenario", scenarios("cuda"))
def test_fact_scenario(scenario: Scenario) -> None:
    check(scenario)


def test_without_nvcc_gives_none(local_host) -> None:
    assert gather_without_command(local_host, NvccVersion) is None


def test_no_toolkit_directory_gives_empty_dict() -> None:
    assert CudaToolkits().default() == {}


def test_version_json_gives_the_compiler_version() -> None:
    # Constructed, not captured: the GPU host's toolkit came from Ubuntu packages, which write
    # no version.json. The keys are those of the runfile's version.json; "cuda" is the SDK
    # release, "cuda_nvcc" the compiler's version, which is what nvcc --version prints.
    version_json = json.dumps(
        {
            "cuda": {"name": "CUDA SDK", "version": "12.4.1"},
            "cuda_nvcc": {"name": "CUDA NVCC", "version": "12.4.131"},
        },
        indent=3,
    )
    output = ["@@ /usr/local/cuda-12.4", *version_json.splitlines()]
    assert CudaToolkits().process(output) == {
        "12.4": {"path": "/usr/local/cuda-12.4", "version": "12.4.131", "source": "version.json"},
    }
