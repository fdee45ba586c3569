"""Checkpoints: safetensors weights plus a JSON config, written atomically, loaded safely.

A checkpoint named NAME in folder DIR is DIR/NAME.safetensors and DIR/NAME.json; the JSON
holds {"kind", "format_version", "config", "info"}. Nothing is unpickled.
"""
import hashlib
import json
import os
import tempfile

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import CheckpointError

FORMAT_VERSION = 1


def atomic_write_bytes(path, write_fn):
    """Write via a temp file in the same folder and rename, so a kill never leaves half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    os.close(fd)
    try:
        write_fn(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; checkpoints are for sharing
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_tensors(tensors, path, dtype=None):
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
               .detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, lambda tmp: save_file(tensors, tmp))


def save_json(obj, path):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
    atomic_write_bytes(path, write)


def save_checkpoint(model, folder, name, kind, info=None, dtype=torch.float16):
    """Weights (stored as `dtype`, fp16 halves the size) + config JSON."""
    save_tensors(model.state_dict(), os.path.join(folder, f"{name}.safetensors"), dtype)
    save_json({"kind": kind, "format_version": FORMAT_VERSION, "config": model.config.to_dict(),
               "info": info or {}}, os.path.join(folder, f"{name}.json"))


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint config missing: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint config is not valid JSON: {path} ({e})") from None


_WEIGHT_ERRORS = (SafetensorError, OSError, ValueError, RuntimeError)


def read_tensors(path):
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint weights missing: {path}")
    try:
        return load_file(path)
    except _WEIGHT_ERRORS as e:
        raise CheckpointError(f"checkpoint weights are corrupt or truncated: {path} ({e})") from None


def read_shapes(path):
    """{name: shape} of the tensors in a safetensors file, from its header (no data read)."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint weights missing: {path}")
    try:
        with safe_open(path, "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except _WEIGHT_ERRORS as e:
        raise CheckpointError(f"checkpoint weights are corrupt or truncated: {path} ({e})") from None


def file_digest(path):
    """First 16 hex digits of the file's SHA-1."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def weights_digests(folder, names=("vqgan", "transformer")):
    """Which weights a report was made with: {name: digest of NAME.safetensors}."""
    return {name: file_digest(os.path.join(folder, f"{name}.safetensors")) for name in names}


def _shape(tensor_or_shape):
    return tuple(getattr(tensor_or_shape, "shape", tensor_or_shape))


def check_tensors_match(expected, tensors, path):
    """A CheckpointError naming the first missing, unexpected or misshapen tensors, if any.
    Both are {name: tensor or shape}."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [k for k in expected if k in tensors and _shape(tensors[k]) != _shape(expected[k])]
    if missing or unexpected or wrong:
        detail = (missing and f"missing {missing[:3]}") or (unexpected and f"unexpected {unexpected[:3]}") \
            or f"shape mismatch at {wrong[:3]}"
        raise CheckpointError(f"{path} does not match its config: {detail}")


def build_model(model_cls, config_cls, config, where):
    try:
        return model_cls(config_cls(**config))
    except (KeyError, TypeError, AssertionError, ValueError) as e:
        raise CheckpointError(f"{where} has an invalid config ({e})") from None


def load_checkpoint(folder, name, kind, model_cls, config_cls):
    """Build model_cls(config_cls(**config)) and load its weights; every mismatch is a CheckpointError.

    The shapes the config implies (from a model built on the meta device: no memory) are
    checked against the weights file's header before the model is built for real, so a
    config asking for a huge model is refused without allocating it."""
    meta = read_json(os.path.join(folder, f"{name}.json"))
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        raise CheckpointError(f"{folder}/{name}.json is not a {kind} checkpoint config")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{folder}/{name}.json has no config")
    weights = os.path.join(folder, f"{name}.safetensors")
    with torch.device("meta"):
        shapes_only = build_model(model_cls, config_cls, meta["config"], f"{folder}/{name}.json")
    check_tensors_match(shapes_only.state_dict(), read_shapes(weights), f"{folder}/{name}.safetensors")
    del shapes_only
    model = build_model(model_cls, config_cls, meta["config"], f"{folder}/{name}.json")
    tensors = read_tensors(weights)
    expected = model.state_dict()
    check_tensors_match(expected, tensors, f"{folder}/{name}.safetensors")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    model.eval()
    return model, meta.get("info", {})


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
