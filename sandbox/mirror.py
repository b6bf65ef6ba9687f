"""The sandbox mirror: one threaded HTTP server serving sandbox/state/mirror/, laid out like the
upstream URLs (scheme and host dropped), so group data only swaps the base URL.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.

For whoever adds stand-in files (phase 2 and later):
    path_for_url("https://download.pytorch.org/whl/cu124/torch/x.whl")
        -> sandbox/state/mirror/whl/cu124/torch/x.whl
    add_file("https://pypi.org/simple/vllm/vllm-0.8.5.post1-....whl", data_or_path)
    add_file(".../x.whl.metadata", b"...")      # PEP 658: present for some wheels, not others
A directory without index.html is answered as a package index: a directory holding dist files
(.whl, .tar.gz, .zip) is a project page, any other an index root listing its sub-directories;
PEP 691 JSON when the Accept header asks for it, PEP 503 HTML otherwise. Files answer `Range`
(206/416). Every request is one JSON line in sandbox/state/mirror.log.jsonl:
    {"ts": 1.0, "client": "10.213.0.2", "method": "GET", "path": "/whl/...", "status": 206,
     "bytes": 65536, "range": "bytes=-65536"}
Run alone: python -m sandbox.mirror --root DIR --address 127.0.0.1 --port 8213 --log FILE
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sandbox import config
from sandbox.mirror_http import Handler

PING_PATH = "gpufleet-sandbox/ping.txt"
PING_TEXT = "gpufleet sandbox mirror ok\n"


def tree_root() -> Path:
    return config.MIRROR_ROOT


def path_for_url(url: str, root: Path | None = None) -> Path:
    """The tree path that serves `url` (its scheme and host replaced by the mirror's)."""
    path = unquote(urlsplit(url).path) if "://" in url else url
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    return (root or tree_root()).joinpath(*parts)


def add_file(url: str, content: bytes | str | Path, root: Path | None = None) -> Path:
    """Publish `content` (bytes, text, or a file to copy) at the mirror path of `url`."""
    target = path_for_url(url, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    if isinstance(content, Path):
        shutil.copyfile(content, tmp)
    else:
        tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    os.replace(tmp, target)
    return target


def ensure_tree(root: Path | None = None) -> Path:
    """Create the tree and its placeholder check file (what the e2e tests fetch)."""
    return add_file(PING_PATH, PING_TEXT, root)


def read_log(log: Path = config.MIRROR_LOG) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def bytes_served(log: Path = config.MIRROR_LOG, prefix: str = "/") -> int:
    """Body bytes served for paths under `prefix` (the benchmark sums this)."""
    return sum(r["bytes"] for r in read_log(log) if r["path"].startswith(prefix))


class Server:
    """The threaded server; `serve_forever()` blocks (run it in a thread for tests)."""

    def __init__(self, root: Path, address: str, port: int, log: Path | None):
        self.root = root
        self.log_path = log
        self.log_lock = threading.Lock()
        handler = type("BoundHandler", (Handler,), {"mirror": self})
        self.httpd = ThreadingHTTPServer((address, port), handler)
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def record(self, entry: dict) -> None:
        if self.log_path is None:
            return
        line = json.dumps(entry) + "\n"
        with self.log_lock, open(self.log_path, "a") as f:
            f.write(line)

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start(root: Path, address: str, port: int, log: Path, out: Path) -> int:
    """Start the mirror as a background process; returns its PID once it accepts connections."""
    with open(out, "ab") as f:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox.mirror",
                "--root",
                str(root),
                "--address",
                address,
                "--port",
                str(port),
                "--log",
                str(log),
            ],
            cwd=config.REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mirror exited with {proc.returncode}; see {out}")
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            return proc.pid
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"mirror did not listen on {address}:{port} within 10 s; see {out}")


def is_ours(pid: int | None, root: Path | None = None) -> bool:
    """True when `pid` is a live mirror process serving our tree (guards against PID reuse)."""
    if not pid:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return False
    return "sandbox.mirror" in argv and str(root or tree_root()) in argv


def stray_pids() -> list[int]:
    return [
        int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and is_ours(int(p.name))
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.mirror")
    parser.add_argument("--root", type=Path, default=tree_root())
    parser.add_argument("--address", default=config.MIRROR_ADDRESS)
    parser.add_argument("--port", type=int, default=config.MIRROR_PORT)
    parser.add_argument("--log", type=Path, default=config.MIRROR_LOG)
    args = parser.parse_args(argv)
    ensure_tree(args.root)
    server = Server(args.root.resolve(), args.address, args.port, args.log)
    print(f"mirror: serving {args.root} on http://{args.address}:{server.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
