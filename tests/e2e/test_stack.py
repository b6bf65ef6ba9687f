"""tasks/conda.py + tasks/stack.py on the sandbox: one checked, stamped env per resolved stack.

Fresh build (import vllm works in it), a re-run that changes nothing, a killed deploy that
leaves no stamped half env and converges on the next run, a wheel without the host's sm
refused by the post-install check with the old env kept, and a `--dry` that only says
"would build env X". The wheels are the mirror's stand-ins (sandbox/standins/).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpufleet.config import defaults
from gpufleet.matrix import load
from sandbox import mirror, treesum
from sandbox.standins.wheel_builder import build_vllm_wheel
from tests.e2e.helpers import INVENTORY, REPO, grand_total, on_host, pyinfra

ENVS = defaults()["envs_dir"]
STAMP = ".gpufleet-stamp.json"
PIN_V100 = "0.8.4"  # an older release than the default stack: another env on the same host
PIN_ENV = "vllm-0.8.4-torch-2.6.0-cu124"
NOSM70_INDEX = "/gpufleet-test/nosm70/simple"  # test-only index: a vLLM 0.8.4 built for sm_80


def _deploy(*args: str) -> subprocess.CompletedProcess:
    return pyinfra("-y", INVENTORY, *args)


def _toolkits(*extra: str) -> None:
    """The stacks' CUDA toolkits (cuobjdump for the check): tasks/cuda.py where it exists."""
    if (REPO / "tasks" / "cuda.py").exists():
        result = _deploy("tasks/cuda.py", *extra)
        assert result.returncode == 0, result.stdout[-3000:]


def _install_runfile(cluster, host, toolkit: str) -> None:
    """Until tasks/cuda.py lands (test infrastructure): the toolkit stand-in's runfile, run by
    hand the way tasks/cuda.py does (--silent --toolkit)."""
    if (REPO / "tasks" / "cuda.py").exists():
        return
    row = next(t for t in load().toolkits if t.short == toolkit)
    url = defaults()["cuda_runfile_url"].format(version=row.version, runfile=row.runfile)
    url = re.sub(r"^[a-z]+://[^/]+", cluster.mirror.url, url)
    cmd = (
        f"[ -x /usr/local/cuda-{toolkit}/bin/cuobjdump ] || "
        f"(cd /tmp && curl -fsS -o tk.run {shlex.quote(url)} && sh tk.run --silent --toolkit "
        "--override >/dev/null)"
    )
    assert on_host(cluster, host, cmd).returncode == 0


def _plans() -> dict[str, dict]:
    gpufleet = str(Path(sys.executable).parent / "gpufleet")
    out = subprocess.run(
        [gpufleet, "plan", INVENTORY, "--json"], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return {p["host"]: p for p in json.loads(out.stdout)}


def _env_name(stack: dict) -> str:
    return f"vllm-{stack['vllm']}-torch-{stack['torch']}-{stack['torch_cuda']}"


def _stamp(host, name: str) -> dict | None:
    path = _env_dir(host, name) / STAMP
    return json.loads(path.read_text()) if path.exists() else None


def _env_dir(host, name: str) -> Path:
    return Path(host.root) / ENVS.lstrip("/") / name  # the host's / (its overlay mount)


def _imports_vllm(cluster, host, name: str) -> bool:
    probe = "import vllm, torch; print(vllm.__version__, torch.__version__)"
    got = on_host(cluster, host, f"{ENVS}/{name}/bin/python -c {shlex.quote(probe)}")
    return got.returncode == 0


@pytest.fixture(scope="module")
def built(sandbox_cluster) -> dict[str, str]:
    """Every host's default stack built: host name -> env name."""
    plans = _plans()
    for host in sandbox_cluster.hosts:
        _install_runfile(sandbox_cluster, host, plans[host.name]["stack"]["cuda_toolkit"])
    _toolkits()
    result = _deploy("tasks/conda.py", "tasks/stack.py")
    assert result.returncode == 0, result.stdout[-4000:]
    return {name: _env_name(plan["stack"]) for name, plan in plans.items()}


def test_fresh_build_is_stamped_and_imports_vllm(sandbox_cluster, built):
    for host in sandbox_cluster.hosts:
        name = built[host.name]
        stamp = _stamp(host, name)
        assert stamp is not None, f"{host.name}: {name} has no stamp"
        assert stamp["check"]["ok"] and stamp["env"] == name
        assert (
            stamp["check"]["torch"]["version"]
            == f"{stamp['stack']['torch']}+" + (stamp["stack"]["torch_cuda"])
        )
        assert all(ext["runs"] for ext in stamp["check"]["extensions"] if ext["required"])
        assert _imports_vllm(sandbox_cluster, host, name)


def test_rerun_changes_nothing(built):
    again = _deploy("tasks/conda.py", "tasks/stack.py")
    assert again.returncode == 0, again.stdout[-3000:]
    assert grand_total(again.stdout)["success"] == "-", again.stdout[-3000:]


def test_dry_run_says_would_build_and_changes_nothing(sandbox_cluster, built):
    host = sandbox_cluster.hosts[2]  # sbx03, a V100
    # a kept cluster may hold the pinned env from an earlier session's interrupted-build test
    on_host(sandbox_cluster, host, f"rm -rf /opt/gpufleet/envs/{PIN_ENV}")
    assert _stamp(host, PIN_ENV) is None
    before = treesum.entries(host.upper)
    dry = pyinfra(
        "--dry", INVENTORY, "tasks/stack.py", "--limit", host.name,
        "--data", f"vllm_version={PIN_V100}",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert f"would build env {PIN_ENV}" in dry.stdout
    assert treesum.entries(host.upper) == before


def test_interrupted_build_leaves_no_stamped_half_env_and_converges(sandbox_cluster, built):
    host = sandbox_cluster.hosts[2]
    _install_runfile(sandbox_cluster, host, "12.4")
    pin = ("--limit", host.name, "--data", f"vllm_version={PIN_V100}")
    _toolkits(*pin)
    env_dir = _env_dir(host, PIN_ENV)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyinfra", "-y", INVENTORY, "tasks/stack.py", *pin],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (env_dir / "bin").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # the deploy dies mid-install
    proc.wait()
    time.sleep(3)  # whatever the host still runs settles
    stamp = _stamp(host, PIN_ENV)
    # Either the remote build died unstamped, or it ran to the end and passed its check.
    assert stamp is None or (stamp["check"]["ok"] and _imports_vllm(sandbox_cluster, host, PIN_ENV))
    converge = _deploy("tasks/stack.py", *pin)
    assert converge.returncode == 0, converge.stdout[-3000:]
    assert _stamp(host, PIN_ENV) is not None and _imports_vllm(sandbox_cluster, host, PIN_ENV)
    assert _stamp(host, built[host.name]) is not None  # the default env kept (keep_envs)
    again = _deploy("tasks/stack.py", *pin)
    assert grand_total(again.stdout)["success"] == "-", again.stdout[-3000:]


def test_wheel_without_the_hosts_sm_is_refused_and_the_old_env_stays(sandbox_cluster, built):
    host = sandbox_cluster.hosts[0]  # sbx01, a V100
    _install_runfile(sandbox_cluster, host, "12.4")
    filename, wheel, _ = build_vllm_wheel(PIN_V100, "2.6.0+cu124", ["8.0", "9.0+PTX"])
    mirror.add_file(f"{NOSM70_INDEX}/vllm/{filename}", wheel)
    index = f"pypi_index_url={sandbox_cluster.mirror.url}{NOSM70_INDEX}"
    pin = ("--limit", host.name, "--data", f"vllm_version={PIN_V100}", "--data", index)
    _toolkits(*pin)
    old = _stamp(host, built[host.name])
    try:
        refused = _deploy("tasks/conda.py", "tasks/stack.py", *pin)
    finally:
        restored = _deploy("tasks/conda.py", "--limit", host.name)  # pip.conf back to default
    assert refused.returncode != 0
    assert "vllm/_C.abi3.so has no code for sm_70" in refused.stdout
    assert f"{host.name}: the post-install check failed for env {PIN_ENV}" in refused.stdout
    assert not _env_dir(host, PIN_ENV).exists()
    assert _stamp(host, built[host.name]) == old
    assert _imports_vllm(sandbox_cluster, host, built[host.name])
    assert restored.returncode == 0, restored.stdout[-3000:]
