"""How fast the FID Inception pass runs here, and what each speed-up costs in accuracy.

  python scripts/bench_inception.py --images DATA/val --test-dir TEST --out docs/bench

For each way of running the network: images/s over --limit faces, and the RMS difference
of its 2048-d features from fp32 (relative). With --test-dir, also the FID of the
gray-filled test inputs against the truth in each precision the library offers (the
tolerance for reported numbers is 0.1 from fp32). Writes inception.json.
"""
import argparse
import json
import os
import time

import torch

from maskgit.data import load_image_folder
from maskgit.fid import (FID_PRECISIONS, _forward_mixed, fid, frechet_distance, gaussian_stats,
                         load_fid_network, load_inception, to_inception_input)
from maskgit.runtime import reuse_freed_memory
from maskgit.testset import load_test_folder


def with_fp32_math(mode, fn):
    """oneDNN's fp32 math mode (bf16/tf32 inside fp32 convolutions), restored afterwards."""
    def run(x):
        old = torch.backends.mkldnn.conv.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision
        torch.backends.mkldnn.conv.fp32_precision = torch.backends.mkldnn.matmul.fp32_precision = mode
        try:
            return fn(x)
        finally:
            torch.backends.mkldnn.conv.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision = old
    return run


def variants(scripted, network, compiled):
    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(scripted))

    def bf16(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return network(x).float()
    passes = {
        "TorchScript as shipped, plain layout": (scripted, False),
        "TorchScript, channels-last (used before the rebuild)": (scripted, True),
        "TorchScript, channels-last, jit.freeze + optimize_for_inference": (frozen, True),
        "rebuilt (folded batch norm, merged 1x1 convolutions), channels-last (used)": (network, True),
        "rebuilt, oneDNN fp32 math mode bf16": (with_fp32_math("bf16", network), True),
        "rebuilt, bf16 autocast, whole network (--fid-precision bf16)": (bf16, True),
        "rebuilt, bf16 in the Inception blocks, stem and last pooling fp32 (--fid-precision mixed)":
            (lambda x: _forward_mixed(network, x), True),
    }
    if compiled is not None:
        passes["rebuilt + torch.compile (inductor, freezing; compile time excluded)"] = (compiled, True)
    return passes


DEFAULT_ALLOCATOR_ROW = "rebuilt, channels-last, glibc's default allocator (used before the memory change)"


def rms_rel(feats, reference):
    return float(f"{((feats - reference).pow(2).mean().sqrt() / reference.pow(2).mean().sqrt()).item():.2e}")


@torch.no_grad()
def features(fn, x, channels_last, batch):
    out = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        out.append(fn(xb.contiguous(memory_format=torch.channels_last) if channels_last else xb.contiguous())
                   .reshape(len(xb), -1).float())
    return torch.cat(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="a folder of face images (e.g. cat_face/val)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--test-dir", help="also the gray-fill FID per precision on this test folder")
    p.add_argument("--compile", action="store_true", help="also time the rebuilt network under torch.compile")
    p.add_argument("--out")
    args = p.parse_args()
    faces = load_image_folder(args.images, limit=args.limit)
    x = to_inception_input(faces.float() / 255)
    compiled = None
    if args.compile:
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True
        compiled = torch.compile(load_fid_network())
    result = {"threads": torch.get_num_threads(), "n_images": len(x), "passes": {}}

    def timed(fn, channels_last):
        start = time.perf_counter()
        features(fn, x[:args.batch_size], channels_last, args.batch_size)  # warm-up (compiles)
        warmup = time.perf_counter() - start
        start = time.perf_counter()
        feats = features(fn, x, channels_last, args.batch_size)
        return feats, {"img_per_s": round(len(x) / (time.perf_counter() - start), 2), "first_batch_s": round(warmup, 1)}

    # The allocator first: the setting below is process-wide and stays for every other row.
    before_feats, before = timed(load_fid_network(), True)
    result["reuse_freed_memory"] = reuse_freed_memory()
    reference = None
    for name, (fn, channels_last) in variants(load_inception(), load_fid_network(), compiled).items():
        feats, row = timed(fn, channels_last)
        if reference is None:
            reference = feats
        if name.endswith("(used)"):  # listed beside the pass it was measured on
            result["passes"][DEFAULT_ALLOCATOR_ROW] = before | {"feature_rms_rel": rms_rel(before_feats, reference)}
        result["passes"][name] = row | {"feature_rms_rel": rms_rel(feats, reference)}
        print(name, result["passes"][name], flush=True)
    if args.test_dir:
        masked, truth, _, _ = load_test_folder(args.test_dir)
        result["gray_fill_fid"] = {}
        # The published TorchScript network, same inputs: the value the rebuilt one must match.
        stats = [gaussian_stats(features(load_inception(), to_inception_input(images), True, args.batch_size)
                                .double().numpy()) for images in (masked, truth)]
        result["gray_fill_fid"]["fp32 TorchScript"] = round(frechet_distance(*stats[0], *stats[1]), 3)
        print("gray fill FID fp32 TorchScript", result["gray_fill_fid"]["fp32 TorchScript"], flush=True)
        for precision in FID_PRECISIONS:
            result["gray_fill_fid"][precision] = round(fid(masked, truth, precision=precision), 3)
            print("gray fill FID", precision, result["gray_fill_fid"][precision], flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "inception.json"), "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
