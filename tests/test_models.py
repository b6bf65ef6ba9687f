"""Model versions: which one a unit serves, and that a sync never prunes it."""

from pyinfra.context import ctx_host

from gpufleet.models import digest, model_sync, version_in_use
from tests.operations.scenarios import FakeHost

UNIT = [
    "[Service]",
    "ExecStart=/opt/gpufleet/services/embedding/current/bin/vllm serve "
    "/opt/models/e5/3f2a9c01b7de --served-model-name e5 --port 8000",
]


def test_version_in_use_reads_the_unit_argv():
    assert version_in_use(UNIT, "/opt/models/e5") == "3f2a9c01b7de"
    assert version_in_use(UNIT, "/opt/models/e5/") == "3f2a9c01b7de"
    assert version_in_use(UNIT, "/opt/models/other") is None
    assert version_in_use(None, "/opt/models/e5") is None


def _sync(versions: dict, files: dict, in_use: str | None) -> list[str]:
    fake = FakeHost({"ModelVersions": versions})
    with ctx_host.use(fake):
        return [str(c) for c in model_sync._inner("/src", "/opt/models/e5", files, in_use)]


def test_sync_keeps_the_version_in_use_and_prunes_the_rest():
    new = {"config.json": "a" * 64, "model.safetensors": "c" * 64}
    running = {"config.json": "a" * 64, "model.safetensors": "b" * 64}
    closer = {"config.json": "a" * 64, "model.safetensors": "c" * 63 + "d"}
    versions = {"3f2a9c01b7de": running, "aaaaaaaaaaaa": closer, "bbbbbbbbbbbb": {"x": "y"}}
    commands = _sync(versions, new, in_use="3f2a9c01b7de")
    removed = [c for c in commands if c.startswith("rm -rf /opt/models/e5/") and "partial" not in c]
    assert removed == ["rm -rf /opt/models/e5/aaaaaaaaaaaa", "rm -rf /opt/models/e5/bbbbbbbbbbbb"]
    assert any(c.endswith(f"/opt/models/e5/{digest(new)}") for c in commands)


def test_sync_of_a_present_version_does_nothing():
    files = {"config.json": "a" * 64}
    assert _sync({digest(files): files}, files, in_use=None) == []
