"""What the user fixed (versions, sources), and the checks that refuse impossible pins early.

    >>> Pins(torch="2.6.0+cu124").torch_cuda
    'cu124'

A pin that names nothing in the matrix, or two pins that contradict each other, is refused
before any candidate is tried, with the list of what exists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from packaging.version import Version

from gpufleet.candidates import SOURCES, candidates
from gpufleet.errors import IncompatibleStack

if TYPE_CHECKING:
    from gpufleet.gpus import GpuModel
    from gpufleet.matrix import Matrix


@dataclass(frozen=True)
class Pins:
    """What the user fixed; None means "auto"."""

    vllm: str | None = None
    torch: str | None = None  # "2.6.0" or "2.6.0+cu124"
    driver: str | None = None  # full version "580.105.08" or a branch "580"
    cuda_toolkit: str | None = None  # "12.4" or "12.4.1"
    python: str | None = None
    vllm_source: str | None = None
    allow_source_build: bool = False

    @property
    def torch_version(self) -> str | None:
        return self.torch.split("+")[0] if self.torch else None

    @property
    def torch_cuda(self) -> str | None:
        return self.torch.split("+")[1] if self.torch and "+" in self.torch else None


def no_candidate(matrix: Matrix, gpu: GpuModel, pins: Pins) -> IncompatibleStack:
    """Explain why the pins leave nothing to try (the checks in _check_pins passed)."""
    if pins.torch_cuda:
        unpinned = replace(pins, torch=pins.torch_version)
        builds = sorted({f"{c.variant} ({c.source})" for c in candidates(matrix, gpu, unpinned)})
        return IncompatibleStack(
            "exact-torch-build",
            f"torch {pins.torch}",
            f"{gpu.name}: no vLLM wheel{' ' + pins.vllm if pins.vllm else ''} is built against "
            f"torch {pins.torch} (built against: {', '.join(builds) or 'none'}); a compiled "
            "extension runs only on the exact torch build it was compiled against",
            "vllm-project/vllm#13608, #20361; sgl-project/sglang#5100 (matrix.yaml rules)",
        )
    return IncompatibleStack(
        "pins", _describe_pins(pins), f"{gpu.name} ({gpu.sm}): no candidate stack for these pins"
    )


def check_pins(matrix: Matrix, gpu: GpuModel, pins: Pins) -> None:
    """Pins that name nothing in the matrix are refused with the list of what exists."""
    if pins.vllm_source and pins.vllm_source not in SOURCES:
        raise IncompatibleStack(
            "vllm-source", pins.vllm_source, f"vllm_source must be one of {', '.join(SOURCES)}"
        )
    release = matrix.vllm_release(pins.vllm) if pins.vllm else None
    if pins.vllm and release is None:
        raise IncompatibleStack(
            "vllm-known",
            pins.vllm,
            f"vLLM {pins.vllm} is not a release in the matrix (run `gpufleet matrix refresh`)",
            "matrix.yaml vllm_releases (package index metadata)",
        )
    if pins.torch_version:
        _check_torch_pin(matrix, pins, release)
    if pins.driver:
        _check_driver_pin(matrix, gpu, pins.driver)


def _check_driver_pin(matrix: Matrix, gpu: GpuModel, driver: str) -> None:
    branch = matrix.driver_branch(driver.split(".")[0])
    if branch is None:
        known = ", ".join(d.branch for d in matrix.drivers)
        raise IncompatibleStack(
            "driver-known", driver, f"driver {driver}: unknown branch (known: {known})"
        )
    if not branch.drives(gpu.compute_capability):
        raise IncompatibleStack(
            "driver-drives-gpu",
            driver,
            f"{gpu.name} ({gpu.sm}): driver branch {branch.branch} does not drive it "
            f"(oldest it drives: sm_{branch.min_cc.replace('.', '')})",
            branch.source,
        )


def _check_torch_pin(matrix: Matrix, pins: Pins, release) -> None:
    torch = pins.torch_version
    if release is not None and release.torch and Version(release.torch) != Version(torch):
        raise IncompatibleStack(
            "vllm-pins-torch",
            f"torch {pins.torch}",
            f"vLLM {release.version} pins torch=={release.torch}, not {torch}",
            "vLLM wheel metadata Requires-Dist (matrix.yaml vllm_releases)",
        )
    if not any(r.torch and Version(r.torch) == Version(torch) for r in matrix.vllm_releases):
        raise IncompatibleStack(
            "vllm-pins-torch",
            f"torch {pins.torch}",
            f"no vLLM release pins torch=={torch}",
            "vLLM wheel metadata Requires-Dist (matrix.yaml vllm_releases)",
        )
    build = matrix.torch_build(torch)
    if pins.torch_cuda and (build is None or pins.torch_cuda not in build.variants):
        have = ", ".join(build.variants) if build else "none known"
        raise IncompatibleStack(
            "torch-variant",
            f"torch {pins.torch}",
            f"torch {torch} has no {pins.torch_cuda} build (builds: {have})",
            build.source if build else "matrix.yaml torch_builds",
        )


def _describe_pins(pins: Pins) -> str:
    return ", ".join(f"{k}={v}" for k, v in vars(pins).items() if v not in (None, False))
