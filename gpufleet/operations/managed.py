"""pyinfra's file and service operations, decided from facts gathered in one round trip.

``files.template``/``files.put`` read three facts each (File, the parent's Directory, Sha1File),
``systemd.service`` two: one SSH round trip per fact, on every run, for files that almost always
already match. These wrappers decide from the facts ``gpufleet.facts.host.prefetch`` kept
(``managed_queries`` lists them): when the host matches they yield nothing without a round
trip; otherwise they run pyinfra's own operation, which re-reads what it needs and does
exactly what it always did (uploads, ``--diff`` output, chmod).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Generator
from typing import Any

from pyinfra import host, state
from pyinfra.api import operation
from pyinfra.api.util import get_template
from pyinfra.facts.files import Directory, File, Sha1File
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.operations import files, systemd

from gpufleet.facts import host as host_facts
from gpufleet.facts.host import Query, query

_SYSTEMD = {"machine": None, "user_mode": False, "user_name": None}


def file_queries(dest: str) -> list[Query]:
    """The facts ``template``/``put`` decide ``dest`` with."""
    parent = posixpath.dirname(dest)
    return [query(File, path=dest), query(Directory, path=parent), query(Sha1File, path=dest)]


def service_queries(service: str) -> list[Query]:
    return [
        query(SystemdStatus, services=[service], **_SYSTEMD),
        query(SystemdEnabled, services=[service], **_SYSTEMD),
    ]


def render(src: str, data: dict[str, Any]) -> str:
    """The template as ``files.template`` renders it (host, state, inventory available)."""
    path = os.path.join(state.cwd, src) if state.cwd else src
    context = {"host": host, "state": state, "inventory": state.inventory, **data}
    return get_template(path).render(context)


def _matches(dest: str, sha1: str, mode: str | None) -> bool:
    remote = host_facts.get(File, path=dest)
    if not remote or not host_facts.get(Directory, path=posixpath.dirname(dest)):
        return False
    if mode is not None and remote.get("mode") != int(mode):
        return False
    return host_facts.get(Sha1File, path=dest) == sha1


@operation()
def template(src: str, dest: str, mode: str | None = None, **data: Any) -> Generator:
    """
    ``files.template`` (``src`` rendered with ``data``), skipped when ``dest`` already holds
    exactly that with ``mode``.

    + src / dest / mode: as for ``files.template``
    + data: the template's variables
    """
    sha1 = hashlib.sha1(render(src, data).encode()).hexdigest()
    if _matches(dest, sha1, mode):
        host.noop(f"{dest} is up to date")
        return
    yield from files.template._inner(src=src, dest=dest, mode=mode, **data)


@operation()
def put(src: str, dest: str, mode: str | None = None) -> Generator:
    """
    ``files.put`` of a local file (creating the remote directory), skipped when ``dest``
    already holds it with ``mode``.

    + src / dest / mode: as for ``files.put``
    """
    with open(src, "rb") as local:
        sha1 = hashlib.sha1(local.read()).hexdigest()
    if _matches(dest, sha1, mode):
        host.noop(f"{dest} is up to date")
        return
    yield from files.put._inner(src=src, dest=dest, mode=mode, create_remote_dir=True)


@operation()
def directory(path: str, mode: str) -> Generator:
    """``files.directory``, skipped when ``path`` is a directory with ``mode``."""
    present = host_facts.get(Directory, path=path)
    if present and present.get("mode") == int(mode):
        host.noop(f"directory {path} exists")
        return
    yield from files.directory._inner(path=path, mode=mode)


@operation()
def absent(path: str) -> Generator:
    """``files.file(present=False)``, skipped when nothing is at ``path``."""
    if not host_facts.get(File, path=path):
        host.noop(f"{path} does not exist")
        return
    yield from files.file._inner(path=path, present=False)


@operation()
def running(service: str) -> Generator:
    """``systemd.service(running=True, enabled=True)``, skipped when it is both already."""
    active = host_facts.get(SystemdStatus, services=[service], **_SYSTEMD).get(service)
    enabled = host_facts.get(SystemdEnabled, services=[service], **_SYSTEMD).get(service)
    if active and enabled:
        host.noop(f"{service} is running and enabled")
        return
    yield from systemd.service._inner(service=service, running=True, enabled=True)
