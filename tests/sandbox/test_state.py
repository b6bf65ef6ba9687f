"""The state file round-trips, and the cluster plan gives both GPU models and every role."""

import json

from sandbox import cluster, state
from sandbox.state import ClusterState, MirrorState


def _state(n: int = 3) -> ClusterState:
    hosts = tuple(h.with_pid(1000 + i) for i, h in enumerate(cluster.plan_hosts(n)))
    mirror = MirrorState(
        url="http://10.213.255.1:8213",
        address="10.213.255.1",
        port=8213,
        root="/m",
        log="/m.log",
        pid=99,
    )
    return ClusterState(key="/k", known_hosts="/kh", base="/b", mirror=mirror, hosts=hosts)


def test_round_trip(tmp_path):
    path = tmp_path / "state.json"
    state.save(_state(), path)
    assert state.load(path) == _state()
    data = json.loads(path.read_text())
    assert data["hosts"][0]["groups"] == ["v100", "embedding", "canary"]
    assert set(data["hosts"][0]) >= {"name", "address", "netns", "pid", "upper", "gpu", "groups"}


def test_missing_or_foreign_state_reads_as_none(tmp_path):
    path = tmp_path / "state.json"
    assert state.load(path) is None
    path.write_text(json.dumps({"version": 999}))
    assert state.load(path) is None
    path.write_text("{not json")
    assert state.load(path) is None


def test_plan_alternates_gpus_and_roles():
    plan = cluster.plan_hosts(4)
    assert [h.name for h in plan] == ["sbx01", "sbx02", "sbx03", "sbx04"]
    assert [h.gpu for h in plan] == ["Tesla V100-SXM2-32GB", "Tesla P40"] * 2
    assert [h.groups for h in plan] == [
        ("v100", "embedding", "canary"),
        ("p40", "chat"),
        ("v100", "embedding"),
        ("p40", "chat"),
    ]
