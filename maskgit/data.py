"""Image folders -> one uint8 tensor in memory (12k faces of 64x64 are 150 MB).

Each file is read by maskgit.images, as the command line and the studio read a face."""
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from .errors import MaskGITError
from .images import read_model_rgb

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(folder):
    if not os.path.isdir(folder):
        raise MaskGITError(f"image folder not found: {folder}")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise MaskGITError(f"no images in {folder}")
    return [os.path.join(folder, n) for n in names]


def load_image_folder(folder, size=64, limit=None, workers=8, distinct=False):
    """All images of `folder` as uint8 (N, 3, size, size), sorted by file name. `distinct`
    keeps only the first of images with identical pixels: a face stored twice would weigh
    twice in training."""
    paths = list_images(folder)[:limit]
    with ThreadPoolExecutor(workers) as pool:
        arrays = list(pool.map(lambda p: read_model_rgb(p, size)[0], paths))
    if distinct:
        seen, kept = set(), []
        for a in arrays:
            digest = hashlib.sha1(a.tobytes()).digest()
            if digest not in seen:
                seen.add(digest)
                kept.append(a)
        arrays = kept
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
