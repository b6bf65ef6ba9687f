"""A checksum of a host's overlay upper dir: proves a run changed nothing on the host.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import hashlib
import os
import stat
from pathlib import Path

# Written by merely logging in or by the passage of time, not by a deploy: login accounting
# (sshd/pam) and systemd's persistent-timer stamps.
NOISE = ("var/log/wtmp", "var/log/btmp", "var/log/lastlog", "var/lib/systemd/timers")


def entries(upper: str | Path, exclude: tuple[str, ...] = NOISE) -> dict[str, str]:
    """Every entry's path -> a digest of its type, mode, owner and content (link target, device).

    Compare two of these to see what a run changed: `{p for p in a.keys() | b.keys()
    if a.get(p) != b.get(p)}`."""
    root = Path(upper)
    return {rel: _entry(root / rel) for rel in sorted(_walk(root, exclude))}


def digest(upper: str | Path, exclude: tuple[str, ...] = NOISE) -> str:
    """One sha256 over `entries()`."""
    h = hashlib.sha256()
    for rel, entry in entries(upper, exclude).items():
        h.update(f"{rel}\0{entry}\n".encode())
    return h.hexdigest()


def _entry(path: Path) -> str:
    st = path.lstat()
    h = hashlib.sha256(f"{stat.S_IFMT(st.st_mode)}:{st.st_mode:o}:{st.st_uid}:{st.st_gid}".encode())
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    elif stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode())
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        h.update(f"{st.st_rdev}".encode())  # overlay whiteouts are 0/0 char devices
    return h.hexdigest()


def _walk(root: Path, exclude: tuple[str, ...]) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if any(rel == e or rel.startswith(e + "/") for e in exclude):
                continue
            found.append(rel)
    return found
