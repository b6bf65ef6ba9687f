"""Stand-in of vLLM's fused-MoE layer package (sandbox only): the config file naming the real
one reads (`get_config_file_name`) and the notes' tuning entry point (tuning.py)."""


def get_config_dtype_str(dtype):
    """vLLM's _get_config_dtype_str for unquantized weights: float32 gets its own configs
    ("avoiding cases where kernel fails when float32 MoE use fp16/bfloat16 configs")."""
    return "float32" if dtype in ("float32", "float") else None


def get_config_file_name(E, N, dtype=None, block_shape=None):
    """vLLM's fused_moe.get_config_file_name: `E=<experts>,N=<n>,device_name=<GPU name with
    spaces as underscores>[,dtype=<d>].json` (vllm/model_executor/layers/fused_moe/fused_moe.py)."""
    import torch

    device_name = torch.cuda.get_device_name().replace(" ", "_")
    dtype_selector = "" if not dtype else f",dtype={dtype}"
    block = "" if not block_shape else f",block_shape={block_shape}"
    return f"E={E},N={N},device_name={device_name}{dtype_selector}{block}.json"
