"""A no-op deploy reads each host's state in a few SSH commands, not one per fact (issue 7).

Counted from pyinfra's `--debug` log as bench/deploy_scaling.py does: preflight's facts, the
deploy's batch (install tasks, services and rollout: gpufleet/prefetch.py), and tasks/moe.py's
own VllmStacks read. A fact that falls out of the batch adds a command per host and fails here.
"""

import re

from bench.deploy_scaling import commands_per_host
from tests.e2e.helpers import INVENTORY, grand_total, pyinfra

MAX_COMMANDS = 2  # preflight's batch and the deploy's batch


def test_noop_deploy_runs_few_commands_per_host_and_changes_nothing(sandbox_cluster):
    first = pyinfra("-y", INVENTORY, "deploy.py")  # converge (a no-op when already there)
    assert first.returncode == 0, first.stdout[-3000:]
    again = pyinfra("-y", "--debug", INVENTORY, "deploy.py")
    assert again.returncode == 0, again.stdout[-3000:]
    assert grand_total(again.stdout)["success"] == "-", again.stdout[-3000:]
    counts = commands_per_host(again.stdout)
    assert set(counts) == {h.name for h in sandbox_cluster.hosts}, counts
    assert max(counts.values()) <= MAX_COMMANDS, counts
    # the service user, the health script, the models, the rollout and the MoE configs:
    # decided from the batch
    read = sorted(set(re.findall(r"Getting fact: ([\w.]+)", again.stdout)))
    assert read == ["gpufleet.facts.host.Batch"], read
