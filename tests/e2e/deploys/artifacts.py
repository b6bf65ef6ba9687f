"""e2e deploy (test infrastructure): the driver, CUDA and Miniforge downloads of the host's
stack, into a scratch dir, through `download.verified_file` as tasks/driver.py, cuda.py and
conda.py call it (same URLs, checksums and cache setting), without installing them.

tests/e2e/test_artifact_cache.py runs it with artifact_cache=control; the scratch dir is
GPUFLEET_ARTIFACTS_DEST on the hosts (removed by the test).
"""

import os

from pyinfra import host, local

from gpufleet.config import HostConfig
from gpufleet.operations import download

local.include("tasks/preflight.py")

DEST = os.environ.get("GPUFLEET_ARTIFACTS_DEST", "/var/tmp/gpufleet-e2e-artifacts")
cfg = HostConfig.from_data(host.name, host.data.get)
stack = host.data.gpufleet_plan.stack
driver_url = cfg.nvidia_driver_url.format(version=stack.driver_version)
cuda_url = cfg.cuda_runfile_url.format(
    version=stack.cuda_toolkit_version, runfile=stack.cuda_runfile
)
miniforge_url = cfg.miniforge_url.format(version=cfg.miniforge_version)
for url, checksum in (
    (driver_url, download.checksum_url(cfg.nvidia_driver_sha256_url, driver_url)),
    (cuda_url, download.checksum_url(cfg.cuda_sha256_url, cuda_url)),
    (miniforge_url, download.checksum_url("{name}.sha256", miniforge_url)),
):
    download.verified_file(
        name=f"Fetch {url.rsplit('/', 1)[-1]}",
        url=url,
        dest=f"{DEST}/{url.rsplit('/', 1)[-1]}",
        sha256_url=checksum,
        cache_dir=cfg.artifact_dir(),
    )
