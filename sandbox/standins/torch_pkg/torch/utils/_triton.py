# Stand-in excerpt of torch/utils/_triton.py (sandbox only): the lines the community Pascal
# build's patch rewrites (`sed -e "s/.major >= 7/.major >= 6/g"`), as in the real file.
import torch


def has_triton():
    def cuda_extra_check():
        return torch.cuda.get_device_properties(0).major >= 7

    return torch.cuda.is_available() and cuda_extra_check()
