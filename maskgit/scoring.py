"""Inpainting a whole set of faces and scoring it: what `maskgit.evaluate` and the benchmark
tables share.

The transformer's pass is the costly part (about 0.1 s per face and step on two CPU cores),
and its tokens do not depend on the decoder: a set is decoded once into tokens, which may
be kept in a file, and every decoder is scored from the same tokens.
"""
import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from .checkpoint import atomic_write_bytes
from .images import model_to_unit, uint8_to_unit, unit_to_model, unit_to_uint8
from .precision import autocast
from .masks import paste_back


@dataclass(frozen=True)
class DecodeSettings:
    """Everything a set's tokens depend on besides the faces and the weights. Each batch draws
    from seed + its first index, so the batch size is a setting too."""
    schedule: str = "cosine"
    sweet_spot: int = 10
    total_iter: int = 10
    choice_temperature: float = 4.5
    seed: int = 0
    fill: str = "smooth"
    final_step: str = "mode"
    undecided: str = "mode"
    grow_hole: int = 0
    order: str = "confidence"
    batch_size: int = 64

    @classmethod
    def from_args(cls, args, **overrides):
        fields = {k: getattr(args, k) for k in cls.__dataclass_fields__ if hasattr(args, k)}
        return replace(cls(**fields), **overrides)

    def pipeline_kwargs(self):
        return {k: v for k, v in asdict(self).items() if k != "batch_size"}


def image_set_digest(masked, holes):
    return hashlib.sha1(masked.tobytes() + np.packbits(holes).tobytes()).hexdigest()[:16]


def read_token_cache(path, key):
    if not path or not os.path.exists(path):
        return None
    with safe_open(path, "pt") as f:
        if json.loads((f.metadata() or {}).get("key", "null")) != key:
            return None
        return f.get_tensor("tokens").long()


def write_token_cache(path, tokens, key):
    atomic_write_bytes(path, lambda tmp: save_file({"tokens": tokens.short().contiguous()}, tmp,
                                                   metadata={"key": json.dumps(key)}))


def set_tokens(model, masked, holes, settings: DecodeSettings, weights, cache=None, quiet=False, steps=None):
    """The decoded token ids (N, n_tokens) of a set of faces: {sweet spot: tokens} for each of
    `steps` (default: the settings' sweet spot; an earlier step of the same run is shared).
    Reused from the file `cache` when it holds these settings, faces and weights."""
    steps = sorted(set(steps or [settings.sweet_spot]))
    weights = {k: weights[k] for k in ("vqgan", "transformer")}  # what decides the tokens (not the guide)
    key = {"settings": asdict(replace(settings, sweet_spot=steps[-1])), "steps": steps, "weights": weights,
           "images": image_set_digest(masked, holes)}
    cached = read_token_cache(cache, key)
    if cached is not None:
        return dict(zip(steps, cached))
    out = {s: [] for s in steps}
    run = replace(settings, sweet_spot=steps[-1])
    for i in tqdm(range(0, len(masked), settings.batch_size), desc="inpainting", disable=quiet, mininterval=5):
        for record in model.inpaint_steps(masked[i:i + settings.batch_size], holes[i:i + settings.batch_size],
                                          **{**run.pipeline_kwargs(), "seed": settings.seed + i},
                                          decode="none", decoder="tokens"):
            if record.step in out:
                out[record.step].append(record.tokens.flatten(1).cpu())
    tokens = {s: torch.cat(v) for s, v in out.items()}
    if cache:
        write_token_cache(cache, torch.stack([tokens[s] for s in steps]), key)
    return tokens


def decode_set(model, tokens, masked, holes, decoder, batch_size=64):
    """Decoded and composited uint8 images of a set's tokens."""
    decoded, composited = [], []
    for i in range(0, len(tokens), batch_size):
        images, hole = model.to_batch(masked[i:i + batch_size], holes[i:i + batch_size])
        image = model.decode(tokens[i:i + batch_size].to(model.device), images, hole, decoder)
        decoded.append(unit_to_uint8(image))
        composited.append(unit_to_uint8(paste_back(image, images, hole)))
    return np.concatenate(decoded), np.concatenate(composited)


@torch.no_grad()
def reconstruct_set(tokenizer, truth, batch_size=64):
    """The tokenizer's reconstructions (uint8) of uint8 faces (N, H, W, 3)."""
    device = next(tokenizer.parameters()).device
    out = []
    for i in range(0, len(truth), batch_size):
        x = unit_to_model(uint8_to_unit(truth[i:i + batch_size]).to(device))
        with autocast(device):
            recon = tokenizer.decode(tokenizer.encode(x))
        out.append(unit_to_uint8(model_to_unit(recon.float())))
    return np.concatenate(out)


def psnr_uint8(images, truth):
    """Mean PSNR in dB of uint8 images against uint8 truth."""
    mse = ((images.astype(np.float64) - truth) ** 2).reshape(len(truth), -1).mean(1)
    return float(np.mean(10 * np.log10(255 ** 2 / np.maximum(mse, 1e-10))))


def psnr_known(images, truth, holes):
    """Mean over images of the PSNR (dB) of the known pixels (outside the hole)."""
    known = (~holes)[..., None]
    err = ((images.astype(np.float64) - truth) ** 2 * known).reshape(len(truth), -1).sum(1)
    mse = err / (3 * known.reshape(len(truth), -1).sum(1)).clip(1)
    return float(np.mean(10 * np.log10(255 ** 2 / np.maximum(mse, 1e-10))))
