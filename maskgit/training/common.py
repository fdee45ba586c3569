"""What both stages share: devices and DDP, LR schedule, EMA, resumable state, stopping."""
import hashlib
import json
import math
import os
import signal
import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist

from ..checkpoint import read_json, read_tensors, save_json, save_tensors
from ..errors import MaskGITError
from ..pipeline import resolve_device
from ..precision import autocast as _autocast


@dataclass(kw_only=True)
class RunConfig:
    """What every training run has: data, folder, budget, seed, device, saving and logging."""
    data_root: str
    out: str
    steps: Optional[int] = None
    minutes: Optional[float] = None
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    distinct: bool = False
    limit: Optional[int] = None
    val_limit: Optional[int] = None
    val_every: int = 500
    save_seconds: float = 300
    log_seconds: float = 2.0
    fresh: bool = False
    export_to: Optional[str] = None


def optimizer_step(opt, loss, params, ddp):
    """Backward, the gradients averaged over ranks, one optimizer step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    ddp.average_gradients(params)
    opt.step()


class Distributed:
    """Rank/world/device; under `torchrun` it joins the process group (gloo on CPU, nccl on GPU)."""

    def __init__(self, device="auto"):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = resolve_device(device)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def is_main(self):
        return self.rank == 0

    def average_gradients(self, params):
        """Average the gradients over ranks in one all-reduce (one flat bucket, not a call per
        tensor). Parameters without a gradient (frozen, the same on every rank) are skipped, so
        the optimizer leaves them alone."""
        if self.world == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast_module(self, module):
        """Rank 0's weights and buffers on every rank: one starting point for the replicas."""
        if self.world == 1:
            return
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, 0)

    def replicas_digest(self, module):
        """{"weights_digest", "replicas_agree"}: whether every rank ends with the same weights
        (they must: the same start, the same averaged gradients, the same learning rate)."""
        h = hashlib.sha1()
        for k, v in sorted(module.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
        digest = h.hexdigest()[:16]
        if self.world == 1:
            return {"weights_digest": digest}
        gathered = [None] * self.world
        dist.all_gather_object(gathered, digest)
        return {"weights_digest": digest, "replicas_agree": len(set(gathered)) == 1}

    def any(self, flag):
        """True on every rank if `flag` is True on any rank (keeps ranks stopping together)."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def broadcast_float(self, value):
        """Rank 0's value on every rank (progress under --minutes: one clock for all ranks)."""
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.broadcast(t, 0)
        return float(t.item())

    def load_state(self, folder, loader):
        """`loader(folder)` on every rank; refused unless every rank sees the same state (a
        resume that only rank 0's disk holds would silently restart the others)."""
        state = loader(folder)
        if self.world == 1:
            return state
        step = -1.0 if state is None else float(state[1].get("step", 0))
        t = torch.tensor([step, -step], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if t[0].item() != -t[1].item():
            raise MaskGITError(f"the ranks do not all see the same state in {folder} (a resume needs it on every "
                               "machine: a shared filesystem, or copy the run folder), or start over with --fresh")
        return state

    def close(self):
        if dist.is_initialized():
            dist.destroy_process_group()


def lr_at(progress, peak, warmup=0.02, floor=0.05):
    """Linear warm-up, then cosine decay to floor * peak, as a function of progress in [0, 1]."""
    if progress < warmup:
        return peak * max(progress, 1e-3) / warmup
    t = min(1.0, (progress - warmup) / max(1e-8, 1 - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


class EMA:
    """Exponential moving average of a model's float tensors (the weights we ship); with
    `prefix`, only of those whose names start with it (the rest stay the model's own)."""

    def __init__(self, model, decay, prefix=""):
        self.decay, self.prefix = decay, prefix
        self.restart(model)

    def restart(self, model):
        """Start the average over at the model's current weights."""
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()
                       if k.startswith(self.prefix)}

    def _check(self, names):
        names = set(names)
        if names != set(self.shadow):
            raise MaskGITError(f"the saved average does not match the model: missing {sorted(set(self.shadow) - names)[:3]}, "
                               f"unexpected {sorted(names - set(self.shadow))[:3]}")

    def load(self, tensors):
        """Take a saved average (it must hold exactly the tensors this one tracks)."""
        self._check(tensors)
        for k, v in self.shadow.items():
            v.copy_(tensors[k])  # keeps this one's device and memory layout

    @torch.no_grad()
    def update(self, model):
        current = model.state_dict()
        names = [k for k in self.shadow if current[k].is_floating_point()]
        # One fused kernel for all tensors instead of one launch per tensor.
        torch._foreach_lerp_([self.shadow[k] for k in names], [current[k].float() for k in names],
                             1 - self.decay)

    def copy_to(self, model):
        state = model.state_dict()
        self._check(k for k in state if k.startswith(self.prefix))
        model.load_state_dict({k: self.shadow[k].to(v.dtype) if k in self.shadow else v for k, v in state.items()})


class Budget:
    """Stops after `steps` optimizer steps or `minutes` of training time, whichever comes
    first; training time carries over a resume. Also stops cleanly on SIGTERM/SIGINT."""

    def __init__(self, steps=None, minutes=None, elapsed=0.0):
        if not steps and not minutes:
            raise ValueError("give --steps or --minutes")
        self.steps, self.seconds = steps, (minutes * 60 if minutes else None)
        self.elapsed_before = elapsed
        self.started = time.time()
        self.interrupted = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._interrupt)

    def _interrupt(self, *_):
        self.interrupted = True

    @property
    def elapsed(self):
        return self.elapsed_before + time.time() - self.started

    def progress(self, step):
        parts = []
        if self.steps:
            parts.append(step / self.steps)
        if self.seconds:
            parts.append(self.elapsed / self.seconds)
        return min(1.0, max(parts))

    def done(self, step):
        return self.interrupted or self.progress(step) >= 1.0


def flatten_state(prefix, obj, tensors, meta):
    """Nested dicts/lists of tensors and plain values -> flat tensor dict + JSON-able tree."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten_state(f"{prefix}.{k}", v, tensors, meta)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [flatten_state(f"{prefix}.{i}", v, tensors, meta) for i, v in enumerate(obj)]
    return obj


def unflatten_state(tree, tensors):
    if isinstance(tree, dict) and "__tensor__" in tree:
        return tensors[tree["__tensor__"]]
    if isinstance(tree, dict) and "__dict__" in tree:
        return {k: unflatten_state(v, tensors) for k, v in tree["__dict__"]}
    if isinstance(tree, list):
        return [unflatten_state(v, tensors) for v in tree]
    return tree


def save_state(folder, parts, info):
    """Resumable training state (models, optimizers, EMA) as safetensors + JSON.

    The tensors go to a new file first and the JSON that names it is replaced atomically
    after, so a kill at any moment leaves the previous complete state in place."""
    tensors, trees = {}, {}
    for name, obj in parts.items():
        trees[name] = flatten_state(name, obj, tensors, None)
    previous = read_json(os.path.join(folder, "state.json")).get("file") \
        if os.path.exists(os.path.join(folder, "state.json")) else None
    file = f"state-{int(time.time() * 1000)}.safetensors"
    save_tensors(tensors, os.path.join(folder, file))
    save_json({"file": file, "trees": trees, "info": info}, os.path.join(folder, "state.json"))
    if previous and previous != file and os.path.exists(os.path.join(folder, previous)):
        os.remove(os.path.join(folder, previous))


def load_state(folder):
    """(parts, info) or None when the folder has no state yet."""
    path = os.path.join(folder, "state.json")
    if not os.path.exists(path):
        return None
    meta = read_json(path)
    tensors = read_tensors(os.path.join(folder, meta["file"]))
    return {k: unflatten_state(v, tensors) for k, v in meta["trees"].items()}, meta["info"]


def append_log(folder, record):
    with open(os.path.join(folder, "log.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


def autocast(device):
    """bf16 where the hardware has it (maskgit.precision), fp32 elsewhere."""
    return _autocast(device)
