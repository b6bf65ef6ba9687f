"""The health gate (gpufleet/health.py) against the stand-in vLLM server, run locally.

The stand-in package is assembled in a tmp dir from sandbox/standins/vllm_pkg (cli.py,
entrypoints/) with a test-only vllm/__init__.py that only sets __version__ (the real stand-in
__init__ checks the torch build, which is the Python stack's business, not the gate's).
"""

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.version import Version

from gpufleet import health

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / "sandbox" / "standins" / "vllm_pkg" / "vllm"
KEY = "sk-test-not-a-secret"


def _package(tmp_path: Path, version: str) -> Path:
    root = tmp_path / f"pkg-{version}"
    if root.exists():
        return root
    (root / "vllm").mkdir(parents=True)
    shutil.copy(STANDIN / "cli.py", root / "vllm" / "cli.py")
    shutil.copytree(STANDIN / "entrypoints", root / "vllm" / "entrypoints")
    (root / "vllm" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    return root


def _model(tmp_path: Path, fail: bool = False) -> Path:
    model = tmp_path / ("bad-model" if fail else "model")
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 16)
    if fail:
        (model / "GPUFLEET_STANDIN_FAIL").write_text("")
    return model


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(tmp_path, version, *args, **kwargs):
    env = {"PYTHONPATH": str(_package(tmp_path, version)), "GPUFLEET_STANDIN_STARTUP_S": "0.2"}
    cmd = [sys.executable, "-m", "vllm.cli", "serve", *args]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs
    )


@pytest.fixture
def server(tmp_path):
    procs = []

    def start(version, role, *extra):
        port = _port()
        flags = {"embedding": ["--task", "embed"], "chat": []}[role]
        if Version(version) >= Version("0.13") and role == "embedding":
            flags = ["--runner", "pooling", "--convert", "embed"]
        proc = _serve(
            tmp_path,
            version,
            str(_model(tmp_path)),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--served-model-name",
            "m",
            *flags,
            *extra,
        )
        procs.append(proc)
        return port

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def test_embedding_gate_passes_on_old_flags(server):
    port = server("0.8.5.post1", "embedding")
    result = health.gate("embedding", port, "m", timeout=20)
    assert result["ok"], result


def test_chat_gate_passes_with_api_key_file(server, tmp_path):
    port = server("0.19.1", "chat", "--api-key", KEY)
    key_file = tmp_path / "api-key.env"
    key_file.write_text(f"VLLM_API_KEY={KEY}\n")
    assert health.gate("chat", port, "m", timeout=20, api_key_file=str(key_file))["ok"]
    # without the key the gate fails at /v1/models with 401: the key is really checked
    result = health.gate("chat", port, "m", timeout=20)
    assert (result["ok"], result["step"]) == (False, "models") and "401" in result["error"]


def test_gate_fails_when_the_role_does_not_match_the_server(server):
    port = server("0.19.1", "embedding")
    result = health.gate("chat", port, "m", timeout=20)
    assert (result["ok"], result["step"]) == (False, "chat")
    assert "does not support" in result["error"]


def test_gate_fails_on_a_wrong_served_model_name(server):
    port = server("0.19.1", "chat")
    result = health.gate("chat", port, "other", timeout=20)
    assert (result["ok"], result["step"]) == (False, "models")


def test_gate_times_out_when_nothing_listens():
    started = time.monotonic()
    result = health.gate("chat", _port(), "m", timeout=2)
    assert (result["ok"], result["step"]) == (False, "health")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("version", "flags", "unknown"),
    [
        ("0.19.1", ["--task", "embed"], "--task"),  # removed in 0.13.0
        ("0.8.5.post1", ["--runner", "pooling"], "--runner"),  # added in 0.10.1
    ],
)
def test_standin_rejects_flags_its_version_does_not_know(tmp_path, version, flags, unknown):
    proc = _serve(tmp_path, version, str(_model(tmp_path)), *flags)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert f"unrecognized arguments: {unknown}" in out.decode()


def test_standin_fail_marker_and_missing_config_fail_startup(tmp_path):
    proc = _serve(tmp_path, "0.19.1", str(_model(tmp_path, fail=True)), "--port", str(_port()))
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "GPUFLEET_STANDIN_FAIL" in out.decode()
    proc = _serve(tmp_path, "0.19.1", str(tmp_path / "nowhere"), "--port", str(_port()))
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "config.json" in out.decode()


def test_api_server_module_entry_and_openai_shapes(tmp_path):
    port = _port()
    env = {"PYTHONPATH": str(_package(tmp_path, "0.6.0")), "GPUFLEET_STANDIN_STARTUP_S": "0"}
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(_model(tmp_path)),
        "--port",
        str(port),
        "--served-model-name",
        "m",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        health.wait_healthy(base, time.monotonic() + 20, None)
        status, body = health.request(
            f"{base}/v1/completions", {"model": "m", "prompt": "hi there"}, None, 5
        )
        assert status == 200 and body["object"] == "text_completion"
        assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 6, "total_tokens": 8}
        again = health.request(
            f"{base}/v1/completions", {"model": "m", "prompt": "hi there"}, None, 5
        )
        assert again[1]["choices"][0]["text"] == body["choices"][0]["text"]  # deterministic
    finally:
        proc.terminate()
        proc.wait(10)


def test_main_prints_one_json_line(capsys):
    assert (
        health.main(["--role", "chat", "--port", str(_port()), "--model", "m", "--timeout", "1"])
        == 1
    )
    assert json.loads(capsys.readouterr().out)["ok"] is False
