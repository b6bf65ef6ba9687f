"""Stack: the conda env of the host's resolved stack, built, checked and stamped; old envs pruned.

`<envs_dir>/<stack.env_name>` (e.g. vllm-0.8.5.post1-torch-2.6.0-cu124): torch from the cu
index with its exact +cuXYZ pin, then vLLM under a constraints file pinning that torch, then the
post-install check (gpufleet/postinstall.py) that writes `.gpufleet-stamp.json` only when it
passes. Needs tasks/conda.py (Miniforge, pip.conf) and tasks/cuda.py (cuobjdump, nvcc) first.
Runnable alone: `pyinfra inventories/sandbox.py tasks/stack.py`.
"""

from pathlib import Path

from pyinfra import host, local

import gpufleet.postinstall
from gpufleet.config import HostConfig
from gpufleet.operations import env, managed
from gpufleet.prefetch import prefetch_deploy

local.include("tasks/preflight.py")

plan = host.data.gpufleet_plan
cfg = HostConfig.from_data(host.name, host.data.get)
spec = env.env_spec(plan, cfg)
prefetch_deploy(cfg, plan)  # one round trip (none when an earlier task gathered them)

managed.put(
    name="Install the post-install check",
    src=str(Path(gpufleet.postinstall.__file__)),
    dest=spec.check_script,
    mode="644",
)
managed.directory(name="Create the envs directory", path=cfg.envs_dir, mode="755")
managed.directory(name="Create the wheelhouse", path=spec.wheelhouse, mode="755")
env.built(name=f"Build env {spec.name}", spec=spec)
env.pruned(
    name=f"Remove old envs (keep {cfg.keep_envs} besides {spec.name} and those in use)",
    spec=spec,
    keep=cfg.keep_envs,
    services_dir=f"{cfg.gpufleet_root}/services",
)
