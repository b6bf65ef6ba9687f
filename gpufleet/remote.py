"""Gather pyinfra facts from every host of an inventory, in parallel, outside a deploy.

What ``pyinfra INVENTORY fact ...`` does, as a library call that keeps going when a host is
down: each host answers with its facts or with the reason it could not.

    >>> from gpufleet.facts.apt import AptPolicy
    >>> spec = {"apt:dpkg": (AptPolicy, {"package": "dpkg"})}
    >>> found = gather("inventories/sandbox.py", spec)  # doctest: +SKIP
    >>> found["sbx01"].facts["apt:dpkg"]["installed"]  # doctest: +SKIP
    '1.21.23'
    >>> found["sbx02"].error  # doctest: +SKIP
    'Could not connect (timed out)'
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet.inventory import pyinfra_state

# pyinfra_cli patches ssl through gevent on import, and warns that it is too late; the patch is
# what pyinfra's own CLI runs with, so the warning says nothing to a gpufleet user.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import gevent
    from pyinfra.api import FactBase, Host, State
    from pyinfra.api.exceptions import ConnectError, PyinfraError
    from pyinfra.api.facts import get_fact
    from pyinfra.context import ctx_host, ctx_state

# fact key -> (fact class, keyword arguments of its command), e.g. (AptPolicy, {"package": "gcc"})
FactSpec = Mapping[str, tuple[type[FactBase], Mapping[str, Any]]]


@dataclass(frozen=True)
class HostFacts:
    """One host's answer: every fact of the spec by key, or ``error`` saying why not.

    >>> HostFacts("gpu01", {"holds": []}).ok
    True
    """

    host: str
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def gather(inventory_path: str, facts: FactSpec, cwd: str | None = None) -> dict[str, HostFacts]:
    """Connect to every host of the inventory and read ``facts`` there, all hosts at once.

    Returns ``{host name: HostFacts}`` in inventory order. A host that cannot be reached, or
    whose fact command fails, gets ``error`` set; no host's failure raises. A fact whose command
    is missing on the host (no nvidia-smi yet) gives the fact's default, as in a deploy.
    """
    state = pyinfra_state(inventory_path, cwd)
    hosts = list(state.inventory)
    greenlets = [state.pool.spawn(_gather_host, state, host, facts) for host in hosts]
    gevent.joinall(greenlets)
    results = {host.name: greenlet.get() for host, greenlet in zip(hosts, greenlets, strict=True)}
    _disconnect(state)
    return results


def _gather_host(state: State, host: Host, facts: FactSpec) -> HostFacts:
    try:
        host.connect(show_errors=False, raise_exceptions=True)
    except ConnectError as exc:
        return HostFacts(host.name, error=str(exc.args[0] if exc.args else exc))
    state.activate_host(host)
    found = {}
    for key, (fact_cls, kwargs) in facts.items():
        value, error = _one_fact(state, host, fact_cls, kwargs)
        if error:
            return HostFacts(host.name, found, f"could not load fact {key}: {error}")
        found[key] = value
    return HostFacts(host.name, found)


def _one_fact(
    state: State, host: Host, fact_cls: type[FactBase], kwargs: Mapping[str, Any]
) -> tuple[Any, str | None]:
    # pyinfra reports a failed fact command by failing the host (and raising once no host is
    # left), not by raising: read the failure back from state.failed_hosts.
    try:
        with ctx_state.use(state), ctx_host.use(host):
            value = get_fact(state, host, fact_cls, kwargs=dict(kwargs))
    except PyinfraError as exc:
        if host not in state.failed_hosts:
            return None, str(exc)
    except OSError as exc:  # the connection dropped mid-way
        return None, f"{type(exc).__name__}: {exc}"
    if host in state.failed_hosts:
        return None, "its command failed (see the log above)"
    return value, None


def _disconnect(state: State) -> None:
    for host in state.inventory:
        if host.connected:
            host.disconnect()
