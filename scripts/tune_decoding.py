"""Choose decoding settings on the *validation* faces with synthetic brush holes.

The test folder is never used here. Prints one JSON line per setting:
  python scripts/tune_decoding.py --data-root DATA --limit 256 --settings 4.5:1.0:gray 4.5:1.0 4.5:0.8
Each setting is choice_temperature:sampling_temperature[:fill] (fill: smooth, the default, or gray;
sampling temperature 0: the most likely token instead of a draw).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit import load  # noqa: E402
from maskgit.data import load_image_folder  # noqa: E402
from maskgit.decoding import FINAL_STEP, UNDECIDED  # noqa: E402
from maskgit.evaluate import to_uint8  # noqa: E402
from maskgit.fid import fid  # noqa: E402
from maskgit.masks import validation_holes  # noqa: E402
from maskgit.runtime import reuse_freed_memory  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-root", required=True)
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--limit", type=int, default=256)
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--total-iter", type=int, default=10)
    p.add_argument("--settings", nargs="+", default=["4.5:1.0"])
    p.add_argument("--sweet-spot", type=int, help="default: --total-iter")
    p.add_argument("--undecided", default=UNDECIDED[0], choices=UNDECIDED)
    p.add_argument("--final-step", default=FINAL_STEP[0], choices=FINAL_STEP,
                   help="mode: the schedule's last step takes the most likely tokens")
    p.add_argument("--precision", default="bf16")
    args = p.parse_args()
    val = load_image_folder(os.path.join(args.data_root, "val"), limit=args.limit)
    truth = val.permute(0, 2, 3, 1).contiguous().numpy()
    holes = validation_holes(len(val))
    images = np.where(holes[..., None], np.uint8(128), truth)
    model = load(args.checkpoints, device="cpu")
    for setting in args.settings:
        parts = setting.split(":")
        choice_t, sample_t = float(parts[0]), float(parts[1])
        fill = parts[2] if len(parts) > 2 else "smooth"
        start = time.time()
        dec, comp = [], []
        for i in range(0, len(val), 64):
            final = model.inpaint(images[i:i + 64], holes[i:i + 64], schedule=args.schedule,
                                  total_iter=args.total_iter, sweet_spot=args.sweet_spot or args.total_iter,
                                  seed=i, undecided=args.undecided, final_step=args.final_step,
                                  choice_temperature=choice_t, sample=sample_t > 0,
                                  sampling_temperature=sample_t if sample_t > 0 else 1.0, fill=fill)
            dec.append(to_uint8(final.image)); comp.append(to_uint8(final.composite))
        row = {"total_iter": args.total_iter, "sweet_spot": args.sweet_spot or args.total_iter,
               "undecided": args.undecided, "final_step": args.final_step, "choice_temperature": choice_t, "sampling_temperature": sample_t, "fill": fill, "n": len(val),
               "hole_fraction": float(holes.mean()),
               "fid": fid(np.concatenate(dec), truth, precision=args.precision),
               "fid_composited": fid(np.concatenate(comp), truth, precision=args.precision),
               "seconds": round(time.time() - start, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    reuse_freed_memory()
    main()
