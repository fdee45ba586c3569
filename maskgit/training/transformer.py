"""Stage 2: masked visual token modelling on tokens cached from the frozen tokenizer.

The tokens of the training set (with horizontal flips) are cached once; each step masks
ceil(gamma(r) * 256) tokens per sample with r ~ U(0, 1) (training/masking.py) and trains on the
masked tokens only, with label smoothing, AdamW, warm-up + cosine decay and an EMA of the
weights (the EMA is what is exported)."""
import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..checkpoint import file_digest, load_checkpoint, read_tensors, save_checkpoint, save_tensors, tokens_digest
from ..data import list_images, load_image_folder
from ..errors import MaskGITError
from ..images import uint8_to_model
from ..pipeline import load_vqgan
from ..transformer import BidirectionalTransformer, TransformerConfig
from ..tokenizer import count_parameters
from .common import Budget, Distributed, EMA, RunConfig, append_log, autocast, load_state, lr_at, save_state
from .masking import sample_training_mask


@torch.no_grad()
def encode_folder(vqgan, folder, device, flips, limit=None, batch=256, distinct=False):
    images = load_image_folder(folder, limit=limit, distinct=distinct)
    out = []
    for i in tqdm(range(0, len(images), batch), desc=f"tokenizing {os.path.basename(folder)}",
                  mininterval=5, leave=False):
        x = uint8_to_model(images[i:i + batch].to(device))
        views = [x, x.flip(-1)] if flips else [x]
        with autocast(device):
            out += [vqgan.encode(v).flatten(1).short().cpu() for v in views]
    return torch.cat(out)


def tokenizer_key(cfg):
    return tokens_digest(cfg.vqgan, cfg.vqgan_name)


def legacy_tokenizer_key(cfg):
    """The key checkpoints were named by until decoder-only tuning existed: the digest of the
    whole weights file (still accepted: such a file also fixes the encoder)."""
    return file_digest(os.path.join(cfg.vqgan, f"{cfg.vqgan_name}.safetensors"))


def data_name(cfg):
    """Which training data: the part of the tokens cache's name after the tokenizer key."""
    return (f"{cfg.limit or 'all'}{'-distinct' if cfg.distinct else ''}"
            + (f"-val{cfg.val_limit}" if cfg.val_limit else ""))


def tokens_path(cfg, key):
    return os.path.join(cfg.out, f"tokens-{key}-{data_name(cfg)}.safetensors")


def cached_tokens(cfg, device):
    """Token ids of train (with horizontal flips) and val, computed once per tokenizer and data."""
    key = tokenizer_key(cfg)
    path = tokens_path(cfg, key)
    if os.path.exists(path):
        t = read_tensors(path)
        return t["train"].long(), t["val"].long(), key
    try:
        list_images(os.path.join(cfg.data_root, "train"))
    except MaskGITError as e:  # say which cache was looked for, too
        found = sorted(f for f in os.listdir(cfg.out) if f.startswith("tokens-")) if os.path.isdir(cfg.out) else []
        raise MaskGITError(f"{e}, and no tokens cache {path} (a cache from --tokenize-only needs the same "
                           f"--vqgan, --limit, --distinct and --val-limit; found: {', '.join(found) or 'none'})"
                           ) from None
    vqgan = load_vqgan(cfg.vqgan, cfg.vqgan_name).to(device)
    train = encode_folder(vqgan, os.path.join(cfg.data_root, "train"), device, True, cfg.limit,
                         distinct=cfg.distinct)
    val = encode_folder(vqgan, os.path.join(cfg.data_root, "val"), device, False, cfg.val_limit)
    os.makedirs(cfg.out, exist_ok=True)  # only now: a refused run leaves nothing behind
    save_tensors({"train": train, "val": val}, path)
    return train.long(), val.long(), key


def masked_loss(model, tokens, mask, mask_id, label_smoothing=0.0):
    inputs = torch.where(mask, torch.full_like(tokens, mask_id), tokens)
    logits = model(inputs)
    return F.cross_entropy(logits[mask].float(), tokens[mask], label_smoothing=label_smoothing), logits


@torch.no_grad()
def validate(model, val_tokens, mask_id, device, batch=256, seed=1234):
    """Masked-token cross entropy and accuracy on val, with fixed random masks."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total, correct, count = 0.0, 0, 0
    for i in range(0, len(val_tokens), batch):
        tokens = val_tokens[i:i + batch].to(device)
        mask = sample_training_mask(len(tokens), 16, generator=gen, device=device)
        with autocast(device):
            loss, logits = masked_loss(model, tokens, mask, mask_id)
        n = int(mask.sum())
        total += loss.item() * n
        correct += int((logits.argmax(-1)[mask] == tokens[mask]).sum())
        count += n
    model.train()
    return {"val_loss": total / count, "val_acc": correct / count}


def initial_weights(folder, tokens_keys, vocab, dropout):
    """Weights and config of a finished transformer to continue from (a fine-tune: fresh
    optimizer and learning-rate schedule). Its tokens must be this run's tokens."""
    shipped, info = load_checkpoint(folder, "transformer", "transformer", BidirectionalTransformer,
                                    TransformerConfig)
    trained_on = info.get("tokenizer")
    if trained_on is None:
        print(f"warning: --init-from {folder} does not say which tokenizer it was trained on; "
              "continuing unchecked", file=sys.stderr)
    elif trained_on not in tokens_keys:
        raise MaskGITError(f"--init-from {folder}: its transformer was trained on tokenizer {trained_on}, "
                           f"this run tokenizes with {tokens_keys[0]}; continue only with the same tokenizer")
    if shipped.config.vocab_size != vocab:
        raise MaskGITError(f"--init-from {folder}: vocabulary {shipped.config.vocab_size} != tokenizer's {vocab}")
    cfg = dataclasses.replace(shipped.config, dropout=dropout)
    return shipped.state_dict(), cfg


@dataclass(kw_only=True)
class TransformerTrainConfig(RunConfig):
    vqgan: str                        # folder holding the stage-1 weights
    vqgan_name: str = "vqgan"
    # the model
    dim: int = 384
    layers: int = 12
    heads: int = 6
    dropout: float = 0.1
    # where it starts, and how it learns
    init_from: Optional[str] = None   # continue this folder's transformer (same tokens)
    tokenize_only: bool = False       # write the tokens cache and stop
    lr: float = 5e-4
    warmup: float = 0.03
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    ema: float = 0.999


def shared_tokens(cfg, ddp):
    """The tokens cache, made by rank 0 and then read by the others."""
    if ddp.is_main:
        tokens = cached_tokens(cfg, ddp.device)
    if ddp.world > 1:
        torch.distributed.barrier()
        if not ddp.is_main:
            tokens = cached_tokens(cfg, ddp.device)
    return tokens


def optimizer(model, cfg, device):
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "emb" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(0.9, 0.95), fused=device.type == "cuda")


class TransformerRun:
    """One run of stage 2: the model, its optimizer and average, the counters."""

    def __init__(self, cfg, ddp, model_cfg, start_weights, tokens):
        self.cfg, self.ddp, self.model_cfg, self.start_weights = cfg, ddp, model_cfg, start_weights
        self.train_tokens, self.val_tokens, self.key = tokens
        device = ddp.device
        self.model = BidirectionalTransformer(model_cfg).to(device)
        if start_weights is not None:
            self.model.load_state_dict(start_weights)
        self.opt = optimizer(self.model, cfg, device)
        self.ema = EMA(self.model, cfg.ema)
        self.step, elapsed = 0, 0.0
        state = None if cfg.fresh else ddp.load_state(cfg.out, load_state)
        if state:
            elapsed = self.resume(state)
        # DDP starts every rank from rank 0's weights and averages the gradients in buckets
        self.net = DistributedDataParallel(self.model) if ddp.world > 1 else self.model
        self.train_tokens = self.train_tokens.to(device)
        self.steps_per_epoch = max(1, len(self.train_tokens) // (cfg.batch_size * ddp.world))
        self.budget = Budget(cfg.steps, cfg.minutes, elapsed)

    def resume(self, state):
        cfg, (parts, info) = self.cfg, state
        if info.get("data", data_name(cfg)) != data_name(cfg):
            raise MaskGITError(f"{cfg.out} holds a run on data '{info['data']}', this one asks for "
                               f"'{data_name(cfg)}' (--limit, --distinct, --val-limit): resume it the same "
                               "way, or start over with --fresh")
        self.model.load_state_dict(parts["model"])
        self.opt.load_state_dict(parts["opt"])
        self.ema.load(parts["ema"])
        self.step = info["step"]
        if self.ddp.is_main:
            print(f"resumed {cfg.out} at step {self.step} ({info['elapsed'] / 60:.1f} min trained)"
                  + (" (its own weights, not --init-from's)" if self.start_weights is not None else ""))
        return info["elapsed"]

    def run(self):
        cfg, ddp = self.cfg, self.ddp
        if ddp.is_main:
            print(f"transformer {count_parameters(self.model) / 1e6:.2f}M params; {len(self.train_tokens)} train "
                  f"sequences (with flips), {len(self.val_tokens)} val; {self.steps_per_epoch} steps per epoch "
                  f"on {ddp.world} x {ddp.device}")
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + ddp.rank + self.step)
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not ddp.is_main, desc="transformer",
                   mininterval=cfg.log_seconds, dynamic_ncols=True)
        last_save = time.time()
        self.model.train()
        while not ddp.any(self.budget.done(self.step)):
            progress = ddp.broadcast_float(self.budget.progress(self.step))  # rank 0's clock for every rank
            loss = self.train_step(progress, gen)
            self.step += 1
            bar.update(1)
            if self.step % 25 == 0:
                bar.set_postfix(loss=f"{loss:.3f}", prog=f"{progress:.0%}", refresh=False)
            if ddp.is_main and (self.step % self.steps_per_epoch == 0 or time.time() - last_save > cfg.save_seconds):
                self.checkpoint()
                last_save = time.time()
            if ddp.is_main and self.step % cfg.val_every == 0:
                record = {"step": self.step, "minutes": round(self.budget.elapsed / 60, 2), "loss": loss,
                          **validate(self.model, self.val_tokens, self.model_cfg.mask_token_id, ddp.device)}
                append_log(cfg.out, record)
                bar.write(str(record))
        bar.close()
        self.finish()

    def train_step(self, progress, gen):
        cfg, device = self.cfg, self.ddp.device
        for g in self.opt.param_groups:
            g["lr"] = lr_at(progress, cfg.lr, warmup=cfg.warmup)
        idx = torch.randint(len(self.train_tokens), (cfg.batch_size,), generator=gen).to(device)
        tokens = self.train_tokens[idx]
        mask = sample_training_mask(cfg.batch_size, 16, generator=gen, device=device)
        with autocast(device):
            loss, _ = masked_loss(self.net, tokens, mask, self.model_cfg.mask_token_id, cfg.label_smoothing)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.ema.update(self.model)
        return loss.item()

    def checkpoint(self):
        save_state(self.cfg.out, {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "ema": self.ema.shadow},
                   {"step": self.step, "elapsed": self.budget.elapsed, "tokens": self.key, "data": data_name(self.cfg)})

    def export(self):
        cfg, device = self.cfg, self.ddp.device
        shipped = BidirectionalTransformer(self.model_cfg).to(device)
        self.ema.copy_to(shipped)
        info = {"step": self.step, "minutes": self.budget.elapsed / 60, "tokenizer": self.key,
                **validate(shipped, self.val_tokens, self.model_cfg.mask_token_id, device)}
        if self.start_weights is not None:  # step and minutes count this run only; this names where it began
            info.update(init_from=cfg.init_from, init_from_digest=file_digest(
                os.path.join(cfg.init_from, "transformer.safetensors")))
        if cfg.distinct:
            info["distinct"] = True
        for folder in filter(None, (cfg.out, cfg.export_to)):
            save_checkpoint(shipped, folder, "transformer", "transformer", info)
        return info

    def finish(self):
        digest = self.ddp.replicas_digest(self.model)
        if self.ddp.is_main:
            self.checkpoint()
            info = self.export()
            append_log(self.cfg.out, {"step": self.step, "minutes": round(self.budget.elapsed / 60, 2),
                                      "final": True, "ema": True, **digest, **info})
            print(f"final transformer (EMA): {info}")
        self.ddp.close()


def train_transformer(cfg: TransformerTrainConfig):
    ddp = Distributed(cfg.device)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    vocab = int(load_vqgan(cfg.vqgan, cfg.vqgan_name).codebook_size)
    model_cfg = TransformerConfig(vocab_size=vocab, dim=cfg.dim, n_layers=cfg.layers, n_heads=cfg.heads,
                                  dropout=cfg.dropout)
    start_weights = None
    if cfg.init_from:  # checked before tokenizing: a refusal costs nothing
        start_weights, model_cfg = initial_weights(cfg.init_from, (tokenizer_key(cfg), legacy_tokenizer_key(cfg)),
                                                   vocab, cfg.dropout)
    tokens = shared_tokens(cfg, ddp)
    if cfg.tokenize_only:
        if ddp.is_main:
            print(f"tokens of {len(tokens[0])} train sequences (with flips) and {len(tokens[1])} val "
                  f"faces in {tokens_path(cfg, tokens[2])}")
        ddp.close()
        return
    if tokens[0].shape[1] != model_cfg.n_tokens:  # masking and decoding work on a 16x16 grid
        raise MaskGITError(f"the tokenizer in {cfg.vqgan} gives {tokens[0].shape[1]} tokens a face; the "
                           f"transformer reads a 16x16 grid ({model_cfg.n_tokens}): use three --channels levels")
    TransformerRun(cfg, ddp, model_cfg, start_weights, tokens).run()
