"""Score tokenizers on the *validation* faces: PSNR and FID of their reconstructions.

The test folder is never used here. One JSON line per tokenizer:
  python scripts/compare_tokenizers.py --data-root DATA checkpoints runs/cpu-dec
Each argument is a folder holding vqgan.json/.safetensors (or FOLDER:NAME for another name,
e.g. runs/gpu1/vq:vqgan_pregan). `tokens` names what decides the tokens (encoder weights and
FSQ levels): tokenizers with the same `tokens` serve the same transformer.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit.data import load_image_folder, to_model_range  # noqa: E402
from maskgit.evaluate import psnr_uint8, to_uint8  # noqa: E402
from maskgit.fid import fid  # noqa: E402
from maskgit.pipeline import load_vqgan  # noqa: E402
from maskgit.runtime import reuse_freed_memory  # noqa: E402
from maskgit.training.stage2 import tokens_digest  # noqa: E402


@torch.no_grad()
def reconstruct(vqgan, images, batch=128):
    out = []
    for i in range(0, len(images), batch):
        x = to_model_range(images[i:i + batch])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            recon = vqgan.decode(vqgan.encode(x))
        out.append(to_uint8((recon.float() + 1) / 2))
    return np.concatenate(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tokenizers", nargs="+", help="FOLDER or FOLDER:NAME")
    p.add_argument("--data-root", required=True, help="folder with val/ (the test folder is not read)")
    p.add_argument("--limit", type=int, help="only the first N validation faces")
    p.add_argument("--precision", default="bf16", help="Inception precision (relative comparisons)")
    args = p.parse_args()
    truth_t = load_image_folder(os.path.join(args.data_root, "val"), limit=args.limit)
    truth = truth_t.permute(0, 2, 3, 1).numpy()
    for spec in args.tokenizers:
        folder, _, name = spec.partition(":")
        name = name or "vqgan"
        started = time.time()
        recon = reconstruct(load_vqgan(folder, name).eval(), truth_t)
        row = {"tokenizer": spec, "tokens": tokens_digest(folder, name), "n_images": len(truth),
               "psnr": round(psnr_uint8(recon, truth), 3),
               "fid": round(float(fid(recon, truth, precision=args.precision)), 3),
               "precision": args.precision, "seconds": round(time.time() - started, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    reuse_freed_memory()
    main()
