"""Serving: vLLM servers under systemd, rolled host by host behind a health gate.

For every server of the host (group_data embedding.py / chat.py, or `vllm_servers`): the
service user, the model (checked on the host, or synced from `model_source` as a new version),
then ONE rollout operation per server: unit + env file, `current` -> the resolved stack's env,
restart, health gate (/health, /v1/models, one real request), rollback on failure. It runs with
`_parallel=max_unavailable` (default 1: host by host); hosts in the `canary` group go first.
A host that already runs what it should gets no command; `--dry --diff` shows the unit/env
diffs and "env A -> env B" per host. Run alone: `pyinfra INVENTORY tasks/services.py`.
With a `gateway` group (tasks/gateway.py), each server is drained from its role's balancer
before the restart and put back after its gate (`drain_timeout_s`); the last healthy server
of a role is never drained.
"""

from pyinfra import host, inventory, local
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.files import FileContents
from pyinfra.facts.server import Users
from pyinfra.operations import server

from gpufleet.config import ConfigError, HostConfig
from gpufleet.drain import Drain
from gpufleet.facts import host as host_facts
from gpufleet.gateway import backend_name, server_name
from gpufleet.models import ModelDirError, ModelFiles, check_model_dir, model_sync, version_in_use
from gpufleet.operations import managed
from gpufleet.operations.rollout import rollout
from gpufleet.prefetch import planned_servers, prefetch_services
from gpufleet.services import HEALTH_SCRIPT

local.include("tasks/preflight.py")

plan = host.data.gpufleet_plan
config = HostConfig.from_data(host.name, host.data.get)
try:
    servers = planned_servers(config, plan)
    prefetch_services(config, servers)  # kept already when the install tasks ran first
    for item in servers:
        if item.manifest is None:
            path = item.spec.model_path
            check_model_dir(host.name, path, host_facts.get(ModelFiles, path=path))
except (ConfigError, ModelDirError, ValueError) as exc:
    message = str(exc) if str(exc).startswith(host.name) else f"{host.name}: {exc}"
    raise PyinfraError(message) from None

SHELL, HOME = "/usr/sbin/nologin", "/nonexistent"
user = host_facts.get(Users).get(config.service_user) if servers else None
if servers and not (user and user["shell"] == SHELL and user["home"] == HOME):
    server.user(
        name=f"Service user {config.service_user}",
        user=config.service_user,
        system=True,
        shell=SHELL,
        home=HOME,
        create_home=False,
    )
if servers:
    managed.put(
        name="Health gate script",
        src="gpufleet/health.py",
        dest=f"{config.gpufleet_root}/{HEALTH_SCRIPT}",
        mode="644",
    )

for item in servers:
    if item.manifest is not None:
        model_sync(
            name=f"Sync model {item.spec.served_model_name} ({item.model_dir})",
            src=item.spec.model_source,
            model_path=item.spec.model_path,
            files=item.manifest,
            # the running version is the rollback target: never prune it
            in_use=version_in_use(
                host_facts.get(FileContents, path=item.release.unit_path), item.spec.model_path
            ),
        )

gateways = tuple(h.name for h in inventory.get_group("gateway", []))


def drain_for(item) -> Drain | None:
    if not gateways:
        return None
    backend, server = backend_name(item.spec.role), server_name(host.name, item.spec.name)
    return Drain(gateways, backend, server, config.drain_timeout_s)


canary = "canary" in host.groups
for item in servers if canary else []:
    rollout(
        name=f"Roll out {item.release.unit} (canary)",
        release=item.release,
        drain=drain_for(item),
        _serial=True,
    )
for item in [] if canary else servers:
    rollout(
        name=f"Roll out {item.release.unit}",
        release=item.release,
        drain=drain_for(item),
        _parallel=config.max_unavailable,
    )
