"""Score tokenizers on the *validation* faces: PSNR and FID of their reconstructions.

The test folder is never used here. One JSON line per tokenizer:
  python scripts/compare_tokenizers.py --data-root DATA checkpoints runs/cpu-dec
Each argument is a folder holding vqgan.json/.safetensors (or FOLDER:NAME for another name,
e.g. runs/gpu1/vq:vqgan_pregan), or RUN@model / RUN@ema for the weights in a run folder's last
saved state (the last step's, or the average kept with --ema), to score a run while it trains.
`tokens` names what decides the tokens (encoder weights and FSQ levels): tokenizers with the same
`tokens` serve the same transformer (for a state: of its encoder stored as an export would be).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit.checkpoint import read_json  # noqa: E402
from maskgit.data import load_image_folder, to_model_range  # noqa: E402
from maskgit.errors import MaskGITError  # noqa: E402
from maskgit.evaluate import psnr_uint8, to_uint8  # noqa: E402
from maskgit.images import model_to_unit  # noqa: E402
from maskgit.fid import fid  # noqa: E402
from maskgit.pipeline import load_vqgan  # noqa: E402
from maskgit.runtime import reuse_freed_memory  # noqa: E402
from maskgit.training.common import load_state  # noqa: E402
from maskgit.training.stage2 import tokens_digest, tokens_digest_of  # noqa: E402


@torch.no_grad()
def reconstruct(vqgan, images, batch=128):
    out = []
    for i in range(0, len(images), batch):
        x = to_model_range(images[i:i + batch])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            recon = vqgan.decode(vqgan.encode(x))
        out.append(to_uint8(model_to_unit(recon.float())))
    return np.concatenate(out)


def from_state(folder, part):
    """A run's weights from its last saved state (`part`: model, or ema for the decoder's average
    with the live encoder), stored as an export would be (fp16), in the architecture of the
    tokenizer the run exported (vqgan or, before its end, vqgan_pregan)."""
    if part not in ("model", "ema"):
        raise MaskGITError(f"{folder}@{part}: a state's weights are RUN@model or RUN@ema")
    state = load_state(folder)
    if state is None or part not in state[0]:
        raise MaskGITError(f"{folder} has no saved state with '{part}' weights")
    name = next((n for n in ("vqgan", "vqgan_pregan") if os.path.exists(os.path.join(folder, f"{n}.json"))), None)
    if name is None:
        raise MaskGITError(f"{folder} has no exported tokenizer to take the architecture from")
    weights = {**state[0]["model"], **state[0][part]}
    stored = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    vqgan = load_vqgan(folder, name)
    vqgan.load_state_dict(stored)
    return vqgan, tokens_digest_of(read_json(os.path.join(folder, f"{name}.json"))["config"], stored), state[1]["step"]


def load_spec(spec):
    """(tokenizer, tokens digest, step or None) for FOLDER, FOLDER:NAME, RUN@model, RUN@ema."""
    if "@" in spec:
        folder, _, part = spec.rpartition("@")
        return from_state(folder, part)
    folder, _, name = spec.partition(":")
    name = name or "vqgan"
    return load_vqgan(folder, name), tokens_digest(folder, name), None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tokenizers", nargs="+", help="FOLDER, FOLDER:NAME, RUN@model or RUN@ema")
    p.add_argument("--data-root", required=True, help="folder with val/ (the test folder is not read)")
    p.add_argument("--limit", type=int, help="only the first N validation faces")
    p.add_argument("--precision", default="bf16", help="Inception precision (relative comparisons)")
    args = p.parse_args()
    try:  # every tokenizer first: a typo in the last one fails before any scoring
        tokenizers = [(spec, *load_spec(spec)) for spec in args.tokenizers]
        truth_t = load_image_folder(os.path.join(args.data_root, "val"), limit=args.limit)
    except MaskGITError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    truth = truth_t.permute(0, 2, 3, 1).numpy()
    for spec, vqgan, tokens, step in tokenizers:
        started = time.time()
        recon = reconstruct(vqgan.eval(), truth_t)
        row = {"tokenizer": spec, "tokens": tokens, **({"step": step} if step is not None else {}),
               "n_images": len(truth),
               "psnr": round(psnr_uint8(recon, truth), 3),
               "fid": round(float(fid(recon, truth, precision=args.precision)), 3),
               "precision": args.precision, "seconds": round(time.time() - started, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    reuse_freed_memory()
    sys.exit(main())
