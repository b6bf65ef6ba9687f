"""The mirror's Python stack, from the hosts' side: real pip resolves the stand-in vLLM, torch and
xformers from the mirror alone (index + PyTorch cu index, as group_data configures them), the
exact-torch-build rule bites like the real wheels, Miniforge installs, and `gpufleet matrix
refresh --check` passes against the mirror (PEP 658 and HTTP Range paths both)."""

import shlex
import subprocess
import sys
from urllib.parse import urlsplit

from sandbox import mirror
from sandbox.standins import wheels
from tests.e2e.helpers import REPO, on_host

VENV = "/tmp/gpufleet-e2e-index"


def _pip_wheel_url(cluster) -> str:
    pip = next(p for p in wheels.build_tool_wheels() if p.name.startswith("pip-"))
    return f"{cluster.mirror.url}/simple/pip/{pip.name}"


def _fresh_venv(cluster, host) -> None:
    """python3 -m venv without ensurepip (Debian's python3 lacks it) + pip from the mirror."""
    url = _pip_wheel_url(cluster)
    whl = f"/tmp/{url.rsplit('/', 1)[1]}"
    script = (
        f"rm -rf {VENV} && python3 -m venv --without-pip {VENV} && curl -fsS -o {whl} {url} && "
        f"{VENV}/bin/python {whl}/pip install -q --no-index {whl}"
    )
    result = on_host(cluster, host, script)
    assert result.returncode == 0, result.stderr


def _pip_install(cluster, host, *requirements: str, variant: str) -> subprocess.CompletedProcess:
    m = cluster.mirror.url
    args = [
        f"{VENV}/bin/pip", "install", "-q", "--no-cache-dir", "--index-url", f"{m}/simple",
        "--extra-index-url", f"{m}/whl/{variant}", "--trusted-host", urlsplit(m).hostname,
        *requirements,
    ]  # fmt: skip
    return on_host(cluster, host, shlex.join(args))


def test_pip_installs_vllm_with_its_torch_build_from_the_mirror(sandbox_cluster):
    host = sandbox_cluster.hosts[0]
    _fresh_venv(sandbox_cluster, host)
    result = _pip_install(
        sandbox_cluster, host, "vllm==0.8.5.post1", "torch==2.6.0+cu124", variant="cu124"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    probe = "import torch, vllm, xformers as x; print(vllm.__version__, torch.__version__, "
    probe += "x.__version__)"
    got = on_host(sandbox_cluster, host, f"{VENV}/bin/python -c {shlex.quote(probe)}")
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["0.8.5.post1", "2.6.0+cu124", "0.0.29.post2"]


def test_vllm_under_the_cu126_torch_fails_with_the_undefined_symbol(sandbox_cluster):
    host = sandbox_cluster.hosts[0]
    _fresh_venv(sandbox_cluster, host)
    result = _pip_install(
        sandbox_cluster, host, "vllm==0.8.5.post1", "torch==2.6.0+cu126", variant="cu126"
    )
    assert result.returncode == 0, result.stdout + result.stderr  # pip sees no conflict
    got = on_host(sandbox_cluster, host, f"{VENV}/bin/python -c 'import vllm'")
    assert got.returncode == 1
    assert "_C.abi3.so: undefined symbol: _ZN5torch3jit17parseSchemaOrNameERKSsb" in got.stderr


def test_miniforge_installs_and_creates_an_env_on_a_host(sandbox_cluster):
    host = sandbox_cluster.hosts[-1]
    urls = wheels.upstream_urls()
    url = urls["miniforge_url"].format(version=urls["miniforge_version"])
    path = mirror.path_for_url(url).relative_to(mirror.tree_root())
    m, prefix, sh = sandbox_cluster.mirror.url, "/tmp/gpufleet-e2e-mf", f"/tmp/{path.name}"
    script = (
        f"rm -rf {prefix} && cd /tmp && curl -fsS -o {sh} {m}/{path} && "
        f"curl -fsS {m}/{path}.sha256 | sha256sum -c - && bash {sh} -b -p {prefix} >/dev/null && "
        f"{prefix}/bin/conda create -y -q -p {prefix}/envs/e python=3.11 && "
        f"{prefix}/bin/conda run -p {prefix}/envs/e python -m pip --version"
    )
    result = on_host(sandbox_cluster, host, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{prefix}/envs/e/lib/python3.11/site-packages/pip" in result.stdout
    wrong = on_host(sandbox_cluster, host, f"{prefix}/bin/conda create -y -p /tmp/x python=3.12")
    assert wrong.returncode == 1 and "PackagesNotFoundError" in wrong.stderr


def test_matrix_refresh_check_passes_against_the_mirror(sandbox_cluster):
    url = f"{sandbox_cluster.mirror.url}/simple"
    before = len(mirror.read_log())
    result = subprocess.run(
        [sys.executable, "-m", "gpufleet.refresh", "--check", "--index-url", url],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log = mirror.read_log()[before:]
    assert any(r["path"].endswith(".whl.metadata") and r["status"] == 200 for r in log)
    assert any(r["path"].endswith(".whl") and r["status"] == 206 for r in log)  # Range path
