"""Pictures of decoding: uint8 conversion and the animated GIF."""
import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from maskgit.render import save_gif, to_uint8_image


def frames_with_repeats():
    rng = np.random.default_rng(0)
    distinct = [rng.integers(0, 255, (32, 48, 3), dtype=np.uint8) for _ in range(3)]
    return [distinct[0], distinct[1], distinct[1].copy(), distinct[2], distinct[2].copy()]


def gif_frames(data):
    with Image.open(io.BytesIO(data)) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    return durations


def test_repeated_frames_are_merged_and_the_warning_says_how_many():
    with pytest.warns(UserWarning, match="GIF: 2 of 5 frames equal the frame before them") as caught:
        data = save_gif(frames_with_repeats(), ms_per_frame=400, hold_last_ms=1500)
    assert len(caught) == 1
    durations = gif_frames(data)
    assert len(durations) == 3
    assert sum(durations) == 400 * 4 + 1500  # the merged frames are held longer: timing kept


def test_distinct_frames_are_all_kept_without_a_warning():
    frames = frames_with_repeats()
    del frames[4], frames[2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(gif_frames(save_gif(frames))) == 3


def test_a_gif_written_to_a_path_or_a_file_leaves_no_file_open(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_gif(frames_with_repeats(), tmp_path / "a.gif")
        with open(tmp_path / "b.gif", "wb") as f:
            save_gif(frames_with_repeats(), f)
    names = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert not [n for n in names if n.startswith("ResourceWarning")], names
    assert sum(str(tmp_path / "a.gif") in n for n in names) == 1  # the warning names the file
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    assert len(gif_frames((tmp_path / "a.gif").read_bytes())) == 3


def test_to_uint8_image_rounds_and_clips():
    x = torch.tensor([[[-1.0, 0.0, 0.2, 1.0, 3.0]]]).expand(3, 1, 5)
    expected = np.array([0, 0, 51, 255, 255], np.uint8)
    assert np.array_equal(to_uint8_image(x)[0, :, 0], expected)
    assert np.array_equal(to_uint8_image(x.numpy())[0, :, 0], expected)
    assert to_uint8_image(x.bfloat16()).dtype == np.uint8
