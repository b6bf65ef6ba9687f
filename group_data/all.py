"""Every gpufleet default, one place to read them all.

Each setting is overridable per group (group_data/<group>.py) or per host (inventory data).
Versions default to "auto": the solver (gpufleet.compat.resolve) picks the newest stack that
works on the host's GPU; pin any of them to a version to override it.
"""

# --- What to install ("auto" = let the solver choose; pin a version string to override) ---
gpu = "auto"  # "auto" = detect from the host (nvidia-smi, else lspci); or a catalogue name/PCI id
vllm_version = "auto"  # e.g. "0.8.5.post1"
torch_version = "auto"  # e.g. "2.6.0" or "2.6.0+cu124"
driver_version = "auto"  # e.g. "580.105.08"; "auto" = newest release of the newest usable branch
cuda_toolkit = "auto"  # e.g. "12.4"; must be <= torch's CUDA and able to compile for the GPU
python_version = "auto"  # conda env python, e.g. "3.12"
vllm_source = "auto"  # auto | pypi | github-release | pascal-index | source-build
allow_source_build = False  # let the solver fall back to building vLLM from source

# --- Where things come from (real upstream defaults; point them at a lab mirror) ---
pypi_index_url = "https://pypi.org/simple"  # pip index (PEP 503/691), also `matrix refresh`
pytorch_index_url = "https://download.pytorch.org/whl"  # + "/cu124": pip extra index
# NVIDIA driver runfile ({version} = the stack's driver version) and CUDA toolkit runfile
# ({version}, {runfile} from matrix.yaml cuda_toolkits); vLLM GitHub-release wheels.
nvidia_driver_url = (
    "https://download.nvidia.com/XFree86/Linux-x86_64/{version}/NVIDIA-Linux-x86_64-{version}.run"
)
cuda_runfile_url = (
    "https://developer.download.nvidia.com/compute/cuda/{version}/local_installers/{runfile}"
)
vllm_release_wheel_url = (
    "https://github.com/vllm-project/vllm/releases/download/v{version}/"
    "vllm-{version}+{cuda}-cp38-abi3-{platform}.whl"  # platform: matrix.yaml github_platform
)
# Community Pascal (sm_60/61) vLLM builds (vllm-pascal, triton-pascal): used for P40/P100 hosts.
pascal_index_url = "https://sasha0552.github.io/pascal-pkgs-ci"
miniforge_version = "24.11.3-2"  # Miniforge release installed into conda_prefix
miniforge_url = (
    "https://github.com/conda-forge/miniforge/releases/download/{version}/"
    "Miniforge3-{version}-Linux-x86_64.sh"
)
# sha256 of the Miniforge installer; None = read the release's "<installer>.sha256" beside it.
miniforge_sha256 = None
# Conda channels of .condarc (conda create only fetches python: torch and vLLM come from pip).
conda_channels = ["conda-forge"]
# None = conda's default; a lab mirror of conda-forge, e.g. "https://conda.lab.internal/conda".
conda_channel_alias = None
# The envs' pip.conf (<conda_prefix>/pip.conf) is index-url = pypi_index_url and
# extra-index-url = pytorch_index_url + "/<torch_cuda>" of the resolved stack (the notes'
# `pip install -i ... --extra-index-url ...`). For a lab-internal mirror override both, e.g.
#   pypi_index_url = "http://pypi.lab.internal/simple"
#   pytorch_index_url = "http://pypi.lab.internal/pytorch/whl"
# (http:// hosts are written as trusted-host; pip ignores an untrusted plain-http index).

# --- Paths on the hosts ---
gpufleet_root = "/opt/gpufleet"  # everything gpufleet owns lives below this
conda_prefix = "/opt/gpufleet/miniforge"
envs_dir = "/opt/gpufleet/envs"  # one immutable env per resolved stack
downloads_dir = "/var/cache/gpufleet"  # verified runfiles/installers
# Where hosts get the driver/CUDA runfiles and the Miniforge installer: "mirror" = each host
# downloads from the configured URL; "control" = the control machine downloads each once (into
# artifact_cache_dir, sha256-verified, resumed with HTTP Range) and pushes it over SSH, so a
# slow WAN link carries each artifact once per cluster instead of once per host.
artifact_cache = "mirror"
artifact_cache_dir = "~/.cache/gpufleet/artifacts"  # on the control machine ("control" mode)
cuda_root = "/usr/local"  # toolkits go to <cuda_root>/cuda-X.Y

# --- Driver policy ---
force_driver_change = False  # change the driver even while GPU processes are running
allow_reboot = False  # never reboot unless set; otherwise report "reboot required"

# --- Driver + CUDA toolkit runfiles (tasks/driver.py, tasks/cuda.py) ---
# Checksum files, resolved against the runfile's URL ({name} = its file name), so a mirror that
# serves a runfile serves its checksum too. NVIDIA publishes "<runfile>.sha256sum" beside each
# driver; for CUDA runfiles it publishes only md5 (docs/sidebar/md5sum.txt), so the default
# expects a lab mirror's "<runfile>.sha256" beside it (sha256sum format) -- or pin cuda_sha256.
nvidia_driver_sha256_url = "{name}.sha256sum"
cuda_sha256_url = "{name}.sha256"
driver_sha256 = None  # the driver runfile's sha256, pinned; takes precedence over the URL
cuda_sha256 = None  # the CUDA runfile's sha256, pinned; takes precedence over the URL
# What the runfile builds its DKMS module with; {kernel} = the running kernel (uname -r).
driver_apt_packages = [
    "build-essential",
    "dkms",
    "pkg-config",
    "initramfs-tools",
    "linux-headers-{kernel}",
]
# apt-mark hold these where installed, so an upgrade cannot swap the kernel under the driver's
# module (Debian and Ubuntu kernel meta packages, the running kernel's headers).
driver_apt_holds = [
    "linux-image-amd64",
    "linux-headers-amd64",
    "linux-image-generic",
    "linux-headers-generic",
    "linux-headers-{kernel}",
]

# --- Serving ---
service_user = "vllm"  # the non-root user the vLLM units run as (created by tasks/services.py)
embedding_port = 8000  # the embedding server's OpenAI API port (per server: `port`)
chat_port = 8001  # the chat server's OpenAI API port
keep_envs = 2  # envs kept besides the one in use
max_unavailable = 1  # hosts restarting at once during a rollout
health_timeout_s = 600  # seconds a restarted server has to pass its gate before rollback
# With a `gateway` group: seconds a server drained from its balancer gets to finish its
# in-flight requests before the restart (and to be seen UP again after it).
drain_timeout_s = 120
serve_embedding = False  # True in group_data/embedding.py: run its `embedding_server`
serve_chat = False  # True in group_data/chat.py: run its `chat_server`
# "auto" = one server per role above, from `embedding_server` / `chat_server` (group_data);
# or a list of server dicts for several servers per host on distinct GPUs and ports, e.g.
#   [{"role": "embedding", "name": "embed-a", "port": 8000, "gpus": "0", ...}, {...}]
# (fields: README "Serving"; missing ones come from the role's server dict defaults).
vllm_servers = "auto"
# Root-only file on the host with one line `VLLM_API_KEY=<key>` (vLLM reads that variable);
# the units load it as an EnvironmentFile, so the key is never in a unit, a diff, argv or a log.
# None = no key (the API is open to whoever reaches the port).
api_key_file = None

# --- Fleet report (gpufleet report INVENTORY, tasks/report.py) ---
# Packages whose installed/candidate/held versions the report shows, as `apt policy` would.
# Debian names: the apt driver (Ubuntu: nvidia-driver-580), the kernel meta package (Ubuntu:
# linux-image-generic), NVIDIA's apt-repo CUDA toolkit, and the compiler + dkms that build the
# driver's module. A name apt does not know reads "-": list the Ubuntu names too on mixed fleets.
report_packages = ["nvidia-driver", "linux-image-amd64", "cuda-toolkit-12-4", "gcc", "dkms"]

# --- Serving performance (README "Serving performance") ---
# The fused-MoE tuning run of `gpufleet tune-moe`, on one host per GPU model, in the env of its
# stack: the users' notes' command. {python} = the env's python, {model} = a directory holding
# the model's config.json, {tp}, {dtype}, {output} = an empty directory for the JSON configs.
# vLLM's own script works too: "{python} benchmark_moe.py --model {model} --tp-size {tp} --tune
# --save-dir {output}" (benchmarks/kernels/ of vLLM's source tree, copied to the host).
moe_tune_command = (
    "{python} -m vllm.model_executor.layers.fused_moe.tuning"
    " --model {model} --tp {tp} --dtype {dtype} --output {output}"
)
# On the control machine, relative to where gpufleet/pyinfra run (the repo): tuned configs as
# vllm-<version>/E=..,N=..,device_name=<GPU>[,dtype=float32].json, committed like any data.
moe_configs_dir = "moe_configs"
# `gpufleet bench-serving` workload: the notes' benchmark_serving.py run (random prompts of
# input_len words, output_len tokens each, Poisson arrivals at request_rate per second, at most
# max_concurrency in flight, num_prompts requests per server).
bench_workload = {
    "input_len": 256,
    "output_len": 128,
    "request_rate": 50.0,
    "max_concurrency": 8,
    "num_prompts": 200,
}
post_rollout_bench = False  # True: tasks/bench.py benchmarks each server after its rollout
bench_results_dir = "bench/serving"  # on the control machine: <host>.jsonl, one line per run
# A post-rollout benchmark this many percent worse than the previous stack's (output tokens/s
# down, or TTFT/TPOT p50 up) marks the host REGRESSION in the log and in bench/serving/.
bench_regression_pct = 10
