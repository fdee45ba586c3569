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


def test_shipped_tokenizer_reconstructs_well():
    from PIL import Image, ImageFilter
    from conftest import synthetic_face
    model = load(CHECKPOINTS, device="cpu", bf16=False)
    rng = np.random.default_rng(0)
    # slightly blurred synthetic faces: photo-like edges, never data set images
    faces = np.stack([np.asarray(Image.fromarray(synthetic_face(rng)).filter(ImageFilter.GaussianBlur(1)))
                      for _ in range(8)])
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255
    recon = model.decode(model.encode(x))
    psnr = 10 * torch.log10(1 / ((recon - x) ** 2).flatten(1).mean(1))
    flat = x.mean(dim=(2, 3), keepdim=True).expand_as(x)  # the best single colour per image
    flat_psnr = 10 * torch.log10(1 / ((flat - x) ** 2).flatten(1).mean(1))
    # saturated random colours are far from cat photos; an untrained tokenizer scores ~10 dB
    assert psnr.mean() > 18 and (psnr - flat_psnr).mean() > 1, (psnr, flat_psnr)


def test_shipped_model_generates_from_nothing():
    model = load(CHECKPOINTS, device="cpu")
    steps = list(model.generate_steps(2, sweet_spot=8, total_iter=8, seed=3))
    assert len(steps) == 8 and steps[-1].image.shape == (2, 3, 64, 64)
    assert steps[0].known.sum() == 0
    assert not torch.equal(steps[-1].image[0], steps[-1].image[1])


def test_shipped_transformer_names_the_shipped_tokens():
    """`train.py transformer --init-from checkpoints` continues only on the tokens it names."""
    import json
    from maskgit.checkpoint import tokens_digest
    with open(os.path.join(CHECKPOINTS, "transformer.json")) as f:
        info = json.load(f)["info"]
    assert info["tokenizer"] == tokens_digest(CHECKPOINTS, "vqgan")


def test_the_committed_fid_reports_were_made_with_the_shipped_weights():
    """Replacing a checkpoint makes every FID table stale until it is rerun."""
    import json
    from conftest import ROOT
    from maskgit.checkpoint import file_digest, weights_digests
    shipped = {**weights_digests(CHECKPOINTS), "guide": file_digest(os.path.join(CHECKPOINTS, "guide.safetensors"))}
    with open(os.path.join(ROOT, "docs", "bench", "fid_results.json")) as f:
        assert json.load(f)["settings"]["weights"] == shipped


def test_shipped_discriminator_loads_for_further_decoder_tuning():
    """`train.py vqgan --init-from checkpoints` starts its adversarial term from this one: it
    must load at the trainer's default size and name the shipped decoder."""
    from maskgit.checkpoint import weights_digests
    from maskgit.training.cli import parse
    from maskgit.training.discriminator import PatchDiscriminator, load_discriminator
    disc = PatchDiscriminator(parse(["vqgan", "--data-root", "d", "--out", "o", "--steps", "1"]).disc_channels)
    fresh = {k: v.clone() for k, v in disc.state_dict().items()}
    info = load_discriminator(disc, CHECKPOINTS)
    assert info["vqgan"] == weights_digests(CHECKPOINTS)["vqgan"]
    assert any(not torch.equal(fresh[k], v) for k, v in disc.state_dict().items())
    logits = disc(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 1, 14, 14) and torch.isfinite(logits).all()


def test_shipped_tokens_decode_exactly_as_pinned():
    """The tokens-only path's outputs on the shipped weights are pinned (fp32, a drawn face and
    hole): the token ids bit for bit, the picture to float rounding. A change to the decoding
    rule, the seeding or the weights shows here first; one meant to change them re-pins."""
    import hashlib
    model = load(CHECKPOINTS, device="cpu", bf16=False, guide=False)
    y, x = np.mgrid[:64, :64]
    face = np.stack([(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)
    hole = np.zeros((64, 64), bool)
    hole[18:42, 14:46] = True
    pinned = {"cosine": ("52cc235095c91db0", 0.5229958295822144), "linear": ("4069bb22430a3f6c", 0.5541434288024902)}
    for schedule, (digest, mean) in pinned.items():
        steps = list(model.inpaint_steps(face, hole, schedule=schedule, sweet_spot=6, total_iter=6, seed=3))
        tokens = torch.stack([s.tokens for s in steps]).numpy().astype(np.int64)
        assert hashlib.sha1(tokens.tobytes()).hexdigest()[:16] == digest
        assert abs(float(steps[-1].image.mean()) - mean) < 1e-4
