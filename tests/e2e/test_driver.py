"""tasks/driver.py for real on a sandbox host, against the mirror's stand-in runfile: from bare
to converged, a re-run that changes nothing, a version change, and the busy-GPU refusal.

Runs on sbx03 only (`--limit`): the other hosts stay as colleagues' tests left them."""

import pytest

from sandbox import treesum
from tests.e2e.helpers import INVENTORY, grand_total, on_host, pyinfra

HOST = "sbx03"
PROCESSES = "/var/lib/gpufleet-sandbox/gpu-processes"  # what the stand-in nvidia-smi reports
# Everything tasks/driver.py puts on a host, removed: the host as it was before the first run.
RESET = f"""
nvidia-installer --uninstall --silent >/dev/null 2>&1
systemctl disable --now nvidia-persistenced.service >/dev/null 2>&1
rm -f /etc/systemd/system/nvidia-persistenced.service
rm -f /etc/modprobe.d/gpufleet-blacklist-nouveau.conf
rm -f /var/cache/gpufleet/NVIDIA-Linux-* /var/lib/gpufleet/reboot-required {PROCESSES}
rm -f /var/lib/gpufleet-sandbox/update-initramfs.log /var/log/nvidia-installer.log
systemctl daemon-reload
apt-mark unhold linux-headers-$(uname -r) >/dev/null 2>&1
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q build-essential dkms pkg-config \
    initramfs-tools linux-headers-$(uname -r) >/dev/null 2>&1
true
"""
QUERY = "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader"


@pytest.fixture
def host(sandbox_cluster):
    return next(h for h in sandbox_cluster.hosts if h.name == HOST)


def _driver(*args: str):
    return pyinfra("-y", "--limit", HOST, *args, INVENTORY, "tasks/driver.py")


def test_bare_host_converges_and_a_rerun_changes_nothing(sandbox_cluster, host):
    on_host(sandbox_cluster, host, RESET)
    assert on_host(sandbox_cluster, host, "command -v nvidia-smi dkms").stdout == ""
    first = _driver()
    assert first.returncode == 0, first.stdout[-3000:]
    sh = lambda cmd: on_host(sandbox_cluster, host, cmd).stdout.strip()  # noqa: E731
    assert sh(QUERY) == f"{host.gpu}, 580.159.04"
    assert "blacklist nouveau" in sh("cat /etc/modprobe.d/gpufleet-blacklist-nouveau.conf")
    assert "--kernel-module-type=proprietary" in sh("cat /var/log/nvidia-installer.log")
    assert sh("dkms status") == f"nvidia/580.159.04, {sh('uname -r')}, x86_64: installed"
    assert sh("systemctl is-enabled nvidia-persistenced") == "enabled"
    assert sh("systemctl is-active nvidia-persistenced") == "active"
    assert sh("apt-mark showhold") == f"linux-headers-{sh('uname -r')}"
    assert sh("wc -l < /var/lib/gpufleet-sandbox/update-initramfs.log") == "1"
    assert sh("test -e /var/lib/gpufleet/reboot-required || echo none") == "none"

    again = _driver()
    assert again.returncode == 0, again.stdout[-3000:]
    assert grand_total(again.stdout)["success"] == "-", again.stdout
    assert sh("wc -l < /var/lib/gpufleet-sandbox/update-initramfs.log") == "1"


def test_version_change_upgrades_in_place(sandbox_cluster, host):
    sh = lambda cmd: on_host(sandbox_cluster, host, cmd).stdout.strip()  # noqa: E731
    try:
        other = _driver("--data", "driver_version=570.211.01")
        assert other.returncode == 0, other.stdout[-3000:]
        assert sh(QUERY) == f"{host.gpu}, 570.211.01"
        assert sh("ls /usr/src | grep nvidia") == "nvidia-570.211.01"  # the old one uninstalled
        assert sh("systemctl is-active nvidia-persistenced") == "active"
    finally:
        back = _driver()
    assert back.returncode == 0, back.stdout[-3000:]
    assert sh(QUERY) == f"{host.gpu}, 580.159.04"


def test_busy_gpu_refuses_a_driver_change_and_changes_nothing(sandbox_cluster, host):
    assert _driver().returncode == 0  # on the resolved driver first
    on_host(sandbox_cluster, host, f"echo '4242, python3, 1634' > {PROCESSES}")
    try:
        before = treesum.digest(host.upper)
        result = _driver("--data", "driver_version=570.211.01")
        assert result.returncode != 0
        assert (
            f"{HOST}: driver 580.159.04 -> 570.211.01: GPU processes running (4242 (python3)); "
            "refusing to change the driver (set force_driver_change=True to override)"
        ) in result.stdout
        assert treesum.digest(host.upper) == before
    finally:
        on_host(sandbox_cluster, host, f"rm -f {PROCESSES}")


def test_dry_run_shows_the_planned_commands_and_changes_nothing(sandbox_cluster, host):
    assert _driver().returncode == 0
    on_host(sandbox_cluster, host, "rm -f /var/cache/gpufleet/NVIDIA-Linux-x86_64-570.211.01.run")
    before = treesum.digest(host.upper)
    result = pyinfra(
        "--dry", "--diff", "--limit", HOST, "--data", "driver_version=570.211.01",
        INVENTORY, "tasks/driver.py",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert (
        f"[{HOST}] will install with: sh /var/cache/gpufleet/NVIDIA-Linux-x86_64-570.211.01.run "
        "--silent --dkms --no-opengl-files --kernel-module-type=proprietary"
    ) in result.stdout
    assert "will download http://" in result.stdout
    assert treesum.digest(host.upper) == before
