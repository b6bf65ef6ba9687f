"""One cgroup per sandbox host, so containers never share unit cgroups.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.

Without a systemd on the box, systemd-nspawn stays in its caller's cgroup and creates
`supervisor/` and `payload/` below it. Started from the same cgroup, all hosts would share
`payload/system.slice/...`: one host's systemd would kill another's processes when it stops a
unit, and concurrent boots race creating the same cgroups (units failing with 219/CGROUP).
Each nspawn is therefore moved, before it executes, into `<our cgroup>/gpufleet-sandbox/<host>`
of every cgroup hierarchy systemd uses (cgroup2, and the `name=systemd` v1 one in hybrid mode).
"""

import contextlib
import os
from pathlib import Path

from sandbox import config

PARENT = config.CGROUP_PARENT


def hierarchies() -> list[Path]:
    """Our own cgroup directory in each hierarchy systemd uses."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        if hid == "0":
            own["cgroup2"] = path
        elif "name=systemd" in controllers.split(","):
            own["name=systemd"] = path
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, options, mountpoint = fields[sep + 1], fields[sep + 3], fields[4]
        if fstype == "cgroup2" and "cgroup2" in own:
            found.append(Path(mountpoint + own["cgroup2"]))
        elif fstype == "cgroup" and "name=systemd" in options.split(","):
            found.append(Path(mountpoint + own.get("name=systemd", "/")))
    return found


def create(host: str) -> list[Path]:
    """Create the host's cgroup in every hierarchy; returns their directories."""
    dirs = [h / PARENT / host for h in hierarchies()]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def enter(dirs: list[Path]) -> None:
    """Move the calling process into `dirs` (used between fork and exec)."""
    for d in dirs:
        (d / "cgroup.procs").write_text("0")


def remove(host: str | None = None) -> None:
    """Remove a host's cgroup tree (all hosts' when None), deepest first; busy ones stay."""
    for h in hierarchies():
        top = h / PARENT / host if host else h / PARENT
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
