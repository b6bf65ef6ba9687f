"""Debian packages, installed only when missing (the lists are refreshed only then).

apt.packages(name="Install HAProxy", names=["haproxy"])
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.deb import DebPackages

from gpufleet.facts import host as host_facts


@operation()
def packages(names: list[str], label: str = "packages"):
    """
    Install the apt packages of ``names`` that are missing; nothing when all are installed.

    + names: Debian package names
    + label: what they are, for the log line when nothing is to do
    """
    installed = host_facts.get(DebPackages)
    missing = [name for name in names if name not in installed]
    if not missing:
        host.noop(f"{label} present: {', '.join(names)}")
        return
    yield "DEBIAN_FRONTEND=noninteractive apt-get update -q"
    yield (
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
        + " ".join(shlex.quote(name) for name in missing)
    )
