"""Pixel holes, token holes and pasting known pixels back.

Convention: a *hole* mask is True where content is missing. The course's mask files are
the opposite (255 = known); files are read by `maskgit.images.mask_to_model_hole`.
"""
import numpy as np
import torch
import torch.nn.functional as F


def pixel_to_token_hole(hole, patch=4):
    """(B, H, W) pixel hole -> (B, H/patch, W/patch) token hole.

    A token counts as known only if its whole patch x patch block is known (the course's
    rule), so any hole pixel inside a block makes that token part of the hole.
    """
    squeeze = hole.ndim == 2
    if squeeze:
        hole = hole[None]
    token_hole = F.max_pool2d(hole[:, None].float(), patch).squeeze(1) > 0
    return token_hole[0] if squeeze else token_hole


def grow_token_hole(token_hole, tokens=1):
    """(B, h, w) token hole grown by `tokens` in every direction (8-neighbourhood), so the
    known tokens that touch the hole are drawn again with it."""
    if tokens < 0 or tokens != int(tokens):
        from .errors import MaskGITError
        raise MaskGITError(f"grow_hole must be a whole number >= 0, got {tokens!r}")
    if tokens == 0:
        return token_hole
    k = 2 * int(tokens) + 1
    return F.max_pool2d(token_hole[:, None].float(), k, stride=1, padding=int(tokens)).squeeze(1) > 0


def token_to_pixel(token_map, patch=4):
    """(B, h, w) token-level map -> (B, h*patch, w*patch) pixel map (nearest)."""
    return token_map.repeat_interleave(patch, -2).repeat_interleave(patch, -1)


def paste_back(decoded, original, hole, feather=1):
    """Keep `original` where pixels are known and `decoded` inside the hole.

    decoded, original: (B, 3, H, W); hole: (B, H, W) bool. With feather > 0 the known
    pixels within `feather` pixels of the hole are blended towards the decoded image, so
    the seam is soft; known pixels further away are copied exactly.
    """
    alpha = hole[:, None].float()
    if feather > 0:
        k = 2 * feather + 1
        # A ramp: one k x k box blur of the hole, kept >= the hard hole, within the ring only.
        soft = F.avg_pool2d(alpha, k, stride=1, padding=feather, count_include_pad=False)
        ring = F.max_pool2d(alpha, k, stride=1, padding=feather) > 0
        alpha = torch.where(ring, torch.maximum(alpha, soft), alpha)
    return alpha * decoded + (1 - alpha) * original


def random_walk_hole(rng, size=64, steps=120, radius2=(9, 30)):
    """A brush-stroke hole (bool size x size): a random walk of discs, like hand-painted
    masks. `rng` is a numpy Generator, so the same seed gives the same hole."""
    hole = np.zeros((size, size), bool)
    y, x = rng.integers(size * 5 // 16, size * 11 // 16, 2)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(steps):
        hole |= (yy - y) ** 2 + (xx - x) ** 2 <= rng.integers(*radius2)
        y = int(np.clip(y + rng.integers(-3, 4), 4, size - 5))
        x = int(np.clip(x + rng.integers(-3, 4), 4, size - 5))
    return hole


def roughen_border(hole, rng, rate=0.3):
    """`hole` (bool H x W) with each pixel of its border band flipped with probability `rate`.

    The band is the pixels whose 3x3 neighbourhood holds both hole and known pixels. Masks
    painted at a higher resolution and reduced to 64x64 look like this: a ragged edge, single
    known pixels just inside the hole and single hole pixels just outside it."""
    padded = np.pad(hole, 1, mode="edge")
    window = np.lib.stride_tricks.sliding_window_view(padded, (3, 3)).reshape(*hole.shape, 9)
    band = window.any(-1) & ~window.all(-1)
    return hole ^ (band & (rng.random(hole.shape) < rate))


VAL_HOLES = ("brush", "ragged")


def validation_holes(n, seed=0, kind="brush"):
    """The holes the validation experiments use: n brush strokes 60-200 steps long (about
    22 % of a face), the same for the same seed. kind="ragged": the same strokes with a
    ragged border (roughen_border, rate 0.3), drawn from a second generator so the strokes
    do not change."""
    if kind not in VAL_HOLES:
        from .errors import MaskGITError
        raise MaskGITError(f"validation holes are one of {', '.join(VAL_HOLES)}, not {kind!r}")
    rng = np.random.default_rng(seed)
    holes = np.stack([random_walk_hole(rng, steps=int(rng.integers(60, 200))) for _ in range(n)])
    return ragged_validation_holes(holes, seed) if kind == "ragged" else holes


def ragged_validation_holes(brush_holes, seed=0):
    """validation_holes(n, seed, "ragged") from the brush holes of the same seed, without
    drawing the strokes again."""
    edge_rng = np.random.default_rng([seed, 1])
    return np.stack([roughen_border(h, edge_rng) for h in brush_holes])


def smooth_fill(images, hole, smoothing=20):
    """Fill the hole of `images` (B, C, H, W) smoothly from its surroundings; known pixels
    are returned unchanged. hole: (B, H, W) bool.

    Why: the tokenizer's encoder sees past a token's own 4x4 pixels (receptive field and
    GroupNorm statistics), so a flat gray hole changes the tokens of known pixels around it.
    A fill that continues the surrounding colours changes them much less.

    Push-pull: average the known pixels down a pyramid (each level knows where any pixel
    below it was known), fill each level's hole from the level above, then relax the hole
    with `smoothing` Jacobi steps of Laplace's equation to remove the block edges.
    """
    known = (~hole)[:, None].to(images.dtype)
    levels = [(images * known, known)]
    while levels[-1][0].shape[-1] > 1:
        value, weight = levels[-1]
        levels.append((F.avg_pool2d(value, 2), F.avg_pool2d(weight, 2)))
    filled = None
    for value, weight in reversed(levels):
        mean = value / weight.clamp_min(1e-8)
        if filled is None:
            filled = mean
        else:
            coarse = F.interpolate(filled, size=value.shape[-2:], mode="bilinear", align_corners=False)
            filled = torch.where(weight > 0, mean, coarse)
    out = torch.where(hole[:, None], filled, images)
    for _ in range(smoothing):
        # mean of the 4 neighbours (shifted slices: a depthwise conv is ~50x slower on CPU)
        p = F.pad(out, (1, 1, 1, 1), mode="replicate")
        neighbours = (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]) / 4
        out = torch.where(hole[:, None], neighbours, images)
    return out


def random_hole(rng, size=64, ragged=0.0):
    """A random hole for training (bool size x size): brush strokes of many lengths and
    widths, rectangles, ellipses, or a stroke with a rectangle; about 5-50 % of the face.
    With probability `ragged` its border is roughened (roughen_border, rate 0.1-0.4)."""
    yy, xx = np.mgrid[:size, :size]

    def box():
        h, w = rng.integers(size // 6, size * 5 // 8, 2)
        y, x = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        return (yy >= y) & (yy < y + h) & (xx >= x) & (xx < x + w)

    def ellipse():
        cy, cx = rng.integers(size // 4, size * 3 // 4, 2)
        ry, rx = rng.integers(size // 10, size * 3 // 8, 2)
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1

    def stroke():
        low = int(rng.integers(3, 16))
        return random_walk_hole(rng, size, steps=int(rng.integers(30, 250)), radius2=(low, low + int(rng.integers(4, 30))))

    kind = rng.random()
    if kind < 0.45:
        hole = stroke()
    elif kind < 0.65:
        hole = box()
    elif kind < 0.8:
        hole = ellipse()
    else:
        hole = stroke() | (box() if rng.random() < 0.5 else ellipse())
    if ragged and rng.random() < ragged:  # no draw when off: the same holes as without it
        hole = roughen_border(hole, rng, rate=float(rng.uniform(0.1, 0.4)))
    return hole
