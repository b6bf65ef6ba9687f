"""MoE configs: the fused-MoE kernel configs tuned for this host's GPU, in every env on it.

`gpufleet tune-moe` tunes once per GPU model and keeps the files in `<moe_configs_dir>/vllm-<V>/`
(named as vLLM names them: `E=..,N=..,device_name=<GPU>[,dtype=float32].json`). This task puts
the files of this host's GPU model into `vllm/model_executor/layers/fused_moe/configs/` of every
env of that vLLM version on the host (the stack's own env and every stamped one), where vLLM
looks for them. Files already in place are left alone; nothing to install, no operation.
Runs after tasks/stack.py. Alone: `pyinfra inventories/sandbox.py tasks/moe.py`.
"""

from pyinfra import host, local
from pyinfra.operations import files

from gpufleet.config import HostConfig
from gpufleet.facts import host as host_facts
from gpufleet.facts.vllm import VllmStacks
from gpufleet.moe import configs_for, env_targets

local.include("tasks/preflight.py")

plan = host.data.gpufleet_plan
cfg = HostConfig.from_data(host.name, host.data.get)
stamps = host_facts.get(VllmStacks, envs_dir=cfg.envs_dir)  # kept by the deploy's batch

for env in env_targets(plan.stack, cfg.envs_dir, stamps):
    for src in configs_for(plan.gpu.name, env.vllm, cfg.moe_configs_dir):
        files.put(
            name=f"MoE config {src.name} in {env.name}",
            src=str(src),
            dest=f"{env.configs_dir}/{src.name}",
            mode="644",
            create_remote_dir=True,
        )
