"""The rollout's health gate: is a vLLM server serving, for real? Stdlib only.

Copied to each host and run there by the rollout (lab hosts are often reachable only over SSH,
so the check runs next to the server, on 127.0.0.1):

    python3 gpufleet_health.py --role embedding --port 8000 --model qwen3-embedding \\
        --timeout 600 --unit gpufleet-vllm-embedding --api-key-file /etc/gpufleet/api-key.env

Steps, in order, each must pass: GET /health answers 200 (retried until the timeout, failing
fast when systemd says the server exited), GET /v1/models lists the served model name, then one
real request: POST /v1/embeddings (a non-empty vector) or /v1/chat/completions (a non-empty
message). Prints one JSON line {"ok", "step", "error", "elapsed_s"}; exit 0 only when ok.
The API key is read from the root-only file and sent as a Bearer header; never printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any


class GateFailed(Exception):
    def __init__(self, step: str, error: str):
        super().__init__(f"{step}: {error}")
        self.step, self.error = step, error


def read_api_key(path: str | None) -> str | None:
    """The key from an EnvironmentFile-style file (`VLLM_API_KEY=...`), or None."""
    if not path:
        return None
    with open(path) as handle:
        for line in handle:
            key, _, value = line.strip().partition("=")
            if key == "VLLM_API_KEY":
                return value.strip().strip("'\"")
    raise GateFailed("api-key", f"{path} has no VLLM_API_KEY= line")


def request(url: str, body: dict | None, api_key: str | None, timeout: float) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:200]


def unit_state(unit: str | None) -> tuple[str, int]:
    """(ActiveState, NRestarts) from systemd; ("", 0) when not asked or not available."""
    if not unit:
        return "", 0
    out = subprocess.run(
        ["systemctl", "show", "-p", "ActiveState", "-p", "NRestarts", unit],
        capture_output=True,
        text=True,
    ).stdout
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return props.get("ActiveState", ""), int(props.get("NRestarts") or 0)


def wait_healthy(base: str, deadline: float, unit: str | None) -> None:
    _, restarts = unit_state(unit)
    last = "no answer"
    while time.monotonic() < deadline:
        active, now = unit_state(unit)
        if unit and (active == "failed" or now > restarts):
            raise GateFailed("health", f"{unit} exited while starting ({active}, {now} restarts)")
        try:
            status, _ = request(f"{base}/health", None, None, 5)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(1)
    raise GateFailed("health", f"not healthy before the timeout (last: {last})")


def probe(role: str, base: str, model: str, api_key: str | None) -> None:
    """/v1/models lists `model`, then one real request for the role answers sensibly."""
    status, body = request(f"{base}/v1/models", None, api_key, 30)
    if status != 200:
        raise GateFailed("models", f"HTTP {status}: {body}")
    names = [m.get("id") for m in (body or {}).get("data", [])]
    if model not in names:
        raise GateFailed("models", f"{model!r} not served (serving {names})")
    if role == "embedding":
        payload = {"model": model, "input": ["gpufleet health gate"]}
        status, body = request(f"{base}/v1/embeddings", payload, api_key, 60)
        vector = (body or {}).get("data", [{}])[0].get("embedding") if status == 200 else None
        if not vector:
            raise GateFailed("embeddings", f"HTTP {status}: {str(body)[:200]}")
        return
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": "Say OK."}],
        "max_tokens": 8,
    }
    status, body = request(f"{base}/v1/chat/completions", payload, api_key, 120)
    choices = (body or {}).get("choices") if status == 200 else None
    if not choices or not choices[0].get("message", {}).get("content"):
        raise GateFailed("chat", f"HTTP {status}: {str(body)[:200]}")


def gate(role: str, port: int, model: str, timeout: float, unit=None, api_key_file=None) -> dict:
    started = time.monotonic()
    base = f"http://127.0.0.1:{port}"
    try:
        api_key = read_api_key(api_key_file)
        wait_healthy(base, started + timeout, unit)
        probe(role, base, model, api_key)
    except GateFailed as exc:
        return {"ok": False, "step": exc.step, "error": exc.error, "elapsed_s": _since(started)}
    except OSError as exc:
        return {"ok": False, "step": "request", "error": str(exc), "elapsed_s": _since(started)}
    return {"ok": True, "step": "done", "error": None, "elapsed_s": _since(started)}


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="gpufleet health gate for one vLLM server")
    parser.add_argument("--role", choices=("embedding", "chat"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True, help="the served model name")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--unit", help="systemd unit: fail fast when it exits")
    parser.add_argument("--api-key-file", help="root-only file with VLLM_API_KEY=...")
    args = parser.parse_args(argv)
    result = gate(args.role, args.port, args.model, args.timeout, args.unit, args.api_key_file)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
