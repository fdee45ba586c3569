"""Pictures of decoding steps (maskgit.render): latent mask, confidence heatmap, frames, chart."""
import io
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from maskgit import InpaintStep
from maskgit.render import (DECIDED_EARLIER, DECIDED_NOW, KNOWN, STILL_MASKED, WHITE, colormap, colormap_css,
                            confidence_image, confidence_scale, data_url, decided_confidence, flatten, frame, latent_mask, png_bytes,
                            row, save_gif, schedule_svg, to_uint8_image, step_frame, step_pictures, strip)


def fake_step(step, known, still, new, conf, batch=1):
    """An InpaintStep of a 4x4 token grid and 16x16 images."""
    shape = (batch, 4, 4)
    as_map = lambda a, dtype: torch.as_tensor(np.broadcast_to(np.asarray(a), shape).copy(), dtype=dtype)  # noqa: E731
    image = torch.linspace(0, 1, 16 * 16 * 3).reshape(1, 3, 16, 16).expand(batch, -1, -1, -1)
    return InpaintStep(step=step, total_iter=3, sweet_spot=3, known=as_map(known, torch.bool),
                       still_masked=as_map(still, torch.bool), newly_decided=as_map(new, torch.bool),
                       tokens=torch.zeros(shape, dtype=torch.long), confidence=as_map(conf, torch.float32),
                       image=image, composite=1 - image)


def grid(cells):
    out = np.zeros((4, 4), bool)
    for r, c in cells:
        out[r, c] = True
    return out


def test_latent_mask_colours_each_token_state():
    known = grid([(0, 0)])
    still, new = grid([(3, 3)]), grid([(1, 1)])
    pic = latent_mask(fake_step(1, known, still, new, 0.5))
    assert pic.shape == (4, 4, 3) and pic.dtype == np.uint8
    assert tuple(pic[0, 0]) == KNOWN and tuple(pic[3, 3]) == STILL_MASKED
    assert tuple(pic[1, 1]) == DECIDED_NOW and tuple(pic[2, 2]) == DECIDED_EARLIER


def test_step_pictures_at_model_resolution_with_or_without_paste_back():
    record = fake_step(1, grid([]), grid([]), grid([(0, 0)]), 0.5, batch=2)
    mask, pasted = step_pictures(record, 1, paste_back=True)
    _, decoded = step_pictures(record, 1, paste_back=False)
    assert mask.shape == (4, 4, 3) and pasted.shape == decoded.shape == (16, 16, 3)
    assert np.array_equal(pasted.astype(int), 255 - decoded.astype(int))  # composite = 1 - image here
    big = step_frame(record, 0, size=32)
    assert big.shape == (32, 32 + 8 + 32, 3) and (big[:, 32:40] == 255).all()


def test_confidence_is_the_probability_when_each_token_was_decided():
    first = fake_step(1, grid([(0, 0)]), ~grid([(0, 0), (1, 1)]), grid([(1, 1)]), 0.9)
    second = fake_step(2, grid([(0, 0)]), ~grid([(0, 0), (1, 1), (2, 2)]), grid([(2, 2)]), 0.3)
    probs = decided_confidence(decided_confidence(None, first), second)[0]
    assert abs(probs[1, 1].item() - 0.9) < 1e-6  # kept from the step that decided it, not redrawn
    assert abs(probs[2, 2].item() - 0.3) < 1e-6
    assert torch.isnan(probs[0, 0]) and torch.isnan(probs[3, 3])  # known / still masked: nothing decided
    heat = confidence_image(probs)
    assert heat.shape == (4, 4, 4)
    assert heat[1, 1, 3] == heat[2, 2, 3] == 255 and heat[0, 0, 3] == heat[3, 3, 3] == 0  # transparent elsewhere
    assert tuple(heat[1, 1, :3]) == tuple(colormap(confidence_scale(0.9)))
    assert confidence_scale(1.0) == 1 and confidence_scale(1e-3) == 0 and abs(confidence_scale(0.03162) - 0.5) < 1e-3


def test_colormap_is_viridis_and_gets_lighter():
    ends = colormap(np.array([0.0, 1.0]))
    assert tuple(ends[0]) == (68, 1, 84) and tuple(ends[1]) == (253, 231, 37)
    lum = colormap(np.linspace(0, 1, 50)).astype(float) @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(lum) > 0).all()  # perceptual order: more probable reads lighter
    assert colormap_css().startswith("linear-gradient(") and colormap_css().count("rgb(") == 9


def test_rows_have_transparent_gaps_and_flatten_on_white():
    a, b = np.zeros((4, 3, 3), np.uint8), np.full((4, 5, 3), 200, np.uint8)
    clear = row([a, b], gap=2)
    assert clear.shape == (4, 10, 4) and (clear[:, 3:5, 3] == 0).all() and (clear[:, :3, 3] == 255).all()
    assert (flatten(clear)[:, 3:5] == 255).all()  # on white for formats without alpha
    assert row([a, b], gap=2, background=WHITE).shape == (4, 10, 3)
    f = frame(np.zeros((4, 4, 3), np.uint8), np.full((16, 16, 3), 9, np.uint8))
    assert f.shape == (16, 16 + 2 + 16, 4)  # the 4x4 mask enlarged to the image's 16x16
    s = strip([(np.zeros((4, 4, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))] * 3)
    assert s.shape == (16, 3 * 34 + 2 * 6, 4)


def test_png_and_data_urls_are_lossless():
    img = np.random.default_rng(0).integers(0, 255, (16, 16, 4)).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(img)))), img)
    assert data_url(img[..., :3]).startswith("data:image/png;base64,")


def test_gif_of_rgba_frames_enlarged():
    frames = [row([np.full((4, 4, 3), v, np.uint8), np.full((4, 4, 3), 255, np.uint8)]) for v in (0, 80, 160)]
    gif = Image.open(io.BytesIO(save_gif(frames, scale=4)))
    assert gif.n_frames == 3 and gif.size == (4 * 10, 16)


def test_schedule_chart_is_themed_svg_with_a_point_per_step():
    svg = schedule_svg(["cosine", "linear"], 8, sweet_spot=5)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    steps = re.findall(r'class="mg-step" data-step="(\d+)"', svg)
    assert sorted(map(int, steps)) == sorted(list(range(1, 9)) * 2)
    assert "currentColor" in svg and "#fff" not in svg.lower() and "white" not in svg  # no baked background
    assert "sweet spot" in svg and ">cosine<" in svg and ">linear<" in svg
    assert "sweet spot" not in schedule_svg(["cosine"], 8, sweet_spot=8)


# -- GIFs and uint8 conversion ---------------------------------------------------------------

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
