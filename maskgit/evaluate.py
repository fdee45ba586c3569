"""Score inpainting on a test folder with FID (decoded images and composited images vs truth).

  python -m maskgit.evaluate --test-dir DIR --schedule cosine --sweet-spot 10 --total-iter 10 --json
  python -m maskgit.evaluate --test-dir DIR --recon --json      # plain VQGAN reconstructions of gt

The last line printed with --json is one JSON object.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
from tqdm import tqdm

from safetensors import safe_open
from safetensors.torch import save_file

from .checkpoint import atomic_write_bytes, file_digest, load_checkpoint, weights_digests
from .decoding import FINAL_STEP, FINAL_STEP_HELP, ORDERS, SEED_RANGE, check_seed
from .errors import MaskGITError
from .fid import FID_PRECISIONS, fid
from .guided import Guide, GuideConfig
from .images import save_rgb, uint8_to_unit, unit_to_uint8
from .masks import paste_back
from .pipeline import DECODERS, FILLS, load, resolve_device
from .runtime import reuse_freed_memory
from .testset import load_test_folder, load_val_folder


def to_uint8(images01):
    """float (B, 3, H, W) in [0, 1] -> uint8 (B, H, W, 3)."""
    return unit_to_uint8(images01)


def psnr_uint8(images, truth):
    """Mean PSNR in dB of uint8 images against uint8 truth."""
    mse = ((images.astype(np.float64) - truth) ** 2).reshape(len(truth), -1).mean(1)
    return float(np.mean(10 * np.log10(255 ** 2 / np.maximum(mse, 1e-10))))


def check_batch_size(batch_size):
    if batch_size < 1:
        raise MaskGITError(f"--batch-size must be >= 1, got {batch_size}")


def final_tokens(model, masked, holes, args):
    """The decoded token ids (N, n_tokens) for the whole set, in batches (each batch draws
    from seed + its first index), reused from --tokens FILE when it holds these settings."""
    settings = {k: getattr(args, k) for k in TOKEN_SETTINGS}
    settings.update(weights=weights_digests(args.checkpoints), n=len(masked),
                    images=image_set_digest(masked, holes))
    cached = read_token_cache(args.tokens, settings) if args.tokens else None
    if cached is not None:
        return cached
    out = []
    for i in tqdm(range(0, len(masked), args.batch_size), desc="inpainting", disable=args.quiet, mininterval=5):
        final = model.inpaint(masked[i:i + args.batch_size], holes[i:i + args.batch_size],
                              schedule=args.schedule, sweet_spot=args.sweet_spot, total_iter=args.total_iter,
                              choice_temperature=args.choice_temperature, seed=args.seed + i, fill=args.fill,
                              final_step=args.final_step, grow_hole=args.grow_hole, order=args.order,
                              decode="none", decoder="tokens")
        out.append(final.tokens.flatten(1).cpu())
    tokens = torch.cat(out)
    if args.tokens:
        write_token_cache(args.tokens, tokens, settings)
    return tokens


TOKEN_SETTINGS = ("schedule", "sweet_spot", "total_iter", "choice_temperature", "seed", "fill", "final_step",
                  "batch_size", "grow_hole", "order")


def image_set_digest(masked, holes):
    return hashlib.sha1(masked.tobytes() + np.packbits(holes).tobytes()).hexdigest()[:16]


def read_token_cache(path, settings):
    if not os.path.exists(path):
        return None
    with safe_open(path, "pt") as f:
        if json.loads(f.metadata().get("settings", "null")) != settings:
            return None
        return f.get_tensor("tokens").long()


def write_token_cache(path, tokens, settings):
    atomic_write_bytes(path, lambda tmp: save_file({"tokens": tokens.short().contiguous()}, tmp,
                                                   metadata={"settings": json.dumps(settings)}))


def decode_set(model, tokens, masked, holes, decoder, batch_size):
    """Decoded and composited uint8 images of the set's final tokens."""
    decoded, composited = [], []
    for i in range(0, len(tokens), batch_size):
        images, hole = model.to_batch(masked[i:i + batch_size], holes[i:i + batch_size])
        image = model.decode(tokens[i:i + batch_size].to(model.device), images, hole, decoder)
        decoded.append(to_uint8(image))
        composited.append(to_uint8(paste_back(image, images, hole)))
    return np.concatenate(decoded), np.concatenate(composited)


def psnr_known(images, truth, holes):
    """Mean over images of the PSNR (dB) of the known pixels (outside the hole)."""
    err = (images.astype(np.float64) - truth) ** 2 * (~holes)[..., None]
    mse = err.reshape(len(truth), -1).sum(1) / (3 * (~holes).reshape(len(truth), -1).sum(1)).clip(1)
    return float(np.mean(10 * np.log10(255 ** 2 / np.maximum(mse, 1e-10))))


def run_reconstruction(model, truth, batch_size):
    out = []
    for i in range(0, len(truth), batch_size):
        x = uint8_to_unit(truth[i:i + batch_size]).to(model.device)
        out.append(to_uint8(model.decode(model.encode(x))))
    return np.concatenate(out)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--test-dir", help="a test folder: masked_image/, mask64/ and gt/")
    where.add_argument("--val-dir", help="a folder of faces, each given a brush-stroke hole (masks.validation_holes): "
                       "where settings are chosen")
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--sweet-spot", type=int, default=10)
    p.add_argument("--total-iter", type=int, default=10)
    p.add_argument("--choice-temperature", type=float, default=4.5)
    p.add_argument("--seed", type=int, default=0,
                   help=f"a whole number in {SEED_RANGE}; each batch draws from seed + its first index")
    p.add_argument("--fill", default=FILLS[0], choices=FILLS,
                   help="what the encoder sees in the hole (gray = the course's behaviour)")
    p.add_argument("--final-step", default=FINAL_STEP[0], choices=FINAL_STEP,
                   help=FINAL_STEP_HELP)
    p.add_argument("--decoder", choices=DECODERS + ("both",),
                   help="guided: the mask-aware decoder (the default when the checkpoints have a guide); tokens: "
                        "the tokens alone (the course's); both: each, from the same tokens")
    p.add_argument("--guide", metavar="DIR/NAME", help="score this guide checkpoint instead of the one in --checkpoints")
    p.add_argument("--grow-hole", type=int, default=0, metavar="TOKENS",
                   help="also redraw the known tokens within this many tokens of the hole")
    p.add_argument("--order", default=ORDERS[0], choices=ORDERS, help="which masked tokens each step decides")
    p.add_argument("--tokens", metavar="FILE", help="keep the decoded tokens in FILE and reuse them when the "
                   "settings match (to score other decoders without decoding again)")
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


def load_set(args):
    if args.test_dir:
        return load_test_folder(args.test_dir, args.limit)
    return load_val_folder(args.val_dir, args.limit)


def load_model(args):
    """The checkpoints' model, with --guide's guide in place of theirs when given; and the
    digests of the weights it decodes with."""
    model = load(args.checkpoints, device=resolve_device(args.device))
    guide_file = os.path.join(args.checkpoints, "guide.safetensors") if model.guide is not None else None
    if args.guide:
        folder, name = os.path.split(args.guide)
        model.guide = load_checkpoint(folder or ".", name, "guide", Guide, GuideConfig)[0].to(model.device).eval()
        guide_file = os.path.join(folder or ".", f"{name}.safetensors")
    digests = weights_digests(args.checkpoints)
    if guide_file and args.decoder != "tokens":
        digests["guide"] = file_digest(guide_file)
    return model, digests


def score(args):
    """The settings and scores of one evaluation (what `--json` prints)."""
    check_batch_size(args.batch_size)
    torch.manual_seed(check_seed(args.seed))
    masked, truth, holes, names = load_set(args)
    model, digests = load_model(args)
    result = {"n_images": len(names), "set": "test" if args.test_dir else "val", "checkpoints": args.checkpoints,
              "weights": digests, "fid_precision": args.fid_precision}
    start = time.time()
    if args.recon:
        recon = run_reconstruction(model, truth, args.batch_size)
        inpaint_seconds = time.time() - start
        result.update(mode="recon", psnr=psnr_uint8(recon, truth))
        outputs = {"fid": recon}
    else:
        decoders = {None: (model.default_decoder,), "both": ("guided", "tokens")}.get(args.decoder, (args.decoder,))
        tokens = final_tokens(model, masked, holes, args)
        inpaint_seconds = time.time() - start
        result.update(mode="inpaint", **{k: getattr(args, k) for k in TOKEN_SETTINGS}, decoder=decoders[0])
        outputs = {}
        for decoder in decoders:  # the first decoder's scores are `fid`, ...; the others' are prefixed
            prefix = "" if decoder == decoders[0] else f"{decoder}_"
            decoded, composited = decode_set(model, tokens, masked, holes, decoder, args.batch_size)
            outputs.update({f"{prefix}fid": decoded, f"{prefix}fid_composited": composited})
            result[f"{prefix}psnr_known"] = psnr_known(decoded, truth, holes)
    fid_start = time.time()
    for key, images in outputs.items():
        result[key] = fid(images, truth, precision=args.fid_precision)
    result.update(inpaint_seconds=round(inpaint_seconds, 2), fid_seconds=round(time.time() - fid_start, 2),
                  seconds=round(time.time() - start, 2))
    if args.save_dir:
        save_outputs(args.save_dir, outputs, names, result)
    return result


def save_outputs(folder, outputs, names, result):
    os.makedirs(folder, exist_ok=True)
    for key, images in outputs.items():
        for name, img in zip(names, images):
            save_rgb(img, os.path.join(folder, f"{key}-{name}"))
    with open(os.path.join(folder, "evaluate.json"), "w") as f:  # how these images were made
        json.dump(result, f, indent=2)


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
