"""The facts tasks/driver.py, cuda.py, conda.py and stack.py read, gathered in one round trip.

Each of those tasks starts with ``prefetch_deploy(cfg, plan)``: the first one to run gathers
every fact below in one SSH command (``gpufleet.facts.host``), the others find them kept. A fact
missing from this list still works (the operation reads it with its own round trip): the list
only decides how fast a no-op run is, never what it does. tests/test_prefetch.py checks that a
no-op run's operations find every fact they read here.
"""

from __future__ import annotations

from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import Directory, File
from pyinfra.facts.server import KernelVersion

from gpufleet.config import HostConfig
from gpufleet.facts import host as host_facts
from gpufleet.facts.apt import AptHolds
from gpufleet.facts.conda import CondaEnvs, Miniforge, ServiceEnvLinks
from gpufleet.facts.driver import CudaToolkitAt, InstalledDriver
from gpufleet.facts.host import Query, query
from gpufleet.facts.nvidia import NouveauLoaded, NvidiaDriver
from gpufleet.facts.vllm import VllmStacks
from gpufleet.operations import driver, managed, toolkit
from gpufleet.plan import Plan


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
    return queries


def prefetch_deploy(cfg: HostConfig, plan: Plan) -> None:
    """Gather ``deploy_queries`` in one round trip (nothing when already gathered this run)."""
    host_facts.prefetch(deploy_queries(cfg, plan))
