"""README figures from the shipped checkpoints, on faces the model drew itself.

  python scripts/make_figures.py --out docs/figures
  python scripts/make_figures.py --test-dir DIR --grid runs/decoders-test.png   # 20 test faces

The second writes the decoders figure on the first 20 faces of a test folder (masked_image/,
mask64/, gt/) with their own holes, outside the docs: test faces are not redistributed.
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image

from maskgit import encoder_view, load
from maskgit.images import uint8_to_unit, unit_to_uint8
from maskgit.masks import paste_back, random_walk_hole, validation_holes
from maskgit.render import WHITE, column, enlarge, latent_mask, row, step_image, to_uint8_image


def strip(rows, gap=6):
    return column([row(r, gap, WHITE) for r in rows], gap, WHITE)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--test-dir", help="write only the decoders figure, on this test folder's first faces")
    p.add_argument("--grid", default="runs/decoders-test.png", help="where --test-dir's figure goes")
    p.add_argument("--limit", type=int, default=20, help="faces of --test-dir in the figure")
    args = p.parse_args()
    model = load(args.checkpoints, device="cpu")
    if args.test_dir:
        from maskgit.testset import load_test_folder
        masked, truth, holes, _ = load_test_folder(args.test_dir, args.limit)
        return decoders_figure(model, masked, truth, holes, args.grid)
    os.makedirs(args.out, exist_ok=True)
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
    for final in model.generate_steps(6, sweet_spot=12, total_iter=12, seed=31):
        pass
    faces = unit_to_uint8(final.image)
    holes = validation_holes(6, seed=4, kind="ragged")
    decoders_figure(model, np.where(holes[..., None], np.uint8(128), faces), faces, holes,
                    os.path.join(args.out, "decoders.png"))


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


def decoders_figure(model, masked, truth, holes, path, size=96):
    """A row per face: the masked face; the tokens-only decoder (the course's), raw and with
    the known pixels pasted back; the mask-aware decoder, raw and pasted back; the face. All
    decoded from the same tokens (cosine, 10 of 10, seed 0)."""
    record = model.inpaint(masked, holes, schedule="cosine", sweet_spot=10, total_iter=10, seed=0, decode="none")
    images, hole = model.to_batch(masked, holes)
    columns = [masked]
    for decoder in ("tokens", "guided"):
        decoded = model.decode(record.tokens.flatten(1), images, hole, decoder).float()
        columns += [unit_to_uint8(decoded), unit_to_uint8(paste_back(decoded, images, hole))]
    columns.append(truth)
    rows = [[enlarge(np.asarray(c[i]), size) for c in columns] for i in range(len(masked))]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    Image.fromarray(strip(rows, gap=4)).save(path)
    print("wrote", path)


if __name__ == "__main__":
    main()
