"""Reading faces and masks from files into the model's 64x64 RGB convention."""
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import MaskGITError

IMAGE_SIZE = 64


def _open(path, what):
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise MaskGITError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise MaskGITError(f"{what} is a folder, not an image: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise MaskGITError(f"{what} is not a readable image: {path} ({e.__class__.__name__})") from None


def _center_crop_box(w, h):
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return (left, top, left + side, top + side)


def to_model_rgb(img, size=IMAGE_SIZE, name="image"):
    """PIL image of any mode/size -> uint8 (size, size, 3), warning about each conversion."""
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "P", "PA"):
            img = img.convert("RGBA")
            backdrop = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(backdrop, img)
        warnings.warn(f"{name}: converted from {img.mode} to RGB", stacklevel=2)
        img = img.convert("RGB")
    if img.size != (size, size):
        warnings.warn(f"{name}: {img.size[0]}x{img.size[1]} center-cropped and resized to {size}x{size}",
                      stacklevel=2)
        img = img.crop(_center_crop_box(*img.size))
        # An exact integer zoom (e.g. the studio's 4x view) is undone exactly by area averaging.
        exact = img.size[0] % size == 0
        img = img.resize((size, size), Image.BOX if exact else Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def downscale_hole(hole, size=IMAGE_SIZE, coverage=0.25, name="mask"):
    """bool (H, W) hole of any size -> bool (size, size), with the images' center crop.

    A model pixel is a hole where at least `coverage` of its area is (a thin stroke drawn
    at a larger size survives, as in the studio). Hole pixels outside the crop are dropped,
    with a warning.
    """
    hole = np.asarray(hole, bool)
    h, w = hole.shape
    if (h, w) == (size, size):
        return hole.copy()
    left, top, right, bottom = _center_crop_box(w, h)
    square = hole[top:bottom, left:right]
    outside = int(hole.sum() - square.sum())
    if outside:
        warnings.warn(f"{name}: {outside} hole pixels lie outside the center crop and are ignored", stacklevel=2)
    area = np.asarray(Image.fromarray(square.astype(np.float32)).resize((size, size), Image.BOX))
    return area >= coverage


def mask_to_model_hole(mask_img, size=IMAGE_SIZE, name="mask"):
    """PIL mask (0 = hole, 255 = known) -> bool (size, size), True = hole, same crop as images."""
    return downscale_hole(np.asarray(mask_img.convert("L")) <= 127, size, name=name)


def load_image(path, size=IMAGE_SIZE):
    img = _open(path, "image")
    return to_model_rgb(img, size, name=str(path)), img.size


def load_mask(path, image_size_wh, size=IMAGE_SIZE):
    """Mask file (0 = hole, 255 = known) of the image's original size -> bool hole."""
    mask = _open(path, "mask")
    if mask.size != tuple(image_size_wh):
        raise MaskGITError(f"mask is {mask.size[0]}x{mask.size[1]} but the image is "
                           f"{image_size_wh[0]}x{image_size_wh[1]}: {path}")
    drawn = np.asarray(mask.convert("L")) <= 127
    if not drawn.any():
        raise MaskGITError(f"the mask has no hole (no black pixels): nothing to inpaint: {path}")
    hole = downscale_hole(drawn, size, name=str(path))
    if not hole.any():
        raise MaskGITError(f"the mask's hole vanishes at {size}x{size}: it lies outside the center crop or "
                           f"covers less than a quarter of every {size}x{size} pixel: {path}")
    return hole


def save_rgb(array_or_tensor, path, scale=1):
    """uint8 (H, W, 3) array or float (3, H, W) tensor in [0, 1] -> PNG, optionally enlarged."""
    arr = array_or_tensor
    if hasattr(arr, "detach"):
        arr = (arr.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(arr)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)
