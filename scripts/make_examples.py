"""The studio's example faces, drawn by the model itself (never copies of the data set).

  python scripts/make_examples.py --out demo/examples

Six faces generated from an all-masked grid (12 steps, seed 2024), saved as 64x64 PNGs; the
studio loads them at start instead of drawing them then.
"""
import argparse
import os

from PIL import Image

from maskgit import load
from maskgit.render import to_uint8_image


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo/examples")
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--seed", type=int, default=2024)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    final = None
    for final in load(args.checkpoints, device="cpu").generate_steps(args.n, sweet_spot=12, total_iter=12,
                                                                     seed=args.seed):
        pass
    for i, image in enumerate(final.image, 1):
        Image.fromarray(to_uint8_image(image)).save(os.path.join(args.out, f"face_{i}.png"))
    print(f"wrote {args.n} faces to {args.out}")


if __name__ == "__main__":
    main()
