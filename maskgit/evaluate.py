"""Score inpainting on a test folder with FID (decoded images and composited images vs truth).

  python -m maskgit.evaluate --test-dir DIR --schedule cosine --sweet-spot 10 --total-iter 10 --json
  python -m maskgit.evaluate --test-dir DIR --recon --json      # plain VQGAN reconstructions of gt

The last line printed with --json is one JSON object.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import weights_digests
from .decoding import FINAL_STEP, FINAL_STEP_HELP
from .errors import MaskGITError
from .fid import FID_PRECISIONS, fid
from .images import save_rgb
from .pipeline import FILLS, load, resolve_device
from .runtime import reuse_freed_memory
from .testset import load_test_folder


def to_uint8(images01):
    return (images01.clamp(0, 1).permute(0, 2, 3, 1) * 255).round().byte().cpu().numpy()


def psnr_uint8(images, truth):
    """Mean PSNR in dB of uint8 images against uint8 truth."""
    mse = ((images.astype(np.float64) - truth) ** 2).reshape(len(truth), -1).mean(1)
    return float(np.mean(10 * np.log10(255 ** 2 / np.maximum(mse, 1e-10))))


def check_batch_size(batch_size):
    if batch_size < 1:
        raise MaskGITError(f"--batch-size must be >= 1, got {batch_size}")


def run_inpainting(model, masked, holes, args):
    """Decoded and composited uint8 images for the whole folder, in batches."""
    decoded, composited = [], []
    for i in tqdm(range(0, len(masked), args.batch_size), desc="inpainting", disable=args.quiet,
                  mininterval=5):
        final = model.inpaint(masked[i:i + args.batch_size], holes[i:i + args.batch_size],
                              schedule=args.schedule, sweet_spot=args.sweet_spot,
                              total_iter=args.total_iter, choice_temperature=args.choice_temperature,
                              seed=args.seed + i, fill=args.fill, final_step=args.final_step)
        decoded.append(to_uint8(final.image)); composited.append(to_uint8(final.composite))
    return np.concatenate(decoded), np.concatenate(composited)


def run_reconstruction(model, truth, batch_size):
    out = []
    for i in range(0, len(truth), batch_size):
        x = torch.from_numpy(truth[i:i + batch_size]).permute(0, 3, 1, 2).float().to(model.device) / 255
        out.append(to_uint8(model.decode(model.encode(x))))
    return np.concatenate(out)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test-dir", required=True)
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--sweet-spot", type=int, default=10)
    p.add_argument("--total-iter", type=int, default=10)
    p.add_argument("--choice-temperature", type=float, default=4.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fill", default=FILLS[0], choices=FILLS,
                   help="what the encoder sees in the hole (gray = the course's behaviour)")
    p.add_argument("--final-step", default=FINAL_STEP[0], choices=FINAL_STEP,
                   help=FINAL_STEP_HELP)
    p.add_argument("--fid-precision", default="fp32", choices=FID_PRECISIONS,
                   help="Inception precision: fp32 (reference, reported numbers); mixed (about 1.4x faster) "
                        "and bf16 (1.8x) move FID by up to ~0.2: quick relative comparisons")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, help="only the first N test images (quick checks)")
    p.add_argument("--recon", action="store_true", help="score VQGAN reconstructions of gt instead")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--save-dir", help="also write the output images here (and evaluate.json: the settings and scores)")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def score(args):
    """The settings and scores of one evaluation (what `--json` prints)."""
    check_batch_size(args.batch_size)
    torch.manual_seed(args.seed)
    masked, truth, holes, names = load_test_folder(args.test_dir, args.limit)
    model = load(args.checkpoints, device=resolve_device(args.device))
    result = {"n_images": len(names), "checkpoints": args.checkpoints, "weights": weights_digests(args.checkpoints),
              "fid_precision": args.fid_precision}
    start = time.time()
    if args.recon:
        recon = run_reconstruction(model, truth, args.batch_size)
        inpaint_seconds = time.time() - start
        result.update(mode="recon", psnr=psnr_uint8(recon, truth))
        outputs = {"fid": recon}
    else:
        decoded, composited = run_inpainting(model, masked, holes, args)
        inpaint_seconds = time.time() - start
        result.update(mode="inpaint", schedule=args.schedule, sweet_spot=args.sweet_spot,
                      total_iter=args.total_iter, choice_temperature=args.choice_temperature,
                      seed=args.seed, fill=args.fill, final_step=args.final_step,
                      batch_size=args.batch_size)  # each batch draws from seed + its first index
        outputs = {"fid": decoded, "fid_composited": composited}
    fid_start = time.time()
    for key, images in outputs.items():
        result[key] = fid(images, truth, precision=args.fid_precision)
    result.update(inpaint_seconds=round(inpaint_seconds, 2), fid_seconds=round(time.time() - fid_start, 2),
                  seconds=round(time.time() - start, 2))
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)
        for key, images in outputs.items():
            for name, img in zip(names, images):
                save_rgb(img, os.path.join(args.save_dir, f"{key}-{name}"))
        with open(os.path.join(args.save_dir, "evaluate.json"), "w") as f:  # how these images were made
            json.dump(result, f, indent=2)
    return result


def main(argv=None):
    args = parse(argv)
    try:
        result = score(args)
    except MaskGITError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    reuse_freed_memory()
    sys.exit(main())
