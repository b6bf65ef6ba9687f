"""Hosts serving the embedding model (vLLM pooling runner).

`embedding_server` is this role's server; any key can be overridden per host (inventory data)
or per server in `vllm_servers`. Values are the users' notes' embedding command line:
`--task embed --max-model-len 512 --served-model-name qwen3-embedding --gpu-memory-utilization
0.5 --dtype half --tensor-parallel-size 4 --max-num-batched-tokens 8192 --max-num-seqs 16`,
CUDA_VISIBLE_DEVICES=4,5,6,7 (`--task embed` becomes `--runner pooling --convert embed` on
vLLM releases that renamed it: gpufleet/serve.py picks the flags for the stack's version).
"""

serve_embedding = True
embedding_server = {
    "name": "embedding",  # unit gpufleet-vllm-embedding
    "role": "embedding",
    "model_path": "/opt/models/qwen3-embedding",  # on the host: config.json + weights
    "model_source": None,  # or a directory on the control machine, synced as a new version
    "served_model_name": "qwen3-embedding",
    # port: group_data/all.py embedding_port
    "gpus": "4,5,6,7",  # CUDA_VISIBLE_DEVICES; one tensor-parallel rank per GPU
    "tensor_parallel_size": "auto",  # auto = number of GPUs above
    "dtype": "auto",  # auto = the solver's: V100 half, P40 float32, sm_80+ bfloat16
    "max_model_len": 512,
    "gpu_memory_utilization": 0.5,  # or "auto": from VRAM, model size and max_model_len
    "max_num_batched_tokens": 8192,  # or "auto"
    "max_num_seqs": 16,  # or "auto"
    "enforce_eager": False,
    "trust_remote_code": False,
    "model_params_b": None,  # model size in billions when config.json is not readable here
}
