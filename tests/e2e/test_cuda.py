"""tasks/cuda.py for real on a sandbox host, against the mirror's stand-in runfiles: a toolkit
beside the others, selected for logins; a re-run that changes nothing; a tampered runfile
refused with nothing left on the host; `--dry --diff`.

Runs on sbx03 only, with toolkits pinned by `--data` that no stack of the sandbox uses; the
profile is put back to the host's own stack at the end."""

import pytest

from sandbox import mirror, treesum
from sandbox.standins import nvidia
from tests.e2e.helpers import INVENTORY, grand_total, on_host, pyinfra

HOST = "sbx03"
RUNFILE_12_2 = "cuda_12.2.2_535.104.05_linux.run"


@pytest.fixture
def host(sandbox_cluster):
    yield next(h for h in sandbox_cluster.hosts if h.name == HOST)
    restored = _cuda()  # the host's own stack's toolkit selected again
    assert restored.returncode == 0, restored.stdout[-3000:]


def _cuda(*args: str):
    return pyinfra("-y", "--limit", HOST, *args, INVENTORY, "tasks/cuda.py")


def test_pinned_toolkit_installs_beside_others_and_is_selected(sandbox_cluster, host):
    sh = lambda cmd: on_host(sandbox_cluster, host, cmd).stdout.strip()  # noqa: E731
    sh("rm -rf /usr/local/cuda-12.1 /var/cache/gpufleet/cuda_12.1.1_*")
    first = _cuda("--data", "cuda_toolkit=12.1.1")
    assert first.returncode == 0, first.stdout[-3000:]
    assert '"version" : "12.1.1"' in sh("sed -n 1,5p /usr/local/cuda-12.1/version.json")
    assert sh("bash -lc 'echo $CUDA_HOME; nvcc --version | grep release'") == (
        "/usr/local/cuda-12.1\nCuda compilation tools, release 12.1, V12.1.105"
    )
    again = _cuda("--data", "cuda_toolkit=12.1.1")
    assert again.returncode == 0, again.stdout[-3000:]
    assert grand_total(again.stdout)["success"] == "-", again.stdout
    own = _cuda()  # the stack's own toolkit (another X.Y) beside 12.1: both stay
    assert own.returncode == 0, own.stdout[-3000:]
    assert len(sh("ls -d /usr/local/cuda-1*").split()) >= 2
    assert sh("test -f /usr/local/cuda-12.1/version.json && echo kept") == "kept"


def test_tampered_runfile_is_refused_and_leaves_nothing(sandbox_cluster, host):
    on_host(
        sandbox_cluster, host, f"rm -rf /usr/local/cuda-12.2 /var/cache/gpufleet/{RUNFILE_12_2}"
    )
    url = next(u for u in nvidia.files() if u.endswith(RUNFILE_12_2))
    path = mirror.path_for_url(url)
    try:
        path.write_bytes(path.read_bytes() + b"echo tampered\n")
        before = treesum.digest(host.upper)
        result = _cuda("--data", "cuda_toolkit=12.2.2")
        assert result.returncode != 0
        line = next(ln for ln in result.stdout.splitlines() if "sha256 mismatch" in ln)
        assert f"{HOST}: {RUNFILE_12_2}: sha256 mismatch: expected " in line
        assert treesum.digest(host.upper) == before
        listing = on_host(sandbox_cluster, host, "ls -a /var/cache/gpufleet; ls /usr/local")
        assert "12.2" not in listing.stdout
    finally:
        nvidia.populate()  # the stand-in back as published


def test_dry_run_shows_commands_and_the_profile_diff(sandbox_cluster, host):
    on_host(sandbox_cluster, host, "rm -rf /usr/local/cuda-12.2")
    before = treesum.digest(host.upper)
    result = pyinfra(
        "--dry", "--diff", "--limit", HOST, "--data", "cuda_toolkit=12.2.2",
        INVENTORY, "tasks/cuda.py",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert (
        f"will install with: sh /var/cache/gpufleet/{RUNFILE_12_2} --silent --toolkit "
        "--toolkitpath=/usr/local/cuda-12.2 --no-man-page --override"
    ) in result.stdout
    assert "+ export CUDA_HOME=/usr/local/cuda-12.2" in result.stdout
    assert treesum.digest(host.upper) == before
