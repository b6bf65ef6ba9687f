"""Install the sandbox's own tools on the box (apt), only those missing.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import os
import shutil
import subprocess

# binary -> Debian package that provides it
TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "systemd-nspawn": "systemd-container",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "mount": "mount",
    "tar": "tar",
    "dpkg-deb": "dpkg",  # the local apt repo's stand-in .debs
    "dpkg-scanpackages": "dpkg-dev",  # ... and its Packages index
}


# Every host's systemd takes several inotify instances; the kernel's default of 128 per user
# (all hosts run as root) is spent by ~13 hosts, and later hosts never finish booting.
KERNEL_MINIMUMS = {
    "/proc/sys/fs/inotify/max_user_instances": 1024,
    "/proc/sys/fs/inotify/max_user_watches": 524288,
}


def raise_kernel_limits() -> None:
    """Raise the box's inotify limits to what 16 hosts (x several clusters) need; never lower."""
    for path, minimum in KERNEL_MINIMUMS.items():
        try:
            with open(path) as f:
                current = int(f.read())
            if current < minimum:
                with open(path, "w") as f:
                    f.write(str(minimum))
                print(f"sandbox: raised {path} from {current} to {minimum}", flush=True)
        except (OSError, ValueError) as exc:
            print(f"sandbox: cannot raise {path}: {exc}", flush=True)


def missing_packages() -> list[str]:
    return sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})


def ensure() -> None:
    """apt-get install what is missing (refreshing the package lists once if needed), and
    raise the kernel limits the hosts need."""
    raise_kernel_limits()
    packages = missing_packages()
    if not packages:
        return
    print(f"sandbox: installing {' '.join(packages)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
