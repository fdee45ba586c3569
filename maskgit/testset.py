"""The inpainting test folder: DIR/masked_image/image_NNN.png, DIR/mask64/mask_NNN.png, DIR/gt/image_NNN.png."""
import os

import numpy as np

from .errors import MaskGITError
from .data import load_image_folder
from .images import load_image, mask_to_model_hole, open_image
from .masks import validation_holes


def load_test_folder(test_dir, limit=None):
    """uint8 (N, 64, 64, 3) masked images and truth, bool (N, 64, 64) holes, and names."""
    if limit is not None and limit < 2:
        raise MaskGITError(f"--limit must be >= 2 (FID needs 2 or more images), got {limit}")
    for sub in ("masked_image", "mask64", "gt"):
        if not os.path.isdir(os.path.join(test_dir, sub)):
            raise MaskGITError(f"{test_dir} must hold masked_image/, mask64/ and gt/ (missing {sub}/)")
    names = sorted(n for n in os.listdir(os.path.join(test_dir, "gt")) if n.lower().endswith(".png"))
    if not names:
        raise MaskGITError(f"no PNG images in {test_dir}/gt")
    names = names[:limit]
    masked, truth, holes = [], [], []
    for name in names:
        mask_name = name.replace("image_", "mask_", 1)
        gt, size = load_image(os.path.join(test_dir, "gt", name))
        img, _ = load_image(os.path.join(test_dir, "masked_image", name))
        mask_path = os.path.join(test_dir, "mask64", mask_name)
        hole = mask_to_model_hole(open_image(mask_path, "mask"))
        masked.append(img); truth.append(gt); holes.append(hole)
    return np.stack(masked), np.stack(truth), np.stack(holes), names


def load_val_folder(folder, limit=None, seed=0, holes="brush"):
    """A folder of faces as an inpainting set: uint8 masked images (the hole gray, as the test
    folder's), truth, the holes of masks.validation_holes(seed, holes), and names.
    Where decoding choices are made: the test folder is measured, never tuned on."""
    if limit is not None and limit < 2:
        raise MaskGITError(f"--limit must be >= 2 (FID needs 2 or more images), got {limit}")
    truth = load_image_folder(folder, limit=limit).permute(0, 2, 3, 1).contiguous().numpy()
    holes = validation_holes(len(truth), seed=seed, kind=holes)
    masked = np.where(holes[..., None], np.uint8(128), truth)
    return masked, truth, holes, [f"val_{i:04d}.png" for i in range(len(truth))]
