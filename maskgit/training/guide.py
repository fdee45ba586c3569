"""Train the mask-aware decoder's guide (maskgit/guided.py) on a frozen tokenizer.

Each sample is a true face, the tokenizer's reconstruction of it (computed once and cached
in the run folder) and a random hole (masks.random_hole). The guide sees the reconstruction,
the known pixels and the hole, and is trained to give back the true face: the known region
faithfully (L1 + L2, weighted up by `known_weight`), the hole sharply (L1 + L2 plus the
adversarial and feature-matching terms of training/gan.py, starting from the discriminator
that travels with the tokenizer). The tokenizer and its tokens never change, so the shipped
transformer stays valid.

With --sampled, a share of each batch instead decodes the transformer's own inpainting of a
training face (training/guide_samples.py): the decoded image the guide reads at inference.
Its known region is still trained against the truth, but its hole against the sample itself,
not the truth: a sample is a different but plausible face there, and a pixel loss against
the truth would teach the guide to blur it toward the truth. With --sampled-target teacher
the hole's target is instead what the starting guide (--init-from, frozen) makes of the same
input: the guide then keeps its hole as before and learns the known region. With
--sampled-target composite the whole target is the sample pasted into the truth with the
evaluation's 1-pixel feather (masks.paste_back): the tokens-only composite, which scores
better than either hard cut, for the guide to reproduce and sharpen.
"""
import os
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import file_digest, load_checkpoint, read_tensors, save_checkpoint, save_tensors
from ..data import load_image_folder
from ..errors import MaskGITError
from ..guided import Guide, GuideConfig
from ..images import model_to_uint8, uint8_to_model
from ..masks import paste_back, random_hole, ragged_validation_holes, validation_holes
from ..pipeline import load_vqgan
from ..precision import autocast
from ..tokenizer import count_parameters
from .augment import parse_policy
from .common import Budget, Distributed, RunConfig, append_log, load_state, lr_at, optimizer_step, save_state
from .discriminator import PatchDiscriminator, load_discriminator
from .gan import GANObjective, GANSettings
from .guide_samples import decode_tokens, transformer_samples
from .losses import region_error, region_psnr


SAMPLED_TARGETS = ("sample", "teacher", "composite")


@dataclass(kw_only=True)
class GuideTrainConfig(RunConfig):
    tokenizer: str = "checkpoints"   # folder with vqgan.* (frozen) and, optionally, vqgan_disc.*
    batch_size: int = 32
    lr: float = 2e-4
    known_weight: float = 4.0
    channels: tuple = (32, 64, 128)
    disc_weight: float = 0.1          # 0: no adversarial term
    feature_matching: float = 0.5
    disc_augment: str = "translation,cutout"
    holes: int = 8192                 # size of the bank of random holes (each also flipped/transposed)
    ragged: float = 0.0               # share of the bank's holes with a ragged border (masks.roughen_border)
    init_from: Optional[str] = None   # start from the guide in this folder (same channels)
    sampled: float = 0.0              # share of each batch decoded from the transformer's inpaintings
    sampled_faces: int = 2048         # training faces inpainted once by the transformer for that
    transformer: Optional[str] = None  # folder with transformer.* (default: the tokenizer's folder)
    sampled_target: str = "sample"    # the sampled rows' target: sample, teacher or composite (see above)
    distinct: bool = True
    val_limit: int = 256
    val_every: int = 250
    snapshot_every: int = 0           # also keep guide_step{N}.* every N steps (0: off)
    extra: dict = field(default_factory=dict)

    def check(self):
        if not self.steps and not self.minutes:
            raise MaskGITError("give a budget: steps and/or minutes")
        for name in ("batch_size", "holes", "val_limit", "sampled_faces"):
            if getattr(self, name) < 1:
                raise MaskGITError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.disc_weight < 0 or self.feature_matching < 0 or self.known_weight < 0:
            raise MaskGITError("disc_weight, feature_matching and known_weight must be 0 or more")
        for name in ("ragged", "sampled"):
            if not 0 <= getattr(self, name) <= 1:
                raise MaskGITError(f"{name} is a share between 0 and 1, not {getattr(self, name)}")
        if self.sampled_target not in SAMPLED_TARGETS:
            raise MaskGITError(f"sampled_target is one of {', '.join(SAMPLED_TARGETS)}, not {self.sampled_target}")
        if self.sampled_target == "teacher" and not (self.sampled and self.init_from):
            raise MaskGITError("sampled_target teacher needs --sampled and --init-from (the teacher)")
        if self.feature_matching and not self.disc_weight:
            raise MaskGITError("feature matching works through the discriminator: it needs disc_weight > 0")
        try:
            parse_policy(self.disc_augment) if self.disc_augment else ()
        except ValueError as e:
            raise MaskGITError(f"disc_augment: {e}") from None


@torch.no_grad()
def reconstruct(vqgan, images, device, batch=128):
    """uint8 (N, 3, H, W) -> the tokenizer's reconstructions, uint8."""
    out = []
    for i in tqdm(range(0, len(images), batch), desc="reconstructing", mininterval=10, leave=False):
        x = uint8_to_model(images[i:i + batch].to(device))
        with autocast(device):
            recon = vqgan.decode(vqgan.encode(x))
        out.append(model_to_uint8(recon))
    return torch.cat(out)


def cached_pairs(cfg, vqgan, split, device, limit):
    """(truth, reconstruction) uint8 tensors for a split, cached in the run folder under the
    tokenizer's digest (rebuilt when the tokenizer or the image selection changes)."""
    key = f"{file_digest(os.path.join(cfg.tokenizer, 'vqgan.safetensors'))}-{limit}-{cfg.distinct and split == 'train'}"
    path = os.path.join(cfg.out, f"pairs-{split}.safetensors")
    if os.path.exists(path):
        cached = read_tensors(path)
        if "key" in cached and bytes(cached["key"].tolist()).decode() == key:
            return cached["truth"], cached["recon"]
    truth = load_image_folder(os.path.join(cfg.data_root, split), limit=limit,
                              distinct=cfg.distinct and split == "train")
    recon = reconstruct(vqgan, truth, device)
    os.makedirs(cfg.out, exist_ok=True)  # only now: a refused run leaves nothing behind
    save_tensors({"truth": truth, "recon": recon, "key": torch.tensor(list(key.encode()), dtype=torch.uint8)}, path)
    return truth, recon


def hole_bank(n, seed, size, ragged=0.0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([random_hole(rng, size, ragged) for _ in range(n)]))


def sampled_rows(batch, share):
    """How many rows of a batch come from the transformer's inpaintings (the batch's last)."""
    return int(round(batch * share))


def sample_batch(faces, bank, batch, gen, device, samples=None, share=0.0):
    """Model-range truth, decoded image and target (flipped together) and a hole.

    faces = (truth, reconstruction): the hole comes from the bank under a random flip or
    transpose, and the target is the truth. samples = (truth index, hole, decoded) of the
    transformer's inpaintings: `share` of the batch comes from them (the last rows), each
    with the hole it was drawn in, and the target is the truth with the decoded sample itself
    in the hole."""
    truth, recon = faces
    n_s = sampled_rows(batch, share) if samples is not None else 0
    idx = torch.randint(len(truth), (batch - n_s,), generator=gen)
    holes = bank[torch.randint(len(bank), (batch - n_s,), generator=gen)]
    view = torch.randint(8, (batch - n_s,), generator=gen)
    holes = torch.stack([h.rot90(int(v) % 4, (0, 1)).flip(-1) if v >= 4 else h.rot90(int(v), (0, 1))
                         for h, v in zip(holes, view)]) if len(holes) else holes
    x, r, target = truth[idx.to(truth.device)], recon[idx.to(recon.device)], truth[idx.to(truth.device)]
    if n_s:
        s_index, s_holes, s_decoded = samples
        pick = torch.randint(len(s_decoded), (n_s,), generator=gen)
        x = torch.cat([x, truth[s_index[pick].to(truth.device)]])
        decoded, s_hole = s_decoded[pick.to(s_decoded.device)], s_holes[pick]
        s_target = torch.where(s_hole[:, None].to(decoded.device), decoded, x[-n_s:])
        r, target, holes = torch.cat([r, decoded]), torch.cat([target, s_target]), torch.cat([holes, s_hole])
    x, r, target, holes = (uint8_to_model(x.to(device)), uint8_to_model(r.to(device)),
                           uint8_to_model(target.to(device)), holes.to(device))
    flip = (torch.rand(batch, generator=gen) < 0.5).to(device)
    x, r, target = (torch.where(flip[:, None, None, None], t.flip(-1), t) for t in (x, r, target))
    holes = torch.where(flip[:, None, None], holes.flip(-1), holes)
    return x, r, target, holes


@torch.no_grad()
def sampled_targets(mode, x, r, target, holes, n_sampled, teacher=None):
    """The batch with its last n_sampled rows' target set by `mode`: sample (as drawn: the
    sample in the hole), teacher (the teacher guide's output in the hole) or composite (the
    sample pasted into the truth with a 1-pixel feather)."""
    if not n_sampled or mode == "sample":
        return x, r, target, holes
    rows = slice(len(x) - n_sampled, None)
    if mode == "teacher":
        with autocast(x.device):
            taught = teacher(r[rows], x[rows], holes[rows]).float()
        new = torch.where(holes[rows, None], taught, x[rows])
    else:
        new = paste_back(r[rows], x[rows], holes[rows])
    return x, r, torch.cat([target[:len(x) - n_sampled], new]), holes


@torch.no_grad()
def validate(guide, val, device):
    """PSNR of the known region and the hole on the val faces' brush holes, and of the known
    region on the same holes with ragged borders (val_psnr_known_ragged); with the
    transformer's inpaintings of those ragged holes, of their known region
    (val_psnr_known_sampled: what the evaluation's known PSNR measures)."""
    truth, recon, holes, ragged, sampled = val
    guide.eval()
    x, r = uint8_to_model(truth).to(device), uint8_to_model(recon).to(device)
    holes, ragged = holes.to(device), ragged.to(device)
    with autocast(device):
        out = guide(r, x, holes).float()
        out_ragged = guide(r, x, ragged).float()
        if sampled is not None:
            s = uint8_to_model(sampled).to(device)
            out_sampled = guide(s, x, ragged).float()
    guide.train()
    record = {"val_psnr_known": region_psnr(out, x, ~holes), "val_psnr_hole": region_psnr(out, x, holes),
              "val_psnr_known_tokens": region_psnr(r, x, ~holes), "val_psnr_hole_tokens": region_psnr(r, x, holes),
              "val_psnr_known_ragged": region_psnr(out_ragged, x, ~ragged)}
    if sampled is not None:
        record.update(val_psnr_known_sampled=region_psnr(out_sampled, x, ~ragged),
                      val_psnr_known_sampled_tokens=region_psnr(s, x, ~ragged))
    return record


def starting_guide(cfg):
    """The guide in cfg.init_from, refused unless it was trained against cfg.tokenizer with
    the same channels."""
    if not os.path.exists(os.path.join(cfg.init_from, "guide.json")):
        raise MaskGITError(f"{cfg.init_from} holds no guide (guide.json and guide.safetensors)")
    start, info = load_checkpoint(cfg.init_from, "guide", "guide", Guide, GuideConfig)
    if info.get("vqgan") != file_digest(os.path.join(cfg.tokenizer, "vqgan.safetensors")):
        raise MaskGITError(f"the guide in {cfg.init_from} was trained against another tokenizer than {cfg.tokenizer}'s")
    if tuple(start.config.channels) != tuple(cfg.channels):
        raise MaskGITError(f"the guide in {cfg.init_from} has channels {list(start.config.channels)}, "
                           f"not {list(cfg.channels)}: give --channels to match")
    return start


def build(cfg, ddp):
    """The frozen tokenizer, the guide, and the GAN objective (or None)."""
    vqgan = load_vqgan(cfg.tokenizer).to(ddp.device).eval().requires_grad_(False)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    guide = Guide(GuideConfig(image_size=vqgan.config.image_size, channels=tuple(cfg.channels))).to(ddp.device)
    if cfg.init_from:
        guide.load_state_dict(starting_guide(cfg).state_dict())
        cfg.extra["init_from_digest"] = file_digest(os.path.join(cfg.init_from, "guide.safetensors"))
    gan = None
    if cfg.disc_weight > 0:
        disc = PatchDiscriminator().to(ddp.device)
        info = load_discriminator(disc, cfg.tokenizer)
        cfg.extra["disc_from"] = "fresh"
        if info is not None and info.get("vqgan") == file_digest(os.path.join(cfg.tokenizer, "vqgan.safetensors")):
            cfg.extra["disc_from"] = os.path.join(cfg.tokenizer, "vqgan_disc")
        else:
            disc = PatchDiscriminator().to(ddp.device)
        settings = GANSettings(disc_weight=cfg.disc_weight, feature_matching=cfg.feature_matching,
                               augment=tuple(parse_policy(cfg.disc_augment)) if cfg.disc_augment else ())
        gan = GANObjective(disc, settings, ddp.average_gradients)
    return vqgan, guide, gan


def train_guide(cfg: GuideTrainConfig):
    cfg.check()
    ddp = Distributed(cfg.device)
    device = ddp.device
    vqgan, guide, gan = build(cfg, ddp)
    opt = torch.optim.Adam(guide.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    adversary = gan.settings.record() if gan else {"disc_weight": 0}
    step, elapsed = 0, 0.0
    state = None if cfg.fresh else ddp.load_state(cfg.out, load_state)
    if state:
        parts, info = state
        if info.get("adversary") != adversary or info.get("channels") != list(cfg.channels):
            raise MaskGITError(f"{cfg.out} holds a run with other settings ({info.get('adversary')}, channels "
                               f"{info.get('channels')}): resume it the same way, or start over with --fresh")
        guide.load_state_dict(parts["guide"]); opt.load_state_dict(parts["opt"])
        if gan:
            gan.load(parts, info)
        step, elapsed = info["step"], info["elapsed"]
        cfg.extra["disc_from"] = info.get("disc_from", cfg.extra.get("disc_from"))
    truth, recon = cached_pairs(cfg, vqgan, "train", device, cfg.limit)
    val_truth, val_recon = cached_pairs(cfg, vqgan, "val", device, cfg.val_limit)
    brush = validation_holes(len(val_truth), seed=1)
    ragged = torch.from_numpy(ragged_validation_holes(brush, seed=1))
    samples, val_sampled = (inpainted_samples(cfg, vqgan, truth, val_truth, ragged, device) if cfg.sampled
                            else (None, None))
    val = (val_truth, val_recon, torch.from_numpy(brush), ragged, val_sampled)
    bank = hole_bank(cfg.holes, cfg.seed, vqgan.config.image_size, cfg.ragged)
    if device.type == "cuda":  # a few hundred MB: sampling batches on the GPU saves a copy per step
        truth, recon = truth.to(device), recon.to(device)
        samples = samples and (samples[0], samples[1], samples[2].to(device))
    if ddp.is_main:
        print(f"guide {count_parameters(guide) / 1e6:.2f}M params; {len(truth)} train / {len(val_truth)} val faces; "
              f"discriminator: {cfg.extra.get('disc_from', 'none')}" + (f"; resumed at step {step}" if state else ""))
    run = GuideRun(cfg, ddp, vqgan, guide, gan, opt, adversary, step, elapsed)
    if cfg.sampled_target == "teacher":  # the starting guide, not the resumed one
        run.teacher = starting_guide(cfg).to(device).eval().requires_grad_(False)
    run.loop((truth, recon), bank, val, samples)


def inpainted_samples(cfg, vqgan, truth, val_truth, val_ragged, device):
    """The transformer's inpaintings for training, (truth index, hole, decoded uint8), and the
    val faces' in their ragged holes (decoded uint8), drawn once and cached in the run folder.
    Under torchrun every process draws the same ones: draw them first with one process."""
    common = dict(tokenizer=cfg.tokenizer, transformer=cfg.transformer or cfg.tokenizer, device=device)
    _, _, val_tokens = transformer_samples(os.path.join(cfg.out, "samples-val.safetensors"), vqgan, val_truth,
                                           n_faces=len(val_truth), seed=1, ragged=0.3, holes=val_ragged,
                                           split="val-ragged", **common)
    index, holes, tokens = transformer_samples(os.path.join(cfg.out, "samples-train.safetensors"), vqgan, truth,
                                               n_faces=cfg.sampled_faces, seed=cfg.seed, ragged=cfg.ragged,
                                               split="train-distinct" if cfg.distinct else "train", **common)
    vqgan.eval().requires_grad_(False)
    return (index, holes, decode_tokens(vqgan, tokens, device)), decode_tokens(vqgan, val_tokens, device)


class GuideRun:
    """The loop's state: what a checkpoint saves and an export names."""

    def __init__(self, cfg, ddp, vqgan, guide, gan, opt, adversary, step, elapsed):
        self.cfg, self.ddp, self.vqgan, self.guide, self.gan, self.opt = cfg, ddp, vqgan, guide, gan, opt
        self.adversary, self.step = adversary, step
        self.teacher = None
        self.budget = Budget(cfg.steps, cfg.minutes, elapsed)

    def loop(self, faces, bank, val, samples=None):
        cfg, ddp, device = self.cfg, self.ddp, self.ddp.device
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + ddp.rank + self.step)
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not ddp.is_main, desc="guide",
                   mininterval=cfg.log_seconds, dynamic_ncols=True)
        last_save = time.time()
        while not ddp.any(self.budget.done(self.step)):
            progress = ddp.broadcast_float(self.budget.progress(self.step))  # rank 0's clock for all
            for g in self.opt.param_groups:
                g["lr"] = lr_at(progress, cfg.lr, warmup=0.02)
            batch = sample_batch(faces, bank, cfg.batch_size, gen, device, samples, cfg.sampled)
            if samples is not None:
                batch = sampled_targets(cfg.sampled_target, *batch,
                                        n_sampled=sampled_rows(cfg.batch_size, cfg.sampled), teacher=self.teacher)
            stats = self.train_step(*batch)
            self.step += 1
            bar.update(1)
            if self.step % 10 == 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()}, refresh=False)
            if ddp.is_main and time.time() - last_save > cfg.save_seconds:
                self.checkpoint()
                last_save = time.time()
            if ddp.is_main and self.step % cfg.val_every == 0:
                record = {"step": self.step, "minutes": round(self.budget.elapsed / 60, 2), **stats,
                          **validate(self.guide, val, device)}
                append_log(cfg.out, record)
                bar.write(str(record))
                self.export(cfg.out, "guide", record)
            if ddp.is_main and cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                self.export(cfg.out, f"guide_step{self.step}", {"step": self.step})
        bar.close()
        if ddp.is_main:
            self.checkpoint()
            record = {"step": self.step, "minutes": round(self.budget.elapsed / 60, 2), "final": True,
                      **validate(self.guide, val, device)}
            append_log(cfg.out, record)
            print(f"final guide: {record}")
            for folder in filter(None, (cfg.out, cfg.export_to)):
                self.export(folder, "guide", record)
        ddp.close()

    def train_step(self, x, r, target, holes):
        cfg, device = self.cfg, self.ddp.device
        with autocast(device):
            out = self.guide(r, x, holes).float()
            hole_loss = region_error(out, target, holes)
            rec_loss = cfg.known_weight * region_error(out, target, ~holes) + hole_loss
            loss, stats = rec_loss, {"rec": rec_loss.item(), "hole": hole_loss.item()}
            if self.gan:
                extra, gan_stats = self.gan.generator_loss(x, out, hole_loss, self.guide.conv_out.weight)
                loss = loss + extra
                stats.update(gan_stats)
        optimizer_step(self.opt, loss, self.guide.parameters(), self.ddp)
        if self.gan:
            with autocast(device):
                stats.update(self.gan.discriminator_step(x, out))
        return stats

    def checkpoint(self):
        parts = {"guide": self.guide.state_dict(), "opt": self.opt.state_dict()}
        info = {"step": self.step, "elapsed": self.budget.elapsed, "adversary": self.adversary,
                "channels": list(self.cfg.channels), "disc_from": self.cfg.extra.get("disc_from")}
        if self.gan:
            tensors, gan_info = self.gan.state()
            parts.update(tensors)
            info.update(gan_info)
        save_state(self.cfg.out, parts, info)

    def export(self, folder, name, record):
        cfg = self.cfg
        info = {**{k: v for k, v in record.items() if k.startswith("val_") or k in ("step", "minutes")},
                "vqgan": file_digest(os.path.join(cfg.tokenizer, "vqgan.safetensors")),
                "adversary": self.adversary, "known_weight": cfg.known_weight,
                "disc_from": cfg.extra.get("disc_from"), "batch_size": cfg.batch_size, "lr": cfg.lr,
                "ragged": cfg.ragged}
        if cfg.sampled:
            info.update(sampled=cfg.sampled, sampled_faces=cfg.sampled_faces, sampled_target=cfg.sampled_target)
        if cfg.init_from:
            info.update(init_from=cfg.init_from, init_from_digest=cfg.extra.get("init_from_digest"))
        save_checkpoint(self.guide, folder, name, "guide", info)
