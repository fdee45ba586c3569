from dataclasses import replace

import numpy as np
import torch

from maskgit import MaskGIT
from maskgit.bench.speed import count_flops
from maskgit.scoring import DecodeSettings, decode_set, set_tokens
from maskgit.transformer import BidirectionalTransformer, TransformerConfig
from maskgit.tokenizer import FSQAutoencoder, TokenizerConfig


def tiny_model():
    torch.manual_seed(0)
    vq = FSQAutoencoder(TokenizerConfig(channels=(8, 16, 16), res_blocks=1, fsq_levels=(3, 3, 3)))
    tr = BidirectionalTransformer(TransformerConfig(vocab_size=27, dim=16, n_layers=1, n_heads=2))
    return MaskGIT(vq, tr, device="cpu", bf16=False)


def noise_faces(n, seed, box):
    """n random 64x64 images with the same rectangular hole (rows, cols slices)."""
    images = np.random.default_rng(seed).integers(0, 255, (n, 64, 64, 3)).astype(np.uint8)
    holes = np.zeros((n, 64, 64), bool)
    holes[(slice(None), *box)] = True
    return images, holes


def test_one_run_serves_several_sweet_spots_exactly(tmp_path):
    model = tiny_model()
    images, holes = noise_faces(3, 0, (slice(10, 40), slice(20, 50)))
    weights = {"vqgan": "v", "transformer": "t"}
    for final_step in ("mode", "sample"):  # the whole schedule (6) reaches the last step: both ways
        settings = DecodeSettings(total_iter=6, sweet_spot=6, seed=5, batch_size=2, final_step=final_step)
        cache = tmp_path / f"{final_step}.safetensors"
        shared = set_tokens(model, images, holes, settings, weights, cache=str(cache), quiet=True, steps=[2, 4, 6])
        for s in (2, 4, 6):
            separate = [model.inpaint(images[i:i + 2], holes[i:i + 2], schedule="cosine", total_iter=6,
                                      sweet_spot=s, seed=5 + i, final_step=final_step, decode="none").tokens
                        for i in (0, 2)]
            assert torch.equal(shared[s], torch.cat(separate).flatten(1))
        # the cache answers the same settings, and only them
        reused = set_tokens(model, images, holes, settings, weights, cache=str(cache), quiet=True, steps=[2, 4, 6])
        assert all(torch.equal(reused[s], shared[s]) for s in (2, 4, 6))
        other = set_tokens(model, images, holes, replace(settings, seed=6), weights, cache=str(cache), quiet=True,
                           steps=[2, 4, 6])
        assert not torch.equal(other[6], shared[6])
    decoded, composited = decode_set(model, shared[6], images, holes, "tokens", batch_size=2)
    known_far = ~holes  # the known pixels beyond the 1-pixel feather at the seam
    known_far[:, 8:42, 18:52] = False
    assert np.array_equal(composited[known_far], images[known_far])
    assert not np.array_equal(decoded[known_far], images[known_far])


def test_the_last_step_takes_the_most_likely_tokens_by_default_except_when_generating():
    model = tiny_model()
    images, holes = noise_faces(4, 1, (slice(8, 56), slice(8, 56)))
    run = lambda **kw: model.inpaint(images, holes, schedule="cosine", total_iter=3, sweet_spot=3, seed=2,  # noqa: E731
                                     decode="none", **kw).tokens
    default, mode, sample = run(), run(final_step="mode"), run(final_step="sample")
    assert torch.equal(default, mode) and not torch.equal(default, sample)
    # generating from nothing draws at the last step too: one step, two seeds, two faces
    one_step = [next(iter(model.generate_steps(2, total_iter=1, sweet_spot=1, seed=s, decode="none"))).tokens
                for s in (0, 1)]
    assert not torch.equal(one_step[0], one_step[1])


def test_flops_count_multiply_adds_twice():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    assert count_flops(lambda: conv(torch.zeros(1, 3, 10, 10))) == 2 * 8 * 10 * 10 * 3 * 9
