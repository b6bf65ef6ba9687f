"""Post-rollout benchmark (optional): each server measured once on the stack it now runs.

With `post_rollout_bench = True`, after tasks/services.py every server whose last benchmark in
`bench_results_dir/<host>.jsonl` (on the control machine) was on another stack, or that has
none, gets `bench_workload` from the control machine (gpufleet/benchserve.py). A result more
than `bench_regression_pct` percent worse than the previous stack's is logged as REGRESSION and
kept in the record (`gpufleet bench-serving --compare` shows it). Nothing to measure, no
operation; `--dry` never benchmarks. Alone: `pyinfra inventories/sandbox.py tasks/bench.py`.
"""

from pyinfra import host, local
from pyinfra.operations import python

from gpufleet.benchserve import pending, post_rollout
from gpufleet.config import HostConfig
from gpufleet.serve import server_specs

local.include("tasks/preflight.py")

plan = host.data.gpufleet_plan
cfg = HostConfig.from_data(host.name, host.data.get)
servers = [spec.name for spec in server_specs(host.name, host.data.get)]
todo = pending(cfg.bench_results_dir, host.name, plan.stack.env_name, servers)

if cfg.post_rollout_bench and todo:
    python.call(
        name=f"Benchmark {', '.join(todo)} on {plan.stack.env_name}",
        function=post_rollout,
        host_name=host.name,
        get=host.data.get,
        results_dir=cfg.bench_results_dir,
        servers=todo,
        threshold=cfg.bench_regression_pct,
    )
