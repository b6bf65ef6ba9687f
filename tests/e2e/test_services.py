"""Serving on the sandbox (real systemd): fresh rollout, one-host upgrade, a failing new
version rolled back, --dry --diff, the API key kept secret, systemd-analyze security.

Envs are test stand-ins made here (stamped dirs whose bin/vllm runs the stand-in server of
sandbox/standins/vllm_pkg with the host's python3): the rollout is under test, not the env
build (tests/e2e/test_stack.py covers that). Models are synced from tmp dirs on this machine.
"""

import base64
import io
import json
import tarfile
import urllib.request
from pathlib import Path

import pytest

from gpufleet.compat import Pins
from gpufleet.plan import plan_gpu
from sandbox import treesum
from tests.e2e.helpers import INVENTORY, REPO, on_host, pyinfra

STANDIN = REPO / "sandbox" / "standins" / "vllm_pkg" / "vllm"
ENVS = "/opt/gpufleet/e2e-services-envs"  # apart from the real envs other e2e tests build
KEY_FILE = "/etc/gpufleet/test-api-key.env"
OLD = "0.8.5.post1"  # every sandbox GPU has a stack for it
NEW = {"Tesla V100-SXM2-32GB": "0.19.1", "Tesla P40": "0.10.0"}  # the newest each runs
SECRET = "sk-gpufleet-e2e-0d6c1f3b9a7e4c52"  # fixed: a rotated key needs a restart (README)


def _env_name(gpu: str, vllm: str) -> str:
    return plan_gpu(gpu, Pins(vllm=vllm, python="3.11")).stack.env_name


def _standin_tar(version: str) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(STANDIN / "cli.py", "lib/vllm/cli.py")
        tar.add(STANDIN / "entrypoints", "lib/vllm/entrypoints")
        init = f"__version__ = {version!r}\n".encode()
        info = tarfile.TarInfo("lib/vllm/__init__.py")
        info.size = len(init)
        tar.addfile(info, io.BytesIO(init))
    return base64.b64encode(buf.getvalue()).decode()


def _make_env(cluster, host, version: str) -> str:
    env = f"{ENVS}/{_env_name(host.gpu, version)}"
    script = (
        f"set -e; rm -rf {env}; mkdir -p {env}/bin; cd {env}; "
        f"echo {_standin_tar(version)} | base64 -d | tar xz; "
        f"printf '#!/bin/sh\\nPYTHONPATH={env}/lib exec /usr/bin/python3 -m vllm.cli \"$@\"\\n'"
        f" > bin/vllm; chmod -R a+rX . ; chmod 755 bin/vllm; echo '{{}}' > .gpufleet-stamp.json"
    )
    result = on_host(cluster, host, script)
    assert result.returncode == 0, result.stderr
    return env


def _model(tmp_path, name: str, fail: bool = False):
    model = tmp_path / name
    model.mkdir()
    config = {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4}
    (model / "config.json").write_text(json.dumps(config))
    (model / "model.safetensors").write_bytes(name.encode() * 100)
    if fail:
        (model / "GPUFLEET_STANDIN_FAIL").write_text("test hook\n")
    return model


def _data(embed_model, chat_model, vllm: str) -> list[str]:
    common = {"gpus": "0", "tensor_parallel_size": 1, "max_model_len": 512}
    embed = {**common, "model_source": str(embed_model), "model_path": "/opt/models/test-embed"}
    chat = {**common, "model_source": str(chat_model), "model_path": "/opt/models/test-chat"}
    data = {
        "vllm_version": vllm,
        "embedding_server": json.dumps(
            {"name": "embedding", "served_model_name": "qwen3-embedding", **embed}
        ),
        "chat_server": json.dumps({"name": "chat", "served_model_name": "chat", **chat}),
        "api_key_file": KEY_FILE,
        "health_timeout_s": "60",
        "envs_dir": ENVS,
    }
    return [arg for key, value in data.items() for arg in ("--data", f"{key}={value}")]


def _ask(host, port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://{host.address}:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _serves(host, role: str) -> bool:
    if role == "embedding":
        answer = _ask(host, 8000, "/v1/embeddings", {"model": "qwen3-embedding", "input": "hi"})
        return len(answer["data"][0]["embedding"]) > 0
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    return bool(_ask(host, 8001, "/v1/chat/completions", body)["choices"][0]["message"]["content"])


def _owned(host) -> dict:
    """Checksums of what the services task writes on `host` (other e2e tests may be building
    envs on the shared cluster meanwhile, so the whole upper dir is not stable here)."""
    paths = ("etc/systemd/system", "etc/gpufleet", "opt/gpufleet/services", "opt/models", ENVS[1:])
    return {p: treesum.entries(Path(host.upper) / p) for p in paths}


def _roles(host) -> list[str]:
    return [g for g in ("embedding", "chat") if g in host.groups]


def _current(cluster, host, service: str) -> str:
    link = f"/opt/gpufleet/services/{service}/current"
    return on_host(cluster, host, f"readlink {link}").stdout.strip().rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def served(sandbox_cluster, tmp_path_factory):
    """Every host rolled out on OLD, with envs for OLD and NEW ready on every host."""
    tmp = tmp_path_factory.mktemp("models")
    models = (_model(tmp, "embed-v1"), _model(tmp, "chat-v1"))
    for host in sandbox_cluster.hosts:
        _make_env(sandbox_cluster, host, OLD)
        _make_env(sandbox_cluster, host, NEW[host.gpu])
        key = (  # a rotated key takes a restart, as for the operator (README "Serving")
            f"umask 077; mkdir -p /etc/gpufleet; echo VLLM_API_KEY={SECRET} > {KEY_FILE}; "
            "systemctl try-restart 'gpufleet-vllm-*'"
        )
        assert on_host(sandbox_cluster, host, key).returncode == 0
    result = pyinfra("-y", INVENTORY, "tasks/services.py", *_data(*models, OLD))
    assert result.returncode == 0, result.stdout[-4000:]
    assert SECRET not in result.stdout
    return sandbox_cluster, models, tmp, result.stdout


def test_fresh_rollout_serves_embeddings_and_chat(served):
    cluster, _, _, _ = served
    for host in cluster.hosts:
        for role in _roles(host):
            assert _serves(host, role), (host.name, role)
            assert _current(cluster, host, role) == _env_name(host.gpu, OLD)


def test_rerun_changes_nothing_and_the_key_stays_out_of_units(served):
    cluster, models, _, _ = served
    again = pyinfra("-y", INVENTORY, "tasks/services.py", *_data(*models, OLD))
    assert again.returncode == 0, again.stdout[-3000:]
    assert "Roll out" in again.stdout and SECRET not in again.stdout
    assert "No changes" in again.stdout or "Success" not in again.stdout.split("Results")[-1]
    for host in cluster.hosts:
        units = on_host(
            cluster,
            host,
            "cat /etc/systemd/system/gpufleet-vllm-*.service /etc/gpufleet/vllm-*.env",
        )
        assert SECRET not in units.stdout and "EnvironmentFile=" + KEY_FILE in units.stdout
        ps = on_host(cluster, host, "ps -eo args")
        assert SECRET not in ps.stdout


def test_dry_diff_shows_the_upgrade_and_changes_nothing(served):
    cluster, models, _, _ = served
    target = cluster.hosts[-1]
    before = _owned(target)
    dry = pyinfra(
        "--dry",
        "--diff",
        "--limit",
        target.name,
        INVENTORY,
        "tasks/services.py",
        *_data(*models, NEW[target.gpu]),
    )
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert (
        f"env {_env_name(target.gpu, OLD)} -> {_env_name(target.gpu, NEW[target.gpu])}"
        in dry.stdout
    )
    assert "Will modify /etc/systemd/system/gpufleet-vllm-" in dry.stdout
    assert SECRET not in dry.stdout
    assert _owned(target) == before


def test_limit_upgrades_only_that_host(served):
    cluster, models, _, _ = served
    target, others = cluster.hosts[-1], cluster.hosts[:-1]
    result = pyinfra(
        "-y",
        "--limit",
        target.name,
        INVENTORY,
        "tasks/services.py",
        *_data(*models, NEW[target.gpu]),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    for role in _roles(target):
        assert _current(cluster, target, role) == _env_name(target.gpu, NEW[target.gpu])
        assert _serves(target, role)
    for host in others:
        for role in _roles(host):
            assert _current(cluster, host, role) == _env_name(host.gpu, OLD)


def test_failing_new_version_is_rolled_back_and_stops_the_rollout(served):
    """A retrained model whose server fails at startup: the canary fails its gate, goes back
    to the model and env it had, and no other host is switched."""
    cluster, _, tmp, _ = served
    broken = (_model(tmp, "embed-v2-broken", fail=True), _model(tmp, "chat-v2-broken", fail=True))
    before = {h.name: {r: _current(cluster, h, r) for r in _roles(h)} for h in cluster.hosts}
    result = pyinfra("-y", INVENTORY, "tasks/services.py", *_data(*broken, OLD))
    assert result.returncode != 0
    first = cluster.hosts[0]  # the canary host goes first
    assert f"{first.name}" in result.stdout and "failed its health gate" in result.stdout
    assert "healthy again" in result.stdout and "GPUFLEET_STANDIN_FAIL" in result.stdout
    assert SECRET not in result.stdout
    for host in cluster.hosts:
        for role in _roles(host):
            assert _current(cluster, host, role) == before[host.name][role]
            assert _serves(host, role), (host.name, role)


def test_unit_is_hardened_and_verifies(served):
    cluster, _, _, _ = served
    host = cluster.hosts[0]
    unit = "/etc/systemd/system/gpufleet-vllm-embedding.service"
    verify = on_host(cluster, host, f"systemd-analyze verify {unit} 2>&1")
    assert verify.returncode == 0 and "gpufleet-vllm" not in verify.stdout, verify.stdout
    score = on_host(cluster, host, f"systemd-analyze security --offline=true {unit} 2>&1 | tail -1")
    exposure = float(score.stdout.split("exposure level for")[-1].split(":")[1].split()[0])
    assert exposure <= 3.0, score.stdout
