"""gpufleet.drain: `show stat` parsing (real HAProxy 2.6 output), the last-healthy-server rule,
drain/wait/ready against a scripted admin socket, and the rollout's drain hooks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from gpufleet import drain as dr
from gpufleet.operations import rollout as ro

# Captured on a sandbox gateway: `set server embedding/sbx01-embedding state drain; show stat`
SHOW_STAT = (Path(__file__).parent / "test_drain_show_stat.txt").read_text()
DRAIN = dr.Drain(("gw1",), "embedding", "sbx01-embedding", timeout_s=5)


def stat_text(rows: dict[str, tuple[str, int]], backend: str = "embedding") -> str:
    """A `show stat` answer with the real header and one row per server: status, scur."""
    header = SHOW_STAT.strip().splitlines()[0]
    width = len(header.split(","))
    lines = [header]
    for server, (status, sessions) in rows.items():
        fields = [""] * width
        fields[:5] = [backend, server, "0", "0", str(sessions)]
        fields[17] = status
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


class Socket:
    """A gateway's admin socket: answers `show stat` from a list of states, records the rest."""

    def __init__(self, *states: dict[str, tuple[str, int]]):
        self.states, self.sent = list(states), []

    def run(self, command: str) -> tuple[bool, str]:
        self.sent.append(command)
        if "show stat" in command:
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return True, stat_text(state)
        return True, "\n"

    def balancer(self) -> dr.Balancer:
        return dr.Balancer("gw1", self.run, "/run/haproxy/admin.sock")

    def set_commands(self) -> list[str]:
        return [c.split("set server ")[1].split("'")[0] for c in self.sent if "set server" in c]


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(dr, "POLL_S", 0)


def test_show_stat_parses_real_output():
    stats = dr.parse_stat(SHOW_STAT.splitlines())
    assert set(stats) == {"embedding", "chat"}  # FRONTEND/BACKEND rows are not servers
    assert stats["embedding"]["sbx01-embedding"] == dr.ServerStat("DRAIN", 0, 0)
    assert stats["embedding"]["sbx03-embedding"].healthy
    assert not stats["embedding"]["sbx01-embedding"].healthy
    assert sorted(stats["chat"]) == ["sbx02-chat", "sbx04-chat"]


def test_show_stat_refuses_other_text():
    with pytest.raises(ValueError, match="not `show stat` output"):
        dr.parse_stat(["Unknown command."])


@pytest.mark.parametrize(
    ("rows", "refused"),
    [
        ({"a": ("UP", 0), "b": ("UP", 0)}, False),
        ({"a": ("UP", 0), "b": ("DOWN", 0)}, True),
        ({"a": ("UP", 0), "b": ("DRAIN", 0)}, True),
        ({"a": ("UP", 0)}, True),
        ({"a": ("DOWN", 0), "b": ("DOWN", 0)}, False),  # takes no traffic: nothing lost
        ({"b": ("UP", 0)}, False),  # not in the balancer at all
        ({"a": ("UP 1/2", 0), "b": ("UP 1/2", 0)}, False),  # going down but still serving
    ],
)
def test_the_last_healthy_server_is_never_drained(rows, refused):
    stats = dr.parse_stat(stat_text(rows).splitlines())
    why = dr.refusal(stats, "embedding", "a")
    assert bool(why) == refused
    if refused:
        assert why.startswith("it is the last healthy server of embedding")


def test_admin_command_skips_a_gateway_without_haproxy():
    line = dr.admin_command("/run/haproxy/admin.sock", "show stat")
    assert line.startswith("if [ -S /run/haproxy/admin.sock ]; then python3 -c ")
    assert dr.NO_SOCKET in line
    empty = dr.Balancer("gw1", lambda command: (True, dr.NO_SOCKET + "\n"), "/x")
    assert empty.stats() == {}


def test_take_out_drains_then_waits_for_in_flight_requests():
    sock = Socket(
        {"sbx01-embedding": ("UP", 2), "sbx03-embedding": ("UP", 0)},  # the check
        {"sbx01-embedding": ("DRAIN", 2), "sbx03-embedding": ("UP", 3)},  # still busy
        {"sbx01-embedding": ("DRAIN", 0), "sbx03-embedding": ("UP", 5)},  # done
    )
    logged: list[str] = []
    dr.take_out(SimpleNamespace(), [sock.balancer()], DRAIN, logged.append)
    assert sock.set_commands() == ["embedding/sbx01-embedding state drain"]
    assert logged == ["drained embedding/sbx01-embedding on gw1"]
    assert not sock.states[1:]  # it polled until the sessions were gone


def test_take_out_refuses_the_last_healthy_server_and_changes_nothing():
    sock = Socket({"sbx01-embedding": ("UP", 1), "sbx03-embedding": ("DOWN", 0)})
    with pytest.raises(dr.DrainError, match="last healthy server of embedding"):
        dr.take_out(SimpleNamespace(), [sock.balancer()], DRAIN, print)
    assert sock.set_commands() == []


def test_take_out_gives_up_waiting_after_the_timeout():
    sock = Socket({"sbx01-embedding": ("UP", 4), "sbx03-embedding": ("UP", 0)})
    logged: list[str] = []
    quick = dr.Drain(("gw1",), "embedding", "sbx01-embedding", timeout_s=0)
    dr.take_out(SimpleNamespace(), [sock.balancer()], quick, logged.append)
    assert logged == ["drain timeout (0s): UP 4 sessions still in flight; restarting anyway"]


def test_a_server_the_gateway_does_not_know_is_left_alone():
    sock = Socket({"sbx03-embedding": ("UP", 0)})
    logged: list[str] = []
    dr.take_out(SimpleNamespace(), [sock.balancer()], DRAIN, logged.append)
    assert sock.set_commands() == []
    assert logged[0] == "gw1: embedding/sbx01-embedding not in the balancer"


def test_put_back_sets_ready_and_waits_until_up():
    sock = Socket(
        {"sbx01-embedding": ("DRAIN", 0)},
        {"sbx01-embedding": ("DOWN 1/2", 0)},
        {"sbx01-embedding": ("UP", 0)},
    )
    logged: list[str] = []
    dr.put_back([sock.balancer()], DRAIN, logged.append)
    assert sock.set_commands() == ["embedding/sbx01-embedding state ready"]
    assert logged == ["embedding/sbx01-embedding back in the balancer on gw1"]


def test_haproxy_error_answers_are_one_line_errors():
    balancer = dr.Balancer("gw1", lambda command: (True, "No such server.\n"), "/s")
    with pytest.raises(dr.DrainError, match="gw1: set server embedding/x state drain: No such"):
        balancer.set_state("embedding", "x", "drain")


# --- the rollout's hooks (gpufleet.operations.rollout._apply) ---

OLD = "/opt/gpufleet/envs/vllm-0.8.5.post1-torch-2.6.0-cu124"
HEALTHY = '{"ok": true, "step": "done", "error": null, "elapsed_s": 2.0}'
RELEASE = ro.Release(
    service="embedding",
    unit="gpufleet-vllm-embedding",
    unit_path="/etc/systemd/system/gpufleet-vllm-embedding.service",
    unit_text="unit\n",
    env_file="/etc/gpufleet/vllm-embedding.env",
    env_text="env\n",
    link="/opt/gpufleet/services/embedding/current",
    target_env="/opt/gpufleet/envs/vllm-0.19.1-torch-2.10.0-cu129",
    gate=("python3", "/opt/gpufleet/lib/gpufleet_health.py"),
)


class ServingHost:
    def __init__(self, events: list[str]):
        self.name, self.events = "sbx01", events

    def run_shell_command(self, command):
        text = str(command)
        if "systemctl restart" in text:
            self.events.append("restart")
        answer = HEALTHY if "gpufleet_health.py" in text else OLD if "readlink" in text else ""
        return True, [SimpleNamespace(line=answer)]

    def put_file(self, io, path):
        return True

    def log(self, message, *args, **kwargs):
        self.events.append(message)

    def log_styled(self, message, **kwargs):
        self.events.append(f"ERROR {message}")


def test_rollout_drains_before_the_restart_and_puts_back_after_the_gate(monkeypatch):
    events: list[str] = []
    sock = Socket(
        {"sbx01-embedding": ("UP", 0), "sbx03-embedding": ("UP", 0)},
        {"sbx01-embedding": ("DRAIN", 0), "sbx03-embedding": ("UP", 0)},
        {"sbx01-embedding": ("UP", 0), "sbx03-embedding": ("UP", 0)},
    )
    monkeypatch.setattr(ro, "balancers", lambda state, drain: [sock.balancer()])
    assert ro._apply(SimpleNamespace(), ServingHost(events), RELEASE, drain=DRAIN) is True
    drained = events.index("drained embedding/sbx01-embedding on gw1")
    restarted = events.index("restart")
    back = events.index("embedding/sbx01-embedding back in the balancer on gw1")
    assert drained < restarted < back


def test_rollout_refused_drain_switches_nothing_and_stops_the_run(monkeypatch):
    events: list[str] = []
    sock = Socket({"sbx01-embedding": ("UP", 0), "sbx03-embedding": ("MAINT", 0)})
    monkeypatch.setattr(ro, "balancers", lambda state, drain: [sock.balancer()])
    run_state = SimpleNamespace()
    assert ro._apply(run_state, ServingHost(events), RELEASE, drain=DRAIN) is False
    assert "restart" not in events and sock.set_commands() == []
    assert any("last healthy server of embedding" in e and "nothing switched" in e for e in events)
    assert ro.log_for(run_state).failed == "sbx01"
