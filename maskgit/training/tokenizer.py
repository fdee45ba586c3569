"""Stage 1: train the image tokenizer (the FSQ autoencoder).

Phase A (progress < gan_start): encoder + decoder on L1 + L2 reconstruction.
Phase B: the encoder is frozen, so token ids no longer change, and the decoder is tuned
with the adversarial objective of training/gan.py (disc_weight 0: L1 + L2 only). The
tokenizer as it was at the switch is exported as `vqgan_pregan`, with the same tokens as the
final one, so stage 2 can start then.

`init_from` + `decoder_only` tunes only the decoder of a trained tokenizer: the encoder is
frozen from the first step, so the tokens stay those a shipped transformer was trained on.
The discriminator is exported beside the tokenizer (`vqgan_disc`, naming that decoder), and a
run from DIR starts from DIR's when it was trained against DIR's decoder; `disc_warmup` trains
it alone for that many steps before the decoder's first adversarial step.

`ema` keeps an exponential moving average of the decoder's weights while the encoder is
frozen, exported as `vqgan` (the last step's weights as `vqgan_raw`); the encoder is never
averaged, so the tokens stay exactly the live encoder's.
"""
import copy
import os
import time
from dataclasses import dataclass
from typing import Optional

import torch
from tqdm import tqdm

from ..checkpoint import file_digest, save_checkpoint
from ..data import load_image_folder
from ..errors import MaskGITError
from ..images import uint8_to_model
from ..tokenizer import FSQAutoencoder, TokenizerConfig, count_parameters
from .augment import parse_policy
from .common import Budget, Distributed, EMA, RunConfig, append_log, autocast, load_state, lr_at, optimizer_step, save_state
from .discriminator import DISC_NAME, PatchDiscriminator, load_discriminator, save_discriminator
from .gan import GANObjective, GANSettings
from .losses import psnr, reconstruction_loss


@dataclass(kw_only=True)
class TokenizerTrainConfig(RunConfig):
    lr: float = 2e-4
    channels: tuple = (64, 128, 192)
    res_blocks: int = 2
    fsq_levels: tuple = (8, 5, 5, 5)
    gan_start: float = 0.6
    disc_weight: float = 0.5
    disc_lr: float = 2e-4
    disc_channels: int = 64
    disc_augment: str = ""
    lecam_weight: float = 0.0
    feature_matching: float = 0.0
    disc_warmup: int = 0
    ema: float = 0.0
    init_from: Optional[str] = None
    decoder_only: bool = False

    def check(self):
        """Every refusal before anything is loaded or written."""
        refuse = [
            (not self.steps and not self.minutes, "give a budget: --steps N and/or --minutes M"),
            (self.decoder_only and not self.init_from,
             "--decoder-only tunes a trained tokenizer's decoder: give --init-from DIR"),
            (self.disc_weight < 0, f"--disc-weight must be 0 (no GAN) or more, not {self.disc_weight}"),
            (not 0 <= self.gan_start <= 1, f"--gan-start is a fraction of the budget, from 0 to 1, not {self.gan_start}"),
            (self.disc_weight > 0 and self.gan_start >= 1, "--gan-start 1 never starts the adversarial term: give a "
             "fraction below 1, or --disc-weight 0 for no GAN"),
            (self.lecam_weight < 0, f"--lecam-weight must be 0 (off) or more, not {self.lecam_weight}"),
            (self.feature_matching < 0, f"--feature-matching must be 0 (off) or more, not {self.feature_matching}"),
            (self.disc_warmup < 0, f"--disc-warmup is a number of steps, 0 or more, not {self.disc_warmup}"),
            (not 0 <= self.ema < 1, f"--ema is a decay per step, 0 (off) up to but not including 1, not {self.ema}"),
            (self.disc_weight == 0 and bool(self.disc_augment or self.lecam_weight or self.feature_matching
                                            or self.disc_warmup),
             "--disc-augment, --lecam-weight, --feature-matching and --disc-warmup work through the "
             "discriminator: they need --disc-weight above 0"),
        ]
        for bad, message in refuse:
            if bad:
                raise MaskGITError(message)
        return self.augment_policy()

    def augment_policy(self):
        try:
            return tuple(parse_policy(self.disc_augment)) if self.disc_augment else ()
        except ValueError as e:
            raise MaskGITError(f"--disc-augment: {e}") from None

    def gan_settings(self):
        return GANSettings(disc_weight=self.disc_weight, feature_matching=self.feature_matching,
                           lecam_weight=self.lecam_weight, augment=self.augment_policy(), disc_lr=self.disc_lr)

    def adversary(self):
        """What the decoder is tuned against (recorded in states and exports)."""
        if self.disc_weight <= 0:
            return {"disc_weight": 0}
        return {"disc_weight": self.disc_weight, "disc_augment": self.disc_augment,
                "lecam_weight": self.lecam_weight, "feature_matching": self.feature_matching}


@torch.no_grad()
def validate(model, val_images, device, batch=128):
    model.eval()
    scores, codes = [], []
    for i in range(0, len(val_images), batch):
        x = uint8_to_model(val_images[i:i + batch].to(device))
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
    x = uint8_to_model(images[idx.to(images.device)].to(device, non_blocking=True))
    flip = torch.rand(batch, generator=generator) < 0.5
    return torch.where(flip.to(device)[:, None, None, None], x.flip(-1), x)


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


def build_model(cfg, device):
    if cfg.init_from:  # its size wins over channels/res_blocks/fsq_levels
        from ..pipeline import load_vqgan
        model = load_vqgan(cfg.init_from).to(device)
    else:
        model = FSQAutoencoder(TokenizerConfig(channels=tuple(cfg.channels), res_blocks=cfg.res_blocks,
                                               fsq_levels=tuple(cfg.fsq_levels))).to(device)
    if cfg.decoder_only:
        model.encoder.requires_grad_(False)
    return model


class TokenizerRun:
    """One run of stage 1: models, optimizers and counters; what a checkpoint saves."""

    def __init__(self, cfg: TokenizerTrainConfig):
        cfg.check()
        self.cfg, self.ddp = cfg, Distributed(cfg.device)
        device = self.ddp.device
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, device)
        self.gan = GANObjective(PatchDiscriminator(cfg.disc_channels).to(device), cfg.gan_settings(),
                                self.ddp.average_gradients) if cfg.disc_weight > 0 else None
        # every parameter, frozen or not, so a state saved in either phase loads into the same optimizer
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
        self.step, self.elapsed, self.disc_from = 0, 0.0, None
        self.warmup_total = self.warmup_left = cfg.disc_warmup
        self.ema = self.ema_since = None
        state = None if cfg.fresh else self.ddp.load_state(cfg.out, load_state)
        self.resumed = state is not None
        saved_ema = self.resume(state) if state else None
        if not state and self.gan and cfg.init_from:
            self.disc_from = discriminator_from(self.gan.disc, cfg.init_from, cfg.disc_channels, self.ddp.is_main)
        self.ddp.broadcast_module(self.model)  # one set of starting weights on every rank
        if self.gan:
            self.ddp.broadcast_module(self.gan.disc)
        self.start_average(saved_ema)
        torch.manual_seed(cfg.seed + self.ddp.rank)  # from here on each rank draws its own augmentations
        self.train_images = load_image_folder(os.path.join(cfg.data_root, "train"), limit=cfg.limit,
                                              distinct=cfg.distinct)
        self.val_images = load_image_folder(os.path.join(cfg.data_root, "val"), limit=cfg.val_limit)
        os.makedirs(cfg.out, exist_ok=True)  # after every check and load: a refused run leaves nothing behind

    def resume(self, state):
        cfg, (parts, info) = self.cfg, state
        for key, flag, mine in (("distinct", "--distinct", cfg.distinct), ("decoder_only", "--decoder-only",
                                                                            cfg.decoder_only)):
            if info.get(key, False) != mine:
                raise MaskGITError(f"{cfg.out} holds a run {'with' if info.get(key) else 'without'} {flag}: "
                                   "resume it the same way, or start over with --fresh")
        if info.get("adversary", cfg.adversary()) != cfg.adversary():
            raise MaskGITError(f"{cfg.out} holds a run with other adversarial settings ({info['adversary']}): "
                               "resume it with the same flags, or start over with --fresh")
        self.model.load_state_dict(parts["model"])
        self.opt.load_state_dict(parts["opt"])
        if self.gan:
            self.gan.load(parts, info)
        self.step, self.elapsed = info["step"], info["elapsed"]
        self.warmup_left = info.get("disc_warmup_left", 0)
        self.warmup_total = info.get("disc_warmup", self.warmup_left)
        self.disc_from = info.get("disc_from")
        if self.ddp.is_main:
            print(f"resumed {cfg.out} at step {self.step} ({self.elapsed / 60:.1f} min trained)")
        if parts.get("ema") is not None and info.get("ema_since") is not None:
            return parts["ema"], info["ema_since"], info.get("ema_decay")
        return None

    def start_average(self, saved):
        """The average of the decoder's weights, kept by the process that validates and exports."""
        cfg = self.cfg
        if not self.ddp.is_main:
            return
        if cfg.ema <= 0:
            if saved:
                print(f"note: {cfg.out} holds an average of the decoder's weights; without --ema it is dropped "
                      "and the last step's weights are exported")
            return
        self.ema = EMA(self.model, cfg.ema, prefix="decoder.")
        self.averaged = copy.deepcopy(self.model)  # what is validated and exported
        if saved and saved[2] in (None, cfg.ema):
            self.ema.load(saved[0])
            self.ema_since = saved[1]
        elif saved:
            print(f"note: {cfg.out} holds an average with decay {saved[2]}; --ema {cfg.ema} starts a new one")

    # -- the loop ------------------------------------------------------------------------
    def run(self):
        cfg, ddp = self.cfg, self.ddp
        if ddp.device.type == "cuda":
            self.train_images = self.train_images.to(ddp.device)
        self.steps_per_epoch = max(1, len(self.train_images) // (cfg.batch_size * ddp.world))
        self.announce()
        self.budget = Budget(cfg.steps, cfg.minutes, self.elapsed)
        self.gen = torch.Generator().manual_seed(cfg.seed * 1000 + ddp.rank + self.step)
        self.bar = tqdm(total=cfg.steps, initial=self.step, disable=not ddp.is_main, desc="tokenizer",
                        mininterval=cfg.log_seconds, dynamic_ncols=True)
        self.last_save, self.switch = time.time(), False
        self.model.train()
        while not ddp.any(self.budget.done(self.step)):
            self.iteration()
        self.bar.close()
        self.finish()

    def announce(self):
        if not self.ddp.is_main:
            return
        disc = count_parameters(self.gan.disc) / 1e6 if self.gan else 0
        print(f"tokenizer {count_parameters(self.model) / 1e6:.2f}M params, discriminator {disc:.2f}M; "
              f"{len(self.train_images)} train / {len(self.val_images)} val images; {self.steps_per_epoch} steps "
              f"per epoch on {self.ddp.world} x {self.ddp.device}")
        if self.gan and not self.resumed:
            print(f"discriminator: {'from ' + self.disc_from if self.disc_from else 'fresh'}"
                  + (f", {self.warmup_left} steps alone before the decoder's" if self.warmup_left else ""))

    def iteration(self):
        """One pass of the loop: the phase switch, a warm-up or one optimizer step, saves."""
        cfg, ddp = self.cfg, self.ddp
        progress = ddp.broadcast_float(self.budget.progress(self.step))  # rank 0's clock for every rank
        self.switch = self.switch or ddp.any(progress >= cfg.gan_start)
        encoder_frozen = cfg.decoder_only or self.switch
        gan_phase = self.gan is not None and self.switch
        if self.switch and self.wants_pregan() and ddp.is_main and not self.exported("vqgan_pregan"):
            info = self.export("vqgan_pregan")
            print(f"\nphase B ({'GAN' if self.gan else 'encoder frozen'}) from step {self.step}: {info}")
        if gan_phase and self.warmup_left > 0:
            self.warm_up_discriminator()
            return  # the budget and the progress again, after the time the warm-up took
        if self.ema is not None and encoder_frozen and self.ema_since is None:
            self.ema.restart(self.model)  # from the decoder as it stands: earlier ones fit a moving encoder
            self.ema_since = self.step
            self.bar.write(f"the average of the decoder's weights starts at step {self.step}")
        for g in self.opt.param_groups:
            g["lr"] = lr_at(progress, cfg.lr, warmup=0.02)
        stats = self.train_step(random_batch(self.train_images, cfg.batch_size, self.gen, ddp.device),
                                encoder_frozen, gan_phase)
        self.step += 1
        self.bar.update(1)
        if self.step % 25 == 0:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()} | {"prog": f"{progress:.0%}"},
                                 refresh=False)
        if ddp.is_main and (self.step % self.steps_per_epoch == 0 or time.time() - self.last_save > cfg.save_seconds):
            self.checkpoint()
        if ddp.is_main and self.step % cfg.val_every == 0:
            self.log({"step": self.step, "minutes": round(self.budget.elapsed / 60, 2),
                      "phase": "B" if encoder_frozen else "A", **stats, **validate(self.model, self.val_images,
                                                                                  ddp.device)}
                     | ({"ema_val_psnr": validate(self.shipped_model(), self.val_images, ddp.device)["val_psnr"]}
                        if self.ema_since is not None else {}))

    def train_step(self, x, encoder_frozen, gan_phase):
        device = self.ddp.device
        with autocast(device):
            with torch.set_grad_enabled(not encoder_frozen):
                z = self.model.quantize(x)
            recon = self.model.decoder(z).float()
            rec_loss = reconstruction_loss(recon, x)
            loss, stats = rec_loss, {"rec_loss": rec_loss.item()}
            if gan_phase:
                extra, gan_stats = self.gan.generator_loss(x, recon, rec_loss, self.model.decoder.conv_out.weight)
                loss = loss + extra
                stats.update(gan_stats)
        optimizer_step(self.opt, loss, self.model.parameters(), self.ddp)
        if self.ema_since is not None:
            self.ema.update(self.model)
        if gan_phase:
            with autocast(device):
                stats.update(self.gan.discriminator_step(x, recon))
        return stats

    def warm_up_discriminator(self):
        """The discriminator alone against the decoder as it stands (which does not move). Counts
        toward the minutes, not the steps."""
        cfg, ddp, started = self.cfg, self.ddp, self.warmup_left
        bar = tqdm(total=started, disable=not ddp.is_main, desc="discriminator warm-up",
                   mininterval=cfg.log_seconds, dynamic_ncols=True)
        stats = None
        while self.warmup_left > 0 and not ddp.any(self.budget.done(self.step)):
            x = random_batch(self.train_images, cfg.batch_size, self.gen, ddp.device)
            with torch.no_grad(), autocast(ddp.device):
                recon = self.model.decoder(self.model.quantize(x)).float()
            with autocast(ddp.device):
                stats = self.gan.discriminator_step(x, recon)
            self.warmup_left -= 1
            bar.update(1)
        bar.close()
        if stats is not None and ddp.is_main:
            self.log({"step": self.step, "minutes": round(self.budget.elapsed / 60, 2),
                      "disc_warmup_steps": started - self.warmup_left, **stats})
            self.checkpoint()  # a kill after this does not redo the steps done

    # -- saving ----------------------------------------------------------------------------
    def log(self, record):
        append_log(self.cfg.out, record)
        self.bar.write(str(record))

    def wants_pregan(self):
        # without the GAN a decoder-only run has no switch worth a checkpoint of its own
        return self.gan is not None or not self.cfg.decoder_only

    def exported(self, name):
        return os.path.exists(os.path.join(self.cfg.out, f"{name}.json"))

    def shipped_model(self):
        """The weights to export: the live encoder and, once it runs, the decoder's average."""
        if self.ema_since is None:
            return self.model
        self.averaged.load_state_dict({**self.model.state_dict(), **self.ema.shadow})
        return self.averaged

    def export(self, name, weights=None):
        cfg = self.cfg
        weights = self.shipped_model() if weights is None else weights
        info = {"step": self.step, "minutes": self.budget.elapsed / 60,
                **validate(weights, self.val_images, self.ddp.device), "adversary": cfg.adversary()}
        if weights is not self.model:
            info["ema"] = {"decay": cfg.ema, "since_step": self.ema_since}
        if cfg.decoder_only:
            info.update(decoder_only=True, init_from_digest=file_digest(os.path.join(cfg.init_from,
                                                                                   "vqgan.safetensors")))
        if cfg.distinct:
            info["distinct"] = True
        if self.gan:
            info.update(disc_from=self.disc_from or "fresh", disc_warmup=self.warmup_total - self.warmup_left)
        save_checkpoint(weights, cfg.out, name, "vqgan", info)
        return info

    def checkpoint(self):
        cfg = self.cfg
        parts = {"model": self.model.state_dict(), "opt": self.opt.state_dict()}
        info = {"step": self.step, "elapsed": self.budget.elapsed, "decoder_only": cfg.decoder_only,
                "distinct": cfg.distinct, "adversary": cfg.adversary(), "disc_warmup": self.warmup_total,
                "disc_warmup_left": self.warmup_left, "disc_from": self.disc_from, "ema_since": self.ema_since,
                "ema_decay": cfg.ema if self.ema_since is not None else None}
        if self.gan:
            tensors, gan_info = self.gan.state()
            parts.update(tensors)
            info.update(gan_info)
        if self.ema_since is not None:
            parts["ema"] = self.ema.shadow
        save_state(cfg.out, parts, info)
        self.last_save = time.time()

    def save_discriminator_beside(self, folder):
        if self.gan and self.gan.opt.state:  # one that never trained here was not trained against this decoder
            averaged = ({"vqgan_averaged": {"decay": self.cfg.ema, "since_step": self.ema_since}}
                        if self.ema_since is not None else {})
            save_discriminator(self.gan.disc, folder, {
                "step": self.step, "adversary": self.cfg.adversary(), "disc_from": self.disc_from or "fresh",
                "disc_warmup": self.warmup_total - self.warmup_left,
                "vqgan": file_digest(os.path.join(folder, "vqgan.safetensors")), **averaged})

    def finish(self):
        cfg, ddp = self.cfg, self.ddp
        digest = ddp.replicas_digest(self.model)
        if ddp.is_main:
            self.checkpoint()
            if self.wants_pregan() and not self.exported("vqgan_pregan"):
                self.export("vqgan_pregan")
            info = self.export("vqgan")
            if self.ema_since is not None:
                self.export("vqgan_raw", self.model)
            else:  # a stale one (of an earlier run in this folder) must not pass for this run's
                for ext in (".json", ".safetensors"):
                    if os.path.exists(os.path.join(cfg.out, "vqgan_raw" + ext)):
                        os.remove(os.path.join(cfg.out, "vqgan_raw" + ext))
            append_log(cfg.out, {"step": self.step, "minutes": round(self.budget.elapsed / 60, 2), "final": True,
                                 **digest, **info})
            print(f"final tokenizer: {info}")
            self.save_discriminator_beside(cfg.out)
            if cfg.export_to:
                save_checkpoint(self.shipped_model(), cfg.export_to, "vqgan", "vqgan", info)
                self.save_discriminator_beside(cfg.export_to)
        ddp.close()


def train_tokenizer(cfg: TokenizerTrainConfig):
    TokenizerRun(cfg).run()
