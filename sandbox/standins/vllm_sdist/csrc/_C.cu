// Stand-in vLLM kernel source (sandbox only; see sandbox/standins/vllm_sdist/setup.py): the
// toolkit stand-in's nvcc reads no source, it writes a stand-in fatbin for the -gencode targets.
__global__ void gpufleet_standin_kernel() {}
