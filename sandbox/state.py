"""The sandbox state file (sandbox/state/state.json): what `up` made, read by `down`, `status`,
inventories/sandbox.py and the e2e tests.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.

Example (one host shown):

    {"version": 1, "key": ".../sandbox/state/id_ed25519",
     "known_hosts": ".../sandbox/state/known_hosts",
     "base": ".../sandbox/cache/base-1a2b3c4d5e6f",
     "mirror": {"url": "http://10.213.255.1:8213", "address": "10.213.255.1", "port": 8213,
                "pid": 4242, "root": ".../sandbox/state/mirror",
                "log": ".../sandbox/state/mirror.log.jsonl"},
     "hosts": [{"name": "sbx01", "address": "10.213.0.2", "gateway": "10.213.0.1",
                "netns": "gpufleet-sbx01", "veth": "gfsbx01", "pid": 4321,
                "root": ".../hosts/sbx01/root", "upper": ".../hosts/sbx01/upper",
                "work": ".../hosts/sbx01/work", "gpu": "Tesla V100-SXM2-32GB",
                "groups": ["v100", "embedding", "canary"]}]}
"""

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from sandbox import config

VERSION = 1


@dataclass(frozen=True)
class HostState:
    name: str
    address: str
    gateway: str
    netns: str
    veth: str
    root: str  # overlay mount point (the host's /)
    upper: str  # overlay upper dir: everything the host changed
    work: str
    gpu: str
    groups: tuple[str, ...]
    pid: int | None = None  # the systemd-nspawn process

    def with_pid(self, pid: int | None) -> "HostState":
        return replace(self, pid=pid)


@dataclass(frozen=True)
class MirrorState:
    url: str
    address: str
    port: int
    root: str
    log: str
    pid: int | None = None


@dataclass(frozen=True)
class ClusterState:
    key: str
    known_hosts: str
    base: str
    mirror: MirrorState | None = None
    hosts: tuple[HostState, ...] = field(default_factory=tuple)
    version: int = VERSION

    def to_dict(self) -> dict:
        data = asdict(self)
        for host in data["hosts"]:
            host["groups"] = list(host["groups"])
        data["hosts"] = list(data["hosts"])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ClusterState":
        if data.get("version") != VERSION:
            raise ValueError(f"state file version {data.get('version')!r}, expected {VERSION}")
        hosts = tuple(
            HostState(**{**h, "groups": tuple(h["groups"])}) for h in data.get("hosts", [])
        )
        mirror = MirrorState(**data["mirror"]) if data.get("mirror") else None
        return cls(
            key=data["key"],
            known_hosts=data["known_hosts"],
            base=data["base"],
            mirror=mirror,
            hosts=hosts,
        )


def save(state: ClusterState, path: Path = config.STATE_FILE) -> None:
    """Write atomically (a crash never leaves half a state file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2) + "\n")
    os.replace(tmp, path)


def load(path: Path = config.STATE_FILE) -> ClusterState | None:
    """The saved state, or None when there is none (or it is unreadable: treated as stale)."""
    try:
        return ClusterState.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None


def remove(path: Path = config.STATE_FILE) -> None:
    path.unlink(missing_ok=True)
