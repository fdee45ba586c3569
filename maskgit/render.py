"""Pictures of decoding steps: the latent token mask in colours, frames, strips and GIFs."""
import io

import numpy as np
import torch
from PIL import Image

from .images import unit_to_uint8

# Token states and their colours (RGB).
KNOWN = (70, 70, 70)             # known from the start
DECIDED_EARLIER = (90, 160, 230)  # decided at an earlier step
DECIDED_NOW = (255, 150, 40)     # decided at this step
STILL_MASKED = (250, 250, 250)   # still [MASK]
LEGEND = {"known": KNOWN, "decided earlier": DECIDED_EARLIER, "decided this step": DECIDED_NOW,
          "still masked": STILL_MASKED}


def token_state_image(known, still_masked, newly_decided):
    """Bool (h, w) maps -> uint8 (h, w, 3) picture of the latent mask."""
    known, still, new = (np.asarray(a, dtype=bool) for a in (known, still_masked, newly_decided))
    out = np.empty(known.shape + (3,), np.uint8)
    out[:] = DECIDED_EARLIER
    out[known] = KNOWN
    out[new] = DECIDED_NOW
    out[still] = STILL_MASKED
    return out


def to_uint8_image(image01):
    """float (3, H, W) tensor/array in [0, 1] -> uint8 (H, W, 3)."""
    return unit_to_uint8(image01.float() if torch.is_tensor(image01) else image01)


def enlarge(img_uint8, size=256):
    return np.asarray(Image.fromarray(img_uint8).resize((size, size), Image.NEAREST))


def side_by_side(left, right, gap=8):
    """Two equally tall pictures with a white gap between them."""
    spacer = np.full((left.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def step_frame(record, index=0, size=256, composite=False):
    """One decoding step of one image: latent mask | predicted image, side by side."""
    mask = token_state_image(record.known[index].cpu(), record.still_masked[index].cpu(),
                             record.newly_decided[index].cpu())
    image = record.composite if composite else record.image
    return side_by_side(enlarge(mask, size), enlarge(to_uint8_image(image[index]), size))


def save_gif(frames, path_or_file=None, ms_per_frame=400, hold_last_ms=1500):
    """uint8 frames -> animated GIF (bytes if no path); the last frame lingers."""
    images = [Image.fromarray(f) for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [hold_last_ms]
    target = path_or_file if path_or_file is not None else io.BytesIO()
    images[0].save(target, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return target.getvalue() if path_or_file is None else None
