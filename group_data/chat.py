"""Hosts serving the chat model (vLLM OpenAI chat/completions).

`chat_server` is this role's server; any key can be overridden per host (inventory data) or per
server in `vllm_servers`. From the users' notes: `--gpu-memory-utilization 0.95 --dtype float32`
(P40) with tensor parallel 4, and `--max-num-seqs`, `--max-model-len`, `--max-num-batched-tokens`
tuned per model: left "auto" here, sized from VRAM, the model and max_model_len (gpufleet plan
prints the reasons).
"""

serve_chat = True
chat_server = {
    "name": "chat",  # unit gpufleet-vllm-chat
    "role": "chat",
    "model_path": "/opt/models/chat",  # on the host: config.json + weights
    "model_source": None,  # or a directory on the control machine, synced as a new version
    "served_model_name": "chat",
    # port: group_data/all.py chat_port
    "gpus": "0,1,2,3",  # CUDA_VISIBLE_DEVICES; one tensor-parallel rank per GPU
    "tensor_parallel_size": "auto",  # auto = number of GPUs above
    "dtype": "auto",  # auto = the solver's: V100 half, P40 float32, sm_80+ bfloat16
    "max_model_len": 8192,
    "gpu_memory_utilization": 0.95,
    "max_num_batched_tokens": "auto",
    "max_num_seqs": "auto",
    "enable_chunked_prefill": False,
    "enforce_eager": False,
    "trust_remote_code": False,
    "model_params_b": 7,  # used when config.json is not readable on the control machine
}
