"""The gateway on a sandbox cluster of its own (id 4: 4 serving hosts + sbx05 as `gateway`):
real HAProxy from Debian's .debs, one front per role, the API key checked at the front, the
config validated before a reload, a re-run and `--dry` changing nothing.

The default e2e cluster (3 hosts, no gateway) is never touched. The helpers here also set up
tests/e2e/test_rollout_under_load.py: envs are stand-ins made by tests/e2e/test_services.py's
helpers (the rollout is under test, not the env build).
"""

import ipaddress
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gpufleet.drain import admin_command
from sandbox import state as sandbox_state
from sandbox import treesum
from tests.e2e.helpers import REPO, grand_total, on_host, pyinfra
from tests.e2e.test_services import ENVS, KEY_FILE, SECRET, _make_env, _model

# Its own cluster, so the default one (3 hosts) is unaffected. A session pointed at another
# cluster (GPUFLEET_SANDBOX_ID=N, e.g. a colleague's) skips these tests rather than take it over.
CLUSTER_ID = os.environ.get("GPUFLEET_GATEWAY_SANDBOX_ID", "4")
OTHER_SESSION = os.environ.get("GPUFLEET_SANDBOX_ID", "0") not in ("0", CLUSTER_ID)
HOSTS = 5  # the last one is the gateway (inventories/sandbox.py)
ENV = {**os.environ, "GPUFLEET_SANDBOX_ID": CLUSTER_ID}
STATE_FILE = REPO / "sandbox" / f"state{CLUSTER_ID}" / "state.json"
OLD = "0.8.5.post1"
PORTS = {"embedding": 9000, "chat": 9001}  # group_data/gateway.py
MODELS = {"embedding": "qwen3-embedding", "chat": "chat"}
SOCKET = "/run/haproxy/admin.sock"


# Policy routing that lets this cluster's hosts reach each other (see link_hosts).
ROUTE_TABLE = RULE_PRIORITY = str(2130 + int(CLUSTER_ID))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def link_hosts(cluster) -> None:
    """Test infrastructure: the sandbox keeps its hosts apart, but a gateway must reach its
    upstreams. Forward packets that come in on one of this cluster's veths to another host of
    the cluster, and nowhere else: a routing table with only those /30s and an `unreachable
    default`, used (ip rule iif) for packets from those veths only; the box's own addresses
    (the mirror) are still matched first by the local table."""
    unlink_hosts()
    for host in cluster.hosts:
        net = ipaddress.ip_interface(f"{host.address}/30").network
        _ip("route", "add", str(net), "dev", host.veth, "table", ROUTE_TABLE)
    _ip("route", "add", "unreachable", "default", "table", ROUTE_TABLE)
    for host in cluster.hosts:
        _ip("rule", "add", "iif", host.veth, "lookup", ROUTE_TABLE, "priority", RULE_PRIORITY)
        Path(f"/proc/sys/net/ipv4/conf/{host.veth}/forwarding").write_text("1\n")


def unlink_hosts() -> None:
    """Undo link_hosts (the veths' forwarding flags go with the veths at `down`)."""
    while _ip("rule", "del", "priority", RULE_PRIORITY, check=False).returncode == 0:
        pass
    _ip("route", "flush", "table", ROUTE_TABLE, check=False)


def sandbox(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=ENV, check=True)


def inventory(tmp: Path, versions: dict[str, str]) -> str:
    """inventories/sandbox.py with `vllm_version` per GPU group (the GPUs share no new
    release: vLLM >= 0.11 has no Pascal build, V100 needs a torch build with sm_70)."""
    path = tmp / f"inventory-{'-'.join(versions.values())}.py"
    path.write_text(
        "import runpy\n"
        f"_base = runpy.run_path({str(REPO / 'inventories' / 'sandbox.py')!r})\n"
        f"_versions = {versions!r}\n"
        "v100 = [(n, {**d, 'vllm_version': _versions['v100']}) for n, d in _base['v100']]\n"
        "p40 = [(n, {**d, 'vllm_version': _versions['p40']}) for n, d in _base['p40']]\n"
        "embedding, chat, canary, gateway = (_base[g] for g in "
        "('embedding', 'chat', 'canary', 'gateway'))\n"
    )
    return str(path)


def data(models: tuple[Path, Path], **extra: str) -> list[str]:
    common = {"gpus": "0", "tensor_parallel_size": 1, "max_model_len": 512}
    servers = {}
    for role, model in zip(("embedding", "chat"), models, strict=True):
        servers[f"{role}_server"] = json.dumps(
            {
                "name": role,
                "served_model_name": MODELS[role],
                "model_source": str(model),
                "model_path": f"/opt/models/soak-{role}",
                **common,
            }
        )
    values = {
        **servers,
        "api_key_file": KEY_FILE,
        "gateway_api_key_file": KEY_FILE,
        "health_timeout_s": "60",
        "drain_timeout_s": "30",
        "envs_dir": ENVS,
        **extra,
    }
    return [arg for key, value in values.items() for arg in ("--data", f"{key}={value}")]


def run(*args: str) -> subprocess.CompletedProcess:
    return pyinfra(*args, env=ENV)


def servers(cluster) -> list:
    return [h for h in cluster.hosts if h.name != cluster.hosts[-1].name]


def gateway(cluster):
    return cluster.hosts[-1]


def ask(
    cluster, role: str, key: str | None = SECRET, timeout: float = 30, stream_tokens: int = 0
) -> int | str:
    """One request through the gateway's front for `role`: the HTTP status, or "truncated
    stream" when a streamed chat answer ends without `data: [DONE]`."""
    if role == "embedding":
        path, body = "/v1/embeddings", {"model": MODELS[role], "input": "soak"}
        stream_tokens = 0
    else:
        path = "/v1/chat/completions"
        body = {"model": MODELS[role], "messages": [{"role": "user", "content": "hi"}]}
        if stream_tokens:
            body.update(stream=True, max_tokens=stream_tokens)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = f"http://{gateway(cluster).address}:{PORTS[role]}{path}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = response.read()
            if stream_tokens and b"data: [DONE]" not in answer:
                return "truncated stream"
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def haproxy_stat(cluster) -> str:
    """`show stat` from the gateway's admin socket, the way the rollout reads it."""
    return on_host(cluster, gateway(cluster), admin_command(SOCKET, "show stat")).stdout


def all_up(cluster) -> bool:
    rows = [r.split(",") for r in haproxy_stat(cluster).splitlines() if r and r[0] != "#"]
    status = [r[17] for r in rows if r[1] not in ("FRONTEND", "BACKEND")]
    return len(status) == len(servers(cluster)) and all(s == "UP" for s in status)


def wait_all_up(cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not all_up(cluster):
        assert time.monotonic() < deadline, haproxy_stat(cluster)
        time.sleep(0.5)


def setup_cluster(tmp: Path, versions: list[str]):
    """Cluster id 4 up, stand-in envs for each of `versions` ({gpu: version} dicts, OLD
    included), the key file, the gateway, then every server on OLD behind it."""
    sandbox("up", str(HOSTS))
    cluster = sandbox_state.load(STATE_FILE)
    assert cluster is not None and len(cluster.hosts) == HOSTS
    link_hosts(cluster)
    models = (_model(tmp, "soak-embed"), _model(tmp, "soak-chat"))
    for host in cluster.hosts:
        key = f"umask 077; mkdir -p /etc/gpufleet; echo VLLM_API_KEY={SECRET} > {KEY_FILE}"
        assert on_host(cluster, host, key).returncode == 0
    for host in servers(cluster):
        for by_gpu in versions:
            _make_env(cluster, host, by_gpu[host.gpu])
    inv = inventory(tmp, {"v100": OLD, "p40": OLD})
    result = run("-y", inv, "tasks/gateway.py", *data(models))
    assert result.returncode == 0, result.stdout[-4000:]
    result = run("-y", inv, "tasks/services.py", *data(models))
    assert result.returncode == 0, result.stdout[-4000:]
    wait_all_up(cluster)
    return cluster, models, inv


def teardown_cluster() -> None:
    if os.environ.get("GPUFLEET_KEEP_SANDBOX") != "1":
        unlink_hosts()
        sandbox("down")


def skip_other_sessions() -> None:
    if OTHER_SESSION:
        pytest.skip(f"the gateway cluster is id {CLUSTER_ID}; this session uses another id")


@pytest.fixture(scope="module")
def gateway_cluster(tmp_path_factory):
    skip_other_sessions()
    tmp = tmp_path_factory.mktemp("gateway")
    yield setup_cluster(tmp, [{"Tesla V100-SXM2-32GB": OLD, "Tesla P40": OLD}])
    teardown_cluster()


def test_each_role_is_served_through_its_front(gateway_cluster):
    cluster, _, _ = gateway_cluster
    for role in PORTS:
        assert ask(cluster, role) == 200, role
    config = on_host(cluster, gateway(cluster), "cat /etc/haproxy/haproxy.cfg").stdout
    for host in servers(cluster):
        role = "embedding" if "embedding" in host.groups else "chat"
        assert f"server {host.name}-{role} {host.address}:" in config


def test_the_front_checks_the_api_key_and_never_holds_it(gateway_cluster):
    cluster, _, _ = gateway_cluster
    assert ask(cluster, "embedding", key=None) == 401
    assert ask(cluster, "chat", key="sk-wrong") == 401
    files = on_host(
        cluster, gateway(cluster), "cat /etc/haproxy/haproxy.cfg /etc/systemd/system/haproxy*/*"
    )
    assert SECRET not in files.stdout and "${VLLM_API_KEY}" in files.stdout


def test_rerun_and_dry_change_nothing(gateway_cluster):
    cluster, models, inv = gateway_cluster
    upper = Path(gateway(cluster).upper)
    before = treesum.entries(upper / "etc")
    again = run("-y", inv, "tasks/gateway.py", *data(models))
    assert again.returncode == 0, again.stdout[-3000:]
    assert grand_total(again.stdout)["success"] == "-", again.stdout[-3000:]
    port = ("--data", "gateway_chat_port=9002")
    dry = run("--dry", "--diff", inv, "tasks/gateway.py", *data(models), *port)
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "Will modify /etc/haproxy/haproxy.cfg" in dry.stdout and ":9002" in dry.stdout
    assert treesum.entries(upper / "etc") == before
    assert SECRET not in again.stdout + dry.stdout


def test_an_invalid_config_is_refused_and_the_old_one_keeps_serving(gateway_cluster):
    cluster, models, inv = gateway_cluster
    before = on_host(cluster, gateway(cluster), "sha1sum /etc/haproxy/haproxy.cfg").stdout
    bad = run("-y", inv, "tasks/gateway.py", *data(models), "--data", "gateway_bind=256.0.0.1")
    assert bad.returncode != 0
    assert on_host(cluster, gateway(cluster), "sha1sum /etc/haproxy/haproxy.cfg").stdout == before
    leftover = on_host(cluster, gateway(cluster), "ls /etc/haproxy").stdout
    assert "gpufleet-new" not in leftover
    assert ask(cluster, "embedding") == 200
