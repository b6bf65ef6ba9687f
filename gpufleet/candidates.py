"""Candidate stacks in the order the solver prefers them, before any rule is checked.

A candidate is one vLLM release from one source (PyPI's wheel, a GitHub-release variant, the
Pascal index, a source build) with the torch build it must run on. Pins narrow the list; the
rules themselves are checked in gpufleet.compat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.version import Version

from gpufleet.matrix import Matrix, TorchBuild, VllmRelease, cc_version

if TYPE_CHECKING:
    from gpufleet.gpus import GpuModel
    from gpufleet.pins import Pins

SOURCES = ("pypi", "github-release", "pascal-index", "source-build")


@dataclass(frozen=True)
class Candidate:
    vllm: VllmRelease
    source: str  # one of SOURCES
    variant: str  # torch CUDA variant, "cu124"
    torch_build: TorchBuild
    wheels_source: str  # where the fact that this wheel exists was read
    min_cc: str  # the oldest GPU this build of vLLM supports
    triton_pascal: bool = False

    @property
    def archs(self) -> tuple[str, ...]:
        return self.torch_build.variants[self.variant]


def candidates(matrix: Matrix, gpu: GpuModel, pins: Pins) -> Iterator[Candidate]:
    """Every (release, source, variant) the pins allow, newest release first."""
    for release in sorted(matrix.vllm_releases, key=lambda r: Version(r.version), reverse=True):
        if not _release_allowed(release, pins):
            continue
        build = matrix.torch_build(release.torch)
        if build is None:
            continue
        for candidate in _release_candidates(matrix, gpu, release, build, pins):
            if pins.torch_cuda in (None, candidate.variant):
                yield candidate


def _release_allowed(release: VllmRelease, pins: Pins) -> bool:
    if release.torch is None:
        return False
    if pins.vllm:
        return Version(release.version) == Version(pins.vllm)
    if release.yanked:
        return False
    return pins.torch_version is None or Version(release.torch) == Version(pins.torch_version)


def _release_candidates(
    matrix: Matrix, gpu: GpuModel, release: VllmRelease, build: TorchBuild, pins: Pins
) -> Iterator[Candidate]:
    wanted = pins.vllm_source
    wheels = matrix.vllm_wheels_for(release.version)
    if wheels and wanted in (None, "pypi"):
        yield Candidate(release, "pypi", wheels.pypi, build, wheels.source, wheels.min_cc)
    if wheels and wanted in (None, "github-release"):
        for variant in wheels.github:
            if variant in build.variants:
                yield Candidate(
                    release, "github-release", variant, build, wheels.source, wheels.min_cc
                )
    pascal = matrix.pascal_builds_for(release.version)
    if pascal and wanted in (None, "pascal-index") and _is_pascal(gpu, pascal.archs):
        needs_triton = pascal.triton_pascal.contains(Version(release.version))
        oldest = min(pascal.archs, key=cc_version)
        yield Candidate(
            release, "pascal-index", build.pypi, build, pascal.source, oldest, needs_triton
        )
    if wheels and wanted in (None, "source-build") and _may_build(gpu, wheels.min_cc, pins):
        for variant in build.variants:
            yield Candidate(release, "source-build", variant, build, wheels.source, wheels.min_cc)


def _is_pascal(gpu: GpuModel, archs: tuple[str, ...]) -> bool:
    return gpu.compute_capability in archs


def _may_build(gpu: GpuModel, min_cc: str, pins: Pins) -> bool:
    """Source builds only when allowed, and only for GPUs upstream still supports."""
    allowed = pins.allow_source_build or pins.vllm_source == "source-build"
    return allowed and cc_version(gpu.compute_capability) >= cc_version(min_cc)
