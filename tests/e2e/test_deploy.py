"""pyinfra deploys for real on the sandbox, and `--dry` changes nothing on any host."""

import os
import uuid

import pytest

from sandbox import treesum
from tests.e2e.helpers import INVENTORY, REPO, grand_total, on_host, pyinfra

PROBE = "tests/e2e/deploys/probe.py"


def _connected_to_all(output: str, cluster) -> bool:
    return all(f"[{h.name}] Connected" in output for h in cluster.hosts)


def _upper_entries(cluster) -> dict[str, dict[str, str]]:
    return {h.name: treesum.entries(h.upper) for h in cluster.hosts}


def _changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> dict:
    """host -> paths whose entry differs (added, removed or changed)."""
    diff = {}
    for host, a in before.items():
        b = after[host]
        paths = sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))
        if paths:
            diff[host] = paths
    return diff


def test_deploy_py_runs_on_every_host(sandbox_cluster):
    if not (REPO / "tasks" / "preflight.py").exists():
        pytest.skip("tasks/preflight.py has not landed yet; deploy.py includes it")
    result = pyinfra("-y", INVENTORY, "deploy.py")
    assert result.returncode == 0, result.stdout[-3000:]
    assert _connected_to_all(result.stdout, sandbox_cluster), result.stdout


def test_probe_deploy_converges_for_real_and_is_idempotent(sandbox_cluster):
    env = {**os.environ, "GPUFLEET_PROBE_VALUE": "probe-e2e"}
    first = pyinfra("-y", INVENTORY, PROBE, env=env)
    assert first.returncode == 0, first.stdout[-3000:]
    assert _connected_to_all(first.stdout, sandbox_cluster)
    for host in sandbox_cluster.hosts:
        check = "cat /etc/gpufleet-sandbox/probe; systemctl is-active gpufleet-probe"
        assert on_host(sandbox_cluster, host, check).stdout.split() == ["probe-e2e", "active"]
    again = pyinfra("-y", INVENTORY, PROBE, env=env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert grand_total(again.stdout)["success"] == "-", again.stdout  # nothing changed


@pytest.mark.parametrize("deploy", ["deploy.py", PROBE])
def test_dry_run_changes_nothing(sandbox_cluster, deploy):
    if not (REPO / deploy).exists() or (
        deploy == "deploy.py" and not (REPO / "tasks" / "preflight.py").exists()
    ):
        pytest.skip(f"{deploy} cannot run yet (tasks/preflight.py missing)")
    # a value no host has: the probe deploy would change every host if it ran for real
    env = {**os.environ, "GPUFLEET_PROBE_VALUE": f"dry-{uuid.uuid4().hex[:8]}"}
    before = _upper_entries(sandbox_cluster)
    result = pyinfra("--dry", INVENTORY, deploy, env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _connected_to_all(result.stdout, sandbox_cluster)
    if deploy == PROBE:
        assert "Write the probe value" in result.stdout and "Detected changes" in result.stdout
    assert _changed(before, _upper_entries(sandbox_cluster)) == {}


def test_a_refused_host_stops_the_deploy_on_every_host_before_any_change(sandbox_cluster):
    # vLLM 0.11.0 has no wheel for the P40 hosts (min cc 7.0); the V100 hosts could take it
    before = _upper_entries(sandbox_cluster)
    result = pyinfra("-y", INVENTORY, "deploy.py", "--data", "vllm_version=0.11.0")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout, result.stdout[-3000:]
    p40 = [h.name for h in sandbox_cluster.hosts if h.gpu == "Tesla P40"]
    assert f"{len(p40)} of {len(sandbox_cluster.hosts)} hosts refused" in result.stdout
    for name in p40:
        assert f"{name}: Tesla P40 (sm_61) with vLLM 0.11.0" in result.stdout
    assert "rule: vllm-min-cc" in result.stdout
    assert _changed(before, _upper_entries(sandbox_cluster)) == {}
