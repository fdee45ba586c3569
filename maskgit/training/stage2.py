"""Stage 2: masked visual token modelling on tokens cached from the frozen VQGAN."""
import dataclasses
import hashlib
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..checkpoint import (file_digest, load_checkpoint, read_json, read_tensors, save_checkpoint,
                          save_tensors)
from ..data import list_images, load_image_folder, to_model_range
from ..errors import MaskGITError
from ..pipeline import load_vqgan
from ..transformer import BidirectionalTransformer, TransformerConfig
from ..vqgan import count_parameters
from .common import EMA, Budget, Distributed, append_log, autocast, load_state, lr_at, save_state
from .masking import sample_training_mask


def tokens_digest(folder, name):
    """Names a tokenizer by what decides its tokens: the encoder's stored weights and the FSQ
    levels. A decoder tuned with the encoder frozen (`train.py vqgan --decoder-only`) keeps it."""
    config = read_json(os.path.join(folder, f"{name}.json"))["config"]
    return tokens_digest_of(config, read_tensors(os.path.join(folder, f"{name}.safetensors")))


def tokens_digest_of(config, tensors):
    """tokens_digest of a config and weights as stored (fp16 for a checkpoint)."""
    h = hashlib.sha1(json.dumps([config["fsq_levels"], config.get("image_size", 64)]).encode())
    for key in sorted(k for k in tensors if k.startswith("encoder.")):
        h.update(key.encode())
        h.update(tensors[key].contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_folder(vqgan, folder, device, flips, limit=None, batch=256, distinct=False):
    images = load_image_folder(folder, limit=limit, distinct=distinct)
    out = []
    for i in tqdm(range(0, len(images), batch), desc=f"tokenizing {os.path.basename(folder)}",
                  mininterval=5, leave=False):
        x = to_model_range(images[i:i + batch].to(device))
        views = [x, x.flip(-1)] if flips else [x]
        with autocast(device):
            out += [vqgan.encode(v).flatten(1).short().cpu() for v in views]
    return torch.cat(out)


def tokenizer_key(args):
    return tokens_digest(args.vqgan, args.vqgan_name)


def legacy_tokenizer_key(args):
    """The key checkpoints were named by until decoder-only tuning existed: the digest of the
    whole weights file (still accepted: such a file also fixes the encoder)."""
    return file_digest(os.path.join(args.vqgan, f"{args.vqgan_name}.safetensors"))


def data_name(args):
    """Which training data: the part of the tokens cache's name after the tokenizer key."""
    return (f"{args.limit or 'all'}{'-distinct' if args.distinct else ''}"
            + (f"-val{args.val_limit}" if args.val_limit else ""))


def tokens_path(args, key):
    return os.path.join(args.out, f"tokens-{key}-{data_name(args)}.safetensors")


def cached_tokens(args, device):
    """Token ids of train (with horizontal flips) and val, computed once per tokenizer and data."""
    key = tokenizer_key(args)
    path = tokens_path(args, key)
    if os.path.exists(path):
        t = read_tensors(path)
        return t["train"].long(), t["val"].long(), key
    try:
        list_images(os.path.join(args.data_root, "train"))
    except MaskGITError as e:  # say which cache was looked for, too
        found = sorted(f for f in os.listdir(args.out) if f.startswith("tokens-")) if os.path.isdir(args.out) else []
        raise MaskGITError(f"{e}, and no tokens cache {path} (a cache from --tokenize-only needs the same "
                           f"--vqgan, --limit, --distinct and --val-limit; found: {', '.join(found) or 'none'})"
                           ) from None
    vqgan = load_vqgan(args.vqgan, args.vqgan_name).to(device)
    train = encode_folder(vqgan, os.path.join(args.data_root, "train"), device, True, args.limit,
                         distinct=args.distinct)
    val = encode_folder(vqgan, os.path.join(args.data_root, "val"), device, False, args.val_limit)
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


def train_transformer(args):
    ddp = Distributed(args.device)
    device = ddp.device
    torch.manual_seed(args.seed)  # same init on every rank
    os.makedirs(args.out, exist_ok=True)
    vocab = int(load_vqgan(args.vqgan, args.vqgan_name).codebook_size)
    cfg = TransformerConfig(vocab_size=vocab, dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                            dropout=args.dropout)
    start_weights = None
    if args.init_from:  # checked before tokenizing: a refusal costs nothing
        start_weights, cfg = initial_weights(args.init_from, (tokenizer_key(args), legacy_tokenizer_key(args)),
                                             vocab, args.dropout)
    if ddp.is_main:
        train_tokens, val_tokens, key = cached_tokens(args, device)
    if ddp.world > 1:
        torch.distributed.barrier()
        if not ddp.is_main:
            train_tokens, val_tokens, key = cached_tokens(args, device)
    if args.tokenize_only:
        if ddp.is_main:
            print(f"tokens of {len(train_tokens)} train sequences (with flips) and {len(val_tokens)} val "
                  f"faces in {tokens_path(args, key)}")
        ddp.close()
        return
    model = BidirectionalTransformer(cfg).to(device)
    if start_weights is not None:
        model.load_state_dict(start_weights)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), fused=device.type == "cuda")
    ema = EMA(model, args.ema)
    step, elapsed = 0, 0.0
    state = None if args.fresh else load_state(args.out)
    if state:
        parts, info = state
        if info.get("data", data_name(args)) != data_name(args):  # older states did not record it
            raise MaskGITError(f"{args.out} holds a run on data '{info['data']}', this one asks for "
                               f"'{data_name(args)}' (--limit, --distinct, --val-limit): resume it the same "
                               "way, or start over with --fresh")
        model.load_state_dict(parts["model"]); opt.load_state_dict(parts["opt"])
        ema.load(parts["ema"])
        step, elapsed = info["step"], info["elapsed"]
        if ddp.is_main:
            print(f"resumed {args.out} at step {step} ({elapsed / 60:.1f} min trained)"
                  + (" (its own weights, not --init-from's)" if start_weights is not None else ""))
    net = DistributedDataParallel(model) if ddp.world > 1 else model
    train_tokens = train_tokens.to(device)
    steps_per_epoch = max(1, len(train_tokens) // (args.batch_size * ddp.world))
    if ddp.is_main:
        print(f"transformer {count_parameters(model) / 1e6:.2f}M params; {len(train_tokens)} train "
              f"sequences (with flips), {len(val_tokens)} val; {steps_per_epoch} steps per epoch "
              f"on {ddp.world} x {device}")

    budget = Budget(args.steps, args.minutes, elapsed)
    gen = torch.Generator().manual_seed(args.seed * 1000 + ddp.rank + step)
    bar = tqdm(total=args.steps, initial=step, disable=not ddp.is_main, desc="transformer",
               mininterval=args.log_seconds, dynamic_ncols=True)
    last_save = time.time()

    def checkpoint():
        save_state(args.out, {"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow},
                   {"step": step, "elapsed": budget.elapsed, "tokens": key, "data": data_name(args)})

    def export():
        shipped = BidirectionalTransformer(cfg).to(device)
        ema.copy_to(shipped)
        info = {"step": step, "minutes": budget.elapsed / 60, "tokenizer": key,
                **validate(shipped, val_tokens, cfg.mask_token_id, device)}
        if start_weights is not None:  # step and minutes count this run only; this names where it began
            info.update(init_from=args.init_from, init_from_digest=file_digest(
                os.path.join(args.init_from, "transformer.safetensors")))
        if args.distinct:
            info["distinct"] = True
        save_checkpoint(shipped, args.out, "transformer", "transformer", info)
        if args.export_to:
            save_checkpoint(shipped, args.export_to, "transformer", "transformer", info)
        return info

    model.train()
    while not ddp.any(budget.done(step)):
        progress = budget.progress(step)
        for g in opt.param_groups:
            g["lr"] = lr_at(progress, args.lr, warmup=args.warmup)
        idx = torch.randint(len(train_tokens), (args.batch_size,), generator=gen).to(device)
        tokens = train_tokens[idx]
        mask = sample_training_mask(args.batch_size, 16, generator=gen, device=device)
        with autocast(device):
            loss, _ = masked_loss(net, tokens, mask, cfg.mask_token_id, args.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        step += 1
        bar.update(1)
        if step % 25 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", prog=f"{progress:.0%}", refresh=False)
        if ddp.is_main and (step % steps_per_epoch == 0 or time.time() - last_save > args.save_seconds):
            checkpoint()
            last_save = time.time()
        if ddp.is_main and step % args.val_every == 0:
            record = {"step": step, "minutes": round(budget.elapsed / 60, 2), "loss": loss.item(),
                      **validate(model, val_tokens, cfg.mask_token_id, device)}
            append_log(args.out, record)
            bar.write(str(record))
    bar.close()
    if ddp.is_main:
        checkpoint()
        info = export()
        append_log(args.out, {"step": step, "minutes": round(budget.elapsed / 60, 2), "final": True,
                              "ema": True, **info})
        print(f"final transformer (EMA): {info}")
    ddp.close()
