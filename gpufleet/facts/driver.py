"""Facts the driver and toolkit installs decide on: the installed (not only loaded) driver, one
toolkit directory's version.json, and a published checksum file."""

from __future__ import annotations

import json
import re

from pyinfra.api import FactBase
from typing_extensions import override

from gpufleet.facts.cuda import NVCC_REGEX

# `nvidia-installer --version`: "nvidia-installer:  version 580.159.04" (older ones append
# "(buildmeister@...)  <date>" on the same line).
INSTALLER_REGEX = re.compile(r"^nvidia-installer:\s+version\s+(?P<version>\d+\.\d+(?:\.\d+)?)")
# The installer log's command line, one argument per line: the flavour the driver was built as.
FLAVOUR_FLAGS = {
    "--kernel-module-type=proprietary": "proprietary",
    "--kernel-module-type=open": "open",
    "-m=kernel": "proprietary",
    "-m=kernel-open": "open",
    "--kernel-module-build-directory=kernel": "proprietary",
    "--kernel-module-build-directory=kernel-open": "open",
}
# `modinfo -F license nvidia`: the open modules are dual-licensed, the proprietary one is not.
LICENSES = {"Dual MIT/GPL": "open", "NVIDIA": "proprietary"}
SECTION = "@@ "
SHA256_REGEX = re.compile(r"^(?P<digest>[0-9a-fA-F]{64})\s+\*?(?P<name>\S+)\s*$")


class InstalledDriver(FactBase):
    """
    Returns the driver the NVIDIA installer put on the host (installed, loaded or not), or
    ``None`` without one. ``kernel_module`` comes from the installed module's license
    (``modinfo``), else from the installer log's command line; ``None`` when neither says:

    .. code:: python

        {"version": "580.159.04", "kernel_module": "proprietary"}
    """

    @override
    def command(self) -> str:
        return (
            f'echo "{SECTION}installer"; nvidia-installer --version 2>/dev/null; '
            f'echo "{SECTION}license"; modinfo -F license nvidia 2>/dev/null; '
            f'echo "{SECTION}log"; cat /var/log/nvidia-installer.log 2>/dev/null; true'
        )

    @override
    def process(self, output):
        sections: dict[str, list[str]] = {}
        current: list[str] = []
        for line in output:
            if line.startswith(SECTION):
                current = sections.setdefault(line[len(SECTION) :].strip(), [])
            else:
                current.append(line.strip())
        version = next(
            (m["version"] for m in map(INSTALLER_REGEX.match, sections.get("installer", [])) if m),
            None,
        )
        if version is None:
            return None
        flavour = next((LICENSES[x] for x in sections.get("license", []) if x in LICENSES), None)
        if flavour is None:
            flavours = [FLAVOUR_FLAGS[x] for x in sections.get("log", []) if x in FLAVOUR_FLAGS]
            flavour = flavours[-1] if flavours else None
        return {"version": version, "kernel_module": flavour}


class CudaToolkitAt(FactBase):
    """
    Returns the CUDA SDK release the runfile recorded in ``<path>/version.json``, else the
    version of ``<path>/bin/nvcc`` (distro packages write no version.json), or ``None`` where
    there is neither (no toolkit, or an install that never finished):

    .. code:: python

        "12.4.1"
    """

    @override
    def command(self, path: str) -> str:
        return (
            f"cat {path}/version.json 2>/dev/null || {path}/bin/nvcc --version 2>/dev/null || true"
        )

    @override
    def process(self, output):
        text = "\n".join(output)
        nvcc = NVCC_REGEX.search(text)
        if nvcc:
            return nvcc["version"]
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return (data.get("cuda") or {}).get("version") if isinstance(data, dict) else None


class PublishedSha256(FactBase):
    """
    Returns the digests a checksum file at ``url`` lists (``sha256sum`` format, one
    ``<digest>  <name>`` per line, by base name; a lone digest is keyed ``""``), fetched by the
    host; ``None`` when it cannot be fetched or lists nothing. ``filename`` is the file wanted
    (part of the fact's key; the operation picks its digest):

    .. code:: python

        {"NVIDIA-Linux-x86_64-580.159.04.run": "7f3d...c1"}
    """

    @override
    def command(self, url: str, filename: str) -> str:
        # A missing checksum file is an answer (None), which the operation turns into an error.
        return f"curl -fsSL --retry 2 {url} 2>/dev/null || true"

    @override
    def requires_command(self, url: str, filename: str) -> str:
        return "curl"

    @override
    def process(self, output):
        digests = {}
        for line in output:
            matches = SHA256_REGEX.match(line.strip())
            if matches:
                digests[matches["name"].rsplit("/", 1)[-1]] = matches["digest"].lower()
            elif re.fullmatch(r"[0-9a-fA-F]{64}", line.strip()):
                digests[""] = line.strip().lower()
        return digests or None
