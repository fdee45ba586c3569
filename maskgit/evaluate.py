"""Score inpainting with FID: decoded images and composited images (known pixels pasted
back) against the truth, following pytorch-fid.

  maskgit-evaluate --test-dir DIR --json                         # the test folder, the defaults
  maskgit-evaluate --val-dir DATA/val --decoder both --json      # choose settings on val faces
  maskgit-evaluate --val-dir DATA/val --seeds 0 1 2 3 4 --json   # how much of a score is the seed
  maskgit-evaluate --val-dir DATA/val --val-holes ragged --json   # the same holes, ragged borders
  maskgit-evaluate --test-dir DIR --recon --json                 # the tokenizer's reconstructions

A test folder holds masked_image/, mask64/ and gt/; a val folder is any folder of faces,
each given a brush-stroke hole (maskgit.masks.validation_holes). Choose settings on val;
measure the test folder once per release. The last line printed with --json is one JSON
object.
"""
import argparse
import json
import os
import statistics
import time

import torch

from .checkpoint import file_digest, load_checkpoint, weights_digests
from .cli import ArgumentParser, add_decoder_flag, add_decoding_flags, add_model_flags, reports_errors
from .decoding import check_seed
from .errors import MaskGITError
from .fid import FID_PRECISIONS, fid
from .guided import Guide, GuideConfig
from .images import save_rgb
from .masks import VAL_HOLES
from .pipeline import check_decoder, load, load_vqgan, resolve_device
from .runtime import reuse_freed_memory
from .scoring import DecodeSettings, decode_set, psnr_known, psnr_uint8, reconstruct_set, set_tokens
from .testset import load_test_folder, load_val_folder


def parse(argv):
    p = ArgumentParser(prog="maskgit-evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--test-dir", help="a test folder: masked_image/, mask64/ and gt/")
    where.add_argument("--val-dir", help="a folder of faces, each given a brush-stroke hole: where settings are chosen")
    p.add_argument("--val-holes", default="brush", choices=VAL_HOLES,
                   help="with --val-dir: brush strokes (default), or the same strokes with ragged borders "
                        "like masks reduced from a higher resolution")
    add_model_flags(p)
    add_decoding_flags(p)
    add_decoder_flag(p, both=True)
    p.add_argument("--guide", metavar="DIR/NAME", help="score this guide checkpoint instead of the one in --checkpoints")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="score each seed in turn (instead of --seed) and report the mean and spread")
    p.add_argument("--tokens", metavar="FILE", help="keep the decoded tokens in FILE and reuse them when the "
                   "settings, faces and weights match (to score other decoders without decoding again)")
    p.add_argument("--recon", action="store_true", help="score the tokenizer's reconstructions of the truth instead")
    p.add_argument("--tokenizer-name", default="vqgan", metavar="NAME",
                   help="with --recon: the tokenizer checkpoint NAME.* in --checkpoints (e.g. vqgan_pregan)")
    p.add_argument("--fid-precision", default="fp32", choices=FID_PRECISIONS,
                   help="Inception precision: fp32 (reference, reported numbers); mixed (about 1.4x faster) "
                        "and bf16 (1.8x) move FID by up to ~0.2: quick relative comparisons")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, help="only the first N faces (quick checks)")
    p.add_argument("--save-dir", help="also write the output images here (and evaluate.json: the settings and scores)")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        raise MaskGITError(f"--batch-size must be >= 1, got {args.batch_size}")
    for seed in args.seeds or [args.seed]:
        check_seed(seed)
    return args


def load_set(args):
    if args.test_dir:
        return load_test_folder(args.test_dir, args.limit)
    return load_val_folder(args.val_dir, args.limit, holes=args.val_holes)


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


def score_reconstruction(args, truth, result):
    tokenizer = load_vqgan(args.checkpoints, args.tokenizer_name).to(resolve_device(args.device)).eval()
    result["weights"] = {"vqgan": file_digest(os.path.join(args.checkpoints, f"{args.tokenizer_name}.safetensors"))}
    recon = reconstruct_set(tokenizer, truth, args.batch_size)
    result.update(mode="recon", psnr=psnr_uint8(recon, truth))
    return {"fid": recon}


def score_inpainting(args, model, weights, data, result, seed):
    """Decode the set once with these settings, then every requested decoder from its tokens."""
    masked, truth, holes, _ = data
    decoders = {None: (model.default_decoder,), "both": ("guided", "tokens")}.get(args.decoder, (args.decoder,))
    for decoder in decoders:  # before the costly part
        check_decoder(decoder, model.guide is not None)
    settings = DecodeSettings.from_args(args, seed=seed)
    start = time.time()
    tokens = set_tokens(model, masked, holes, settings, weights, cache=args.tokens, quiet=args.quiet)[settings.sweet_spot]
    result.update(mode="inpaint", **settings.__dict__, decoder=decoders[0], inpaint_seconds=round(time.time() - start, 2))
    outputs = {}
    for decoder in decoders:  # the first decoder's scores are `fid`, ...; the others' are prefixed
        prefix = "" if decoder == decoders[0] else f"{decoder}_"
        decoded, composited = decode_set(model, tokens, masked, holes, decoder, args.batch_size)
        outputs.update({f"{prefix}fid": decoded, f"{prefix}fid_composited": composited})
        result[f"{prefix}psnr_known"] = psnr_known(decoded, truth, holes)
    return outputs


def add_fids(args, outputs, truth, result):
    start = time.time()
    for key, images in outputs.items():
        result[key] = fid(images, truth, precision=args.fid_precision)
    result["fid_seconds"] = round(time.time() - start, 2)


def seed_spread(runs):
    """Mean, standard deviation and range of each score over the seeds' runs."""
    summary = {}
    scores = (k for k, v in runs[0].items() if isinstance(v, float) and not k.endswith("seconds")
              and k.startswith(("fid", "tokens_fid", "psnr", "tokens_psnr")))
    for key in scores:
        values = [r[key] for r in runs]
        summary[key] = {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "min": min(values), "max": max(values)}
    return summary


def score(args):
    """The settings and scores of one evaluation (what `--json` prints)."""
    torch.manual_seed(args.seed)
    data = load_set(args)
    masked, truth, holes, names = data
    set_name = "test" if args.test_dir else "val" if args.val_holes == "brush" else f"val-{args.val_holes}"
    result = {"n_images": len(names), "set": set_name, "checkpoints": args.checkpoints,
              "fid_precision": args.fid_precision}
    start = time.time()
    if args.recon:
        outputs = score_reconstruction(args, truth, result)
        add_fids(args, outputs, truth, result)
    else:
        model, result["weights"] = load_model(args)
        runs = []
        for seed in args.seeds or [args.seed]:
            run = dict(result)
            outputs = score_inpainting(args, model, result["weights"], data, run, seed)
            add_fids(args, outputs, truth, run)
            runs.append(run)
        result = runs[0] if len(runs) == 1 else {**runs[0], "seed": args.seeds, "seeds": [
            {k: r[k] for k in r if k == "seed" or k.startswith(("fid", "tokens_", "psnr"))} for r in runs],
            "spread": seed_spread(runs)}
    result["seconds"] = round(time.time() - start, 2)
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


@reports_errors
def main(argv=None):
    reuse_freed_memory()
    args = parse(argv)
    result = score(args)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    raise SystemExit(main())
