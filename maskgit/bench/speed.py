"""Speed of the library against this machine's peak: each model's forward pass, a studio run,
batched evaluation and one training step of each stage. FLOPs are counted by PyTorch's
FlopCounterMode on the real modules."""
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ..pipeline import load
from ..precision import autocast, bf16_is_fast
from ..training.masking import sample_training_mask
from .report import machine_name


def timeit(fn, repeat=5, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def matmul_peak(dtype, n=2048):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / timeit(lambda: a @ b, repeat=10) / 1e9


def count_flops(fn):
    """FLOPs (2 x multiply-adds) of the matrix products and convolutions fn() runs."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def forward_rows(model, peak):
    tr, vq = model.transformer, model.vqgan
    flops = {"transformer_forward": count_flops(lambda: tr(torch.randint(0, 1000, (1, 256)))),
             "tokenizer_decode": count_flops(lambda: vq.decode(torch.randint(0, 1000, (1, 16, 16)))),
             "tokenizer_encode": count_flops(lambda: vq.encode(torch.zeros(1, 3, 64, 64)))}
    if model.guide is not None:
        flops["guide"] = count_flops(lambda: model.guide(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64),
                                                         torch.zeros(1, 64, 64, dtype=torch.bool)))
    res = {"gflop": {k: round(v / 1e9, 2) for k, v in flops.items()}}
    for b in (1, 4):
        tokens = torch.randint(0, 1000, (b, 256))
        sec = timeit(lambda: model._logits(tokens))
        res[f"transformer_forward_b{b}_ms"] = round(sec * 1000, 1)
        res[f"transformer_forward_b{b}_frac_peak"] = round(b * flops["transformer_forward"] / sec / 1e9 / peak, 3)
        for decoder in ("tokens", "guided") if model.guide is not None else ("tokens",):
            images, holes = torch.rand(b, 3, 64, 64), torch.zeros(b, 64, 64, dtype=torch.bool)
            sec = timeit(lambda: model.decode(tokens, images, holes, decoder))
            res[f"decode_{decoder}_b{b}_ms"] = round(sec * 1000, 1)
    return res, flops


def studio_rows(model):
    face = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    hole = np.zeros((64, 64), bool)
    hole[16:48, 16:48] = True
    schedules = ["cosine", "linear", "square", "cubic"]
    return {
        "first_step_ms": round(timeit(lambda: next(iter(model.inpaint_steps(face, hole)))) * 1000, 1),
        "inpaint_10_steps_ms": round(timeit(lambda: list(model.inpaint_steps(face, hole)), repeat=3) * 1000, 1),
        "compare_4_schedules_10_steps_ms": round(timeit(lambda: list(model.inpaint_steps(
            np.repeat(face[None], 4, 0), np.repeat(hole[None], 4, 0), schedule=schedules)), repeat=3) * 1000, 1)}


def training_rows(model, peak, flops):
    """Images/s of one optimizer step of each stage at batch 32."""
    out, device = {}, torch.device("cpu")
    tr = model.transformer.train()
    opt = torch.optim.AdamW(tr.parameters(), lr=1e-5)
    tokens = torch.randint(0, 1000, (32, 256))

    def transformer_step():
        mask = sample_training_mask(32, 16)
        with autocast(device):
            logits = tr(torch.where(mask, torch.full_like(tokens, 1000), tokens))
            loss = torch.nn.functional.cross_entropy(logits[mask].float(), tokens[mask])
        opt.zero_grad(); loss.backward(); opt.step()
    sec = timeit(transformer_step, repeat=3, warmup=1)
    out["train_transformer_img_per_s"] = round(32 / sec, 1)
    out["train_transformer_frac_peak"] = round(3 * 32 * flops["transformer_forward"] / sec / 1e9 / peak, 3)
    vq = model.vqgan.train()
    opt = torch.optim.Adam(vq.decoder.parameters(), lr=1e-6)
    z = vq.quantize(torch.rand(32, 3, 64, 64) * 2 - 1).detach()

    def decoder_step():
        with autocast(device):
            loss = vq.decoder(z).float().abs().mean()
        opt.zero_grad(); loss.backward(); opt.step()
    sec = timeit(decoder_step, repeat=3, warmup=1)
    out["train_decoder_img_per_s"] = round(32 / sec, 1)
    out["train_decoder_frac_peak"] = round(3 * 32 * flops["tokenizer_decode"] / sec / 1e9 / peak, 3)
    model.transformer.eval(); model.vqgan.eval()
    return out


def run_speed(args):
    torch.manual_seed(0)
    model = load(args.checkpoints, device="cpu")
    bf16 = bf16_is_fast("cpu")
    res = {"machine": machine_name(),
           "threads": torch.get_num_threads(), "bf16": bf16,
           "peak_gflops_fp32": round(matmul_peak(torch.float32), 1)}
    if bf16:
        res["peak_gflops_bf16"] = round(matmul_peak(torch.bfloat16), 1)
    peak = res["peak_gflops_bf16" if bf16 else "peak_gflops_fp32"]
    rows, flops = forward_rows(model, peak)
    res.update(rows)
    res.update(studio_rows(model))
    res.update(training_rows(model, peak, flops))
    return res
