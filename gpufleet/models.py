"""Model directories on the hosts: check the ones already there, sync the ones we ship.

A server's model is either already on the host at `model_path` (checked: config.json and
weights, *.safetensors or *.bin) or synced from `model_source`, a directory on the control
machine. Synced models are versioned by the digest of their checksum manifest:

    <model_path>/<digest12>/            one complete copy per version (files hard-linked
    <model_path>/<digest12>/.gpufleet-manifest.json    from the previous version when unchanged)

so only changed files move, a half-copied version is never served (it is built in
`.<digest12>.partial` and renamed when complete), and a retrained model changes the server's
argv: it rolls out through the same restart, health gate and rollback as a new vLLM version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from pathlib import Path

from pyinfra.api import FactBase, FileUploadCommand, StringCommand, operation

from gpufleet.facts import host as host_facts

MANIFEST = ".gpufleet-manifest.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class ModelDirError(ValueError):
    pass


class ModelFiles(FactBase):
    """Top-level files of a model directory, or None when it is absent.

    ```
    {"config.json": 1042, "model.safetensors": 1200000000}
    ```
    """

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return (
            f"if [ -d {q} ]; then echo DIR; find {q} -maxdepth 1 -type f -printf '%f\\t%s\\n'; fi"
        )

    def process(self, output):
        if not output or output[0] != "DIR":
            return None
        files = {}
        for line in output[1:]:
            name, _, size = line.rpartition("\t")
            files[name] = int(size)
        return files


class ModelVersions(FactBase):
    """Complete synced versions under a model_path: {digest12: manifest}.

    ```
    {"3f2a9c01b7de": {"config.json": "<sha256>", "model.safetensors": "<sha256>"}}
    ```
    """

    default = dict

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return (
            f'for m in {q}/*/{MANIFEST}; do [ -f "$m" ] || continue; '
            'printf "%s\\t" "$(basename "$(dirname "$m")")"; cat "$m"; echo; done'
        )

    def process(self, output):
        versions = {}
        for line in output:
            name, _, text = line.partition("\t")
            try:
                versions[name] = json.loads(text)
            except ValueError:
                continue  # a torn manifest is not a complete version
        return versions


def check_model_dir(host_name: str, path: str, files: dict | None) -> None:
    """Refuse a model directory without config.json or weights."""
    if files is None:
        raise ModelDirError(f"{host_name}: model_path={path}: no such directory on the host")
    if "config.json" not in files:
        raise ModelDirError(f"{host_name}: model_path={path}: no config.json (not a model dir)")
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in files):
        rule = "no weights (*.safetensors or *.bin)"
        raise ModelDirError(f"{host_name}: model_path={path}: {rule}")


def manifest(local_dir: str) -> dict[str, str]:
    """{relative path: sha256} of every file under `local_dir` (the control machine's copy)."""
    root = Path(local_dir)
    if not root.is_dir():
        raise ModelDirError(f"model_source={local_dir}: no such directory on the control machine")
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        files[path.relative_to(root).as_posix()] = digest.hexdigest()
    check_model_dir("control machine", local_dir, {k: 0 for k in files if "/" not in k})
    return files


def digest(files: dict[str, str]) -> str:
    """The version name of a manifest: 12 hex digits of the sha256 of its sorted JSON."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]


def read_config(local_dir: str | None) -> dict | None:
    """config.json of the control machine's copy, when there is one and it parses."""
    if not local_dir:
        return None
    try:
        return json.loads((Path(local_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None


@operation()
def model_sync(src: str, model_path: str, files: dict[str, str], in_use: str | None = None):
    """
    Sync a model directory from the control machine as a new version, moving changed files only.

    + src: the directory on the control machine
    + model_path: the versions directory on the host
    + files: manifest(src), computed once by the caller
    + in_use: the version the running server uses (kept: it is the rollback target)

    **Example:**

    .. code:: python

        model_sync(name="Sync model qwen3-embedding", src="/data/models/qwen3-embedding",
                   model_path="/opt/models/qwen3-embedding", files=manifest(src))
    """
    version = digest(files)
    versions = host_facts.get(ModelVersions, path=model_path)
    if version in versions:
        return
    final = f"{model_path}/{version}"
    partial = f"{model_path}/.{version}.partial"
    base = max(versions, key=lambda v: len(versions[v].items() & files.items()), default=None)
    yield StringCommand("rm", "-rf", partial, "&&", "mkdir", "-p", partial)
    same = {p for p, s in files.items() if base and versions[base].get(p) == s}
    for rel in sorted(files):
        dest = f"{partial}/{rel}"
        if "/" in rel:
            yield StringCommand("mkdir", "-p", os.path.dirname(dest))
        if rel in same:
            yield StringCommand("ln", f"{model_path}/{base}/{rel}", dest)
        else:
            yield FileUploadCommand(os.path.join(src, rel), dest)
    yield FileUploadCommand(_manifest_io(files), f"{partial}/{MANIFEST}")
    yield StringCommand("chmod", "-R", "a+rX", partial, "&&", "mv", "-T", partial, final)
    keep = {version, in_use or base}
    for old in sorted(set(versions) - keep):
        yield StringCommand("rm", "-rf", f"{model_path}/{old}")


def version_in_use(unit_lines: list[str] | None, model_path: str) -> str | None:
    """The synced version the installed unit serves: the `<model_path>/<digest>` in its argv.

    >>> version_in_use(["ExecStart=/x/vllm serve /opt/models/e5/3f2a9c01b7de --port 8000"],
    ...                "/opt/models/e5")
    '3f2a9c01b7de'
    """
    pattern = re.compile(re.escape(model_path.rstrip("/")) + r"/([0-9a-f]{12})\b")
    for line in unit_lines or ():
        match = pattern.search(line)
        if match:
            return match.group(1)
    return None


def _manifest_io(files: dict[str, str]):
    from io import BytesIO

    return BytesIO(json.dumps(files, sort_keys=True).encode())
