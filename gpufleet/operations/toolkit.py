"""A CUDA toolkit from NVIDIA's archive runfile, side by side with others, never its driver.

The runfile is run `--silent --toolkit --toolkitpath=<cuda_root>/cuda-X.Y`: without `--driver`
it installs no driver (the driver task owns that); `--override` skips its gcc-version check (a
newer distro gcc than the release knew only matters for compiling, and nvcc checks it then);
`--no-man-page` keeps /usr/share/man untouched; `--tmpdir` extracts beside the verified runfile
instead of a small /tmp. It also points /usr/local/cuda at what it installed: gpufleet does not
rely on that link; /etc/profile.d/gpufleet-cuda.sh selects the stack's toolkit explicitly.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import operation

from gpufleet.facts import host as host_facts
from gpufleet.facts.driver import CudaToolkitAt
from gpufleet.matrix import major_minor
from gpufleet.operations import download

PROFILE = "/etc/profile.d/gpufleet-cuda.sh"  # selects the stack's toolkit for logins


def toolkit_path(cuda_root: str, version: str) -> str:
    """>>> toolkit_path("/usr/local", "12.4.1")
    '/usr/local/cuda-12.4'
    """
    return posixpath.join(cuda_root, f"cuda-{major_minor(version)}")


def install_command(runfile: str, path: str, tmpdir: str) -> str:
    flags = [
        "--silent",
        "--toolkit",
        f"--toolkitpath={path}",
        "--no-man-page",
        "--override",
        f"--tmpdir={tmpdir}",
    ]
    return " ".join(["sh", shlex.quote(runfile), *(shlex.quote(f) for f in flags)])


@operation()
def installed(
    version: str,
    url: str,
    cuda_root: str,
    downloads_dir: str,
    sha256: str | None = None,
    sha256_url: str | None = None,
    cache_dir: str | None = None,
):
    """
    Install CUDA toolkit ``version`` to ``<cuda_root>/cuda-X.Y`` from its verified runfile.

    + version: the toolkit release, e.g. ``12.4.1``; any ``12.4.x`` already there counts
    + url: the runfile's URL (``cuda_runfile_url`` with version and runfile name)
    + cuda_root: the directory holding the ``cuda-X.Y`` toolkits
    + downloads_dir: where the verified runfile is kept
    + sha256 / sha256_url: the digest pinned, or a checksum file to read it from
    + cache_dir: the control machine's artifact cache ("control" mode), else None

    A directory without version.json is an install that never finished: it is removed first.
    """
    path = toolkit_path(cuda_root, version)
    present = host_facts.get(CudaToolkitAt, path=path)
    if present and major_minor(present) == major_minor(version):
        host.noop(f"CUDA {present} is installed in {path}")
        return
    runfile = posixpath.join(downloads_dir, posixpath.basename(url))
    # pyinfra runs an operation only up to its first command when preparing (--dry): say now
    command = install_command(runfile, path, downloads_dir)
    download.announce(f"install with: {command} (after the download below)")
    yield from download.verified_file._inner(
        url=url, dest=runfile, sha256=sha256, sha256_url=sha256_url, cache_dir=cache_dir
    )
    yield f"rm -rf {shlex.quote(path)}"
    yield command
