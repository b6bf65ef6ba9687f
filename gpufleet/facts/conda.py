"""Facts about gpufleet's Miniforge, its env directories and the service links into them."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from typing_extensions import override

# Written by gpufleet.operations.conda.miniforge after the installer succeeded: a prefix
# without it is an interrupted install.
MINIFORGE_MARKER = ".gpufleet-miniforge"


class Miniforge(FactBase):
    """
    Returns Miniforge in ``prefix``, or ``None`` when the prefix does not exist. ``installed``
    is the release gpufleet installed there (None: the prefix lacks gpufleet's marker, an
    interrupted install), ``conda`` what ``conda --version`` says (None when it does not run):

    .. code:: python

        {"installed": "24.11.3-2", "conda": "24.11.3"}
    """

    @override
    def command(self, prefix: str) -> str:
        p = shlex.quote(prefix)
        return (
            f"if [ -d {p} ]; then echo prefix; "
            f"[ -f {p}/{MINIFORGE_MARKER} ] && sed 's/^/installed /' {p}/{MINIFORGE_MARKER}; "
            f"[ -x {p}/bin/conda ] && {p}/bin/conda --version 2>/dev/null; fi; true"
        )

    @override
    def process(self, output):
        lines = [line.strip() for line in output]
        if "prefix" not in lines:
            return None
        found = {"installed": None, "conda": None}
        for line in lines:
            key, _, value = line.partition(" ")
            if key in found and value:
                found[key] = value.strip()
        return found


class CondaEnvs(FactBase):
    """
    Returns the names of the env directories in ``envs_dir`` (stamped or not), sorted:

    .. code:: python

        ["vllm-0.8.5.post1-torch-2.6.0-cu124", "vllm-0.9.2-torch-2.7.0-cu126"]
    """

    default = list

    @override
    def command(self, envs_dir: str) -> str:
        d = shlex.quote(envs_dir)
        return f'for e in {d}/*/; do [ -d "$e" ] && basename "$e"; done; true'

    @override
    def process(self, output):
        return sorted(line.strip() for line in output if line.strip())


class ServiceEnvLinks(FactBase):
    """
    Returns every symlink in ``<services_dir>/*/`` (``current``, ``previous``, ...) with the
    path it resolves to: each one keeps its env from being removed.

    .. code:: python

        {"/opt/gpufleet/services/embedding/current": "/opt/gpufleet/envs/vllm-0.8.5.post1-..."}
    """

    default = dict

    @override
    def command(self, services_dir: str) -> str:
        d = shlex.quote(services_dir)
        return (
            f'for l in {d}/*/*; do [ -L "$l" ] && '
            'printf "%s -> %s\\n" "$l" "$(readlink -f "$l" || readlink "$l")"; done; true'
        )

    @override
    def process(self, output):
        links = {}
        for line in output:
            link, sep, target = line.strip().partition(" -> ")
            if sep:
                links[link] = target
        return links
