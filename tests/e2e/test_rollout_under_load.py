"""Soak: a fleet-wide vLLM upgrade under steady load through the gateway, zero failed requests.

Sandbox cluster id 4 (tests/e2e/test_gateway.py's helpers): sbx01-04 serve (embedding on the
V100 hosts, chat on the P40 hosts), sbx05 is the gateway. A bounded load generator (threads,
a fixed request rate, stopped 2 s after the rollout or at MAX_LOAD_S, only to the gateway's
sandbox address) sends embeddings and chat requests through the gateway while
`tasks/services.py` rolls a new vLLM version across every host (each drained first), then
while a second version fails its gate on one host (rolled back, rollout stopped).
`make soak` runs this file and prints the figures (requests sent, failed, p99 latency).
"""

import base64
import ipaddress
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.e2e.helpers import on_host
from tests.e2e.test_gateway import (
    CLUSTER_ID,
    OLD,
    ask,
    data,
    gateway,
    inventory,
    run,
    servers,
    setup_cluster,
    skip_other_sessions,
    teardown_cluster,
    wait_all_up,
)
from tests.e2e.test_services import _current, _env_name, _make_env

V100, P40 = "Tesla V100-SXM2-32GB", "Tesla P40"
# No release runs on both GPUs after 0.8.5.post1: each GPU group gets its own new version.
NEW = {V100: "0.11.0", P40: "0.9.2"}
NEWER = {V100: "0.19.1", P40: "0.10.0"}
RATE = 20  # requests per second, embedding and chat alternating
# chat answers stream this many tokens (~2 ms each in the stand-in): a few are always in flight,
# so a server restarted without draining would cut them off mid-stream
STREAM_TOKENS = 150
MAX_LOAD_S = 150  # the load never runs longer than this, whatever the rollout does
BROKEN = (  # what a vLLM wheel built against another torch build does at import (DESIGN.md)
    "#!/bin/sh\n"
    "echo 'ImportError: vllm/_C.abi3.so: undefined symbol: "
    "_ZN5torch3jit17parseSchemaOrNameERKSsb' >&2\n"
    "exit 1\n"
)


@dataclass(frozen=True)
class Sample:
    role: str
    started: float  # time.monotonic()
    latency_s: float
    status: int | str  # HTTP status, or the connection error


class Load:
    """RATE requests/s through the gateway from a thread, until stop() or MAX_LOAD_S."""

    def __init__(self, cluster):
        self.cluster = cluster
        address = ipaddress.ip_address(gateway(cluster).address)
        assert address in ipaddress.ip_network(f"10.{213 + int(CLUSTER_ID)}.0.0/24")
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _one(self, role: str) -> Sample:
        started = time.monotonic()
        try:
            status = ask(self.cluster, role, timeout=30, stream_tokens=STREAM_TOKENS)
        except (urllib.error.URLError, OSError) as exc:
            status = f"{type(exc).__name__}: {exc}"
        return Sample(role, started, time.monotonic() - started, status)

    def _run(self) -> None:
        start, sent = time.monotonic(), 0
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = []
            while not self._stop.is_set() and time.monotonic() - start < MAX_LOAD_S:
                futures.append(pool.submit(self._one, ("embedding", "chat")[sent % 2]))
                sent += 1
                time.sleep(max(0.0, start + sent / RATE - time.monotonic()))
            self.samples = [f.result() for f in futures]


def figures(name: str, samples: list[Sample], window: tuple[float, float]) -> dict:
    during = [s for s in samples if window[0] <= s.started <= window[1]]
    latencies = sorted(s.latency_s for s in during)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    failed = [s for s in samples if s.status != 200]
    result = {
        "scenario": name,
        "sent": len(samples),
        "failed": len(failed),
        "during_rollout": len(during),
        "p99_ms": round(p99 * 1000, 1),
        "rollout_s": round(window[1] - window[0], 1),
    }
    print(
        f"\nSOAK {name}: requests sent {result['sent']} (during the rollout "
        f"{result['during_rollout']}, {result['rollout_s']} s), failed {result['failed']}, "
        f"p99 latency during the rollout {result['p99_ms']} ms",
        flush=True,
    )
    for sample in failed[:5]:
        print(f"SOAK {name}: failed {sample}", flush=True)
    return result


def roll_under_load(cluster, models, inv: str):
    wait_all_up(cluster)
    with Load(cluster) as load:
        time.sleep(2)
        began = time.monotonic()
        result = run("-y", inv, "tasks/services.py", *data(models))
        ended = time.monotonic()
        time.sleep(2)
    return result, load.samples, (began, ended)


def by_gpu(host, versions: dict[str, str]) -> str:
    return _env_name(host.gpu, versions[host.gpu])


def role(host) -> str:
    return "embedding" if "embedding" in host.groups else "chat"


@pytest.fixture(scope="module")
def soak_cluster(tmp_path_factory):
    skip_other_sessions()
    tmp = tmp_path_factory.mktemp("soak")
    old = {V100: OLD, P40: OLD}
    cluster, models, _ = setup_cluster(tmp, [old, NEW, NEWER])
    yield cluster, models, tmp
    teardown_cluster()


def test_soak_rollout_under_load_drops_nothing(soak_cluster):
    cluster, models, tmp = soak_cluster
    inv = inventory(tmp, {"v100": NEW[V100], "p40": NEW[P40]})
    result, samples, window = roll_under_load(cluster, models, inv)
    assert result.returncode == 0, result.stdout[-4000:]
    numbers = figures("new version on every host", samples, window)
    assert numbers["during_rollout"] >= RATE * 5  # the rollout really ran under load
    assert numbers["failed"] == 0
    for host in servers(cluster):
        assert _current(cluster, host, role(host)) == by_gpu(host, NEW), host.name
        assert f"drained {role(host)}/{host.name}-{role(host)}" in result.stdout
        assert f"{role(host)}/{host.name}-{role(host)} back in the balancer" in result.stdout
    wait_all_up(cluster, timeout=10)


def test_soak_failed_gate_rolls_back_and_stops_under_load(soak_cluster):
    """NEWER is broken on both chat hosts (the import error of a vLLM built against another
    torch build): whichever rolls first fails its gate and goes back, the other is never
    switched (hosts roll in no fixed order, so one broken host could be the last)."""
    cluster, models, tmp = soak_cluster
    broken_hosts = [h for h in servers(cluster) if role(h) == "chat"]
    for host in broken_hosts:
        env = _make_env(cluster, host, NEWER[host.gpu])
        script = base64.b64encode(BROKEN.encode()).decode()
        broken = on_host(cluster, host, f"echo {script} | base64 -d > {env}/bin/vllm")
        assert broken.returncode == 0, broken.stderr
    before = {h.name: _current(cluster, h, role(h)) for h in servers(cluster)}
    inv = inventory(tmp, {"v100": NEWER[V100], "p40": NEWER[P40]})
    result, samples, window = roll_under_load(cluster, models, inv)
    assert result.returncode != 0
    numbers = figures("new version failing its gate on one host", samples, window)
    assert numbers["failed"] == 0
    # pyinfra 3 generates each host's commands when it runs, so the last summary is complete
    summary = result.stdout.rsplit("(rolled: ", 1)[1].split(")")[0]
    lists = dict(part.split(": ") for part in f"rolled: {summary}".split("; "))
    rolled_back, untouched = lists["rolled back"].split(", "), lists["untouched"].split(", ")
    failed = [h.name for h in broken_hosts if h.name in rolled_back]
    assert len(rolled_back) == 1 and len(failed) == 1, summary
    other = next(h.name for h in broken_hosts if h.name != failed[0])
    assert other in untouched, summary  # the rollout stopped before the other broken host
    assert f"[{other}] gpufleet-vllm-chat not switched: {failed[0]} failed" in result.stdout
    assert "failed its health gate" in result.stdout and "healthy again" in result.stdout
    assert "parseSchemaOrName" in result.stdout
    for host in servers(cluster):
        now = _current(cluster, host, role(host))
        if host.name in rolled_back or host.name in untouched:
            assert now == before[host.name], host.name
        else:
            assert now == by_gpu(host, NEWER), host.name
    wait_all_up(cluster, timeout=10)
