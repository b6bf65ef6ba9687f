"""CUDA: the toolkit the host's stack needs (nvcc for source builds), from NVIDIA's archive.

The archive runfile is downloaded to downloads_dir, its sha256 checked before it runs, and run
`--silent --toolkit --toolkitpath=<cuda_root>/cuda-X.Y` (never its bundled driver), side by side
with any other toolkit there. /etc/profile.d/gpufleet-cuda.sh selects the stack's toolkit
(CUDA_HOME, PATH, LD_LIBRARY_PATH). A host that has it gets no command. Runnable alone:

    pyinfra -y inventories/sandbox.py tasks/cuda.py
"""

from pyinfra import host, local

from gpufleet.config import HostConfig
from gpufleet.operations import download, managed, toolkit
from gpufleet.prefetch import prefetch_deploy

local.include("tasks/preflight.py")

plan = host.data.gpufleet_plan
cfg = HostConfig.from_data(host.name, host.data.get)
stack = plan.stack
prefetch_deploy(cfg, plan)  # one round trip (none when tasks/driver.py ran before)
url = cfg.cuda_runfile_url.format(version=stack.cuda_toolkit_version, runfile=stack.cuda_runfile)
path = toolkit.toolkit_path(cfg.cuda_root, stack.cuda_toolkit_version)

toolkit.installed(
    name="Install the stack's CUDA toolkit (runfile, sha256 verified)",
    version=stack.cuda_toolkit_version,
    url=url,
    cuda_root=cfg.cuda_root,
    downloads_dir=cfg.downloads_dir,
    sha256=cfg.cuda_sha256,
    sha256_url=download.checksum_url(cfg.cuda_sha256_url, url),
    cache_dir=cfg.artifact_dir(),
)
managed.template(
    name="Select the stack's CUDA toolkit for logins (/etc/profile.d/gpufleet-cuda.sh)",
    src="templates/cuda-profile.sh.j2",
    dest=toolkit.PROFILE,
    mode="644",
    cuda_home=path,
    cuda_root=cfg.cuda_root,
    stack_name=stack.env_name,
)
