"""A pyinfra host on this machine (``@local``), to run facts through pyinfra's own get_fact."""

from __future__ import annotations

import pytest
from pyinfra.api import Config, Host, Inventory, State
from pyinfra.api.connect import connect_all


@pytest.fixture(scope="session")
def local_host() -> Host:
    inventory = Inventory((["@local"], {}))
    connect_all(State(inventory, Config()))
    return inventory.get_host("@local")
