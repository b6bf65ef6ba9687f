"""gpufleet.operations.rollout: which hosts get a rollout (scenarios), and what the rollout
does at execution time: switch, restart, gate, and on failure roll back and stop the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from pyinfra.context import ctx_host, ctx_state

from gpufleet.operations import rollout as ro
from tests.operations.scenarios import FakeHost, Scenario, scenarios


@dataclass
class RolloutHost(FakeHost):
    sha1: dict = field(default_factory=dict)
    logged: list[str] = field(default_factory=list)
    release: ro.Release | None = None

    def get_fact(self, fact_cls, *args, **kwargs):
        if fact_cls.__name__ == "Sha1File":
            key = "unit" if kwargs["path"] == self.release.unit_path else "env"
            return self.sha1[key]
        return super().get_fact(fact_cls, *args, **kwargs)

    def log(self, message, *args, **kwargs):
        self.logged.append(message)


def _release(data: dict) -> ro.Release:
    return ro.Release(**{**data, "gate": tuple(data["gate"])})


@pytest.mark.parametrize("scenario", scenarios("rollout"))
def test_rollout_scenarios(scenario: Scenario):
    release = _release(scenario.data["args"]["release"])
    fake = RolloutHost(scenario.data["facts"], sha1=scenario.data["sha1"], release=release)
    run_state = SimpleNamespace(config=SimpleNamespace(DIFF=False))
    with ctx_state.use(run_state), ctx_host.use(fake):
        commands = [str(c) for c in ro.rollout._inner(release=release)]
    assert commands == scenario.data["commands"]
    if "logged" in scenario.data:
        assert any(scenario.data["logged"] in line for line in fake.logged), fake.logged
    assert (fake.name in ro.log_for(run_state).planned) == bool(commands)


class ScriptedHost:
    """A host at execution time: answers shell commands from (substring -> (ok, output))."""

    def __init__(self, name: str, answers: dict[str, tuple[bool, str]]):
        self.name, self.answers = name, answers
        self.ran: list[str] = []
        self.uploaded: list[str] = []

    def run_shell_command(self, command):
        text = str(command)
        self.ran.append(text)
        for needle, answer in self.answers.items():
            if needle in text:
                return answer[0], [SimpleNamespace(line=line) for line in answer[1].splitlines()]
        return True, []

    def put_file(self, io, path):
        self.uploaded.append(path)
        return True

    def log(self, *args, **kwargs):
        pass

    def log_styled(self, message, **kwargs):
        self.ran.append(f"LOG {message}")


RELEASE = _release(
    scenarios("rollout")[0].values[0].data["args"]["release"]  # any scenario's release
)
OLD = "/opt/gpufleet/envs/vllm-0.8.5.post1-torch-2.6.0-cu124"
HEALTHY = '{"ok": true, "step": "done", "error": null, "elapsed_s": 2.0}'
BROKEN = (
    '{"ok": false, "step": "health", "error": "gpufleet-vllm-embedding exited", "elapsed_s": 3}'
)


def test_healthy_rollout_switches_atomically_and_keeps_no_backup():
    run_state = SimpleNamespace()
    host = ScriptedHost("gpu01", {"readlink": (True, OLD), "gpufleet_health.py": (True, HEALTHY)})
    assert ro._apply(run_state, host, RELEASE) is True
    switch = next(c for c in host.ran if "ln -sfn" in c)
    assert RELEASE.target_env in switch and "mv -T" in switch and "systemctl restart" in switch
    assert host.uploaded == [RELEASE.unit_path, RELEASE.env_file]
    assert "rm -f" in host.ran[-1] and ".gpufleet-prev" in host.ran[-1]
    assert ro.log_for(run_state).rolled == ["gpu01"]


def test_failed_gate_rolls_back_confirms_and_stops_later_hosts():
    run_state = SimpleNamespace()
    gates = iter([BROKEN, HEALTHY])  # new env fails, the old one passes again
    host = ScriptedHost("gpu01", {"readlink": (True, OLD), "journalctl": (True, "boom")})
    original = host.run_shell_command

    def run(command):
        if "gpufleet_health.py" in str(command):
            host.ran.append(str(command))
            return True, [SimpleNamespace(line=next(gates))]
        return original(command)

    host.run_shell_command = run
    ro.log_for(run_state).planned.update({"gpu01": None, "gpu02": None})
    assert ro._apply(run_state, host, RELEASE) is False
    switches = [c for c in host.ran if "ln -sfn" in c]
    assert RELEASE.target_env in switches[0] and OLD in switches[1]
    assert any('mv -f "$f.gpufleet-prev"' in c for c in host.ran)  # unit/env file restored
    error = next(c for c in host.ran if c.startswith("LOG"))
    assert "failed its health gate at health" in error and "healthy again" in error
    assert "rolled back: gpu01; untouched: gpu02" in error
    later = ScriptedHost("gpu02", {})
    assert ro._apply(run_state, later, RELEASE) is False
    assert later.uploaded == [] and not any("ln -sfn" in c for c in later.ran)
    assert "not switched: gpu01 failed its gate" in later.ran[0]


def test_unstamped_env_is_never_switched_to():
    run_state = SimpleNamespace()
    host = ScriptedHost("gpu01", {"test -f": (False, "")})
    assert ro._apply(run_state, host, RELEASE) is False
    assert host.uploaded == [] and not any("ln -sfn" in c for c in host.ran)
    assert "no completion stamp" in host.ran[-1]
