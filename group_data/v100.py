"""Tesla V100 hosts (Volta, sm_70): the solver keeps them on the R580 driver (the last branch
that drives Volta, proprietary module), a CUDA 12.x toolkit, torch builds with sm_70 kernels
and dtype half (no bf16 before sm_80)."""

gpu = "Tesla V100-SXM2-32GB"
