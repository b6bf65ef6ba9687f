"""Sandbox settings: paths, the Debian image, the address plan, GPU models and roles.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import os
from pathlib import Path


def _cluster_id() -> int:
    """GPUFLEET_SANDBOX_ID=1..9 runs another cluster beside the default one (0): its own state
    dir, namespaces, links, addresses and cgroups, sharing only the cached image. A benchmark
    can then boot 16 hosts while tests use the default cluster."""
    raw = os.environ.get("GPUFLEET_SANDBOX_ID", "0") or "0"
    if not raw.isdigit() or int(raw) > 9:
        raise SystemExit(f"sandbox: GPUFLEET_SANDBOX_ID={raw!r}: must be a digit 0..9")
    return int(raw)


CLUSTER_ID = _cluster_id()
_SUFFIX = "" if CLUSTER_ID == 0 else str(CLUSTER_ID)

SANDBOX_DIR = Path(__file__).resolve().parent
REPO_ROOT = SANDBOX_DIR.parent
CACHE_DIR = SANDBOX_DIR / "cache"  # git-ignored: rootfs tarball + extracted base (shared)
# git-ignored: state.json, keys, host overlays, mirror tree
STATE_DIR = SANDBOX_DIR / f"state{_SUFFIX}"
STATE_FILE = STATE_DIR / "state.json"
HOSTS_DIR = STATE_DIR / "hosts"
KEY_FILE = STATE_DIR / "id_ed25519"
KNOWN_HOSTS_FILE = STATE_DIR / "known_hosts"
MIRROR_ROOT = STATE_DIR / "mirror"
MIRROR_LOG = STATE_DIR / "mirror.log.jsonl"

# --- The host image: what mmdebstrap puts in the tarball (changing these rebuilds the cache) ---
SUITE = "bookworm"
DEBIAN_MIRROR = None  # None = mmdebstrap's default Debian mirror; or a URL string
PACKAGES = (
    "systemd,systemd-sysv,dbus,openssh-server,python3,sudo,ca-certificates,curl,"
    "iproute2,apt-utils,pciutils,kmod"
)
# Bump when sandbox/rootfs.py changes how the extracted base is customised.
BASE_REVISION = 5

# --- Address plan: one /30 per host from HOST_NET; the mirror on its own address on lo ---
HOST_NET = f"10.{213 + CLUSTER_ID}.0.0/24"
MIRROR_ADDRESS = f"10.{213 + CLUSTER_ID}.255.1"
MIRROR_PORT = 8213
MAX_HOSTS = 16

# --- Names of what `up` creates on the box (so `down` can find exactly these) ---
NETNS_PREFIX = f"gpufleet{_SUFFIX}-"  # + host name
VETH_PREFIX = f"g{_SUFFIX or 'f'}"  # + host name, host side of the pair (<= 15 chars)
MIRROR_ADDR_LABEL = f"lo:g{_SUFFIX or 'f'}sbx"
CGROUP_PARENT = f"gpufleet-sandbox{_SUFFIX}"  # one cgroup per host below it

# --- Hosts: name, GPU model, roles ---
HOST_PREFIX = "sbx"
GPU_MODELS = ("Tesla V100-SXM2-32GB", "Tesla P40")  # alternate, first host gets the first
GPU_GROUPS = {"Tesla V100-SXM2-32GB": "v100", "Tesla P40": "p40"}
GPU_FILE = "/etc/gpufleet-sandbox/gpu"  # inside each host; read by the stand-in nvidia-smi

SSH_WAIT_S = 90.0
