"""Read a pyinfra inventory file (and its group_data) the way the pyinfra CLI does.

>>> [name for name, _ in hosts("inventories/lab.py")][:2]
['gpu01', 'gpu02']
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any


class InventoryError(ValueError):
    """The inventory file cannot be read: the message names the file and the cause."""


def hosts(path: str, cwd: str | None = None) -> list[tuple[str, Callable[[str, Any], Any]]]:
    """(host name, data getter) for every host of the inventory, in inventory order."""
    if not os.path.isfile(path):
        raise InventoryError(f"{path}: no such inventory file")
    # pyinfra_cli patches ssl through gevent on import; only this command path needs it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyinfra.api import State
        from pyinfra.context import ctx_state
        from pyinfra_cli.inventory import make_inventory_from_files

    with ctx_state.use(State()):
        try:
            inventory = make_inventory_from_files(path, cwd=cwd or os.getcwd())
        except Exception as exc:  # a user's Python file: any error is theirs to fix
            raise InventoryError(f"{path}: {type(exc).__name__}: {exc}") from exc
    return [(host.name, host.data.get) for host in inventory]
