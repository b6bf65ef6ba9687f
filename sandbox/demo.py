"""`python -m sandbox.demo`: the end of `make demo` — the plan table, then one real request to
every server of every sandbox host (embeddings or chat, through the OpenAI API), from this box.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
Exit 1 when any request fails.
"""

import sys

import requests

from gpufleet.cli import main as gpufleet
from gpufleet.inventory import hosts
from gpufleet.serve import server_specs
from gpufleet.table import render_table

INVENTORY = "inventories/sandbox.py"


def request(address: str, role: str, port: int, model: str) -> str:
    """One OpenAI request to the server; a one-line summary of its answer."""
    base = f"http://{address}:{port}/v1"
    if role == "embedding":
        body = {"model": model, "input": "gpufleet demo"}
        answer = requests.post(f"{base}/embeddings", json=body, timeout=30)
        answer.raise_for_status()
        vector = answer.json()["data"][0]["embedding"]
        return f"/v1/embeddings: {len(vector)}-dim vector [{vector[0]:.4f}, ...]"
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello."}]}
    answer = requests.post(f"{base}/chat/completions", json=body, timeout=60)
    answer.raise_for_status()
    text = answer.json()["choices"][0]["message"]["content"]
    return f"/v1/chat/completions: {text[:60]!r}"


def main() -> int:
    print("$ gpufleet plan inventories/sandbox.py")
    gpufleet(["plan", INVENTORY])
    rows, failed = [], 0
    for name, get in hosts(INVENTORY):
        for spec in server_specs(name, get):
            try:
                result = request(
                    get("ssh_hostname", None), spec.role, spec.port, spec.served_model_name
                )
            except (requests.RequestException, KeyError, IndexError, ValueError) as exc:
                result, failed = f"FAILED: {exc}", failed + 1
            rows.append((name, spec.unit, f"{spec.served_model_name}:{spec.port}", result))
    print("\n" + render_table(rows, ("host", "service", "model:port", "request")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
