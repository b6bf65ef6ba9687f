"""e2e: artifact_cache = "control" — each runfile/installer crosses the mirror link once.

Runs tests/e2e/deploys/artifacts.py (the driver, CUDA and Miniforge downloads of each host's
stack, as the tasks make them) with the control machine's cache in a fresh temp dir, and reads
the sandbox mirror's request log: every artifact is served once, to the control machine only,
whatever the host count; every host ends with the verified files; a re-run moves nothing. A
tampered runfile on the mirror is refused on the control machine before any host changes.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

from sandbox import config, mirror, treesum
from tests.e2e.helpers import INVENTORY, grand_total, on_host, pyinfra

DEST = "/var/tmp/gpufleet-e2e-artifacts"
ARTIFACTS = (".run", ".sh")  # the runfiles and the Miniforge installer


def _deploy(cache: Path):
    return pyinfra(
        "-y", INVENTORY, "--data", "artifact_cache=control", "--data",
        f"artifact_cache_dir={cache}", "tests/e2e/deploys/artifacts.py",
        env={**os.environ, "GPUFLEET_ARTIFACTS_DEST": DEST},
    )  # fmt: skip


def _artifact_requests(since: int) -> list[dict]:
    return [e for e in mirror.read_log()[since:] if e["path"].endswith(ARTIFACTS)]


def _clean(cluster) -> None:
    for host in cluster.hosts:
        on_host(cluster, host, f"rm -rf {DEST}")


def test_each_artifact_is_fetched_once_for_all_hosts(sandbox_cluster, tmp_path):
    _clean(sandbox_cluster)
    cache = tmp_path / "cache"
    start = len(mirror.read_log())
    try:
        first = _deploy(cache)
        assert first.returncode == 0, first.stdout[-3000:]
        requests = _artifact_requests(start)
        per_path = Counter(e["path"] for e in requests)
        names = {p.rsplit("/", 1)[-1] for p in per_path}
        assert any(n.startswith("NVIDIA-Linux-") for n in names), names
        assert any(n.startswith("cuda_") for n in names), names
        assert any(n.startswith("Miniforge3-") for n in names), names
        assert set(per_path.values()) == {1}, f"fetched more than once: {per_path}"
        hosts = {h.address for h in sandbox_cluster.hosts}
        assert not [e for e in requests if e["client"] in hosts], "a host fetched an artifact"
        for entry in requests:  # the whole file, once
            assert entry["bytes"] == mirror.path_for_url(entry["path"]).stat().st_size

        for host in sandbox_cluster.hosts:  # every host has the verified files
            listing = on_host(sandbox_cluster, host, f"cd {DEST} && sha256sum *").stdout
            found = {line.split()[1]: line.split()[0] for line in listing.splitlines()}
            assert found, host.name
            for name, digest in found.items():
                assert hashlib.sha256((cache / name).read_bytes()).hexdigest() == digest

        again_from = len(mirror.read_log())
        again = _deploy(cache)
        assert again.returncode == 0, again.stdout[-3000:]
        assert grand_total(again.stdout)["success"] == "-", "a re-run changes nothing"
        assert _artifact_requests(again_from) == [], "a re-run transfers nothing"
    finally:
        _clean(sandbox_cluster)


def test_a_tampered_artifact_is_refused_before_any_host_is_touched(sandbox_cluster, tmp_path):
    runfiles = sorted(config.MIRROR_ROOT.rglob("NVIDIA-Linux-*.run"))
    assert runfiles, "the mirror serves driver runfiles"
    originals = {path: path.read_bytes() for path in runfiles}
    before = {h.name: treesum.entries(h.upper) for h in sandbox_cluster.hosts}
    try:
        for path, content in originals.items():
            path.write_bytes(content + b"\n# tampered\n")
        run = _deploy(tmp_path / "cache")
    finally:
        for path, content in originals.items():
            path.write_bytes(content)
    assert run.returncode != 0
    assert "sha256 mismatch: expected" in run.stdout and "refusing to use it" in run.stdout
    after = {h.name: treesum.entries(h.upper) for h in sandbox_cluster.hosts}
    assert after == before, "no host was changed"
    assert not list((tmp_path / "cache").glob("NVIDIA-Linux-*")), "nothing kept"
