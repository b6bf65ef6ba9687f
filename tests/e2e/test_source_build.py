"""vLLM built from source on the sandbox: tasks/cuda.py, conda.py and stack.py on a V100 host
pinned to a release whose PyPI wheel has no sm_70 (vLLM 0.10.0: torch 2.7.1, whose cu128 build
dropped Volta), with `vllm_source=source-build`.

The mirror serves `vllm-0.10.0.tar.gz` (the stand-in sdist, sandbox/standins/vllm_sdist/) and
the real wheels of its build dependencies (cmake, ninja, setuptools-scm, jinja2, ...), so the
build runs as gpufleet/operations/env.py runs it: `pip install --no-build-isolation --no-binary
vllm` with CUDA_HOME = the stack's toolkit (its nvcc compiles for TORCH_CUDA_ARCH_LIST=7.0)
against the env's own torch build.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet.config import defaults
from tests.e2e.helpers import INVENTORY, REPO, grand_total, on_host, pyinfra

ENVS = defaults()["envs_dir"]
VLLM = "0.10.0"  # its PyPI wheel is built for torch 2.7.1+cu128: no sm_70
PIN = ("--data", "vllm_source=source-build", "--data", f"vllm_version={VLLM}")
TASKS = ("tasks/cuda.py", "tasks/conda.py", "tasks/stack.py")
OTHER_TORCH = "2.7.1+cu126"  # the same sdist built again against another torch build
OTHER_ENV = f"vllm-{VLLM}-torch-2.7.1-cu126"


def _plan(source: str) -> dict:
    """`gpufleet plan --json` for a V100 with vLLM 0.10.0 from ``source``."""
    gpufleet = str(Path(sys.executable).parent / "gpufleet")
    cmd = [gpufleet, "plan", "--gpu", "Tesla V100-SXM2-32GB", "--vllm", VLLM]
    out = subprocess.run([*cmd, "--source", source, "--json"], capture_output=True, cwd=REPO)
    return json.loads(out.stdout)


def _deploy(host, *args: str) -> subprocess.CompletedProcess:
    return pyinfra("-y", INVENTORY, *args, "--limit", host.name)


def _site(host, env: str) -> Path:
    """The env's site-packages as the control machine sees it (the host's overlay root)."""
    lib = Path(host.root) / ENVS.lstrip("/") / env / "lib"
    return next(lib.glob("python3.*/site-packages"))


@pytest.fixture(scope="module")
def source_build(sandbox_cluster):
    """sbx01 (a V100) with the env of vLLM 0.10.0 built from source: (host, env name, first
    deploy). Afterwards the env is removed and pip.conf is back at the host's default stack."""
    host = sandbox_cluster.hosts[0]
    assert not _plan("pypi")["ok"]  # the PyPI wheel (torch 2.7.1+cu128) has no sm_70
    stack = _plan("source-build")["stack"]
    assert stack["vllm_source"] == "source-build" and stack["torch"] == "2.7.1"
    env = f"vllm-{VLLM}-torch-{stack['torch']}-{stack['torch_cuda']}"
    envs = f"{ENVS}/{env} {ENVS}/{OTHER_ENV}"
    on_host(sandbox_cluster, host, f"rm -rf {envs}")  # a kept cluster's earlier run
    try:
        yield host, env, _deploy(host, *TASKS, *PIN)
    finally:
        on_host(sandbox_cluster, host, f"rm -rf {envs}")
        restored = _deploy(host, "tasks/conda.py")  # pip.conf back to the default stack
        assert restored.returncode == 0, restored.stdout[-3000:]


def test_the_env_is_built_from_the_sdist_for_sm_70(source_build):
    host, env, deploy = source_build
    assert deploy.returncode == 0, deploy.stdout[-5000:]
    stamp = json.loads(
        (Path(host.root) / ENVS.lstrip("/") / env / ".gpufleet-stamp.json").read_text()
    )
    assert stamp["stack"]["vllm_source"] == "source-build" and stamp["check"]["ok"]
    ext = next(e for e in stamp["check"]["extensions"] if e["file"] == "vllm/_C.abi3.so")
    assert ext["required"] and ext["runs"] and ext["elf"] == ["sm_70"], ext  # only 7.0 asked
    site = _site(host, env)
    # the wheel pip built here from the sdist, against this env's torch build
    baked = (site / "vllm" / "_gpufleet_build.py").read_text()
    assert "SOURCE_BUILD = True" in baked
    assert f'TORCH_BUILD = "{stamp["check"]["torch"]["version"]}"' in baked
    wheel = (site / f"vllm-{VLLM}.dist-info" / "WHEEL").read_text()
    assert "Tag: cp311-cp311-linux_x86_64" in wheel, wheel
    # the build dependencies came from the mirror's real wheels
    assert (site / "cmake").is_dir() and (site / "setuptools_scm").is_dir()


def test_import_vllm_works_in_the_env(sandbox_cluster, source_build):
    host, env, _ = source_build
    probe = "import vllm, torch; print(vllm.__version__, torch.__version__)"
    got = on_host(sandbox_cluster, host, f"{ENVS}/{env}/bin/python -c {shlex.quote(probe)}")
    assert got.returncode == 0, got.stderr
    assert got.stdout.split()[0] == VLLM and got.stdout.split()[1].startswith("2.7.1+")


def test_rerun_changes_nothing(source_build):
    host, _, _ = source_build
    again = _deploy(host, *TASKS, *PIN)
    assert again.returncode == 0, again.stdout[-3000:]
    assert grand_total(again.stdout)["success"] == "-", again.stdout[-3000:]


def test_another_torch_build_gets_its_own_compile(source_build):
    """pip keeps wheels it built from an sdist and would reuse the first env's for the same
    sdist: the second env would get a vLLM compiled against the other torch (the check fails
    on its import). Each source build compiles anew."""
    host, _, _ = source_build
    pin = (*PIN, "--data", f"torch_version={OTHER_TORCH}")
    other = _deploy(host, *TASKS, *pin)
    assert other.returncode == 0, other.stdout[-5000:]
    baked = (_site(host, OTHER_ENV) / "vllm" / "_gpufleet_build.py").read_text()
    assert f'TORCH_BUILD = "{OTHER_TORCH}"' in baked and "SOURCE_BUILD = True" in baked
