"""Operations for gpufleet's Miniforge: installed once, verified, and the pip settings of its envs.

>>> settings = pip_settings("http://10.0.0.1:8213/simple", "https://example.org/whl", "cu124")
>>> settings["extra_index_urls"], settings["trusted_hosts"]
(['https://example.org/whl/cu124'], ['10.0.0.1'])
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Iterable
from urllib.parse import urlsplit

from pyinfra import host
from pyinfra.api import operation

from gpufleet.facts.conda import MINIFORGE_MARKER, Miniforge


def pip_settings(
    index_url: str, pytorch_index_url: str, torch_cuda: str, extra: Iterable[str] = ()
) -> dict:
    """What templates/pip.conf.j2 renders: the index, the stack's PyTorch ``cuXYZ`` index as
    extra index, and every plain-http host as trusted-host (pip skips untrusted http indexes)."""
    extras = [f"{pytorch_index_url.rstrip('/')}/{torch_cuda}", *extra]
    return {
        "index_url": index_url,
        "extra_index_urls": extras,
        "trusted_hosts": trusted_hosts([index_url, *extras]),
    }


def trusted_hosts(urls: Iterable[str]) -> list[str]:
    """Host names of the plain-http URLs, sorted, once each."""
    return sorted({urlsplit(u).hostname or "" for u in urls if u.startswith("http://")} - {""})


def verified_download(url: str, dest: str, sha256: str | None) -> str:
    """One shell command: fetch ``url`` to ``dest`` unless a verified copy is there, check its
    sha256 (pinned, else the ``<url>.sha256`` file released beside it), keep it only if it
    matches. Never leaves a partial or unverified file at ``dest``."""
    # NOTE: the driver runfile download does the same; fold both into one helper when
    # gpufleet/operations/download.py lands.
    q_url, q_dest, part = shlex.quote(url), shlex.quote(dest), shlex.quote(dest + ".part")
    if sha256:
        expected = f"expected={shlex.quote(sha256)}"
    else:
        sums = shlex.quote(url + ".sha256")
        expected = f"expected=$(curl -fsSL --retry 3 {sums} | awk '{{print $1}}')"
    no_sum = f"no sha256 for {url} (rule: verified downloads)"
    mismatch = f"sha256 of {url} is not $expected (rule: verified downloads)"
    return (
        f"mkdir -p {shlex.quote(dest.rsplit('/', 1)[0])} && {expected} || exit 1; "
        f'[ "${{#expected}}" -eq 64 ] || {{ echo "{no_sum}" >&2; exit 1; }}; '
        f'if ! echo "$expected  "{q_dest} | sha256sum -c --status 2>/dev/null; then '
        f"curl -fsSL --retry 3 -o {part} {q_url} || {{ rm -f {part}; exit 1; }}; "
        f'echo "$expected  "{part} | sha256sum -c --status || '
        f'{{ rm -f {part}; echo "{mismatch}" >&2; exit 1; }}; '
        f"mv {part} {q_dest}; fi"
    )


@operation()
def miniforge(
    prefix: str, version: str, url: str, downloads_dir: str, sha256: str | None = None
) -> Generator[str, None, None]:
    """
    Install Miniforge into ``prefix`` once (``bash installer -b -p PREFIX``), sha256-verified.

    + prefix: where conda goes (group_data ``conda_prefix``)
    + version: the Miniforge release, recorded in ``PREFIX/.gpufleet-miniforge``
    + url: the installer URL (``{version}`` already filled in)
    + downloads_dir: where the verified installer is kept
    + sha256: the installer's sha256; None = the ``<url>.sha256`` released beside it

    Nothing happens when gpufleet installed Miniforge there before (any release: the envs are
    separate prefixes, so a newer installer is not worth replacing a working conda). A prefix
    without the marker is an interrupted install: it is removed and installed again.

    **Example:**

    .. code:: python

        miniforge(
            name="Install Miniforge",
            prefix="/opt/gpufleet/miniforge",
            version="24.11.3-2",
            url="https://.../Miniforge3-24.11.3-2-Linux-x86_64.sh",
            downloads_dir="/var/cache/gpufleet",
        )
    """
    present = host.get_fact(Miniforge, prefix=prefix)
    if present and present["installed"]:
        host.noop(f"Miniforge {present['installed']} is installed in {prefix}")
        return
    installer = f"{downloads_dir.rstrip('/')}/{url.rsplit('/', 1)[-1]}"
    yield verified_download(url, installer, sha256)
    if present is not None:
        yield f"rm -rf {shlex.quote(prefix)}"
    p = shlex.quote(prefix)
    yield (
        f"bash {shlex.quote(installer)} -b -p {p} && "
        f"printf '%s\\n' {shlex.quote(version)} > {p}/{MINIFORGE_MARKER} || "
        f"{{ rm -rf {p}; exit 1; }}"
    )
