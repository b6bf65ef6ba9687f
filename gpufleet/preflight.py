"""Preflight logic: facts -> config -> solver, and one refusal for the whole run.

tasks/preflight.py calls `check_host` for every host while pyinfra collects operations, before
any operation runs. pyinfra loads hosts concurrently, so refusals are gathered per run (per
pyinfra State) and raised together by whichever host is checked last: one bad host stops the
deploy on every host, with one line each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from pyinfra.api.exceptions import PyinfraError

from gpufleet.config import ConfigError, HostConfig
from gpufleet.gpus import UnknownGpu, by_pci_id
from gpufleet.plan import Plan, plan_host

# pyinfra State -> {host name: Plan}; weak so a finished run's plans go away with it.
_RUNS: WeakKeyDictionary[Any, dict[str, Plan]] = WeakKeyDictionary()


class PreflightRefused(PyinfraError):
    """One line per refused host: host, GPU, rule, source. Nothing was changed on any host.

    A PyinfraError, so the pyinfra CLI prints it as a one-line error instead of a traceback.
    """


def os_id(distribution: dict | None) -> str | None:
    """pyinfra's LinuxDistribution fact -> matrix OS id: "debian12", "ubuntu22.04"."""
    meta = (distribution or {}).get("release_meta") or {}
    if not meta.get("ID") or not meta.get("VERSION_ID"):
        return None
    return f"{meta['ID'].lower()}{meta['VERSION_ID']}"


def detect_gpu(nvidia_gpus: Sequence[dict], pci_gpus: Sequence[dict]) -> str | None:
    """The host's GPU model: nvidia-smi's name when a driver runs, else the PCI id."""
    if nvidia_gpus:
        return nvidia_gpus[0]["name"]
    for device in pci_gpus:
        try:
            return by_pci_id(device["pci_id"]).name
        except UnknownGpu:
            return device["pci_id"]  # the solver refuses it with the catalogue's message
    return None


def check_host(
    state: Any,
    host: str,
    get: Callable[[str, Any], Any],
    host_count: int,
    detected_gpu: str | None = None,
    os: str | None = None,
    wait: Callable[[Callable[[], bool]], None] | None = None,
) -> Plan:
    """Plan this host; once `host_count` hosts are planned, raise if any was refused.

    A refused host that is not the last one planned calls `wait(all_planned)` (tasks/preflight.py
    passes a gevent wait: pyinfra loads hosts concurrently) and then raises the same full list,
    so it never goes on into later tasks without a stack."""
    try:
        plan = plan_host(HostConfig.from_data(host, get), detected_gpu, os)
    except ConfigError as exc:
        plan = Plan(host, None, None, str(exc))
    if plan.ok:
        plan = _check_serving(plan, get)
    plans = _RUNS.setdefault(state, {})
    plans[host] = plan
    if not plan.ok and wait is not None:
        wait(lambda: len(plans) >= host_count)
    if len(plans) >= host_count or (not plan.ok and wait is not None):
        refused = [p.error for p in plans.values() if not p.ok]
        if refused:
            count = f"{len(refused)} of {host_count} hosts refused; nothing was changed on any host"
            raise PreflightRefused("\n".join([count, *refused]))
    return plan


def gevent_wait(done: Callable[[], bool], timeout_s: float = 600.0) -> None:
    """Yield to the other hosts' greenlets until `done()` (or the timeout: then the caller
    raises with the hosts planned so far rather than hang)."""
    import gevent

    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        gevent.sleep(0.05)


def _check_serving(plan: Plan, get: Callable[[str, Any], Any]) -> Plan:
    """The host's servers' flags vs its GPU, vLLM release and model (gpufleet/flags.py);
    all of one host's refusals on its one line."""
    from gpufleet.flags import host_refusals

    refused = host_refusals(plan.host, get, plan.gpu, plan.stack.vllm, plan.stack.dtype)
    if not refused:
        return plan
    first, rest = refused[0], [r.removeprefix(f"{plan.host}: ") for r in refused[1:]]
    return Plan(plan.host, plan.gpu, None, "; ".join([first, *rest]))
