"""The fleet version report: facts gathered per host -> rows, and rows -> text, Markdown, JSON.

What the lab did by hand on each box (``apt policy PKG``, ``apt-mark showhold``, ``nvidia-smi``,
``ls /usr/local``) as one table. Pure: the facts come from ``gpufleet.remote.gather`` (the CLI)
or from ``host.get_fact`` (``tasks/report.py``), both through ``fact_spec``.

    >>> row = build_report("gpu01", {"driver": None, "holds": ["libnccl2"]})
    >>> (row.host, row.driver, row.holds)
    ('gpu01', None, ('libnccl2',))
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyinfra.api import FactBase

from gpufleet.config import defaults
from gpufleet.facts.apt import AptHolds, AptPolicy
from gpufleet.facts.cuda import CudaToolkits
from gpufleet.facts.nvidia import NvidiaDriver, NvidiaGpus
from gpufleet.facts.pci import PciGpus
from gpufleet.facts.vllm import VllmStacks
from gpufleet.gpus import UnknownGpu, by_pci_id
from gpufleet.table import render_table

GPUS, PCI_GPUS, DRIVER, TOOLKITS, HOLDS = "gpus", "pci_gpus", "driver", "toolkits", "holds"
# The post-install check's stamps (issue 5) land under this key: VllmStacks of group_data's
# envs_dir (fact_spec(envs_dir=...) for another), {env name: stamp}; the column lists the names.
STACKS = "stacks"
_PACKAGE_PREFIX = "apt:"

HOST_HEADERS = ("host", "gpus", "driver", "toolkits", "holds", "stacks")
PACKAGE_HEADERS = ("host", "package", "installed", "candidate", "held")


def package_key(package: str) -> str:
    """Fact key of one package's AptPolicy: ``package_key("gcc") == "apt:gcc"``."""
    return _PACKAGE_PREFIX + package


def fact_spec(
    packages: Iterable[str],
    extra: Mapping[str, tuple[type[FactBase], dict]] | None = None,
    envs_dir: str | None = None,
) -> dict[str, tuple[type[FactBase], dict]]:
    """The facts one report row needs, as ``{key: (fact class, kwargs)}`` for gather/get_fact.

    >>> list(fact_spec(["gcc"]))
    ['gpus', 'pci_gpus', 'driver', 'toolkits', 'holds', 'apt:gcc', 'stacks']
    """
    spec: dict[str, tuple[type[FactBase], dict]] = {
        GPUS: (NvidiaGpus, {}),
        PCI_GPUS: (PciGpus, {}),
        DRIVER: (NvidiaDriver, {}),
        TOOLKITS: (CudaToolkits, {}),
        HOLDS: (AptHolds, {}),
    }
    spec.update({package_key(p): (AptPolicy, {"package": p}) for p in packages})
    spec[STACKS] = (VllmStacks, {"envs_dir": envs_dir or defaults()["envs_dir"]})
    spec.update(extra or {})
    return spec


@dataclass(frozen=True)
class HostReport:
    """One host's row. ``None`` means "not known" (host unreachable), never "absent":
    a reachable host without a driver has ``driver=None`` but ``gpus=()``, ``toolkits={}``."""

    host: str
    error: str | None
    gpus: tuple[dict, ...] | None
    driver: dict | None
    toolkits: dict | None
    holds: tuple[str, ...] | None
    packages: dict[str, dict]
    stacks: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ok": self.ok,
            "error": self.error,
            "gpus": None if self.gpus is None else list(self.gpus),
            "driver": self.driver,
            "toolkits": self.toolkits,
            "holds": None if self.holds is None else list(self.holds),
            "packages": self.packages,
            "stacks": self.stacks,
        }


def build_report(host: str, facts: Mapping[str, Any], error: str | None = None) -> HostReport:
    """One row from the facts of ``fact_spec`` (any may be missing when the host failed)."""
    packages = {
        key[len(_PACKAGE_PREFIX) :]: _package(value)
        for key, value in facts.items()
        if key.startswith(_PACKAGE_PREFIX)
    }
    holds = facts.get(HOLDS)
    return HostReport(
        host=host,
        error=error,
        gpus=_gpus(facts),
        driver=facts.get(DRIVER),
        toolkits=facts.get(TOOLKITS),
        holds=None if holds is None else tuple(holds),
        packages=packages,
        stacks=facts.get(STACKS),
    )


def _package(policy: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("installed", "candidate", "held", "versions")
    return {key: policy.get(key) for key in keys}


def _gpus(facts: Mapping[str, Any]) -> tuple[dict, ...] | None:
    """nvidia-smi's view when a driver answers, else the PCI bus named by the catalogue."""
    smi, pci = facts.get(GPUS), facts.get(PCI_GPUS)
    if smi:
        return tuple(
            {
                "name": gpu["name"],
                "compute_capability": gpu["compute_capability"],
                "memory_mib": gpu["memory_mib"],
                "source": "nvidia-smi",
            }
            for gpu in smi
        )
    if pci is None and smi is None:
        return None
    return tuple(_pci_gpu(device) for device in pci or ())


def _pci_gpu(device: Mapping[str, str]) -> dict[str, Any]:
    try:
        model = by_pci_id(device["pci_id"])
        name, cc = model.name, model.compute_capability
    except UnknownGpu:
        # An id the catalogue lacks stays an id: the report names nothing it cannot know.
        name, cc = None, None
    return {"name": name, "compute_capability": cc, "pci_id": device["pci_id"], "source": "pci"}


def build_reports(gathered: Mapping[str, Any]) -> list[HostReport]:
    """Rows from ``gpufleet.remote.gather``'s answer (``{host: HostFacts}``), in its order."""
    return [build_report(name, found.facts, found.error) for name, found in gathered.items()]


def with_missing(rows: Iterable[tuple[str, HostReport | None]]) -> list[HostReport]:
    """Fill in the hosts a deploy never reached (no row): in ``tasks/report.py`` a host that
    failed to connect runs no deploy code, so only its absence tells.

    >>> [r.error for r in with_missing([("gpu01", None)])]
    ['no facts gathered: it failed to connect (see the pyinfra log)']
    """
    missing = "no facts gathered: it failed to connect (see the pyinfra log)"
    return [row or build_report(name, {}, missing) for name, row in rows]


# --- Rendering ---


def to_json(reports: Sequence[HostReport]) -> str:
    """A JSON list, one object per host (``HostReport.as_json``)."""
    return json.dumps([r.as_json() for r in reports], indent=2)


def render_text(reports: Sequence[HostReport]) -> str:
    """Two plain tables: one row per host, then one row per host and package (grep-able:
    ``gpufleet report inv.py | grep nvidia-driver`` is the fleet's view of one package)."""
    hosts = render_table([_host_cells(r) for r in reports], HOST_HEADERS)
    packages = render_table(_package_rows(reports), PACKAGE_HEADERS)
    return f"{hosts}\n\n{packages}"


def render_markdown(reports: Sequence[HostReport]) -> str:
    """The same two tables as GitHub Markdown, for pasting into a ticket."""
    hosts = _markdown_table([_host_cells(r) for r in reports], HOST_HEADERS)
    packages = _markdown_table(_package_rows(reports), PACKAGE_HEADERS)
    return f"### Hosts\n\n{hosts}\n\n### Packages\n\n{packages}"


def _host_cells(report: HostReport) -> tuple[str, ...]:
    if not report.ok and report.gpus is None:
        return (report.host, f"UNREACHABLE: {report.error}")
    return (
        report.host,
        _gpus_cell(report.gpus),
        _driver_cell(report.driver),
        _list_cell(report.toolkits),
        _list_cell(report.holds),
        _stacks_cell(report.stacks) + (f" (ERROR: {report.error})" if report.error else ""),
    )


def _package_rows(reports: Sequence[HostReport]) -> list[tuple[str, ...]]:
    rows = []
    for report in reports:
        if not report.ok and not report.packages:
            rows.append((report.host, "UNREACHABLE"))
        for name, policy in report.packages.items():
            installed, candidate = policy["installed"] or "-", policy["candidate"] or "-"
            held = "held" if policy["held"] else "-"
            rows.append((report.host, name, installed, candidate, held))
    return rows


def _gpus_cell(gpus: Sequence[dict] | None) -> str:
    if not gpus:
        return "-" if gpus is not None else "?"
    # "2x Tesla V100-SXM2-32GB (7.0)"; a PCI-only GPU says so: its driver does not answer yet.
    counts = Counter(_gpu_label(gpu) for gpu in gpus)
    return ", ".join(f"{n}x {label}" for label, n in counts.items())


def _gpu_label(gpu: Mapping[str, Any]) -> str:
    name = gpu["name"] or gpu.get("pci_id", "?")
    cc = f" ({gpu['compute_capability']})" if gpu["compute_capability"] else ""
    return name + cc + (" [pci]" if gpu["source"] == "pci" else "")


def _driver_cell(driver: Mapping[str, str] | None) -> str:
    return f"{driver['version']} ({driver['kernel_module']})" if driver else "-"


def _list_cell(values: Iterable[str] | None) -> str:
    return ", ".join(values) if values else "-"


def _stacks_cell(stacks: Any) -> str:
    if not stacks:
        return "-"
    if isinstance(stacks, Mapping | list | tuple):
        return ", ".join(str(s) for s in stacks)
    return str(stacks)


def _markdown_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    lines = [_markdown_row(headers), _markdown_row(["---"] * len(headers))]
    for row in rows:
        # A short row (an unreachable host) fills the remaining columns with "".
        lines.append(_markdown_row([*row, *[""] * (len(headers) - len(row))]))
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str]) -> str:
    escaped = (str(c).replace("|", "\\|") for c in cells)
    return "| " + " | ".join(escaped) + " |"
