import torch

import pytest

from maskgit.training.augment import colour, cutout, diff_augment, parse_policy, translate
from maskgit.training.losses import LeCam


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_translate_moves_whole_images_and_fills_with_grey():
    # pixel value = 1000 * image + 100 * channel + position + 1: nothing is 0, everything traceable
    x = (torch.arange(64.).view(1, 1, 8, 8) + 1 + 1000 * torch.arange(16.).view(16, 1, 1, 1)
         + 100 * torch.arange(2.).view(1, 2, 1, 1))
    y = translate(x, fraction=0.25, generator=gen())
    assert y.shape == x.shape
    for i, shifted in enumerate(y):
        # every kept pixel is an original pixel of the same image and channel, moved by one offset
        kept = shifted[0] != 0
        assert kept.any()
        assert torch.equal(shifted[1][kept] - shifted[0][kept], torch.full_like(shifted[0][kept], 100.0))
        values = shifted[0][kept] - 1000 * i - 1
        assert values.min() >= 0 and values.max() < 64  # from image i, channel 0
        rows, cols = values.div(8, rounding_mode="floor"), values % 8
        where_r, where_c = kept.nonzero(as_tuple=True)
        assert len(set((rows - where_r).tolist())) == 1 and len(set((cols - where_c).tolist())) == 1
        assert abs((rows - where_r)[0]) <= 2 and abs((cols - where_c)[0]) <= 2
        assert torch.equal(shifted[0] == 0, shifted[1] == 0)  # channels move together
    assert (y == 0).any()  # some image was shifted


def test_cutout_zeroes_one_square_per_image_across_channels():
    y = cutout(torch.ones(32, 3, 16, 16), fraction=0.5, generator=gen())
    holes = y[:, 0] == 0
    assert torch.equal(y[:, 0], y[:, 2])
    sizes = holes.flatten(1).sum(1)
    assert (sizes > 0).all() and (sizes <= 64).all()  # at most 8 x 8, overhanging at most by half
    assert (sizes == 64).any()
    for hole in holes:  # a rectangle: its bounding box is all hole
        r, c = hole.nonzero(as_tuple=True)
        assert hole[r.min():r.max() + 1, c.min():c.max() + 1].all()


def test_colour_changes_each_image_differently_and_keeps_gradients():
    x = torch.rand(8, 3, 8, 8, requires_grad=True)
    y = colour(x, generator=gen())
    shift = (y - x).mean((1, 2, 3))
    assert shift.unique().numel() == 8
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_diff_augment_is_differentiable_and_seeded():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    x.requires_grad_(True)
    a = diff_augment(x, generator=gen(3))
    assert torch.equal(a, diff_augment(x, generator=gen(3)))
    assert not torch.equal(a, diff_augment(x, generator=gen(4)))
    (a * torch.randn_like(a)).sum().backward()
    assert x.grad.abs().sum() > 0


def test_a_policy_applies_only_the_transforms_it_names():
    x = torch.rand(6, 3, 16, 16) + 1  # no zeros: a zero is a pixel moved in or cut out
    assert torch.equal(diff_augment(x, [], generator=gen()), x)
    assert torch.equal(diff_augment(x, ["translation"], generator=gen(1)), translate(x, generator=gen(1)))
    spatial = diff_augment(x, parse_policy("cutout, translation"), generator=gen(2))
    assert set(spatial[spatial != 0].unique().tolist()) <= set(x.unique().tolist())  # colours untouched
    assert parse_policy("cutout,colour") == ["colour", "cutout"]  # always applied in the paper's order
    with pytest.raises(ValueError, match="blur"):
        parse_policy("colour,blur")
    with pytest.raises(ValueError):
        parse_policy(" , ")


def test_lecam_pulls_each_side_toward_the_other_sides_running_mean():
    lecam = LeCam(decay=0.0)  # the running means are the last batch's
    real, fake = torch.full((4,), 2.0), torch.full((4,), -1.0)
    # (2 - (-1))^2 + (-1 - 2)^2
    assert lecam(real, fake).item() == 18.0
    assert lecam.state() == {"real_mean": 2.0, "fake_mean": -1.0}
    close = LeCam(decay=0.0)
    assert close(torch.zeros(4), torch.zeros(4)).item() == 0.0
    restored = LeCam(decay=0.5)
    restored.load(lecam.state())
    restored(torch.zeros(4), torch.zeros(4))  # the running means go on from the loaded ones
    assert restored.state() == {"real_mean": 1.0, "fake_mean": -0.5}


def test_discriminator_features_are_its_hidden_layers_and_feature_matching_pulls_only_the_fake():
    from maskgit.training.discriminator import PatchDiscriminator
    from maskgit.training.losses import feature_matching_loss
    torch.manual_seed(0)
    disc = PatchDiscriminator(channels=16).eval()
    real, fake = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    logits, hidden = disc(real, features=True)
    assert torch.equal(logits, disc(real))  # the same pass, with the activations kept
    assert [tuple(h.shape[1:]) for h in hidden] == [(16, 32, 32), (32, 16, 16), (64, 15, 15)]
    assert feature_matching_loss(hidden, disc(real, features=True)[1]).item() == 0.0
    fake.requires_grad_(True)
    real.requires_grad_(True)
    _, fake_hidden = disc(fake, features=True)
    loss = feature_matching_loss(hidden, fake_hidden)
    expected = sum((f - r).abs().mean() for r, f in zip(hidden, fake_hidden)) / 3
    assert loss.item() == pytest.approx(expected.item()) and loss.item() > 0
    loss.backward()
    assert fake.grad.abs().sum() > 0 and real.grad is None  # the true face is a fixed target
