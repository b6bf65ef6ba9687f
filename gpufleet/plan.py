"""One host's plan: its GPU, the stack the solver picks for it, and why (or why not).

    >>> plan_gpu("Tesla V100-SXM2-32GB", Pins(vllm="0.8.5.post1")).stack.torch_cuda
    'cu124'

Shared by `gpufleet plan` and tasks/preflight.py, so both refuse the same things the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpufleet.compat import IncompatibleStack, Pins, Stack, resolve
from gpufleet.config import HostConfig
from gpufleet.gpus import GpuModel, UnknownGpu, lookup
from gpufleet.matrix import load


@dataclass(frozen=True)
class Plan:
    host: str | None
    gpu: GpuModel | None
    stack: Stack | None
    error: str | None = None
    reasons: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.stack is not None and self.error is None

    def contract(self) -> dict[str, Any]:
        """The JSON object DESIGN.md fixes for `gpufleet plan --json`."""
        data: dict[str, Any] = {} if self.host is None else {"host": self.host}
        data.update(
            ok=self.ok,
            gpu=None
            if self.gpu is None
            else {"name": self.gpu.name, "compute_capability": self.gpu.compute_capability},
            stack=self.stack.contract() if self.stack else None,
            reasons=list(self.reasons),
            error=self.error,
        )
        return data


def plan_gpu(
    gpu_name: str, pins: Pins | None = None, os: str | None = None, host: str | None = None
) -> Plan:
    """Plan for a GPU given by name or PCI id; never raises for bad input, it refuses."""
    prefix = f"{host}: " if host else ""
    try:
        gpu = lookup(gpu_name)
    except UnknownGpu as exc:
        return Plan(host, None, None, f"{prefix}{exc}")
    try:
        stack = resolve(gpu, os=os, pins=pins)
    except IncompatibleStack as exc:
        return Plan(host, gpu, None, f"{prefix}{exc}")
    return Plan(host, gpu, stack, None, stack.reasons)


def plan_host(config: HostConfig, detected_gpu: str | None = None, os: str | None = None) -> Plan:
    """Plan for an inventory host: its `gpu` setting, else the GPU the host reports."""
    gpu_name = config.gpu or detected_gpu
    if gpu_name is None:
        error = (
            f"{config.host}: gpu='auto' and no GPU was detected: set `gpu` in its data "
            "or let preflight read it from the host"
        )
        return Plan(config.host, None, None, error)
    plan = plan_gpu(gpu_name, config.pins(), os=os, host=config.host)
    if plan.ok and plan.stack.vllm_source == "pascal-index" and not config.pascal_index_url:
        pascal = load().pascal_builds_for(plan.stack.vllm)
        error = (
            f"{config.host}: {plan.gpu.name} ({plan.gpu.sm}) needs vLLM from the Pascal index "
            f"but pascal_index_url is not set (rule: pascal-builds; source: {pascal.source})"
        )
        return Plan(config.host, plan.gpu, None, error)
    return plan
