"""Facts about the CUDA toolkits installed side by side under /usr/local."""

from __future__ import annotations

import json
import re

from pyinfra.api import FactBase
from typing_extensions import override

# One header line per toolkit directory, then what that directory says about its version.
DIR_MARKER = "@@ "

# Only versioned directories count: /usr/local/cuda and /usr/local/cuda-13 are alternatives
# links (Ubuntu's cuda packages make both) pointing at one of them.
TOOLKIT_DIR_REGEX = re.compile(r"^/usr/local/cuda-(?P<release>\d+\.\d+)$")

# nvcc --version: "Cuda compilation tools, release 13.0, V13.0.88"
NVCC_REGEX = re.compile(r"release (?P<release>\d+\.\d+), V(?P<version>\d+(?:\.\d+)+)")

# Legacy (CUDA <= 11.0) version.txt: "CUDA Version 10.2.89"
VERSION_TXT_REGEX = re.compile(r"^CUDA Version (?P<version>\d+(?:\.\d+)+)")


def _version_from_json(text: str) -> str | None:
    # The compiler's version is the one nvcc --version would print: the toolkit's "cuda"
    # entry is the SDK release instead ("13.0.3", or "11.8.20220929" on 11.8).
    try:
        data = json.loads(text)
    except ValueError:
        return None
    entry = data.get("cuda_nvcc") or data.get("cuda") or {}
    return entry.get("version")


def _toolkit_version(lines: list[str]) -> tuple[str | None, str | None]:
    """Return (version, source) from one directory's version.json, nvcc output or version.txt."""
    text = "\n".join(lines)
    if text.lstrip().startswith("{"):
        return _version_from_json(text), "version.json"
    matches = NVCC_REGEX.search(text)
    if matches:
        return matches.group("version"), "nvcc"
    for line in lines:
        matches = VERSION_TXT_REGEX.match(line.strip())
        if matches:
            return matches.group("version"), "version.txt"
    return None, None


class CudaToolkits(FactBase):
    """
    Returns the CUDA toolkits in ``/usr/local/cuda-X.Y`` directories, keyed by ``X.Y``.
    ``version`` is the compiler's (nvcc's) full version, read from ``version.json`` where the
    runfile wrote one, else from ``bin/nvcc --version`` (Ubuntu's cuda packages write no
    version.json), else from the legacy ``version.txt``; ``source`` says which:

    .. code:: python

        {
            "13.0": {"path": "/usr/local/cuda-13.0", "version": "13.0.88", "source": "nvcc"},
        }
    """

    @override
    def command(self) -> str:
        return (
            "for d in /usr/local/cuda-[0-9]*; do "
            '[ -d "$d" ] || continue; '
            f'echo "{DIR_MARKER}$d"; '
            'if [ -f "$d/version.json" ]; then cat "$d/version.json"; '
            'elif [ -x "$d/bin/nvcc" ]; then "$d/bin/nvcc" --version; '
            'elif [ -f "$d/version.txt" ]; then cat "$d/version.txt"; '
            "fi; done"
        )

    default = dict

    @override
    def process(self, output):
        sections: dict[str, list[str]] = {}
        current: list[str] = []
        for line in output:
            if line.startswith(DIR_MARKER):
                current = sections.setdefault(line[len(DIR_MARKER) :].strip(), [])
            else:
                current.append(line)

        toolkits = {}
        for path, lines in sections.items():
            matches = TOOLKIT_DIR_REGEX.match(path)
            if not matches:
                continue
            version, source = _toolkit_version(lines)
            toolkits[matches.group("release")] = {
                "path": path,
                "version": version,
                "source": source,
            }
        return toolkits


class NvccVersion(FactBase):
    """
    Returns the version of the ``nvcc`` first on the PATH, or ``None`` without one:

    .. code:: python

        {"release": "13.0", "version": "13.0.88"}
    """

    @override
    def command(self) -> str:
        return "nvcc --version"

    @override
    def requires_command(self) -> str:
        return "nvcc"

    @override
    def process(self, output):
        matches = NVCC_REGEX.search("\n".join(output))
        if not matches:
            return None
        return {"release": matches.group("release"), "version": matches.group("version")}
