"""Preflight: read each host's GPU and OS, validate its settings, resolve its stack.

Runs while pyinfra collects operations, before any change: one refused host (unknown GPU,
impossible pin, malformed group_data) stops the deploy on every host, one line per host.
The resolved plan is left in `host.data.gpufleet_plan` (gpufleet.plan.Plan) for later tasks.
Every other task includes this file first, so each runs alone; a second include is a no-op.
Its facts (OS, and the GPUs when `gpu = "auto"`) are read in one round trip and kept for the
rest of the run (gpufleet.facts.host).
"""

from pyinfra import host, inventory, state
from pyinfra.facts.server import LinuxDistribution

from gpufleet.facts import host as host_facts
from gpufleet.facts.host import query
from gpufleet.facts.nvidia import NvidiaGpus
from gpufleet.facts.pci import PciGpus
from gpufleet.preflight import check_host, detect_gpu, gevent_wait, os_id

if host.data.get("gpufleet_plan") is None:
    detected = None
    auto = host.data.get("gpu", "auto") == "auto"
    gpu_facts = (NvidiaGpus, PciGpus) if auto else ()
    host_facts.prefetch(query(fact) for fact in (LinuxDistribution, *gpu_facts))
    if auto:
        detected = detect_gpu(host_facts.get(NvidiaGpus), host_facts.get(PciGpus))
    host.data.gpufleet_plan = check_host(
        state,
        host.name,
        host.data.get,
        inventory.len_active_hosts(),
        detected_gpu=detected,
        os=os_id(host_facts.get(LinuxDistribution)),
        wait=gevent_wait,
    )
