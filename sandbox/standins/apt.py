"""A local apt repository of stand-in .debs, served by the sandbox mirror, that hosts install from.

Test infrastructure only (see sandbox/__init__.py). Sandbox hosts reach nothing but the mirror,
so their /etc/apt/sources.list names only this flat repository (sandbox/rootfs.py writes it):

    deb [trusted=yes] http://<mirror>/gpufleet-sandbox apt/

`trusted=yes` because the repository is built on this box at `up` time and served on a private
address only the sandbox reaches: there is no archive key to sign it with, and the point is to
exercise `apt-get update && apt-get install` and dpkg, not apt's signature checks.

Why stand-ins rather than real packages: build-essential's closure (gcc, g++, libc6-dev,
dpkg-dev, perl...) is ~200 MB, and real linux-headers for this box's kernel (a VM kernel the
hosts share) exist in no Debian archive. The driver stand-in only needs what the real installer
looks for: a `dkms` command, /lib/modules/$(uname -r)/build, and update-initramfs. So each .deb
here is built with `dpkg-deb --build` (equivs-style), under the real package name, and says
"sandbox stand-in" in its description. Packages/Release come from dpkg-scanpackages.

Not stand-ins: REAL_PACKAGES (the gateway's HAProxy) are Debian bookworm's own .debs, fetched on
this box (Debian bookworm too) with `apt-get download`, with whatever of their dependency
closure the hosts' base image lacks, into sandbox/cache/debs/, and served from the same repo.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from sandbox import config, mirror

# A flat repository "<archive root> <dir>/": apt fetches <root>/<dir>/Packages, and Filename:
# fields are relative to the root. (Not the usual "<dir> ./": the mirror refuses "." in paths.)
ARCHIVE_ROOT = "gpufleet-sandbox"  # under the mirror root
REPO_DIR = "apt"
REPO_PATH = f"{ARCHIVE_ROOT}/{REPO_DIR}"
SOURCES_LINE = (
    f"deb [trusted=yes] http://{config.MIRROR_ADDRESS}:{config.MIRROR_PORT}/{ARCHIVE_ROOT} "
    f"{REPO_DIR}/"
)

DKMS = """#!/bin/sh
# gpufleet sandbox stand-in for dkms: `dkms status` lists the records the driver stand-in wrote
# under /var/lib/dkms/<module>/<version>/<kernel>/<arch>; other commands succeed quietly.
[ "$1" = status ] || exit 0
for d in /var/lib/dkms/*/*/*/*; do
    [ -d "$d" ] || continue
    arch=${d##*/}; p=${d%/*}; kernel=${p##*/}; p=${p%/*}; version=${p##*/}; p=${p%/*}
    echo "${p##*/}/$version, $kernel, $arch: installed"
done
"""

UPDATE_INITRAMFS = """#!/bin/sh
# gpufleet sandbox stand-in for update-initramfs: records each run (the e2e tests count them).
echo "update-initramfs: Generating /boot/initrd.img-$(uname -r)"
mkdir -p /var/lib/gpufleet-sandbox
echo "$*" >> /var/lib/gpufleet-sandbox/update-initramfs.log
"""


def kernel() -> str:
    """The kernel release the hosts run: this box's (nspawn hosts share it)."""
    return platform.release()


def packages() -> dict[str, dict]:
    """name -> version and files ({path: (content, mode)} or symlink targets as str)."""
    release = kernel()
    headers = f"/usr/src/linux-headers-{release}"
    return {
        "build-essential": {"version": "12.9", "files": {}},
        "pkg-config": {"version": "1.8.1-1", "files": {}},
        "dkms": {
            "version": "3.0.10-8+deb12u1",
            "files": {"/usr/sbin/dkms": (DKMS, 0o755), "/var/lib/dkms/.keep": ("", 0o644)},
        },
        "initramfs-tools": {
            "version": "0.142+deb12u1",
            "files": {"/usr/sbin/update-initramfs": (UPDATE_INITRAMFS, 0o755)},
        },
        f"linux-headers-{release}": {
            "version": f"{release.split('-')[0]}-1",
            "files": {
                f"{headers}/Makefile": (f"# stand-in kernel headers for {release}\n", 0o644),
                f"/lib/modules/{release}/build": headers,
            },
        },
    }


# Real Debian packages served as they are (tasks/gateway.py installs haproxy on the hosts).
REAL_PACKAGES = ("haproxy",)
REAL_DEBS_DIR = config.CACHE_DIR / "debs"


def _missing_closure(base_status: Path) -> list[str]:
    """REAL_PACKAGES + the dependencies a host with `base_status` (dpkg status) lacks, as
    apt on this box resolves them: `apt-get -s install` against the base image's status."""

    def simulate() -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                *("apt-get", "-s", "-o", f"Dir::State::status={base_status}", "install"),
                *("--no-install-recommends", *REAL_PACKAGES),
            ],
            capture_output=True,
            text=True,
        )

    result = simulate()
    if result.returncode != 0:  # this box's package lists may be missing or stale
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        result = simulate()
    if result.returncode != 0:
        raise RuntimeError(f"apt-get cannot resolve {REAL_PACKAGES}: {result.stderr.strip()}")
    return [line.split()[1] for line in result.stdout.splitlines() if line.startswith("Inst ")]


def real_debs(base_status: Path | None = None) -> list[Path]:
    """The real .debs (downloaded once into REAL_DEBS_DIR; its `closure.txt` lists them)."""
    listing = REAL_DEBS_DIR / "closure.txt"
    if listing.is_file():
        debs = [REAL_DEBS_DIR / name for name in listing.read_text().split()]
        if debs and all(d.is_file() for d in debs):
            return debs
    if base_status is None:
        from sandbox import rootfs

        base_status = rootfs.ensure_base() / "var/lib/dpkg/status"
    names = _missing_closure(base_status)
    REAL_DEBS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["apt-get", "download", "-qq", *names], cwd=REAL_DEBS_DIR, check=True, capture_output=True
    )
    debs = [
        max(REAL_DEBS_DIR.glob(f"{name}_*.deb"), key=lambda d: d.stat().st_mtime) for name in names
    ]
    listing.write_text("\n".join(d.name for d in debs) + "\n")
    return debs


def _build_deb(name: str, spec: dict, out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "DEBIAN").mkdir()
        (root / "DEBIAN/control").write_text(
            f"Package: {name}\nVersion: {spec['version']}\nArchitecture: amd64\n"
            "Maintainer: gpufleet sandbox <sandbox@localhost>\nSection: misc\nPriority: optional\n"
            f"Description: {name} (gpufleet sandbox stand-in)\n"
            " Built by sandbox/standins/apt.py: provides only what the NVIDIA installer\n"
            " stand-ins look for.\n"
        )
        for path, content in spec["files"].items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                target.symlink_to(content)
            else:
                target.write_text(content[0])
                target.chmod(content[1])
        deb = out_dir / f"{name}_{spec['version']}_amd64.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)],
            check=True,
            capture_output=True,
        )
    return deb


def _release(packages_file: bytes) -> str:
    # apt checks a flat repo's Suite against the sources line's "<dir>/"; Date must parse.
    lines = [
        "Origin: gpufleet-sandbox",
        "Label: gpufleet-sandbox",
        f"Suite: {REPO_DIR}/",
        "Date: Thu, 01 Jan 2026 00:00:00 UTC",
    ]
    for field, algo in (("MD5Sum", "md5"), ("SHA256", "sha256")):
        lines.append(f"{field}:")
        for name, data in (("Packages", packages_file), ("Packages.gz", _gz(packages_file))):
            lines.append(f" {hashlib.new(algo, data).hexdigest()} {len(data)} {name}")
    return "\n".join(lines) + "\n"


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _spec_key() -> str:
    spec = repr((SOURCES_LINE, sorted(packages().items()), [d.name for d in real_debs()]))
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def populate(root: Path | None = None) -> Path:
    """Build the repository into <mirror>/gpufleet-sandbox/apt unless it is current."""
    repo = (root or mirror.tree_root()) / REPO_PATH
    stamp = repo / ".spec"
    if stamp.is_file() and stamp.read_text() == _spec_key() and (repo / "Packages").is_file():
        return repo
    repo.mkdir(parents=True, exist_ok=True)
    for old in repo.glob("*.deb"):
        old.unlink()
    for name, spec in packages().items():
        _build_deb(name, spec, repo)
    for deb in real_debs():
        shutil.copy2(deb, repo / deb.name)
    scan = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", REPO_DIR],
        cwd=repo.parent,
        check=True,
        capture_output=True,
    ).stdout
    for name, data in (("Packages", scan), ("Packages.gz", _gz(scan))):
        (repo / name).write_bytes(data)
    (repo / "Release").write_text(_release(scan))
    stamp.write_text(_spec_key())
    os.utime(repo)
    return repo
