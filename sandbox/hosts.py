"""Sandbox hosts: an overlay of the base per host, booted with systemd-nspawn (real systemd as
PID 1, real sshd) inside the host's network namespace.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox import cgroups, config, ssh
from sandbox.standins import apt
from sandbox.state import HostState


def mount_overlay(host: HostState, base: Path) -> None:
    for path in (host.upper, host.work, host.root):
        Path(path).mkdir(parents=True, exist_ok=True)
    if is_mounted(host.root):
        return
    opts = f"lowerdir={base},upperdir={host.upper},workdir={host.work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, host.root], check=True)


def is_mounted(path: str) -> bool:
    return os.path.realpath(path) in mount_points()


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4].replace("\\040", " ") for line in f]


def unmount(path: str) -> None:
    """Unmount if mounted; lazily when something still holds it."""
    if not is_mounted(path):
        return
    if subprocess.run(["umount", path], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", path], check=False)


def personalise(host: HostState, public_key: str) -> str:
    """Write what makes the host itself: name, machine id, root's key, GPU model, a host key.

    Returns the host's public host key line (for known_hosts)."""
    root = Path(host.root)
    (root / "etc/hostname").write_text(host.name + "\n")
    (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    (root / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(public_key.strip() + "\n")
    (ssh_dir / "authorized_keys").chmod(0o600)
    # apt's only source is the cluster mirror's local repo (sandbox/standins/apt.py): an
    # unreachable Debian source would make every `apt-get update` fail.
    (root / "etc/apt/sources.list").write_text(
        "# gpufleet sandbox: the mirror's local repo only (sandbox/standins/apt.py)\n"
        + apt.SOURCES_LINE
        + "\n"
    )
    gpu_file = root / config.GPU_FILE.lstrip("/")
    gpu_file.parent.mkdir(parents=True, exist_ok=True)
    gpu_file.write_text(host.gpu + "\n")
    return ssh.keygen(root / "etc/ssh/ssh_host_ed25519_key", f"root@{host.name}")


def boot(host: HostState, log_dir: Path) -> int:
    """Start systemd-nspawn in the background; returns its PID."""
    log = open(log_dir / f"{host.name}.console.log", "wb")  # noqa: SIM115 - the child owns it
    cmd = [
        "systemd-nspawn",
        "--quiet",
        "--directory",
        host.root,
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{host.netns}",
        f"--hostname={host.name}",
        "--console=read-only",
    ]
    cgroup_dirs = cgroups.create(host.name)
    proc = subprocess.Popen(
        cmd,
        preexec_fn=lambda: cgroups.enter(cgroup_dirs),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return proc.pid


def is_ours(pid: int | None, root: str | None = None) -> bool:
    """True when `pid` is a live systemd-nspawn of this sandbox (of `root`, when given).

    Guards against PID reuse: `down` never signals a process that is not ours."""
    if not pid:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not argv or not argv[0].endswith(b"systemd-nspawn"):
        return False
    want = (root or str(config.HOSTS_DIR)).encode()
    return any(arg.startswith(want) for arg in argv)


def stray_pids() -> list[int]:
    """nspawn processes booting a directory under our hosts dir (a crashed run's leftovers)."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if is_ours(pid)]


def stop(pids: list[int], timeout: float = 15.0) -> None:
    """Ask each container to shut down (nspawn turns SIGTERM into an orderly poweroff), then
    kill what is left after `timeout`."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    for pid in pids:
        _reap(pid)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def remove_dirs(host_dir: Path) -> None:
    if host_dir.exists():
        shutil.rmtree(host_dir)


# Boot is "done" when systemd says so. Several containers booting at once sometimes lose a race
# creating a unit's cgroup ("Failed to attach to cgroup ... No such file or directory", seen for
# systemd-update-utmp.service): restart the failed units once, as an operator would.
SETTLE_SCRIPT = """\
state=$(systemctl is-system-running --wait)
if [ "$state" = degraded ]; then
    failed=$(systemctl list-units --state=failed --plain --no-legend | cut -d' ' -f1)
    echo "restarted after a failed boot: $failed" >&2
    systemctl reset-failed
    systemctl restart $failed
    state=$(systemctl is-system-running --wait)
fi
echo "$state"
[ "$state" = running ] || systemctl list-units --state=failed --plain --no-legend >&2
"""


def settle(addresses: list[str]) -> None:
    """Wait until systemd finished booting on every host; raise naming hosts left degraded."""
    with ThreadPoolExecutor(max_workers=max(1, len(addresses))) as pool:
        runs = pool.map(lambda a: ssh.run(a, SETTLE_SCRIPT, timeout=10), addresses)
        results = dict(zip(addresses, runs, strict=True))
    bad = []
    for address, result in results.items():
        if result.stderr.strip():
            print(f"sandbox: {address}: {result.stderr.strip()}", flush=True)
        if result.stdout.strip() != "running":
            bad.append(f"{address} ({result.stdout.strip() or result.returncode})")
    if bad:
        raise RuntimeError(f"systemd did not reach 'running' on {', '.join(bad)}")
