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
}


def missing_packages() -> list[str]:
    return sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})


def ensure() -> None:
    """apt-get install what is missing (refreshing the package lists once if needed)."""
    packages = missing_packages()
    if not packages:
        return
    print(f"sandbox: installing {' '.join(packages)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
