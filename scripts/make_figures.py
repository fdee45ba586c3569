"""README figures from the shipped checkpoints, on a face the model drew itself.

  python scripts/make_figures.py --out docs/figures
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image

from maskgit import encoder_view, load
from maskgit.images import uint8_to_unit
from maskgit.masks import random_walk_hole
from maskgit.render import WHITE, column, enlarge, latent_mask, row, step_image, to_uint8_image


def strip(rows, gap=6):
    return column([row(r, gap, WHITE) for r in rows], gap, WHITE)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--checkpoints", default="checkpoints")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = load(args.checkpoints, device="cpu")
    for final in model.generate_steps(1, sweet_spot=12, total_iter=12, seed=7):
        pass
    face = to_uint8_image(final.image[0])
    hole = random_walk_hole(np.random.default_rng(5), steps=160)
    masks, preds = [], []
    for record in model.inpaint_steps(face, hole, schedule="cosine", sweet_spot=10, total_iter=10, seed=0):
        masks.append(enlarge(latent_mask(record), 128))
        preds.append(enlarge(step_image(record, paste_back=False), 128))
    masked = enlarge(np.where(hole[..., None], np.uint8(128), face), 128)
    result = enlarge(to_uint8_image(record.composite[0]), 128)
    blank = np.full_like(masked, 255)
    fig = strip([[masked] + masks + [blank], [enlarge(face, 128)] + preds + [result]])
    Image.fromarray(fig).save(os.path.join(args.out, "inpainting_steps.png"))
    print("wrote", os.path.join(args.out, "inpainting_steps.png"))
    hole_fill_figure(model, args.out)


def hole_fill_figure(model, out, n=3):
    """Per face: the face, then for gray and smooth fill what the encoder sees and the
    decoded prediction (the course's output)."""
    for final in model.generate_steps(n, sweet_spot=12, total_iter=12, seed=11):
        pass
    rows = []
    for i in range(n):
        face = to_uint8_image(final.image[i])
        hole = random_walk_hole(np.random.default_rng(20 + i), steps=140)
        pics = [enlarge(face, 128)]
        for fill in ("gray", "smooth"):
            x = uint8_to_unit(face)[None]
            view = encoder_view(x, torch.from_numpy(hole)[None], fill)[0]
            decoded = model.inpaint(face, hole, seed=0, fill=fill).image[0]
            pics += [enlarge(to_uint8_image(view), 128), enlarge(to_uint8_image(decoded), 128)]
        rows.append(pics)
    Image.fromarray(strip(rows)).save(os.path.join(out, "hole_fill.png"))
    print("wrote", os.path.join(out, "hole_fill.png"))


if __name__ == "__main__":
    main()
