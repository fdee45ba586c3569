import numpy as np
import pytest
import torch

from maskgit import MaskGITError
from maskgit.masks import pixel_to_token_hole, smooth_fill


def test_smooth_fill_keeps_known_pixels_and_stays_in_range():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.random((2, 3, 64, 64))).float()
    hole = torch.zeros(2, 64, 64, dtype=torch.bool)
    hole[0, 10:40, 5:50] = True
    hole[1, :, :20] = True
    out = smooth_fill(images, hole)
    known = ~hole[:, None].expand_as(images)
    assert torch.equal(out[known], images[known])
    assert out.min() >= images.min() and out.max() <= images.max()


def test_smooth_fill_continues_the_surroundings():
    # A left-to-right ramp with a box cut out: the fill is close to the ramp, unlike gray.
    ramp = torch.linspace(0, 1, 64).expand(1, 3, 64, 64).clone()
    hole = torch.zeros(1, 64, 64, dtype=torch.bool)
    hole[:, 20:44, 20:44] = True
    out = smooth_fill(ramp, hole)
    err = (out - ramp)[hole[:, None].expand_as(ramp)].abs()
    assert err.max() < 0.08
    flat = torch.full((1, 3, 64, 64), 0.3)
    assert torch.allclose(smooth_fill(flat, hole), flat)


def shipped_and_faces(n=8):
    from PIL import Image, ImageFilter
    from conftest import synthetic_face
    from test_shipped import CHECKPOINTS
    from maskgit import load
    rng = np.random.default_rng(0)
    faces = np.stack([np.asarray(Image.fromarray(synthetic_face(rng)).filter(ImageFilter.GaussianBlur(1)))
                      for _ in range(n)])
    return load(CHECKPOINTS, device="cpu", bf16=False), torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255


def test_smooth_fill_keeps_more_known_tokens_than_gray():
    model, faces = shipped_and_faces()
    hole = torch.zeros(len(faces), 64, 64, dtype=torch.bool)
    hole[:, 18:42, 14:46] = True
    known = ~pixel_to_token_hole(hole).flatten(1)
    clean = model.encode(faces)
    gray = model.encode(torch.where(hole[:, None], torch.full_like(faces, 128 / 255), faces))
    smooth = model.encode(smooth_fill(faces, hole))
    agree = lambda t: ((t == clean) & known).sum().item() / known.sum().item()  # noqa: E731
    assert agree(smooth) > agree(gray) + 0.03, (agree(smooth), agree(gray))


def test_fill_choice_reaches_the_encoder_and_bad_names_are_errors():
    model, faces = shipped_and_faces(2)
    hole = torch.zeros(2, 64, 64, dtype=torch.bool)
    hole[:, 20:40, 20:40] = True
    a = model.inpaint(faces, hole, sweet_spot=2, total_iter=2, seed=0, fill="gray")
    b = model.inpaint(faces, hole, sweet_spot=2, total_iter=2, seed=0, fill="smooth")
    assert not torch.equal(a.tokens, b.tokens)
    # known tokens are what the encoder gave for that fill, never re-decided
    token_hole = pixel_to_token_hole(hole).flatten(1)
    assert torch.equal(b.tokens.flatten(1)[~token_hole], model.encode(smooth_fill(faces, hole))[~token_hole])
    with pytest.raises(MaskGITError, match="unknown hole fill"):
        model.inpaint(faces, hole, sweet_spot=2, total_iter=2, fill="blue")

