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

from gpufleet.facts import host as host_facts
from gpufleet.facts.conda import MINIFORGE_MARKER, Miniforge
from gpufleet.operations import download
from gpufleet.operations.download import checksum_url


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


@operation()
def miniforge(
    prefix: str,
    version: str,
    url: str,
    downloads_dir: str,
    sha256: str | None = None,
    cache_dir: str | None = None,
) -> Generator[str, None, None]:
    """
    Install Miniforge into ``prefix`` once (``bash installer -b -p PREFIX``), sha256-verified.

    + prefix: where conda goes (group_data ``conda_prefix``)
    + version: the Miniforge release, recorded in ``PREFIX/.gpufleet-miniforge``
    + url: the installer URL (``{version}`` already filled in)
    + downloads_dir: where the verified installer is kept
    + sha256: the installer's sha256; None = the ``<url>.sha256`` file released beside it
    + cache_dir: the control machine's artifact cache ("control" mode), else None

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
    present = host_facts.get(Miniforge, prefix=prefix)
    if present and present["installed"]:
        host.noop(f"Miniforge {present['installed']} is installed in {prefix}")
        return
    installer = f"{downloads_dir.rstrip('/')}/{url.rsplit('/', 1)[-1]}"
    yield from download.verified_file._inner(
        url=url,
        dest=installer,
        sha256=sha256,
        sha256_url=checksum_url("{name}.sha256", url),
        cache_dir=cache_dir,
    )
    if present is not None:
        yield f"rm -rf {shlex.quote(prefix)}"
    p = shlex.quote(prefix)
    yield (
        f"bash {shlex.quote(installer)} -b -p {p} && "
        f"printf '%s\\n' {shlex.quote(version)} > {p}/{MINIFORGE_MARKER} || "
        f"{{ rm -rf {p}; exit 1; }}"
    )
