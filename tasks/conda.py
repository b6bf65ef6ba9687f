"""Conda: Miniforge installed once into conda_prefix (sha256-verified), its .condarc, and the
pip.conf the stack envs' pip uses (index = pypi_index_url, extra index = the resolved stack's
PyTorch cuXYZ index). Runnable alone: `pyinfra inventories/sandbox.py tasks/conda.py`.
"""

from pyinfra import host, local

from gpufleet.config import HostConfig
from gpufleet.operations import conda, managed
from gpufleet.prefetch import prefetch_deploy

local.include("tasks/preflight.py")

plan = host.data.gpufleet_plan
cfg = HostConfig.from_data(host.name, host.data.get)
prefetch_deploy(cfg, plan)  # one round trip (none when an earlier task gathered them)

conda.miniforge(
    name=f"Install Miniforge {cfg.miniforge_version}",
    prefix=cfg.conda_prefix,
    version=cfg.miniforge_version,
    url=cfg.miniforge_url.format(version=cfg.miniforge_version),
    downloads_dir=cfg.downloads_dir,
    sha256=cfg.miniforge_sha256,
    cache_dir=cfg.artifact_dir(),
)
managed.template(
    name="Configure conda (.condarc)",
    src="templates/condarc.j2",
    dest=f"{cfg.conda_prefix}/.condarc",
    mode="644",
    channels=cfg.conda_channels,
    channel_alias=cfg.conda_channel_alias,
)
managed.template(
    name="Configure the envs' pip indexes (PyPI + the stack's cu index)",
    src="templates/pip.conf.j2",
    dest=f"{cfg.conda_prefix}/pip.conf",
    mode="644",
    **conda.pip_settings(cfg.pypi_index_url, cfg.pytorch_index_url, plan.stack.torch_cuda),
)
