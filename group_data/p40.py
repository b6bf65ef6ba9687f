"""Tesla P40 hosts (Pascal GP102, sm_61): R580 proprietary driver, CUDA 12.x toolkit,
community Pascal vLLM builds from `pascal_index_url` (upstream never supported sm_6x),
dtype float32 (fp16 runs at 1/64 of the fp32 rate on GP102)."""

gpu = "Tesla P40"
