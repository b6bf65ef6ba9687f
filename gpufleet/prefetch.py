"""The facts a deploy reads, gathered in one round trip.

tasks/driver.py, cuda.py, conda.py and stack.py start with ``prefetch_deploy(cfg, plan)``: the
first one to run gathers every fact below in one SSH command (``gpufleet.facts.host``), the
others find them kept. The list includes what tasks/services.py and its rollout read for each
server of the host (``service_queries``), so a full deploy reads its servers' state in the same
round trip; tasks/services.py run alone gathers them with ``prefetch_services``. A fact missing
from this list still works (the operation reads it with its own round trip): the list only
decides how fast a no-op run is, never what it does.
"""

from __future__ import annotations

from contextlib import suppress

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import Directory, File, FileContents, Link, Sha1File
from pyinfra.facts.server import KernelVersion, Users

from gpufleet.config import ConfigError, HostConfig
from gpufleet.facts import host as host_facts
from gpufleet.facts.apt import AptHolds
from gpufleet.facts.conda import CondaEnvs, Miniforge, ServiceEnvLinks
from gpufleet.facts.driver import CudaToolkitAt, InstalledDriver
from gpufleet.facts.host import Query, query
from gpufleet.facts.nvidia import NouveauLoaded, NvidiaDriver
from gpufleet.facts.vllm import VllmStacks
from gpufleet.models import ModelDirError, ModelFiles, ModelVersions, manifest
from gpufleet.operations import driver, managed, toolkit
from gpufleet.plan import Plan
from gpufleet.serve import server_specs
from gpufleet.services import HEALTH_SCRIPT, ServerPlan, plan_server

_SERVERS = "gpufleet_servers"  # host.data key of the host's planned servers


def deploy_queries(cfg: HostConfig, plan: Plan) -> list[Query]:
    """Every fact a no-op run of the four tasks reads on this host."""
    assert plan.stack is not None
    stack = plan.stack
    queries = [
        query(KernelVersion),
        query(NouveauLoaded),
        query(NvidiaDriver),
        query(InstalledDriver),
        query(DebPackages),
        query(AptHolds),
        query(CudaToolkitAt, path=toolkit.toolkit_path(cfg.cuda_root, stack.cuda_toolkit_version)),
        query(Miniforge, prefix=cfg.conda_prefix),
        query(CondaEnvs, envs_dir=cfg.envs_dir),
        query(VllmStacks, envs_dir=cfg.envs_dir),
        query(ServiceEnvLinks, services_dir=f"{cfg.gpufleet_root}/services"),
        query(Directory, path=cfg.envs_dir),
        query(Directory, path=f"{cfg.gpufleet_root}/wheelhouse"),
        query(File, path=driver.REBOOT_MARKER),
        *managed.service_queries(driver.PERSISTENCED_SERVICE),
    ]
    for dest in (
        driver.NOUVEAU_BLACKLIST,
        driver.PERSISTENCED_UNIT,
        toolkit.PROFILE,
        f"{cfg.conda_prefix}/.condarc",
        f"{cfg.conda_prefix}/pip.conf",
        f"{cfg.gpufleet_root}/lib/postinstall.py",
    ):
        queries += managed.file_queries(dest)
    # a malformed server list is left to tasks/services.py, which names host, value and rule
    with suppress(ConfigError, ModelDirError, ValueError):
        queries += service_queries(cfg, planned_servers(cfg, plan))
    return queries


def prefetch_deploy(cfg: HostConfig, plan: Plan) -> None:
    """Gather ``deploy_queries`` in one round trip (nothing when already gathered this run)."""
    host_facts.prefetch(deploy_queries(cfg, plan))


def planned_servers(cfg: HostConfig, plan: Plan) -> list[ServerPlan]:
    """The host's servers (``gpufleet.services.plan_server``), planned once per run: a synced
    model's manifest hashes its files on the control machine. Raises ConfigError,
    ModelDirError or ValueError for a malformed server list or model_source."""
    kept = host.data.get(_SERVERS)
    if kept is None:
        kept = []
        for spec in server_specs(host.name, host.data.get):
            synced = manifest(spec.model_source) if spec.model_source else None
            kept.append(plan_server(spec, plan.gpu, plan.stack, cfg, synced))
        setattr(host.data, _SERVERS, kept)
    return kept


def service_queries(cfg: HostConfig, servers: list[ServerPlan]) -> list[Query]:
    """Every fact a no-op tasks/services.py reads: the service user, the health script, each
    server's model directory (or synced versions and the unit naming the one in use), and
    what its rollout compares (the `current` link, the unit's and env file's sha1)."""
    if not servers:
        return []
    queries = [query(Users), *managed.file_queries(f"{cfg.gpufleet_root}/{HEALTH_SCRIPT}")]
    for item in servers:
        release = item.release
        if item.manifest is None:
            queries.append(query(ModelFiles, path=item.spec.model_path))
        else:
            queries.append(query(ModelVersions, path=item.spec.model_path))
            queries.append(query(FileContents, path=release.unit_path))
        queries.append(query(Link, path=release.link))
        queries += [query(Sha1File, path=path) for path in (release.unit_path, release.env_file)]
    return queries


def prefetch_services(cfg: HostConfig, servers: list[ServerPlan]) -> None:
    """Gather ``service_queries`` in one round trip (nothing when the deploy's batch has)."""
    host_facts.prefetch(service_queries(cfg, servers))
