"""Pictures in and out of the model: the one place where files become model pixels and back.

Training folders (maskgit.data), the command line and the studio all read faces here, so a
file on disk becomes the same 64x64 uint8 RGB array wherever it is read:

  file -> upright (EXIF orientation) -> 8 bits per channel (16-bit and float scaled by their
  range) -> RGB with transparency put onto white -> center square -> 64x64 (area average for an
  exact integer zoom, bicubic otherwise).

Pixel ranges: uint8 (H, W, 3) in 0..255 <-> float (3, H, W) in [0, 1] ("unit") <-> float in
[-1, 1] ("model", what the networks read and write).
"""
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import MaskGITError

IMAGE_SIZE = 64
# Decoded pixels a file may hold, checked from its header before decoding: a small file can
# hold a huge picture (a 12000x12000 PNG of one colour is 450 KB and decodes to 2.9 GB).
MAX_PIXELS = 40_000_000
# Mask files: a pixel whose gray level is at most this is hole (black), above it known (white).
HOLE_MAX_GRAY = 127
ORIENTATION_TAG = 0x0112
TURNED = (2, 3, 4, 5, 6, 7, 8)  # EXIF orientations other than upright (1); others are ignored
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


# -- reading files -----------------------------------------------------------------------
def check_pixel_count(size_wh, path=None, what="image"):
    w, h = size_wh
    if w * h > MAX_PIXELS:
        raise MaskGITError(f"{what} is {w}x{h} ({w * h / 1e6:.0f} megapixels), over the limit of "
                           f"{MAX_PIXELS // 1_000_000} megapixels" + (f": {path}" if path else ""))


def read_file(path, what="image"):
    """Image file -> (PIL image as a viewer shows it, notes on what was done to it).

    The orientation in its EXIF data is applied (a phone's portrait photo is stored on its
    side); of an animated file only the first frame is read. The size in the header is checked
    against MAX_PIXELS before any pixel is decoded. The file is closed on return."""
    try:
        with Image.open(path) as img:
            check_pixel_count(img.size, path, what)
            notes = []
            if getattr(img, "is_animated", False):
                notes.append("has several frames; only the first is used")
            orientation = img.getexif().get(ORIENTATION_TAG)
            if orientation in TURNED:
                notes.append(f"turned upright as its EXIF orientation ({orientation}) says")
            return ImageOps.exif_transpose(img), notes  # a loaded copy, independent of the file
    except MaskGITError:
        raise
    except FileNotFoundError:
        raise MaskGITError(f"{what} not found: {path}") from None
    except Image.DecompressionBombError:  # PIL refuses headers far above its own limit before ours
        raise MaskGITError(f"{what} has more pixels than the limit of {MAX_PIXELS // 1_000_000} "
                           f"megapixels: {path}") from None
    except IsADirectoryError:
        raise MaskGITError(f"{what} is a folder, not an image: {path}") from None
    except _READ_ERRORS as e:
        raise MaskGITError(f"{what} is not a readable image: {path} ({e.__class__.__name__})") from None


def open_image(path, what="image"):
    """Image file -> PIL image as a viewer shows it (see read_file), warning about each note."""
    img, notes = read_file(path, what)
    for note in notes:
        warnings.warn(f"{path}: {note}", stacklevel=2)
    return img


# -- any PIL image -> 8-bit RGB ------------------------------------------------------------
def white_level(mode, values):
    """The value that means white in a 16-bit, 32-bit or float image. 16-bit modes say it;
    for I (32-bit) and F (float) PIL does not record it, so it is the smallest of 1 (floats
    only), 255, 65535 and the mode's maximum that holds every value."""
    if mode in SIXTEEN_BIT_MODES:
        return 65535
    levels = (1.0, 255, 65535, 2 ** 32 - 1) if mode == "F" else (255, 65535, 2 ** 31 - 1)
    top = float(values.max()) if values.size else 0
    return next((level for level in levels if top <= level), levels[-1])


def to_8bit_gray(img):
    """A 16-bit, 32-bit or float single-channel image -> L, scaled by its white level
    (PIL's own conversion clips at 255: a 16-bit picture comes out almost white)."""
    values = np.nan_to_num(np.asarray(img).astype(np.float32))  # exact for 16-bit values
    level = white_level(img.mode, values)
    scaled = np.clip(values * 255 / level, 0, 255).round().astype(np.uint8)
    return Image.fromarray(scaled, "L"), level


def has_transparency(img):
    return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info


def to_rgb(img):
    """PIL image of any mode -> (8-bit RGB image, what was done, or None if it was plain RGB).

    More than 8 bits per channel are scaled by the picture's range, and transparent pixels
    are put onto white (premultiplied alpha first undone)."""
    if img.mode == "RGB" and not has_transparency(img):
        return img, None
    done = f"converted from {img.mode} to RGB"
    if img.mode in SIXTEEN_BIT_MODES or img.mode in ("I", "F"):
        img, level = to_8bit_gray(img)
        done += f" (0..{level:.0f} scaled to 0..255)"
    if img.mode in PREMULTIPLIED:
        img = img.convert(PREMULTIPLIED[img.mode])
    if has_transparency(img):
        img = img.convert("RGBA")
        backdrop = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(backdrop, img)
        done += ", transparency onto white"
    return img.convert("RGB"), done


def _center_crop_box(w, h):
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return (left, top, left + side, top + side)


def crop_and_resize(img, size=IMAGE_SIZE):
    """The center square of `img`, resized to size x size."""
    img = img.crop(_center_crop_box(*img.size))
    # An exact integer zoom (e.g. the studio's 4x view) is undone exactly by area averaging.
    exact = img.size[0] % size == 0
    return img.resize((size, size), Image.BOX if exact else Image.BICUBIC)


def model_rgb(img, size=IMAGE_SIZE):
    """PIL image of any mode/size -> (uint8 (size, size, 3), notes on each conversion)."""
    notes = []
    img, done = to_rgb(img)
    if done:
        notes.append(done)
    if img.size != (size, size):
        notes.append(f"{img.size[0]}x{img.size[1]} center-cropped and resized to {size}x{size}")
        img = crop_and_resize(img, size)
    return np.asarray(img, dtype=np.uint8), notes


def to_model_rgb(img, size=IMAGE_SIZE, name="image"):
    """PIL image of any mode/size -> uint8 (size, size, 3), warning about each conversion."""
    arr, notes = model_rgb(img, size)
    for note in notes:
        warnings.warn(f"{name}: {note}", stacklevel=2)
    return arr


def read_model_rgb(path, size=IMAGE_SIZE):
    """Image file -> (uint8 (size, size, 3), its (w, h) as shown, notes): no warnings, for
    callers that read many files (training folders)."""
    img, notes = read_file(path, "image")
    arr, more = model_rgb(img, size)
    return arr, img.size, notes + more


def load_image(path, size=IMAGE_SIZE):
    """Image file -> (uint8 (size, size, 3), its (w, h) as shown), warning about each conversion."""
    arr, size_wh, notes = read_model_rgb(path, size)
    for note in notes:
        warnings.warn(f"{path}: {note}", stacklevel=2)
    return arr, size_wh


# -- masks ---------------------------------------------------------------------------------
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


def drawn_hole(mask_img):
    """PIL mask of any mode -> bool (H, W), True where the mask's gray level is at most
    HOLE_MAX_GRAY (black, 0..127 = hole; white, 128..255 = known). Read as the images are:
    16-bit scaled to 8, transparent pixels white (known)."""
    gray = mask_img if mask_img.mode == "L" and "transparency" not in mask_img.info \
        else to_rgb(mask_img)[0].convert("L")
    return np.asarray(gray) <= HOLE_MAX_GRAY


def mask_to_model_hole(mask_img, size=IMAGE_SIZE, name="mask"):
    """PIL mask (0 = hole, 255 = known; gray levels 0..127 count as hole, 128..255 as known)
    -> bool (size, size), True = hole, same crop as images."""
    return downscale_hole(drawn_hole(mask_img), size, name=name)


def load_mask(path, image_size_wh, size=IMAGE_SIZE):
    """Mask file (0 = hole, 255 = known; gray levels 0..127 count as hole, 128..255 as known)
    of the image's size as a viewer shows it -> bool hole (size, size).

    Both files are turned upright by their EXIF orientation, so a mask drawn on the picture
    as a viewer shows it lines up."""
    mask = open_image(path, "mask")
    if mask.size != tuple(image_size_wh):
        turned = " (the image is turned upright by its EXIF orientation: draw the mask on it as shown)" \
            if mask.size == tuple(image_size_wh)[::-1] else ""
        raise MaskGITError(f"mask is {mask.size[0]}x{mask.size[1]} but the image is "
                           f"{image_size_wh[0]}x{image_size_wh[1]}{turned}: {path}")
    drawn = drawn_hole(mask)
    if not drawn.any():
        raise MaskGITError(f"the mask has no hole (no black pixels): nothing to inpaint: {path}")
    hole = downscale_hole(drawn, size, name=str(path))
    if not hole.any():
        raise MaskGITError(f"the mask's hole vanishes at {size}x{size}: it lies outside the center crop or "
                           f"covers less than a quarter of every {size}x{size} pixel: {path}")
    return hole


# -- pixel ranges --------------------------------------------------------------------------
def uint8_to_unit(images):
    """uint8 (H, W, 3) or (B, H, W, 3) array/tensor -> float32 tensor (3, H, W) or
    (B, 3, H, W) in [0, 1]."""
    x = torch.as_tensor(images)
    return x.movedim(-1, -3).float() / 255


def unit_to_uint8(images):
    """float (3, H, W) or (B, 3, H, W) tensor/array in [0, 1] -> uint8 numpy (H, W, 3) or
    (B, H, W, 3); clipped, rounded to nearest. Computed in the input's float type."""
    x = images.detach() if torch.is_tensor(images) else torch.as_tensor(np.asarray(images))
    return (x.clamp(0, 1).movedim(-3, -1) * 255).round().to(torch.uint8).cpu().numpy()


def unit_to_model(x):
    """[0, 1] -> [-1, 1]."""
    return x * 2 - 1


def model_to_unit(x):
    """[-1, 1] -> [0, 1]."""
    return (x + 1) / 2


def uint8_to_model(x):
    """uint8 tensor of any layout -> float in [-1, 1] (training's scaling, x / 127.5 - 1; it
    may differ from unit_to_model(x / 255) in the last bit)."""
    return x.float() / 127.5 - 1


def model_to_uint8(x):
    """Float tensor in [-1, 1] of any layout -> uint8 on the CPU, the same layout; the inverse
    of uint8_to_model, rounded to nearest and clipped."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def save_rgb(array_or_tensor, path, scale=1):
    """uint8 (H, W, 3) array or float (3, H, W) tensor in [0, 1] -> PNG, optionally enlarged."""
    arr = array_or_tensor
    if torch.is_tensor(arr):
        arr = unit_to_uint8(arr.float())
    img = Image.fromarray(arr)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)
