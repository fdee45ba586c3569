import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
torch.set_num_threads(min(2, os.cpu_count() or 1))


def load_script(name):
    """A module from scripts/ (not a package), to call its functions in-process."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_face(rng, size=64):
    """A blob 'face': background, a coloured disc, two eyes. Made here, never from data."""
    y, x = np.mgrid[:size, :size]
    img = np.empty((size, size, 3), np.uint8)
    img[:] = rng.integers(0, 255, 3)
    cx, cy, r = rng.integers(24, 40), rng.integers(24, 40), rng.integers(14, 22)
    img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
    for dx in (-7, 7):
        img[(x - cx - dx) ** 2 + (y - cy + 5) ** 2 < 9] = (20, 20, 20)
    return img


def tiny_maskgit(guide=False):
    """A randomly initialised MaskGIT small enough for fast tests of the studio and the batcher."""
    from maskgit import MaskGIT
    from maskgit.guided import Guide, GuideConfig
    from maskgit.transformer import BidirectionalTransformer, TransformerConfig
    from maskgit.tokenizer import FSQAutoencoder, TokenizerConfig
    torch.manual_seed(0)
    vq = FSQAutoencoder(TokenizerConfig(channels=(8, 16, 16), res_blocks=1, fsq_levels=(3, 3, 3)))
    tr = BidirectionalTransformer(TransformerConfig(vocab_size=27, dim=16, n_layers=1, n_heads=2))
    small_guide = Guide(GuideConfig(channels=(4, 8), bottleneck_blocks=1)) if guide else None
    return MaskGIT(vq, tr, small_guide, device="cpu", bf16=False)


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for split, n in (("train", 48), ("val", 12)):
        os.makedirs(root / split)
        for i in range(n):
            Image.fromarray(synthetic_face(rng)).save(root / split / f"{i}.png")
    return str(root)


@pytest.fixture
def face():
    return synthetic_face(np.random.default_rng(1))
