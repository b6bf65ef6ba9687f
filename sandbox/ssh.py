"""SSH to sandbox hosts: the cluster key pair, known_hosts, and waiting for sshd to answer.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox import config


def keygen(key: Path, comment: str) -> str:
    """An ed25519 key pair at `key` (made once, no passphrase); returns the public key line."""
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)]
        subprocess.run(cmd, check=True)
    return key.with_suffix(".pub").read_text().strip()


def ensure_keypair(key: Path = config.KEY_FILE) -> str:
    """Create the cluster's root key once; returns the public key line."""
    return keygen(key, "gpufleet-sandbox")


def write_known_hosts(entries: dict[str, str], path: Path = config.KNOWN_HOSTS_FILE) -> None:
    """`entries`: address -> host public key line ("ssh-ed25519 AAAA... root@sbx01")."""
    lines = [f"{address} {key}" for address, key in sorted(entries.items())]
    path.write_text("\n".join(lines) + "\n")


def command(
    address: str,
    *remote: str,
    key: str | Path = config.KEY_FILE,
    known_hosts: str | Path = config.KNOWN_HOSTS_FILE,
    timeout: int = 5,
) -> list[str]:
    """argv for `ssh root@address REMOTE...`, strict host key checking against our known_hosts."""
    return [
        "ssh",
        "-i",
        str(key),
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"ConnectTimeout={timeout}",
        "-o",
        "LogLevel=ERROR",
        f"root@{address}",
        *remote,
    ]


def run(address: str, *remote: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command(address, *remote, **kwargs), capture_output=True, text=True)


def answers(address: str, **kwargs) -> bool:
    return run(address, "true", timeout=2, **kwargs).returncode == 0


def wait(addresses: list[str], timeout: float = config.SSH_WAIT_S) -> dict[str, float]:
    """Wait until each address answers ssh; returns seconds taken per address.

    Raises TimeoutError naming the hosts that never answered."""
    start = time.monotonic()

    def one(address: str) -> float | None:
        while time.monotonic() - start < timeout:
            if answers(address):
                return time.monotonic() - start
            time.sleep(0.3)
        return None

    with ThreadPoolExecutor(max_workers=max(1, len(addresses))) as pool:
        taken = dict(zip(addresses, pool.map(one, addresses), strict=True))
    late = [a for a, t in taken.items() if t is None]
    if late:
        raise TimeoutError(f"no ssh answer after {timeout:.0f} s from {', '.join(late)}")
    return taken  # type: ignore[return-value]
