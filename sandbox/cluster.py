"""`up`, `down` and `status` of the sandbox cluster: the order of things and their clean-up.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator

from sandbox import cgroups, config, deps, hosts, mirror, network, rootfs, ssh, state
from sandbox.state import ClusterState, HostState, MirrorState


def plan_hosts(n: int) -> list[HostState]:
    """Names, addresses, GPU models and groups of an N-host cluster (no PIDs yet).

    GPU models alternate (sbx01 V100, sbx02 P40, ...); odd hosts serve embeddings, even hosts
    chat; the first host is also the canary."""
    if not 1 <= n <= config.MAX_HOSTS:
        raise ValueError(f"host count {n} outside 1..{config.MAX_HOSTS}")
    planned = []
    for index in range(1, n + 1):
        link = network.allocate(index)
        name = network.host_name(index)
        gpu = config.GPU_MODELS[(index - 1) % len(config.GPU_MODELS)]
        groups = [config.GPU_GROUPS[gpu], "embedding" if index % 2 else "chat"]
        if index == 1:
            groups.append("canary")
        host_dir = config.HOSTS_DIR / name
        planned.append(
            HostState(
                name=name,
                address=link.address,
                gateway=link.gateway,
                netns=link.netns,
                veth=link.veth,
                root=str(host_dir / "root"),
                upper=str(host_dir / "upper"),
                work=str(host_dir / "work"),
                gpu=gpu,
                groups=tuple(groups),
            )
        )
    return planned


def healthy(current: ClusterState | None, n: int) -> bool:
    """True when `current` has exactly n hosts, all running (ours) and answering ssh."""
    if current is None or len(current.hosts) != n:
        return False
    if current.base != str(rootfs.base_path()):
        return False
    if not all(hosts.is_ours(h.pid, h.root) for h in current.hosts):
        return False
    return all(ssh.answers(h.address) for h in current.hosts)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise `up` and `down` across processes (two test sessions on one box)."""
    config.STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(config.STATE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(n: int) -> ClusterState:
    """Bring up n hosts and the mirror; reuse a healthy cluster of the same size."""
    require_root()
    with locked():
        return _up(n)


def _up(n: int) -> ClusterState:
    deps.ensure()
    current = state.load()
    if healthy(current, n):
        print(f"sandbox: reusing {n} running hosts", flush=True)
        current = ensure_mirror(current)
        state.save(current)
        return current
    teardown(current)
    base = rootfs.ensure_base()
    rootfs.remove_stale_bases()
    public_key = ssh.ensure_keypair()
    current = ensure_mirror(
        ClusterState(
            key=str(config.KEY_FILE), known_hosts=str(config.KNOWN_HOSTS_FILE), base=str(base)
        )
    )
    state.save(current)
    started, host_keys = [], {}
    for host in plan_hosts(n):
        network.create(network.allocate(int(host.name[len(config.HOST_PREFIX) :])))
        hosts.mount_overlay(host, base)
        host_keys[host.address] = hosts.personalise(host, public_key)
        started.append(host.with_pid(hosts.boot(host, config.HOSTS_DIR)))
        # saved after every host: a crash mid-way leaves a state file `down` can clean from
        current = ClusterState(**{**current.__dict__, "hosts": tuple(started)})
        state.save(current)
    ssh.write_known_hosts(host_keys)
    taken = ssh.wait([h.address for h in started])
    print(f"sandbox: {n} hosts answer ssh (slowest {max(taken.values()):.1f} s)", flush=True)
    hosts.settle([h.address for h in started])
    return current


def populate_mirror() -> None:
    """Put the stand-ins in the mirror tree (each step skips what is already current)."""
    # imported here: they need the venv (yaml, gpufleet), and `python3 -m sandbox down` must run
    # on the stdlib alone
    from sandbox.standins import apt as apt_standins
    from sandbox.standins import nvidia as nvidia_standins

    nvidia_standins.populate(config.MIRROR_ROOT)
    apt_standins.populate(config.MIRROR_ROOT)
    # torch/vLLM/xformers/Miniforge
    from sandbox.standins import wheels as python_standins

    python_standins.populate(config.MIRROR_ROOT)


def ensure_mirror(current: ClusterState) -> ClusterState:
    """Start the mirror unless ours is already running; populate its tree either way."""
    populate_mirror()
    if current.mirror and mirror.is_ours(current.mirror.pid):
        return current
    network.add_mirror_address()
    config.STATE_DIR.mkdir(parents=True, exist_ok=True)
    pid = mirror.start(
        config.MIRROR_ROOT,
        config.MIRROR_ADDRESS,
        config.MIRROR_PORT,
        config.MIRROR_LOG,
        config.STATE_DIR / "mirror.out",
    )
    info = MirrorState(
        url=f"http://{config.MIRROR_ADDRESS}:{config.MIRROR_PORT}",
        address=config.MIRROR_ADDRESS,
        port=config.MIRROR_PORT,
        root=str(config.MIRROR_ROOT),
        log=str(config.MIRROR_LOG),
        pid=pid,
    )
    return ClusterState(**{**current.__dict__, "mirror": info})


def teardown(current: ClusterState | None) -> None:
    """Stop and remove everything `up` made: from the state file, then any leftovers named
    like ours (a crashed run). Safe to run any number of times."""
    known = list(current.hosts) if current else []
    pids = [h.pid for h in known if hosts.is_ours(h.pid, h.root)]
    hosts.stop(sorted(set(pids) | set(hosts.stray_pids())))
    mirror_pids = [current.mirror.pid] if current and current.mirror else []
    mirror_pids = [p for p in mirror_pids if mirror.is_ours(p)] + mirror.stray_pids()
    hosts.stop(sorted(set(mirror_pids)), timeout=5)
    for mount in sorted(hosts.mount_points(), reverse=True):
        if mount.startswith(str(config.HOSTS_DIR) + "/"):
            hosts.unmount(mount)
    for host in known:
        network.delete(host.netns, host.veth)
    for veth in network.leftover_veths():
        network.delete("", veth)
    for netns in network.leftover_namespaces():
        network.delete(netns, "")
    network.remove_mirror_address()
    cgroups.remove()
    if config.HOSTS_DIR.exists():
        if any(m.startswith(str(config.HOSTS_DIR) + "/") for m in hosts.mount_points()):
            raise RuntimeError(f"still mounted under {config.HOSTS_DIR}; not deleting it")
        hosts.remove_dirs(config.HOSTS_DIR)
    state.remove()


def down() -> None:
    require_root()
    started = time.monotonic()
    with locked():
        teardown(state.load())
    print(f"sandbox: down ({time.monotonic() - started:.1f} s)", flush=True)


def status() -> int:
    """Print one line per host and the mirror; exit code 0 when everything is up."""
    current = state.load()
    if current is None:
        print("sandbox: down (no state file)")
        return 1
    ok = True
    for h in current.hosts:
        running = hosts.is_ours(h.pid, h.root)
        answers = running and ssh.answers(h.address)
        ok &= answers
        flag = "up" if answers else ("booting" if running else "DEAD")
        print(f"{h.name}  {h.address:<12} {flag:<8} {h.gpu:<22} {','.join(h.groups)}")
    m = current.mirror
    mirror_ok = bool(m and mirror.is_ours(m.pid))
    ok &= mirror_ok
    print(f"mirror {m.url if m else '-'} {'up' if mirror_ok else 'DEAD'}")
    return 0 if ok else 1


def require_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("sandbox: must run as root (mounts, network namespaces, nspawn)")
