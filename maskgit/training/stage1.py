"""Stage 1: train the VQGAN tokenizer.

Phase A (progress < gan_start): encoder + decoder on L1 + L2 reconstruction.
Phase B: the encoder is frozen, so token ids no longer change, and the decoder is tuned
with an adversarial patch loss weighted adaptively (VQGAN paper; `--disc-weight 0`: L1 + L2
only, no discriminator pass). `--disc-augment` (DiffAugment) and `--lecam-weight` regularise
the discriminator, which otherwise memorises a few thousand faces and wins within minutes;
`--feature-matching` adds pix2pixHD's feature matching, the decoder pulled toward the
discriminator's view of the true face.
The tokenizer as it was at the switch is exported as `vqgan_pregan`, with the same tokens
as the final one, so stage 2 can start then and either decoder can be chosen afterwards.

`--init-from DIR --decoder-only` tunes only the decoder of a trained tokenizer: the encoder
is frozen from the first step, so the tokens stay those a shipped transformer was trained
on, and a better decoder improves every decoded image without retraining stage 2. The GAN
still starts at `--gan-start`, after which `vqgan_pregan` is the decoder before it.

The discriminator is exported beside the tokenizer (`vqgan_disc`, naming that decoder: with
`--ema` the average, which `--init-from` starts from, though it trained against `vqgan_raw`), and
`--init-from DIR` starts from DIR's if it was trained against DIR's decoder, so adversarial
tuning need not start from a random critic. `--disc-warmup N` trains the discriminator alone
for N steps against the decoder as it stands before the decoder's first adversarial step.

`--ema DECAY` keeps an exponential moving average of the decoder's weights, as GAN generators
do: the adversarial term makes the decoder wander from step to step, and the average is what
is exported as `vqgan` (the last step's weights as `vqgan_raw`). It runs while the encoder is
frozen (from the first step with `--decoder-only`, else from the switch): before that the
decoders were trained against a moving encoder. The encoder is never averaged: the tokens stay
exactly those of the live encoder (and of `vqgan_pregan`).
"""
import copy
import math
import os
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..checkpoint import file_digest, save_checkpoint
from ..data import load_image_folder, to_model_range
from ..errors import MaskGITError
from ..vqgan import VQGAN, VQGANConfig, count_parameters
from .common import EMA, Budget, Distributed, append_log, autocast, load_state, lr_at, save_state
from .augment import diff_augment, parse_policy
from .discriminator import (DISC_NAME, LeCam, PatchDiscriminator, adaptive_weights, feature_matching_loss,
                            hinge_d_loss, load_discriminator, save_discriminator)


def psnr(x, y):
    """Images in [-1, 1]; mean PSNR in dB over the batch."""
    mse = ((x - y) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


@torch.no_grad()
def validate(model, val_images, device, batch=128):
    model.eval()
    scores, codes = [], []
    for i in range(0, len(val_images), batch):
        x = to_model_range(val_images[i:i + batch].to(device))
        with autocast(device):
            tokens = model.encode(x)
            recon = model.decode(tokens)
        scores.append(psnr(recon.float(), x) * len(x))
        codes.append(tokens.flatten().cpu())
    model.train()
    used = torch.cat(codes).unique().numel()
    return {"val_psnr": sum(scores) / len(val_images), "codes_used": used,
            "codebook_usage": used / model.codebook_size}


def random_batch(images, batch, generator, device):
    idx = torch.randint(len(images), (batch,), generator=generator)
    x = to_model_range(images[idx.to(images.device)].to(device, non_blocking=True))
    flip = torch.rand(batch, generator=generator) < 0.5
    return torch.where(flip.to(device)[:, None, None, None], x.flip(-1), x)


def parse_augment(text):
    if not text:
        return []
    try:
        return parse_policy(text)
    except ValueError as e:
        raise MaskGITError(f"--disc-augment: {e}") from None


def discriminator_from(disc, folder, channels, verbose):
    """Start `disc` from FOLDER's saved discriminator if it was trained against FOLDER's
    decoder; FOLDER if so, else None (a fresh one). A corrupt file is an error."""
    saved = PatchDiscriminator(channels)
    info = load_discriminator(saved, folder)
    if info is None:
        return None
    if info.get("vqgan") != file_digest(os.path.join(folder, "vqgan.safetensors")):
        if verbose:
            print(f"note: {folder}/{DISC_NAME}.* was trained against another decoder; not used")
        return None
    disc.load_state_dict(saved.state_dict())
    return folder


def train_vqgan(args):
    ddp = Distributed(args.device)
    device = ddp.device
    torch.manual_seed(args.seed)  # the same initial weights on every rank (gradients are averaged, not weights)
    if args.decoder_only and not args.init_from:
        raise MaskGITError("--decoder-only tunes a trained tokenizer's decoder: give --init-from DIR")
    if args.disc_weight < 0:
        raise MaskGITError(f"--disc-weight must be 0 (no GAN) or more, not {args.disc_weight}")
    if not 0 <= args.gan_start <= 1:
        raise MaskGITError(f"--gan-start is a fraction of the budget, from 0 to 1, not {args.gan_start}")
    if args.disc_weight > 0 and args.gan_start >= 1:  # else every adversarial flag would silently do nothing
        raise MaskGITError("--gan-start 1 never starts the adversarial term: give a fraction below 1, "
                           "or --disc-weight 0 for no GAN")
    policy = parse_augment(args.disc_augment)  # a typo fails here, before any data is loaded
    if args.lecam_weight < 0:
        raise MaskGITError(f"--lecam-weight must be 0 (off) or more, not {args.lecam_weight}")
    if args.feature_matching < 0:
        raise MaskGITError(f"--feature-matching must be 0 (off) or more, not {args.feature_matching}")
    if args.disc_warmup < 0:
        raise MaskGITError(f"--disc-warmup is a number of steps, 0 or more, not {args.disc_warmup}")
    if not 0 <= args.ema < 1:
        raise MaskGITError(f"--ema is a decay per step, 0 (off) up to but not including 1, not {args.ema}")
    if args.disc_weight == 0 and (args.disc_augment or args.lecam_weight or args.feature_matching
                                  or args.disc_warmup):
        raise MaskGITError("--disc-augment, --lecam-weight, --feature-matching and --disc-warmup work "
                           "through the discriminator: they need --disc-weight above 0")
    if args.init_from:  # its size wins over --channels/--res-blocks/--fsq-levels
        from ..pipeline import load_vqgan
        model = load_vqgan(args.init_from).to(device)
    else:
        model = VQGAN(VQGANConfig(channels=tuple(args.channels), res_blocks=args.res_blocks,
                                  fsq_levels=tuple(args.fsq_levels))).to(device)
    if args.decoder_only:
        model.encoder.requires_grad_(False)
    use_gan = args.disc_weight > 0
    disc = PatchDiscriminator(args.disc_channels).to(device)
    torch.manual_seed(args.seed + ddp.rank)  # from here on each rank draws its own (augmentations)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        disc = disc.to(memory_format=torch.channels_last)
    # Every parameter, frozen or not (Adam skips those without gradients), so a state saved
    # in either phase loads into the same optimizer.
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.disc_lr, betas=(0.5, 0.9))
    lecam = LeCam()
    # what the decoder was tuned against: recorded in the state and the exported info
    adversary = ({"disc_weight": args.disc_weight, "disc_augment": args.disc_augment,
                  "lecam_weight": args.lecam_weight, "feature_matching": args.feature_matching}
                 if use_gan else {"disc_weight": 0})
    seen_by_disc = (lambda images: diff_augment(images, policy)) if policy else (lambda images: images)

    step, elapsed, disc_from = 0, 0.0, None
    saved_ema = saved_ema_since = saved_ema_decay = None
    # discriminator-only steps to run when the GAN starts: fixed when the run starts
    warmup_total = warmup_left = args.disc_warmup
    state = None if args.fresh else load_state(args.out)
    if state:
        parts, info = state
        if info.get("distinct", args.distinct) != args.distinct:  # older states did not record it
            raise MaskGITError(f"{args.out} holds a run {'with' if info['distinct'] else 'without'} --distinct: "
                               "resume it the same way, or start over with --fresh")
        if info.get("decoder_only", False) != args.decoder_only:
            raise MaskGITError(f"{args.out} holds a run {'with' if info.get('decoder_only') else 'without'} "
                               "--decoder-only: resume it the same way, or start over with --fresh")
        if info.get("adversary", adversary) != adversary:  # older states did not record it
            raise MaskGITError(f"{args.out} holds a run with other adversarial settings ({info['adversary']}): "
                               "resume it with the same flags, or start over with --fresh")
        model.load_state_dict(parts["model"]); disc.load_state_dict(parts["disc"])
        opt.load_state_dict(parts["opt"]); opt_d.load_state_dict(parts["opt_d"])
        step, elapsed = info["step"], info["elapsed"]
        warmup_left = info.get("disc_warmup_left", 0)
        warmup_total = info.get("disc_warmup", warmup_left)
        disc_from = info.get("disc_from")
        saved_ema, saved_ema_since, saved_ema_decay = parts.get("ema"), info.get("ema_since"), info.get("ema_decay")
        if "lecam" in info:
            lecam.load(info["lecam"])
        if ddp.is_main:
            print(f"resumed {args.out} at step {step} ({elapsed / 60:.1f} min trained)")
    elif use_gan and args.init_from:
        disc_from = discriminator_from(disc, args.init_from, args.disc_channels, ddp.is_main)
    # The average of the decoder's weights: kept by the process that validates and exports. It
    # starts (ema_since) at the first step with the encoder frozen.
    ema = ema_since = None
    if args.ema > 0 and ddp.is_main:
        ema = EMA(model, args.ema, prefix="decoder.")
        averaged = copy.deepcopy(model)  # what is validated and exported
        if saved_ema is not None and saved_ema_since is not None and saved_ema_decay in (None, args.ema):
            ema.load(saved_ema)  # (states of session 22 did not record the decay: 0.998)
            ema_since = saved_ema_since
        elif saved_ema is not None and saved_ema_since is not None:
            print(f"note: {args.out} holds an average with decay {saved_ema_decay}; --ema {args.ema} starts a new one")
    elif saved_ema is not None and saved_ema_since is not None and ddp.is_main:
        print(f"note: {args.out} holds an average of the decoder's weights; without --ema it is dropped and the "
              "last step's weights are exported")
    os.makedirs(args.out, exist_ok=True)  # after every check and load: a refused run leaves nothing behind

    train = load_image_folder(os.path.join(args.data_root, "train"), limit=args.limit, distinct=args.distinct)
    val = load_image_folder(os.path.join(args.data_root, "val"), limit=args.val_limit)
    if device.type == "cuda":
        train = train.to(device)
    steps_per_epoch = max(1, len(train) // (args.batch_size * ddp.world))
    if ddp.is_main:
        print(f"VQGAN {count_parameters(model) / 1e6:.2f}M params, discriminator "
              f"{count_parameters(disc) / 1e6:.2f}M; {len(train)} train / {len(val)} val images; "
              f"{steps_per_epoch} steps per epoch on {ddp.world} x {device}")
        if use_gan and not state:
            print(f"discriminator: {'from ' + disc_from if disc_from else 'fresh'}"
                  + (f", {warmup_left} steps alone before the decoder's" if warmup_left else ""))

    budget = Budget(args.steps, args.minutes, elapsed)
    gen = torch.Generator().manual_seed(args.seed * 1000 + ddp.rank + step)
    bar = tqdm(total=args.steps, initial=step, disable=not ddp.is_main, desc="vqgan",
               mininterval=args.log_seconds, dynamic_ncols=True)
    last_save, log = time.time(), {}

    def shipped_model():
        """The weights to export: the live encoder and, once it runs, the decoder's average."""
        if ema_since is None:
            return model
        averaged.load_state_dict({**model.state_dict(), **ema.shadow})
        return averaged

    def export(name, weights=None):
        weights = shipped_model() if weights is None else weights
        info = {"step": step, "minutes": budget.elapsed / 60, **validate(weights, val, device),
                "adversary": adversary}
        if weights is not model:
            info["ema"] = {"decay": args.ema, "since_step": ema_since}
        if args.decoder_only:
            info.update(decoder_only=True, init_from=args.init_from)
        if args.distinct:
            info["distinct"] = True
        if use_gan:
            info.update(disc_from=disc_from or "fresh", disc_warmup=warmup_total - warmup_left)
        save_checkpoint(weights, args.out, name, "vqgan", info)
        return info

    def checkpoint():
        parts = {"model": model.state_dict(), "disc": disc.state_dict(),
                 "opt": opt.state_dict(), "opt_d": opt_d.state_dict()}
        if ema_since is not None:
            parts["ema"] = ema.shadow
        save_state(args.out, parts,
                   {"step": step, "elapsed": budget.elapsed, "decoder_only": args.decoder_only,
                    "distinct": args.distinct, "lecam": lecam.state(), "adversary": adversary,
                    "disc_warmup": warmup_total, "disc_warmup_left": warmup_left, "disc_from": disc_from,
                    "ema_since": ema_since, "ema_decay": args.ema if ema_since is not None else None})

    def save_discriminator_beside(folder):
        if use_gan and opt_d.state:  # one that never trained here was not trained against this decoder
            save_discriminator(disc, folder, {
                "step": step, "adversary": adversary, "disc_from": disc_from or "fresh",
                "disc_warmup": warmup_total - warmup_left,
                "vqgan": file_digest(os.path.join(folder, "vqgan.safetensors")),
                # trained against the last step's weights; named by the average, which --init-from starts from
                **({"vqgan_averaged": {"decay": args.ema, "since_step": ema_since}} if ema_since is not None else {})})

    def discriminator_step(x, recon):
        with autocast(device):
            real_logits = disc(seen_by_disc(x)).float()
            fake_logits = disc(seen_by_disc(recon.detach())).float()
            d_hinge = hinge_d_loss(real_logits, fake_logits)
            d_loss = d_hinge
            if args.lecam_weight > 0:
                d_loss = d_hinge + args.lecam_weight * lecam(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        ddp.average_gradients(disc.parameters())
        opt_d.step()
        return d_hinge, d_loss, real_logits, fake_logits

    def warm_up_discriminator():
        """The discriminator alone against the decoder as it stands (which does not move); the
        log record, or None if no step ran. Counts toward --minutes, not --steps."""
        nonlocal warmup_left
        started = warmup_left
        warm_bar = tqdm(total=started, disable=not ddp.is_main, desc="discriminator warm-up",
                        mininterval=args.log_seconds, dynamic_ncols=True)
        while warmup_left > 0 and not ddp.any(budget.done(step)):
            x = random_batch(train, args.batch_size, gen, device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad(), autocast(device):
                recon = model.decoder(model.quantize(x)).float()
            d_hinge, _, real_logits, fake_logits = discriminator_step(x, recon)
            warmup_left -= 1
            warm_bar.update(1)
        warm_bar.close()
        if warmup_left == started:
            return None
        return {"step": step, "minutes": round(budget.elapsed / 60, 2),
                "disc_warmup_steps": started - warmup_left, "d_loss": d_hinge.item(),
                "d_real": real_logits.mean().item(), "d_fake": fake_logits.mean().item()}

    # Without the GAN a decoder-only run has no switch worth a checkpoint of its own.
    wants_pregan = use_gan or not args.decoder_only
    switch = False  # once on, it stays on: no more agreeing on it between ranks
    model.train()
    while not ddp.any(budget.done(step)):
        progress = budget.progress(step)
        # the encoder freezes (if not yet) and the GAN starts; every rank at once (own clocks)
        switch = switch or ddp.any(progress >= args.gan_start)
        encoder_frozen = args.decoder_only or switch
        gan_phase = use_gan and switch
        if switch and wants_pregan and not os.path.exists(os.path.join(args.out, "vqgan_pregan.json")) \
                and ddp.is_main:
            log = export("vqgan_pregan")
            print(f"\nphase B ({'GAN' if use_gan else 'encoder frozen'}) from step {step}: {log}")
        if gan_phase and warmup_left > 0:
            record = warm_up_discriminator()
            if ddp.is_main and record:
                append_log(args.out, record)
                bar.write(str(record))
                checkpoint()  # a kill after this does not redo the steps done
                last_save = time.time()
            continue  # the budget and the progress again, after the time the warm-up took
        if ema is not None and encoder_frozen and ema_since is None:
            ema.restart(model)  # from the decoder as it stands: earlier ones fit a moving encoder
            ema_since = step
            bar.write(f"the average of the decoder's weights starts at step {step}")
        for g in opt.param_groups:
            g["lr"] = lr_at(progress, args.lr, warmup=0.02)
        x = random_batch(train, args.batch_size, gen, device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)

        with autocast(device):
            if encoder_frozen:
                with torch.no_grad():
                    z = model.quantize(x)
            else:
                z = model.quantize(x)
            recon = model.decoder(z).float()
            rec_loss = F.l1_loss(recon, x) + F.mse_loss(recon, x)
            loss = rec_loss
            if gan_phase:
                if args.feature_matching > 0:  # unaugmented: the pairs must line up pixel for pixel
                    with torch.no_grad():
                        _, real_features = disc(x, features=True)
                    plain_logits, fake_features = disc(recon, features=True)
                    fm_loss = feature_matching_loss(real_features, fake_features)
                    # without augmentation the adversarial term sees this same pass: not run twice
                    g_loss = -(disc(seen_by_disc(recon)) if policy else plain_logits).float().mean()
                    # the same gradient-norm balance as the adversarial term: a fixed share of
                    # the reconstruction gradient, whatever the features' scale
                    weight, fm_weight = adaptive_weights(rec_loss, [g_loss, fm_loss], model.decoder.conv_out.weight)
                    loss = rec_loss + args.disc_weight * weight * g_loss + args.feature_matching * fm_weight * fm_loss
                else:
                    g_loss = -disc(seen_by_disc(recon)).float().mean()
                    (weight,) = adaptive_weights(rec_loss, [g_loss], model.decoder.conv_out.weight)
                    loss = rec_loss + args.disc_weight * weight * g_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        ddp.average_gradients(model.parameters())
        opt.step()
        if ema_since is not None:
            ema.update(model)

        if gan_phase:
            d_hinge, d_loss, real_logits, fake_logits = discriminator_step(x, recon)

        step += 1
        bar.update(1)
        if step % 25 == 0:
            post = {"rec": f"{rec_loss.item():.4f}", "prog": f"{progress:.0%}"}
            if gan_phase:
                post.update(g=f"{g_loss.item():.3f}", d=f"{d_hinge.item():.3f}", w=f"{weight.item():.2f}")
                if args.feature_matching > 0:
                    post.update(fm=f"{fm_loss.item():.3f}")
            bar.set_postfix(post, refresh=False)
        if ddp.is_main and (step % steps_per_epoch == 0 or time.time() - last_save > args.save_seconds):
            checkpoint()
            last_save = time.time()
        if ddp.is_main and step % args.val_every == 0:
            record = {"step": step, "minutes": round(budget.elapsed / 60, 2), "rec_loss": rec_loss.item(),
                      "phase": "B" if encoder_frozen else "A", **validate(model, val, device)}
            if ema_since is not None:
                record["ema_val_psnr"] = validate(shipped_model(), val, device)["val_psnr"]
            if gan_phase:  # how far apart the discriminator holds real and decoded faces
                record.update(d_loss=d_hinge.item(), d_lecam=(d_loss - d_hinge).item(),
                              gan_weight=weight.item(),
                              d_real=real_logits.mean().item(), d_fake=fake_logits.mean().item())
                if args.feature_matching > 0:
                    record.update(fm_loss=fm_loss.item(), fm_weight=fm_weight.item())
            append_log(args.out, record)
            bar.write(str(record))
    bar.close()
    if ddp.is_main:
        checkpoint()
        if wants_pregan and not os.path.exists(os.path.join(args.out, "vqgan_pregan.json")):
            export("vqgan_pregan")
        info = export("vqgan")
        if ema_since is not None:
            export("vqgan_raw", model)
        else:  # a stale one (of an earlier run in this folder) must not pass for this run's
            for ext in (".json", ".safetensors"):
                if os.path.exists(os.path.join(args.out, "vqgan_raw" + ext)):
                    os.remove(os.path.join(args.out, "vqgan_raw" + ext))
        append_log(args.out, {"step": step, "minutes": round(budget.elapsed / 60, 2), "final": True, **info})
        print(f"final VQGAN: {info}")
        save_discriminator_beside(args.out)
        if args.export_to:
            save_checkpoint(shipped_model(), args.export_to, "vqgan", "vqgan", info)
            save_discriminator_beside(args.export_to)
    ddp.close()
