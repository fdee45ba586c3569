"""The committed checkpoints load and do real work."""
import os

import numpy as np
import torch

from conftest import ROOT
from maskgit import load

CHECKPOINTS = os.path.join(ROOT, "checkpoints")


def test_shipped_checkpoints_inpaint_one_image(face):
    model = load(CHECKPOINTS, device="cpu")
    hole = np.zeros((64, 64), bool)
    hole[20:44, 16:48] = True
    steps = list(model.inpaint_steps(face, hole, sweet_spot=10, total_iter=10, seed=0))
    assert len(steps) == 10
    final = steps[-1]
    assert not final.still_masked.any()
    img = final.image[0]
    assert img.shape == (3, 64, 64) and 0 <= img.min() and img.max() <= 1
    # outside the hole the decoded image stays close to the input (the tokenizer works)
    original = torch.from_numpy(face).permute(2, 0, 1).float() / 255
    outside = ~torch.from_numpy(hole)
    outside[16:48, 12:52] = False  # away from the hole's seam
    err = (img - original).abs()[:, outside].mean().item()
    assert err < 0.08, err


def test_shipped_tokenizer_reconstructs_well(face):
    model = load(CHECKPOINTS, device="cpu", bf16=False)
    x = torch.from_numpy(face).permute(2, 0, 1)[None].float() / 255
    recon = model.decode(model.encode(x))
    psnr = 10 * torch.log10(1 / ((recon - x) ** 2).mean())
    assert psnr > 22, psnr


def test_shipped_model_generates_from_nothing():
    model = load(CHECKPOINTS, device="cpu")
    steps = list(model.generate_steps(2, sweet_spot=8, total_iter=8, seed=3))
    assert len(steps) == 8 and steps[-1].image.shape == (2, 3, 64, 64)
    assert steps[0].known.sum() == 0
    assert not torch.equal(steps[-1].image[0], steps[-1].image[1])
