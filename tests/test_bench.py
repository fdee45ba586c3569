import argparse

import numpy as np
import torch

from conftest import tiny_maskgit as tiny_model
from maskgit.bench import conv_flops, inpaint_at_steps
from maskgit.evaluate import to_uint8


def noise_faces(n, seed, box):
    """n random 64x64 images with the same rectangular hole (rows, cols slices)."""
    images = np.random.default_rng(seed).integers(0, 255, (n, 64, 64, 3)).astype(np.uint8)
    holes = np.zeros((n, 64, 64), bool)
    holes[(slice(None), *box)] = True
    return images, holes


def test_one_run_serves_several_sweet_spots_exactly():
    model = tiny_model()
    images, holes = noise_faces(3, 0, (slice(10, 40), slice(20, 50)))
    for final_step in ("mode", "sample"):  # the whole schedule (6) reaches the last step: both ways
        settings = argparse.Namespace(seed=5, batch_size=2, choice_temperature=4.5, fill="smooth", undecided="mode",
                                      final_step=final_step)
        shared = inpaint_at_steps(model, images, holes, "cosine", 6, [2, 4, 6], settings)
        for s in (2, 4, 6):
            separate = [to_uint8(model.inpaint(images[i:i + 2], holes[i:i + 2], schedule="cosine", total_iter=6,
                                               sweet_spot=s, seed=5 + i, final_step=final_step).image)
                        for i in (0, 2)]
            assert np.array_equal(shared[s][0], np.concatenate(separate))
            known_far = ~holes
            known_far[:, 8:42, 18:52] = False
            assert np.array_equal(shared[s][1][known_far], images[known_far])


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


def test_conv_flops_counts_multiply_adds_twice():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    assert conv_flops(conv, torch.zeros(1, 3, 10, 10)) == 2 * 8 * 10 * 10 * 3 * 9
