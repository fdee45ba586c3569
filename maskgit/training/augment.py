"""Differentiable augmentation for the discriminator (DiffAugment, Zhao et al. 2020).

With a few thousand distinct faces a discriminator memorises the real set and wins within
minutes, and the generator then learns its quirks instead of sharper detail. Showing it
real and decoded faces through the same kinds of random colour, translation and cutout
(drawn independently per image and per call), each differentiable so the decoder still gets
a gradient, keeps it from overfitting. Images are in the model's range [-1, 1]. Without a
generator the draws are made on the images' device (no host-device copy per step on a GPU);
with one (tests), on the CPU.
"""
import torch
import torch.nn.functional as F


def _rand(shape, like, generator):
    if generator is None:
        return torch.rand(shape, device=like.device, dtype=like.dtype)
    return torch.rand(shape, generator=generator).to(like.device, like.dtype)


def _randint(low, high, shape, like, generator):
    if generator is None:
        return torch.randint(low, high, shape, device=like.device)
    return torch.randint(low, high, shape, generator=generator).to(like.device)


def _uniform(n, low, high, like, generator):
    return low + (high - low) * _rand((n, 1, 1, 1), like, generator)


def colour(x, generator=None):
    """Brightness shift, saturation and contrast scaling (the reference implementation's ranges)."""
    n = len(x)
    x = x + _uniform(n, -0.5, 0.5, x, generator)
    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * _uniform(n, 0.0, 2.0, x, generator)
    mean = x.mean((1, 2, 3), keepdim=True)
    return mean + (x - mean) * _uniform(n, 0.5, 1.5, x, generator)


def translate(x, fraction=0.125, generator=None):
    """Shift each image by up to `fraction` of its size; what moves in is 0 (mid-grey)."""
    n, _, h, w = x.shape
    pad = max(1, int(round(h * fraction)))
    dy = _randint(-pad, pad + 1, (n, 1, 1), x, generator)
    dx = _randint(-pad, pad + 1, (n, 1, 1), x, generator)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + pad).expand(n, h, w)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + pad).expand(n, h, w)
    batch = torch.arange(n, device=x.device)[:, None, None].expand(n, h, w)
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x, fraction=0.5, generator=None):
    """Zero a square of `fraction` of the side at a random place (up to half of it may overhang)."""
    n, _, h, w = x.shape
    size = int(min(h, w) * fraction)
    top = _randint(-size // 2, h - size // 2 + 1, (n, 1, 1), x, generator)
    left = _randint(-size // 2, w - size // 2 + 1, (n, 1, 1), x, generator)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {"colour": colour, "translation": translate, "cutout": cutout}


def parse_policy(text):
    """'colour,translation,cutout' -> the names, checked (the order applied is always this one)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in POLICIES]
    if unknown or not names:
        raise ValueError(f"unknown augmentation {', '.join(unknown) or repr(text)}: "
                         f"choose from {', '.join(POLICIES)}")
    return [n for n in POLICIES if n in names]


def diff_augment(x, policy=tuple(POLICIES), generator=None):
    """The transforms named in `policy`, in the paper's order: colour, translation, cutout."""
    for name in POLICIES:
        if name in policy:
            x = POLICIES[name](x, generator=generator)
    return x
