"""Facts read from the NVIDIA driver: GPUs, driver version and module flavour, GPU processes."""

from __future__ import annotations

import re

from pyinfra.api import FactBase
from typing_extensions import override

GPU_QUERY_FIELDS = "index,name,compute_cap,driver_version,memory.total,pci.bus_id,uuid"
APP_QUERY_FIELDS = "pid,process_name,used_memory"

# "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (...)"
# The proprietary module's line reads "NVIDIA UNIX x86_64 Kernel Module  580.xx.yy  <date>".
NVRM_REGEX = re.compile(r"^NVRM version: (?P<banner>.*?)\s+(?P<version>\d+\.\d+(?:\.\d+)?)\s")

# nvidia-smi prints these instead of a value a field lacks (MIG slices, vGPU, old boards).
NOT_AVAILABLE = {"[N/A]", "[Not Supported]", "[Insufficient Permissions]", "N/A"}


def _csv_fields(line: str) -> list[str]:
    # nvidia-smi's csv separates fields by ", "; GPU and process names hold no commas.
    return [field.strip() for field in line.split(",")]


def _int_or_none(value: str) -> int | None:
    return None if value in NOT_AVAILABLE else int(value)


class _NvidiaSmiQuery(FactBase):
    """An ``nvidia-smi --query-X=FIELDS --format=csv,noheader,nounits`` fact: one dict per row.

    Lines that are not rows of ``len(FIELDS)`` values starting with a number (error messages,
    "No running processes found") are skipped.
    """

    query: str  # "gpu" or "compute-apps"
    fields: str  # nvidia-smi's field names, comma-separated

    @override
    def command(self) -> str:
        return f"nvidia-smi --query-{self.query}={self.fields} --format=csv,noheader,nounits"

    @override
    def requires_command(self) -> str:
        return "nvidia-smi"

    default = list

    @override
    def process(self, output):
        width = len(self.fields.split(","))
        rows = (_csv_fields(line) for line in output)
        return [self.row(f) for f in rows if len(f) == width and f[0].isdigit()]

    def row(self, fields: list[str]) -> dict:
        raise NotImplementedError


class NvidiaGpus(_NvidiaSmiQuery):
    """
    Returns the GPUs nvidia-smi sees, in index order; ``[]`` where nvidia-smi is absent:

    .. code:: python

        [
            {
                "index": 0,
                "name": "NVIDIA H200",
                "compute_capability": "9.0",
                "driver_version": "580.159.04",
                "memory_mib": 143771,
                "pci_bus_id": "00000000:00:06.0",
                "uuid": "GPU-88c69ed5-598f-c4cd-6139-eb1c9eb36fa4",
            },
        ]
    """

    query, fields = "gpu", GPU_QUERY_FIELDS

    def row(self, fields: list[str]) -> dict:
        index, name, compute_cap, driver, memory, bus_id, uuid = fields
        return {
            "index": int(index),
            "name": name,
            "compute_capability": compute_cap,
            "driver_version": driver,
            "memory_mib": _int_or_none(memory),
            "pci_bus_id": bus_id,
            "uuid": uuid,
        }


class NvidiaDriver(FactBase):
    """
    Returns the loaded kernel driver's version and flavour, or ``None`` where no driver is loaded:

    .. code:: python

        {"version": "580.159.04", "kernel_module": "open"}  # or "proprietary"
    """

    @override
    def command(self) -> str:
        # The file exists only while the nvidia module is loaded; its absence is an answer.
        return "cat /proc/driver/nvidia/version 2>/dev/null || true"

    @override
    def process(self, output):
        for line in output:
            matches = NVRM_REGEX.match(line.strip())
            if matches:
                open_module = "Open Kernel Module" in matches.group("banner")
                return {
                    "version": matches.group("version"),
                    "kernel_module": "open" if open_module else "proprietary",
                }
        return None


class GpuProcesses(_NvidiaSmiQuery):
    """
    Returns the compute processes running on any GPU; ``[]`` when idle or without nvidia-smi.
    ``used_memory_mib`` is ``None`` where nvidia-smi reports ``[N/A]`` (eg. inside containers):

    .. code:: python

        [{"pid": 433, "process_name": "python3", "used_memory_mib": 1634}]
    """

    query, fields = "compute-apps", APP_QUERY_FIELDS

    def row(self, fields: list[str]) -> dict:
        pid, process_name, used_memory = fields
        return {
            "pid": int(pid),
            "process_name": process_name,
            "used_memory_mib": _int_or_none(used_memory),
        }


class NouveauLoaded(FactBase):
    """
    Returns whether the nouveau module is loaded (it must be blacklisted before the driver
    installs); ``False`` where ``/proc/modules`` is absent (a kernel without modules):

    .. code:: python

        False
    """

    @override
    def command(self) -> str:
        # /proc/modules is what lsmod reads, and it needs no kmod package.
        return 'grep -i -E "nvidia|nouveau" /proc/modules 2>/dev/null || true'

    default = bool

    @override
    def process(self, output):
        return any(line.split(" ", 1)[0] == "nouveau" for line in output)
