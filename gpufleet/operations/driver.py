"""The NVIDIA driver from its runfile: prerequisites, the install itself, apt holds, the reboot
marker. Each yields nothing when the host already matches.

The runfile upgrades in place: in `--silent` mode it uninstalls a previous runfile driver before
installing (its `nvidia-installer --uninstall`), so a version change is the same command as a
fresh install, after nvidia-persistenced is stopped (it holds the module open). A distro-packaged
driver (apt's nvidia-driver) is not removed for you: the runfile refuses to install over it.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import OperationError, operation
from pyinfra.facts.deb import DebPackages

from gpufleet.facts import host as host_facts
from gpufleet.facts.apt import AptHolds
from gpufleet.facts.driver import InstalledDriver
from gpufleet.facts.nvidia import GpuProcesses
from gpufleet.operations import apt, download

REBOOT_MARKER = "/var/lib/gpufleet/reboot-required"
NOUVEAU_BLACKLIST = "/etc/modprobe.d/gpufleet-blacklist-nouveau.conf"
PERSISTENCED_SERVICE = "nvidia-persistenced.service"
PERSISTENCED_UNIT = f"/etc/systemd/system/{PERSISTENCED_SERVICE}"
# `--kernel-module-type=` arrived with the 560 installers (which default to the open modules);
# older ones pick the module tree with -m=kernel / -m=kernel-open.
KERNEL_MODULE_TYPE_SINCE = 560


def module_flag(branch: str, flavour: str) -> str:
    """The installer flag that picks the kernel module flavour for a driver branch.

    >>> module_flag("580", "proprietary"), module_flag("550", "proprietary")
    ('--kernel-module-type=proprietary', '-m=kernel')
    """
    if int(branch) >= KERNEL_MODULE_TYPE_SINCE:
        return f"--kernel-module-type={flavour}"
    return "-m=kernel-open" if flavour == "open" else "-m=kernel"


def install_command(runfile: str, branch: str, flavour: str) -> str:
    # --dkms: rebuilt for each new kernel; --no-opengl-files: compute hosts have no X server.
    flags = ["--silent", "--dkms", "--no-opengl-files", module_flag(branch, flavour)]
    return " ".join(["sh", shlex.quote(runfile), *flags])


def with_kernel(names: list[str], kernel: str) -> list[str]:
    """Package names from data, ``{kernel}`` replaced by the running kernel's release."""
    return [name.format(kernel=kernel) for name in names]


@operation()
def prerequisites(packages: list[str]):
    """
    Install what the runfile builds its module with (apt), updating the lists only when
    something is missing.

    + packages: apt package names (build tools, dkms, the running kernel's headers)
    """
    yield from apt.packages._inner(names=packages, label="driver prerequisites")


def _refuse_while_busy(installed: dict, version: str, force: bool) -> None:
    processes = host_facts.get(GpuProcesses)
    if processes and not force:
        pids = ", ".join(f"{p['pid']} ({p['process_name']})" for p in processes)
        raise OperationError(
            f"{host.name}: driver {installed['version']} -> {version}: GPU processes running "
            f"({pids}); refusing to change the driver (set force_driver_change=True to override)"
        )


@operation()
def installed(
    version: str,
    branch: str,
    kernel_module: str,
    url: str,
    downloads_dir: str,
    sha256: str | None = None,
    sha256_url: str | None = None,
    force: bool = False,
    cache_dir: str | None = None,
):
    """
    Install driver ``version`` with the ``kernel_module`` flavour from its runfile, verified.

    + version: the driver release, e.g. ``580.159.04``
    + branch: its branch (``580``): picks the installer's module flag
    + kernel_module: ``proprietary`` (pre-Turing GPUs need it) or ``open``
    + url: the runfile's URL; downloaded to ``downloads_dir``
    + sha256 / sha256_url: the digest pinned, or a checksum file to read it from
    + cache_dir: the control machine's artifact cache ("control" mode), else None
    + force: change an installed driver even while GPU processes run

    A loaded driver of another version keeps running until a reboot (``reboot_reason``): the
    task reports that, or reboots when allowed.
    """
    current = host_facts.get(InstalledDriver)
    if (
        current
        and current["version"] == version
        and current["kernel_module"]
        in (
            kernel_module,
            None,
        )
    ):
        host.noop(f"driver {version} ({kernel_module}) is installed")
        return
    if current:
        _refuse_while_busy(current, version, force)
    runfile = posixpath.join(downloads_dir, posixpath.basename(url))
    # pyinfra runs an operation only up to its first command when preparing (--dry): say now
    command = install_command(runfile, branch, kernel_module)
    download.announce(f"install with: {command} (after the download below)")
    yield from download.verified_file._inner(
        url=url, dest=runfile, sha256=sha256, sha256_url=sha256_url, cache_dir=cache_dir
    )
    if current:
        yield "systemctl stop nvidia-persistenced.service 2>/dev/null || true"
    yield command


def reboot_marker_command(reason: str) -> str:
    """Write the reboot marker (its text says why), for whoever reads the host later."""
    text = shlex.quote(f"{reason}: reboot to load it")
    return f"mkdir -p {posixpath.dirname(REBOOT_MARKER)} && echo {text} > {REBOOT_MARKER}"


def reboot_reason(loaded: dict | None, version: str) -> str | None:
    """Why installing ``version`` leaves the host needing a reboot, or None (nothing loaded:
    the installer loads the new module itself).

    >>> reboot_reason({"version": "550.54.15", "kernel_module": "proprietary"}, "580.1.2")
    'driver 550.54.15 is loaded, 580.1.2 installed'
    """
    if loaded and loaded["version"] != version:
        return f"driver {loaded['version']} is loaded, {version} installed"
    return None


@operation()
def held(packages: list[str], installing: list[str] | None = None):
    """
    ``apt-mark hold`` the packages of ``packages`` that are installed (or being installed in
    this run: ``installing``), so an upgrade cannot replace the kernel or driver under the
    runfile's module. Packages absent from the host are skipped (apt cannot hold them).

    + packages: candidate names (group_data ``driver_apt_holds``)
    + installing: names another operation of this run installs
    """
    present = set(host_facts.get(DebPackages)) | set(installing or [])
    held_now = set(host_facts.get(AptHolds))
    wanted = [name for name in packages if name in present and name not in held_now]
    if not wanted:
        host.noop(f"apt holds in place: {', '.join(sorted(held_now)) or 'none needed'}")
        return
    yield "apt-mark hold " + " ".join(shlex.quote(name) for name in wanted)
