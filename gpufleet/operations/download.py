"""Download a file to the host and verify its sha256 before it is moved into place.

The expected digest is known before any command runs: pinned in data, or read from a checksum
file the host fetches while facts are gathered (NVIDIA publishes ``<runfile>.sha256sum`` beside
each driver). So `--dry` says exactly whether a download would happen, and an error names the
host, the file, the expected and the actual digest.
"""

from __future__ import annotations

import posixpath
import shlex
from urllib.parse import urljoin

from pyinfra import host, logger
from pyinfra.api import OperationError, operation
from pyinfra.api.command import FileUploadCommand
from pyinfra.facts.files import Sha256File

from gpufleet import artifacts
from gpufleet.facts.driver import PublishedSha256


def checksum_url(template: str, file_url: str, **values: str) -> str:
    """The checksum file's URL: ``template`` formatted with ``name`` (the file's base name),
    ``url`` and ``values``, then resolved against the file's URL (so a relative template finds
    the checksum wherever a mirror serves the file).

    >>> checksum_url("{name}.sha256sum", "https://example.org/d/580/x.run")
    'https://example.org/d/580/x.run.sha256sum'
    >>> checksum_url("../docs/sidebar/sha256sum.txt", "https://example.org/c/12.4.1/local/x.run")
    'https://example.org/c/12.4.1/docs/sidebar/sha256sum.txt'
    """
    name = posixpath.basename(file_url)
    return urljoin(file_url, template.format(name=name, url=file_url, **values))


def expected_sha256(
    url: str, sha256: str | None, sha256_url: str | None, local: bool = False
) -> str:
    """The pinned digest, else the one the checksum file lists for the file (read by the host,
    or by the control machine when ``local``); raise naming the host when there is neither."""
    name = posixpath.basename(url)
    if sha256:
        return sha256.lower()
    if not sha256_url:
        raise OperationError(f"{host.name}: {name}: no sha256 pinned and no checksum URL")
    if local:
        try:
            return artifacts.published_sha256(host.name, sha256_url, name)
        except artifacts.ArtifactError as exc:
            raise OperationError(str(exc)) from None
    digests = host.get_fact(PublishedSha256, url=sha256_url, filename=name) or {}
    digest = digests.get(name) or (digests.get("") if len(digests) == 1 else None)
    if digest is None:
        raise OperationError(f"{host.name}: {name}: no sha256 for it at {sha256_url}")
    return digest


def fetch_script(url: str, dest: str, expected: str) -> str:
    """Download to a temp name beside ``dest``, check, then rename: a failed or mismatched
    download leaves nothing behind (not even the directory, when this created it)."""
    directory, name = posixpath.split(dest)
    q = shlex.quote
    mismatch = (
        f"{host.name}: {name}: sha256 mismatch: expected {expected}, got $actual (from {url}); "
        "refusing to use it"
    )
    return "; ".join(
        [
            "set -e",
            f"created=; [ -d {q(directory)} ] || {{ mkdir -p {q(directory)}; created=1; }}",
            f"tmp=$(mktemp {q(directory)}/.{q(name)}.XXXXXX)",
            f'cleanup() {{ rm -f "$tmp"; [ -z "$created" ] || rmdir {q(directory)} 2>/dev/null; }}',
            "trap cleanup EXIT",
            f'curl -fsSL --retry 3 -o "$tmp" {q(url)}',
            "actual=$(sha256sum \"$tmp\" | cut -d' ' -f1)",
            f'if [ "$actual" != {q(expected)} ]; then echo "{mismatch}" >&2; exit 1; fi',
            f'chmod 0644 "$tmp"; mv -f "$tmp" {q(dest)}; created=',
        ]
    )


@operation()
def verified_file(
    url: str,
    dest: str,
    sha256: str | None = None,
    sha256_url: str | None = None,
    cache_dir: str | None = None,
):
    """
    Download ``url`` to ``dest`` once its sha256 matches; nothing when ``dest`` already does.

    + url: where the file comes from (curl on the host)
    + dest: the path it is moved to once verified
    + sha256: the expected digest, pinned in data (takes precedence)
    + sha256_url: a checksum file in ``sha256sum`` format listing the file by base name
    + cache_dir: ``artifact_cache = "control"``: the control machine's cache; the file is
      fetched there once (``gpufleet.artifacts``) and pushed to the host over SSH

    **Example:**

    .. code:: python

        download.verified_file(
            name="Download the driver runfile",
            url=driver_url,
            dest="/var/cache/gpufleet/NVIDIA-Linux-x86_64-580.159.04.run",
            sha256_url=driver_url + ".sha256sum",
        )
    """
    expected = expected_sha256(url, sha256, sha256_url, local=cache_dir is not None)
    if host.get_fact(Sha256File, path=dest) == expected:
        host.noop(f"{dest} is present with sha256 {expected}")
        return
    if cache_dir is None:
        announce(f"download {url} -> {dest}, sha256 {expected} checked before it is moved there")
        yield fetch_script(url, dest, expected)
        return
    try:  # while operations are prepared: a bad artifact stops the run before any host changes
        local = artifacts.fetch(host.name, url, expected, cache_dir)
    except artifacts.ArtifactError as exc:
        raise OperationError(str(exc)) from None
    announce(f"push {local} -> {dest} (verified: sha256 {expected}), checked again there")
    yield from pushed(str(local), dest, expected)


def pushed(local: str, dest: str, expected: str):
    """Upload ``local`` beside ``dest``, check its sha256 on the host, then rename."""
    directory, name = posixpath.split(dest)
    q = shlex.quote
    upload = posixpath.join(directory, f".{name}.upload")
    yield f"mkdir -p {q(directory)}"
    yield FileUploadCommand(local, upload, remote_temp_filename=host.get_temp_filename(upload))
    mismatch = f"{host.name}: {name}: sha256 mismatch after the upload: expected {expected}"
    yield (
        f"if [ \"$(sha256sum {q(upload)} | cut -d' ' -f1)\" = {q(expected)} ]; "
        f"then chmod 0644 {q(upload)} && mv -f {q(upload)} {q(dest)}; "
        f"else rm -f {q(upload)}; echo {q(mismatch)} >&2; exit 1; fi"
    )


def announce(what: str) -> None:
    """Log a planned step while operations are prepared, so `--dry` shows the commands (pyinfra
    lists only which operations would change)."""
    logger.info(f"    [{host.name}] will {what}")
