"""Pictures of decoding steps: the latent token mask in colours, frames, strips and GIFs."""
import io
import warnings

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


def gif_bytes(frames, ms_per_frame=400, hold_last_ms=1500, name="GIF"):
    """uint8 frames -> animated GIF file contents; the last frame lingers.

    A GIF writer stores a frame that equals the one before it (once both are reduced to the
    GIF's 256 colours) as that frame held longer, so a step that changed nothing on screen is
    no frame of its own; the timing is kept, and a warning says how many frames were merged."""
    images = [Image.fromarray(f) for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [hold_last_ms]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    with Image.open(buffer) as gif:
        merged = len(images) - gif.n_frames
    if merged:
        warnings.warn(f"{name}: {merged} of {len(images)} frames equal the frame before them in the GIF's "
                      "256 colours and are shown as that frame held longer", stacklevel=3)
    return buffer.getvalue()


def save_gif(frames, path_or_file=None, ms_per_frame=400, hold_last_ms=1500):
    """uint8 frames -> animated GIF written to a path or file object (bytes if neither);
    see gif_bytes."""
    name = "GIF" if path_or_file is None or hasattr(path_or_file, "write") else str(path_or_file)
    data = gif_bytes(frames, ms_per_frame, hold_last_ms, name=name)
    if path_or_file is None:
        return data
    if hasattr(path_or_file, "write"):
        path_or_file.write(data)
    else:
        with open(path_or_file, "wb") as f:
            f.write(data)
    return None
