"""The sandbox cluster made by `python -m sandbox up N` (see sandbox/ and README "Sandbox").

Reads sandbox/state/state.json (sandbox/stateN/ with GPUFLEET_SANDBOX_ID=N).
Groups: v100, p40 (GPU model), embedding, chat (role), canary, and gateway: the last host of a
cluster of >= 5 hosts (it then serves no role; GPUFLEET_SANDBOX_GATEWAY=<host> picks another,
=none none), which runs tasks/gateway.py in front of the others.
Host data: ssh to root with the sandbox key, host keys checked against the sandbox known_hosts,
`gpu` = the host's (stand-in) GPU model, and every download URL of group_data/all.py pointed at
the sandbox mirror with the same path (only scheme and host swapped).
"""

import json
import os
import re
import runpy
from pathlib import Path

from pyinfra.api.exceptions import PyinfraError

_REPO = Path(__file__).resolve().parent.parent
# sandbox/config.py's naming (not imported: `gpufleet plan` runs without the repo on sys.path)
_CLUSTER_ID = os.environ.get("GPUFLEET_SANDBOX_ID", "0") or "0"
_STATE_DIR = "state" if _CLUSTER_ID == "0" else f"state{_CLUSTER_ID}"
_STATE_FILE = _REPO / "sandbox" / _STATE_DIR / "state.json"
_URL_KEYS = (
    "pypi_index_url",
    "pytorch_index_url",
    "nvidia_driver_url",
    "cuda_runfile_url",
    "vllm_release_wheel_url",
    "miniforge_url",
)
# No upstream default (community Pascal builds must be configured); the mirror serves it here.
_PASCAL_INDEX_PATH = "/pascal/simple"
# Every sandbox host has one (stand-in) GPU; its server uses it alone and serves a tiny stand-in
# model synced from the control machine (sandbox/models/), like a lab rolling out its own model.
_SERVER_OVERRIDES = {"gpus": "0", "tensor_parallel_size": 1, "max_model_len": 512}


def _load_state() -> dict:
    try:
        return json.loads(_STATE_FILE.read_text())
    except FileNotFoundError:
        raise PyinfraError(
            f"no sandbox state at {_STATE_FILE}: run `python -m sandbox up N` first"
        ) from None


def _mirror_urls(mirror: str) -> dict:
    """group_data/all.py's URLs with scheme+host replaced by the mirror's."""
    defaults = runpy.run_path(str(_REPO / "group_data" / "all.py"))
    urls = {k: re.sub(r"^[a-z]+://[^/]+", mirror, defaults[k]) for k in _URL_KEYS}
    urls["pascal_index_url"] = mirror + _PASCAL_INDEX_PATH
    return urls


def _servers() -> dict:
    """group_data's embedding/chat server dicts, sized for one GPU and the stand-in models."""
    servers = {}
    for role in ("embedding", "chat"):
        defaults = runpy.run_path(str(_REPO / "group_data" / f"{role}.py"))[f"{role}_server"]
        servers[f"{role}_server"] = {
            **defaults,
            **_SERVER_OVERRIDES,
            "model_source": str(_REPO / "sandbox" / "models" / role),
            "model_path": f"/opt/models/sandbox-{role}",
        }
    return servers


def _host_data(host: dict, state: dict, urls: dict) -> dict:
    return {
        "ssh_hostname": host["address"],
        "ssh_user": "root",
        "ssh_key": state["key"],
        "ssh_known_hosts_file": state["known_hosts"],
        "ssh_strict_host_key_checking": "yes",
        "ssh_connect_retries": 2,
        "gpu": host["gpu"],
        # the hosts' python is Debian bookworm's 3.11 (the Miniforge stand-in's envs use it)
        "python_version": "3.11",
        "sandbox_netns": host["netns"],
        # serving benchmarks of throwaway hosts stay with the cluster, out of the repo's bench/
        "bench_results_dir": f"sandbox/{_STATE_DIR}/bench-serving",
        **urls,
        **_SERVERS,
    }


# A cluster this big gets a gateway host (tasks/gateway.py) in front of the others.
_GATEWAY_MIN_HOSTS = 5


def _gateway(hosts: list[dict]) -> str | None:
    chosen = os.environ.get("GPUFLEET_SANDBOX_GATEWAY")
    if chosen:
        return None if chosen == "none" else chosen
    return hosts[-1]["name"] if len(hosts) >= _GATEWAY_MIN_HOSTS else None


def _groups() -> dict[str, list]:
    state = _load_state()
    urls = _mirror_urls(state["mirror"]["url"])
    groups: dict[str, list] = {"v100": [], "p40": [], "embedding": [], "chat": [], "canary": []}
    gateway = _gateway(state["hosts"])
    groups["gateway"] = [gateway] if gateway else []
    for host in state["hosts"]:
        gpu_group = next(g for g in host["groups"] if g in ("v100", "p40"))
        groups[gpu_group].append((host["name"], _host_data(host, state, urls)))
        for group in host["groups"]:
            if group != gpu_group and host["name"] != gateway:  # a gateway serves no role
                groups[group].append(host["name"])
    return groups


_SERVERS = _servers()
_GROUPS = _groups()
v100 = _GROUPS["v100"]
p40 = _GROUPS["p40"]
embedding = _GROUPS["embedding"]
chat = _GROUPS["chat"]
canary = _GROUPS["canary"]
gateway = _GROUPS["gateway"]
