"""The transformer's own inpaintings of training faces, for the guide to learn from.

At inference the guide reads a face decoded from tokens that are not the truth's: the known
tokens come from the encoder's view of the masked face, the hole's from the transformer, and
tokens on a ragged border carry a sample's content into known pixels. A guide trained only on
the truth's reconstruction learns small corrections; on ragged val holes its known region
reads 41 dB from the truth's tokens but 34.8 dB from the transformer's. Each sample here is
one face inpainted once as the studio does (cosine, 10 of 10) in a random training hole; the
guide then learns to give back the known pixels whatever the tokens drew, and to keep the
sample in the hole while blending it into them.

Drawn once per face and cached in the run folder a chunk at a time (about 1 s a face on two
CPU cores, milliseconds on a GPU), so an interrupted run keeps what it drew.
"""
import json
import os

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import file_digest, read_tensors, save_tensors
from ..errors import MaskGITError
from ..images import model_to_uint8
from ..masks import random_hole
from ..pipeline import MaskGIT, load_transformer
from ..precision import autocast

CHUNK = 64


def samples_key(tokenizer, transformer, n_truth, seed, ragged, split):
    """What decides the samples. Not their number: faces and holes are drawn in an order
    that does not depend on it, so a cache serves any smaller count and grows for a larger.
    The transformer's digest is left out (None) where its weights are absent: a cache drawn
    elsewhere can then still be trained from, though not grown."""
    path = os.path.join(transformer, "transformer.safetensors")
    return {"vqgan": file_digest(os.path.join(tokenizer, "vqgan.safetensors")),
            "transformer": file_digest(path) if os.path.exists(path) else None,
            "split": split, "faces": n_truth, "seed": seed, "ragged": ragged}


def same_key(cached, key):
    return all(cached.get(k) == v for k, v in key.items() if v is not None)


def sample_holes(n, seed, size, ragged):
    rng = np.random.default_rng([seed, 7])
    return np.stack([random_hole(rng, size, ragged) for _ in range(n)])


def read_cache(path, key):
    """(index, holes, tokens) already drawn under `key`, or None."""
    if not os.path.exists(path):
        return None
    cached = read_tensors(path)
    if not same_key(json.loads(bytes(cached["key"].tolist()).decode()), key):
        return None
    size = int(cached["size"])
    holes = np.unpackbits(cached["holes"].numpy(), axis=1)[:, :size * size].reshape(-1, size, size)
    return cached["index"], torch.from_numpy(holes.astype(bool)), cached["tokens"].long()


def write_cache(path, key, index, holes, tokens):
    size = holes.shape[-1]
    packed = np.packbits(holes.reshape(len(holes), -1).numpy(), axis=1)
    save_tensors({"key": torch.tensor(list(json.dumps(key).encode()), dtype=torch.uint8), "size": torch.tensor(size),
                  "index": index, "holes": torch.from_numpy(packed), "tokens": tokens.to(torch.int16)}, path)


def transformer_samples(path, vqgan, truth, *, tokenizer, transformer, n_faces, seed, ragged, device,
                        holes=None, split="train"):
    """(index into truth, hole, tokens) for n_faces faces of `truth` (uint8 (N, 3, H, W)),
    drawn in random holes (or the given ones, one per face in order), cached at `path`."""
    n_faces = min(n_faces, len(truth))
    key = samples_key(tokenizer, transformer, len(truth), seed, ragged, split)
    size = truth.shape[-1]
    if holes is None:
        index = torch.from_numpy(np.random.default_rng([seed, 11]).permutation(len(truth))[:n_faces].copy())
        holes = torch.from_numpy(sample_holes(n_faces, seed, size, ragged))  # hole i is the same for any n
    else:
        index, holes = torch.arange(n_faces), torch.as_tensor(holes[:n_faces])
    cached = read_cache(path, key)
    tokens = cached[2] if cached is not None else torch.empty(0, dtype=torch.long)  # drawn in order
    if len(tokens) >= n_faces:
        return index, holes, tokens[:n_faces]
    if key["transformer"] is None:
        raise MaskGITError(f"{transformer} holds no transformer.safetensors to inpaint the guide's training "
                           f"faces with ({len(tokens)} of {n_faces} drawn in {path})")
    model = MaskGIT(vqgan, load_transformer(transformer), device=device)
    bar = tqdm(total=n_faces, initial=len(tokens), desc=f"inpainting {split} faces for the guide", mininterval=10)
    while len(tokens) < n_faces:
        lo, hi = len(tokens), min(len(tokens) + CHUNK, n_faces)
        images = truth[index[lo:hi]].float() / 255
        record = model.inpaint(images, holes[lo:hi], schedule="cosine", sweet_spot=10, total_iter=10,
                               seed=seed * 1_000_003 + lo, decode="none", decoder="tokens")
        tokens = torch.cat([tokens, record.tokens.flatten(1).cpu()])
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        write_cache(path, key, index[:len(tokens)], holes[:len(tokens)], tokens)
        bar.update(hi - lo)
    bar.close()
    return index, holes, tokens


@torch.no_grad()
def decode_tokens(vqgan, tokens, device, batch=256):
    """uint8 (N, 3, H, W) images of token ids (N, n)."""
    grid = vqgan.config.grid_size
    out = []
    for i in range(0, len(tokens), batch):
        with autocast(device):
            img = vqgan.decode(tokens[i:i + batch].to(device).view(-1, grid, grid))
        out.append(model_to_uint8(img))
    return torch.cat(out) if out else torch.empty(0, 3, vqgan.config.image_size, vqgan.config.image_size,
                                                  dtype=torch.uint8)
