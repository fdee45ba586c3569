import shutil

import numpy as np
import torch
from PIL import Image

from maskgit.data import load_image_folder


def test_distinct_keeps_the_first_of_identical_images(tmp_path):
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    for i, face in enumerate(faces):
        Image.fromarray(face).save(tmp_path / f"{i}.png")
    shutil.copy(tmp_path / "0.png", tmp_path / "3.png")  # a byte copy
    Image.fromarray(faces[1]).save(tmp_path / "4.bmp")  # same pixels, another file format
    every = load_image_folder(str(tmp_path))
    distinct = load_image_folder(str(tmp_path), distinct=True)
    assert len(every) == 5
    assert len(distinct) == 3
    # the first of each, in file-name order
    expected = torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2)
    assert torch.equal(distinct, expected)
