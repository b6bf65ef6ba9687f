"""Read a pyinfra inventory file (and its group_data) the way the pyinfra CLI does.

>>> [name for name, _ in hosts("inventories/lab.py")][:2]
['gpu01', 'gpu02']
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyinfra.api import State


class InventoryError(ValueError):
    """The inventory file cannot be read: the message names the file and the cause."""


def pyinfra_state(path: str, cwd: str | None = None) -> State:
    """A pyinfra State over the inventory's hosts, as the CLI builds it (not connected)."""
    if not os.path.isfile(path):
        raise InventoryError(f"{path}: no such inventory file")
    # pyinfra_cli patches ssl through gevent on import, and warns that it is too late; the patch
    # is what pyinfra's own CLI runs with, so the warning says nothing to a gpufleet user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyinfra.api import Config, State
        from pyinfra.context import ctx_state
        from pyinfra_cli.inventory import make_inventory_from_files

    state = State()
    with ctx_state.use(state):
        try:
            inventory = make_inventory_from_files(path, cwd=cwd or os.getcwd())
        except Exception as exc:  # a user's Python file: any error is theirs to fix
            raise InventoryError(f"{path}: {type(exc).__name__}: {exc}") from exc
    state.init(inventory, Config())
    return state


def hosts(path: str, cwd: str | None = None) -> list[tuple[str, Callable[[str, Any], Any]]]:
    """(host name, data getter) for every host of the inventory, in inventory order."""
    return [(host.name, host.data.get) for host in pyinfra_state(path, cwd).inventory]
