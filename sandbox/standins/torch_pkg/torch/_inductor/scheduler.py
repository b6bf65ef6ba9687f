# Stand-in excerpt of torch/_inductor/scheduler.py (sandbox only): the lines the community
# Pascal build's patch rewrites (`sed -e "s/.major < 7/.major < 6/g"`), as in the real file.
import torch


def create_backend(device):
    device_props = torch.cuda.get_device_properties(device)
    if device_props.major < 7:
        raise RuntimeError(
            f"Found {device_props.name} which is too old to be supported by the triton GPU "
            "compiler, which is used as the backend. Triton only supports devices of CUDA "
            f"Capability >= 7.0, but your device is of CUDA capability "
            f"{device_props.major}.{device_props.minor}"
        )
    return "triton"
