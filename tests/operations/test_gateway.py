"""gpufleet.operations.gateway as data: the host's facts -> the commands expected (or the
one-line refusal, under "error")."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from pyinfra.api import OperationError
from pyinfra.context import ctx_state

from tests.operations.scenarios import Scenario, run, scenarios


@pytest.mark.parametrize("scenario", scenarios("gateway"))
def test_gateway_scenario(scenario: Scenario) -> None:
    with ctx_state.use(SimpleNamespace(config=SimpleNamespace(DIFF=False))):
        if "error" in scenario.data:
            with pytest.raises(OperationError) as error:
                run(scenario)
            assert str(error.value) == scenario.data["error"]
            return
        commands, fake = run(scenario)
    # an upload's source is an in-memory file: its repr names an address
    commands = [re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "<BytesIO>", c) for c in commands]
    assert commands == scenario.data["commands"]
    if not commands:
        assert fake.noops or scenario.op == "api_key_file", "nothing to do is said"
