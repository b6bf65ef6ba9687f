"""Facts about the vLLM stacks gpufleet built: each env's completion stamp."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase
from typing_extensions import override

# Written by the post-install check (gpufleet/postinstall.py) only after every check passed.
STAMP_NAME = ".gpufleet-stamp.json"
_MARKER = "@@ "


class VllmStacks(FactBase):
    """
    Returns the stamp of every env in ``envs_dir`` that has one, keyed by env name; an env
    without a stamp is absent here (it is a build that never finished). A stamp that is not a
    JSON object reads ``None``. Shape (the stamp, see README "Python stack"):

    .. code:: python

        {
            "vllm-0.8.5.post1-torch-2.6.0-cu124": {
                "env": "vllm-0.8.5.post1-torch-2.6.0-cu124",
                "path": "/opt/gpufleet/envs/vllm-0.8.5.post1-torch-2.6.0-cu124",
                "built_at": "2025-06-01T12:00:00Z", "built_at_epoch": 1748779200,
                "stack": {...}, "gpu": {...}, "check": {"ok": True, ...},
            },
        }
    """

    default = dict

    @override
    def command(self, envs_dir: str) -> str:
        d = shlex.quote(envs_dir)
        return (
            f'for s in {d}/*/{STAMP_NAME}; do [ -f "$s" ] || continue; '
            f'echo "{_MARKER}$s"; cat "$s"; echo; done'
        )

    @override
    def process(self, output):
        texts: dict[str, list[str]] = {}
        current: list[str] = []
        for line in output:
            if line.startswith(_MARKER):
                name = line[len(_MARKER) :].strip().rsplit("/", 2)[-2]
                current = texts.setdefault(name, [])
            else:
                current.append(line)
        return {name: _stamp("\n".join(lines)) for name, lines in texts.items()}


def _stamp(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
