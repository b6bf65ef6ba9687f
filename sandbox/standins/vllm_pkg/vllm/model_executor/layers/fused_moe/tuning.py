"""Stand-in of the fused-MoE tuning run (sandbox only: the real one benchmarks Triton kernels
on the GPU for hours; vLLM's own script is benchmarks/kernels/benchmark_moe.py --tune).

    python -m vllm.model_executor.layers.fused_moe.tuning --model DIR --tp 4 --dtype float32 \
        --output DIR

takes the users' notes' flags, reads the model's config.json like the real run (experts:
num_experts / num_local_experts / n_routed_experts; intermediate: moe_intermediate_size /
intermediate_size), and writes ONE config file named as vLLM names them,
`E=<experts>,N=<intermediate / tp>,device_name=<GPU>[,dtype=float32].json`, holding a kernel
config per batch size. The numbers are derived from a hash of (GPU, E, N, dtype): deterministic,
so a re-run writes the same bytes; they are not measured.
"""

import argparse
import hashlib
import json
import os
import sys

from vllm.model_executor.layers.fused_moe import get_config_dtype_str, get_config_file_name

BATCH_SIZES = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 1536, 2048, 3072, 4096]


def _shape(model):
    with open(os.path.join(model, "config.json")) as f:
        config = json.load(f)
    config = config.get("text_config", config)
    keys = ("num_experts", "num_local_experts", "n_routed_experts")
    experts = next((config[k] for k in keys if k in config), None)
    inter = config.get("moe_intermediate_size") or config.get("intermediate_size")
    if not experts or not inter:
        sys.exit(f"ValueError: {model}/config.json is not a MoE model (no experts)")
    return experts, inter


def _configs(seed: str) -> dict:
    out = {}
    for m in BATCH_SIZES:
        h = hashlib.sha256(f"{seed}:{m}".encode()).digest()
        out[str(m)] = {
            "BLOCK_SIZE_M": 16 if m <= 16 else [32, 64, 128][h[0] % 3],
            "BLOCK_SIZE_N": [32, 64, 128, 256][h[1] % 4],
            "BLOCK_SIZE_K": [64, 128, 256][h[2] % 3],
            "GROUP_SIZE_M": [1, 16, 32, 64][h[3] % 4],
            "num_warps": [4, 8][h[4] % 2],
            "num_stages": [2, 3, 4, 5][h[5] % 4],
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="fused-MoE tuning (gpufleet stand-in)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--tp", "--tp-size", type=int, default=1, dest="tp")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--output", "--save-dir", required=True, dest="output")
    args = parser.parse_args(argv)
    experts, inter = _shape(args.model)
    if inter % args.tp:
        sys.exit(f"ValueError: intermediate size {inter} is not divisible by tp {args.tp}")
    name = get_config_file_name(experts, inter // args.tp, get_config_dtype_str(args.dtype))
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, name)
    with open(path, "w") as f:
        json.dump(_configs(name), f, indent=4)
        f.write("\n")
    print(f"Writing best config to {path}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
