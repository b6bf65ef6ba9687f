"""Typed view of gpufleet/matrix.yaml: the version knowledge the solver reads.

    >>> m = load()
    >>> m.torch_build("2.6.0").pypi
    'cu124'
    >>> m.vllm_release("0.8.5.post1").torch
    '2.6.0'

Values stay as written in the file; comparisons go through packaging's Version and
SpecifierSet, never string order ("12.0" > "9.0").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

MATRIX_PATH = Path(__file__).with_name("matrix.yaml")


class MatrixError(ValueError):
    """matrix.yaml is malformed: the message names the section, the row and the field."""


def cc_version(cc: str) -> Version:
    """ "7.0" -> Version("7.0"), so "12.0" sorts after "9.0"."""
    return Version(cc)


def cuda_of_variant(variant: str) -> Version:
    """ "cu124" -> Version("12.4"), "cu118" -> Version("11.8")."""
    digits = variant.removeprefix("cu")
    return Version(f"{digits[:-1]}.{digits[-1]}")


def major_minor(version: str) -> str:
    """ "12.4.1" -> "12.4"."""
    return ".".join(version.split(".")[:2])


@dataclass(frozen=True)
class DriverBranch:
    branch: str
    version: str
    cuda: str
    min_cc: str
    open_module_min_cc: str
    source: str

    def drives(self, cc: str) -> bool:
        return cc_version(cc) >= cc_version(self.min_cc)

    def runs_cuda(self, cuda: str) -> bool:
        return Version(major_minor(cuda)) <= Version(self.cuda)


@dataclass(frozen=True)
class Toolkit:
    version: str
    runfile: str
    min_driver: str
    sm_min: str
    sm_max: str
    source: str

    @property
    def short(self) -> str:
        """ "12.4.1" -> "12.4": the /usr/local/cuda-X.Y directory name."""
        return major_minor(self.version)

    def compiles_for(self, cc: str) -> bool:
        return cc_version(self.sm_min) <= cc_version(cc) <= cc_version(self.sm_max)


@dataclass(frozen=True)
class TorchBuild:
    spec: SpecifierSet
    pypi: str
    variants: dict[str, tuple[str, ...]]
    source: str


@dataclass(frozen=True)
class VllmWheels:
    spec: SpecifierSet
    pypi: str
    github: tuple[str, ...]
    github_platform: str  # wheel platform tag of the GitHub release assets
    min_cc: str
    source: str


@dataclass(frozen=True)
class PascalBuilds:
    spec: SpecifierSet
    package: str  # the distribution name on the Pascal index ("vllm-pascal")
    archs: tuple[str, ...]
    triton_pascal: SpecifierSet
    source: str


@dataclass(frozen=True)
class XformersWheels:
    spec: SpecifierSet
    archs: tuple[str, ...]  # "8.0+PTX": SASS for 8.0 plus PTX newer GPUs JIT
    source: str


@dataclass(frozen=True)
class VllmRelease:
    version: str
    torch: str | None
    xformers: str | None
    requires_python: str
    yanked: bool = False


@dataclass(frozen=True)
class DtypeRule:
    dtype: str
    min_cc: str | None
    max_fp16_ratio: float | None
    source: str


@dataclass(frozen=True)
class RangeRow:
    """A value that holds for a range of torch releases (glibc, python)."""

    spec: SpecifierSet
    value: str
    source: str


@dataclass(frozen=True)
class Matrix:
    drivers: tuple[DriverBranch, ...]
    toolkits: tuple[Toolkit, ...]
    torch_builds: tuple[TorchBuild, ...]
    torch_glibc: tuple[RangeRow, ...]
    torch_python: tuple[RangeRow, ...]
    python_preference: tuple[str, ...]
    vllm_wheels: tuple[VllmWheels, ...]
    pascal_builds: tuple[PascalBuilds, ...]
    vllm_releases: tuple[VllmRelease, ...]
    xformers_wheels: tuple[XformersWheels, ...]
    dtype_rules: tuple[DtypeRule, ...]
    os_glibc: dict[str, str]
    rules: dict[str, str]

    def torch_build(self, torch: str) -> TorchBuild | None:
        return _first_in_range(self.torch_builds, torch)

    def vllm_wheels_for(self, vllm: str) -> VllmWheels | None:
        return _first_in_range(self.vllm_wheels, vllm)

    def pascal_builds_for(self, vllm: str) -> PascalBuilds | None:
        return _first_in_range(self.pascal_builds, vllm)

    def xformers_wheels_for(self, xformers: str) -> XformersWheels | None:
        return _first_in_range(self.xformers_wheels, xformers)

    def torch_glibc_for(self, torch: str) -> RangeRow | None:
        return _first_in_range(self.torch_glibc, torch)

    def torch_python_for(self, torch: str) -> RangeRow | None:
        return _first_in_range(self.torch_python, torch)

    def vllm_release(self, version: str) -> VllmRelease | None:
        wanted = Version(version)
        return next((r for r in self.vllm_releases if Version(r.version) == wanted), None)

    def driver_branch(self, branch: str) -> DriverBranch | None:
        return next((d for d in self.drivers if d.branch == branch), None)


def _first_in_range(rows, version: str):
    v = Version(version)
    return next((row for row in rows if row.spec.contains(v, prereleases=True)), None)


@cache
def load(path: Path = MATRIX_PATH) -> Matrix:
    """Parse and validate matrix.yaml; MatrixError names what is wrong."""
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict):
        raise MatrixError(f"{path}: expected a mapping at the top level")
    return _parse(raw)


def _parse(raw: dict[str, Any]) -> Matrix:
    return Matrix(
        drivers=tuple(_rows(raw, "driver_branches", _driver)),
        toolkits=tuple(_rows(raw, "cuda_toolkits", _toolkit)),
        torch_builds=tuple(_rows(raw, "torch_builds", _torch_build)),
        torch_glibc=tuple(_rows(raw, "torch_glibc", lambda r: _range_row(r, "glibc"))),
        torch_python=tuple(_rows(raw, "torch_python", lambda r: _range_row(r, "python"))),
        python_preference=tuple(str(p) for p in _section(raw, "python_preference", list)),
        vllm_wheels=tuple(_rows(raw, "vllm_wheels", _vllm_wheels)),
        pascal_builds=tuple(_rows(raw, "pascal_builds", _pascal)),
        vllm_releases=_releases(_section(raw, "vllm_releases", dict)),
        xformers_wheels=tuple(_rows(raw, "xformers_wheels", _xformers)),
        dtype_rules=tuple(_rows(raw, "dtype", _dtype_rule)),
        os_glibc={str(k): str(v) for k, v in _section(raw, "os_glibc", dict).items()},
        rules={str(k): str(v) for k, v in _section(raw, "rules", dict).items()},
    )


def _section(raw: dict[str, Any], name: str, kind: type):
    value = raw.get(name)
    if not isinstance(value, kind):
        raise MatrixError(f"matrix.yaml: section {name!r} must be a {kind.__name__}")
    return value


def _rows(raw: dict[str, Any], name: str, parse) -> list:
    rows = []
    for index, row in enumerate(_section(raw, name, list)):
        try:
            if not row.get("source"):
                raise KeyError("source")
            rows.append(parse(row))
        except (KeyError, TypeError, AttributeError, InvalidSpecifier, InvalidVersion) as exc:
            raise MatrixError(f"matrix.yaml: {name}[{index}]: bad or missing {exc}") from exc
    return rows


def _driver(row: dict) -> DriverBranch:
    Version(row["version"])
    return DriverBranch(
        branch=str(row["branch"]),
        version=str(row["version"]),
        cuda=str(row["cuda"]),
        min_cc=str(row["min_cc"]),
        open_module_min_cc=str(row["open_module_min_cc"]),
        source=row["source"],
    )


def _toolkit(row: dict) -> Toolkit:
    Version(row["version"])
    return Toolkit(
        version=str(row["version"]),
        runfile=str(row["runfile"]),
        min_driver=str(row["min_driver"]),
        sm_min=str(row["sm"]["min"]),
        sm_max=str(row["sm"]["max"]),
        source=row["source"],
    )


def _torch_build(row: dict) -> TorchBuild:
    variants = {str(k): tuple(str(a) for a in v) for k, v in row["variants"].items()}
    if row["pypi"] not in variants:
        raise KeyError(f"pypi variant {row['pypi']} not among variants")
    return TorchBuild(SpecifierSet(row["torch"]), str(row["pypi"]), variants, row["source"])


def _range_row(row: dict, field: str) -> RangeRow:
    return RangeRow(SpecifierSet(row["torch"]), str(row[field]), row["source"])


def _vllm_wheels(row: dict) -> VllmWheels:
    return VllmWheels(
        spec=SpecifierSet(row["vllm"]),
        pypi=str(row["pypi"]),
        github=tuple(str(v) for v in row.get("github", ())),
        github_platform=str(row["github_platform"]),
        min_cc=str(row["min_cc"]),
        source=row["source"],
    )


def _pascal(row: dict) -> PascalBuilds:
    return PascalBuilds(
        spec=SpecifierSet(row["vllm"]),
        package=str(row["package"]),
        archs=tuple(str(a) for a in row["archs"]),
        triton_pascal=SpecifierSet(row["triton_pascal"]),
        source=row["source"],
    )


def _xformers(row: dict) -> XformersWheels:
    archs = tuple(str(a) for a in row["archs"])
    return XformersWheels(SpecifierSet(row["xformers"]), archs, row["source"])


def _dtype_rule(row: dict) -> DtypeRule:
    when = row["when"]
    ratio = when.get("max_fp16_ratio")
    return DtypeRule(
        dtype=str(row["dtype"]),
        min_cc=str(when["min_cc"]) if "min_cc" in when else None,
        max_fp16_ratio=float(ratio) if ratio is not None else None,
        source=row["source"],
    )


def _releases(raw: dict) -> tuple[VllmRelease, ...]:
    releases = []
    for version, row in raw.items():
        try:
            Version(str(version))
            releases.append(
                VllmRelease(
                    version=str(version),
                    torch=row.get("torch"),
                    xformers=row.get("xformers"),
                    requires_python=str(row.get("requires_python") or ""),
                    yanked=bool(row.get("yanked", False)),
                )
            )
        except (InvalidVersion, AttributeError) as exc:
            raise MatrixError(f"matrix.yaml: vllm_releases[{version!r}]: {exc}") from exc
    return tuple(sorted(releases, key=lambda r: Version(r.version)))
