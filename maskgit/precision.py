"""When to compute in bfloat16: only where the hardware has bf16 arithmetic.

CPUs with AVX-512 BF16 or AMX run bf16 matrix products several times faster than fp32;
CPUs without them (AVX2 only, for example) emulate bf16 hundreds of times slower, so there
every model runs in fp32. CUDA GPUs from Ampere on have bf16.
"""
import contextlib
import functools

import torch


@functools.lru_cache(maxsize=None)
def cpu_has_bf16():
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_is_fast(device):
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_bf16()


def autocast(device, enabled=True):
    """bf16 autocast on `device` when asked for and fast there; otherwise a no-op (fp32)."""
    device = torch.device(device)
    if enabled and bf16_is_fast(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
