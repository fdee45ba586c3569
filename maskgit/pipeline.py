"""MaskGIT inpainting: tokenizer + transformer + iterative decoding, image in, steps out."""
import contextlib
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

import os
import warnings

from .checkpoint import file_digest, load_checkpoint, read_json, save_checkpoint
from .decoding import check_decode_settings, check_seed, iterative_decode
from .errors import MaskGITError
from .guided import Guide, GuideConfig
from .images import model_to_unit, uint8_to_unit, unit_to_model
from .masks import grow_token_hole, paste_back, pixel_to_token_hole, smooth_fill
from .precision import bf16_is_fast
from .transformer import BidirectionalTransformer, TransformerConfig
from .tokenizer import FSQAutoencoder, TokenizerConfig


FILLS = ("smooth", "gray")
DECODERS = ("guided", "tokens")  # the mask-aware decoder (reads the known pixels), or tokens only


def check_decoder(decoder, has_guide):
    if decoder not in DECODERS:
        raise MaskGITError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    if decoder == "guided" and not has_guide:
        raise MaskGITError("decoder 'guided' needs a guide checkpoint (guide.json/.safetensors) beside the "
                           "tokenizer; use decoder 'tokens'")


def check_fill(fill):
    if fill not in FILLS:
        raise MaskGITError(f"unknown hole fill {fill!r}; choose one of {', '.join(FILLS)}")


def encoder_view(images, holes, fill="smooth"):
    """What the tokenizer's encoder sees: (B, 3, H, W) in [0, 1] with the hole (B, H, W)
    filled smoothly from its surroundings, or flat gray as in the course's masked images."""
    check_fill(fill)
    if fill == "smooth":
        return smooth_fill(images, holes)
    return torch.where(holes[:, None], torch.full_like(images, 128 / 255), images)


@dataclass
class InpaintStep:
    """One decoding step for a batch. Token maps are (B, h, w); images (B, 3, H, W) in [0, 1]."""
    step: int
    total_iter: int
    sweet_spot: int
    known: torch.Tensor          # token known before decoding
    still_masked: torch.Tensor   # token still masked after this step
    newly_decided: torch.Tensor  # token decided at this step
    tokens: torch.Tensor         # predicted token ids
    confidence: Optional[torch.Tensor] = None  # probability of each token's draw at this step
    encoder_input: Optional[torch.Tensor] = None  # what the encoder saw (first step; None if tokens given)
    image: Optional[torch.Tensor] = None      # decoded prediction (the course's output)
    composite: Optional[torch.Tensor] = None  # known pixels pasted back

    @property
    def is_final(self):
        return self.step == self.sweet_spot


def resolve_device(device="auto"):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise MaskGITError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(device)


class MaskGIT:
    """The tokenizer, the transformer and, when given, the mask-aware decoder's guide.

    bf16: "auto" computes in bfloat16 where the hardware has it (maskgit.precision) and in
    fp32 elsewhere; True or False forces it."""

    def __init__(self, vqgan, transformer, guide=None, device="cpu", bf16="auto"):
        if transformer.config.vocab_size != vqgan.codebook_size:
            raise MaskGITError(f"transformer vocabulary ({transformer.config.vocab_size}) does not match "
                               f"the tokenizer's codebook ({vqgan.codebook_size})")
        if transformer.config.n_tokens != vqgan.config.grid_size ** 2:
            raise MaskGITError(f"transformer sequence length ({transformer.config.n_tokens}) does not match "
                               f"the tokenizer's {vqgan.config.grid_size}x{vqgan.config.grid_size} token grid")
        self.device = resolve_device(device)
        self.vqgan = vqgan.to(self.device).eval()
        self.transformer = transformer.to(self.device).eval()
        self.guide = guide.to(self.device).eval() if guide is not None else None
        self.bf16 = bf16_is_fast(self.device) if bf16 == "auto" else bool(bf16)
        self.grid = vqgan.config.grid_size
        self.image_size = vqgan.config.image_size

    @property
    def default_decoder(self):
        return "guided" if self.guide is not None else "tokens"

    def autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    # -- conversions -------------------------------------------------------------------
    def to_batch(self, images, holes):
        """uint8 (H, W, 3) / (B, H, W, 3) arrays or float (B, 3, H, W) tensors in [0, 1],
        and bool holes (H, W) / (B, H, W)  ->  device tensors (B, 3, H, W), (B, H, W)."""
        images = torch.as_tensor(np.array(images) if isinstance(images, np.ndarray) else images)  # own copy
        if images.dtype == torch.uint8:
            images = uint8_to_unit(images[None] if images.ndim == 3 else images)
        elif images.ndim == 3:
            images = images[None]
        holes = torch.as_tensor(np.array(holes) if isinstance(holes, np.ndarray) else holes).bool()
        holes = holes[None] if holes.ndim == 2 else holes
        size = self.image_size
        if images.shape[1:] != (3, size, size) or holes.shape[1:] != (size, size):
            raise MaskGITError(f"expected {size}x{size} RGB images and masks, got {tuple(images.shape)} "
                               f"and {tuple(holes.shape)}")
        if images.shape[0] != holes.shape[0]:
            raise MaskGITError("need one mask per image")
        return images.to(self.device), holes.to(self.device)

    @torch.no_grad()
    def encode(self, images01):
        with self.autocast():
            return self.vqgan.encode(unit_to_model(images01)).flatten(1)

    @torch.no_grad()
    def decode(self, tokens, images=None, holes=None, decoder="tokens"):
        """Token ids (B, n) -> images (B, 3, H, W) in [0, 1]. decoder="guided" also reads the
        known pixels of `images` (B, 3, H, W) in [0, 1] outside `holes` (B, H, W)."""
        check_decoder(decoder, self.guide is not None)
        with self.autocast():
            img = self.vqgan.decode(tokens.view(-1, self.grid, self.grid))
            if decoder == "guided":
                img = self.guide(img.float(), unit_to_model(images), holes).float().clamp(-1, 1)
        return model_to_unit(img)

    @torch.no_grad()
    def _logits(self, tokens):
        with self.autocast():
            return self.transformer(tokens)

    # -- decoding ----------------------------------------------------------------------
    @torch.no_grad()
    def inpaint_steps(self, images, holes, *, schedule="cosine", sweet_spot=10, total_iter=10,
                      choice_temperature=4.5, seed=0, sample=True, sampling_temperature=1.0,
                      undecided="mode", final_step="mode", decode="every", feather=1, fill="smooth",
                      decoder=None, grow_hole=0, order="confidence", tokens=None):
        """Yield an InpaintStep per decoding step (sweet_spot of them).

        schedule: a name for the whole batch, or a list with one name per image.
        undecided: tokens still masked at a step are pictured as the most likely token
        ("mode") or as a draw ("sample"); final_step="mode" (the default) takes the most likely
        token at the schedule's last step, "sample" draws it; see decoding.iterative_decode.
        decode: "every" decodes images at each step (for streaming), "final" only at the
        sweet spot (for evaluation), "none" never.
        fill: what the encoder sees in the hole. "smooth" continues the surrounding colours
        (masks.smooth_fill), "gray" is the course's flat gray. Hole pixels never matter
        directly, but the encoder sees past a token's own pixels, so the fill changes the
        known tokens next to the hole: on val, smooth kept 81% of them equal to the whole
        face's tokens against 68% for gray.
        decoder: "guided" (the default when the model has a guide) redraws the image from the
        tokens and the known pixels; "tokens" from the tokens alone (the course's decoder).
        seed: a whole number in 0..2**63-1 (decoding.check_seed); anything else is refused.
        """
        check_fill(fill)
        decoder = decoder or self.default_decoder
        check_decoder(decoder, self.guide is not None)
        for name in schedule if isinstance(schedule, (list, tuple)) else [schedule]:
            check_decode_settings(name, total_iter, sweet_spot, choice_temperature)
        seed = check_seed(seed)
        images, holes = self.to_batch(images, holes)
        token_hole = grow_token_hole(pixel_to_token_hole(holes), grow_hole).flatten(1)
        if (token_hole.sum(1) == 0).any():
            raise MaskGITError("the hole is empty: paint at least a few pixels to inpaint")
        seen = None
        if tokens is None:
            seen = encoder_view(images, holes, fill)
            tokens = self.encode(seen)
        else:
            tokens = torch.as_tensor(tokens, device=self.device).long().reshape(len(images), -1)
            if tokens.shape[1] != self.grid ** 2:
                raise MaskGITError(f"expected {self.grid}x{self.grid} tokens per image, got {tokens.shape[1]}")
        generator = torch.Generator(device=self.device).manual_seed(seed)
        shape = (-1, self.grid, self.grid)
        for s in iterative_decode(self._logits, tokens, token_hole,
                                  mask_token_id=self.transformer.config.mask_token_id,
                                  schedule=schedule, total_iter=total_iter, sweet_spot=sweet_spot,
                                  choice_temperature=choice_temperature, sample=sample,
                                  sampling_temperature=sampling_temperature, undecided=undecided,
                                  final_step=final_step, order=order, generator=generator):
            record = InpaintStep(step=s.step, total_iter=total_iter, sweet_spot=sweet_spot,
                                 known=s.known.view(shape), still_masked=s.still_masked.view(shape),
                                 newly_decided=s.newly_decided.view(shape), tokens=s.tokens.view(shape),
                                 confidence=s.confidence.view(shape), encoder_input=seen if s.step == 1 else None)
            if decode == "every" or (decode == "final" and record.is_final):
                record.image = self.decode(s.tokens, images, holes, decoder)
                record.composite = paste_back(record.image, images, holes, feather=feather)
            yield record

    def inpaint(self, images, holes, **kwargs):
        """The final InpaintStep only (images decoded once, at the sweet spot)."""
        kwargs.setdefault("decode", "final")
        for record in self.inpaint_steps(images, holes, **kwargs):
            pass
        return record

    def candidates_steps(self, image, hole, n=4, **kwargs):
        """n completions of one image's hole, drawn in one batch: InpaintSteps of batch n."""
        if not isinstance(n, int) or n < 1:
            raise MaskGITError(f"the number of candidates must be a whole number >= 1, got {n!r}")
        images, holes = self.to_batch(image, hole)
        if len(images) != 1:
            raise MaskGITError("candidates are drawn for one image at a time")
        return self.inpaint_steps(images.expand(n, -1, -1, -1), holes.expand(n, -1, -1), **kwargs)

    def resample_steps(self, image, tokens, hole, **kwargs):
        """Redraw only the tokens under `hole` of an earlier result (its image and tokens),
        keeping every other token as it was."""
        return self.inpaint_steps(image, hole, tokens=tokens, **kwargs)

    def generate_steps(self, n=1, **kwargs):
        """Draw new faces from an all-masked grid (nothing known).

        The last step draws its tokens too unless told otherwise: "mode" was chosen on
        inpainting, and with total_iter=1 it would make every seed give the same face."""
        kwargs.setdefault("final_step", "sample")
        size = self.image_size
        images = torch.full((n, 3, size, size), 0.5)
        holes = torch.ones(n, size, size, dtype=torch.bool)
        return self.inpaint_steps(images, holes, **kwargs)

    def save(self, folder, dtype=torch.float16, vqgan_info=None, transformer_info=None):
        save_checkpoint(self.vqgan, folder, "vqgan", "vqgan", vqgan_info, dtype)
        save_checkpoint(self.transformer, folder, "transformer", "transformer", transformer_info, dtype)


def load_vqgan(folder, name="vqgan"):
    return load_checkpoint(folder, name, "vqgan", FSQAutoencoder, TokenizerConfig)[0]


def load_transformer(folder):
    return load_checkpoint(folder, "transformer", "transformer", BidirectionalTransformer,
                           TransformerConfig)[0]


def _fits_tokenizer(info, folder):
    return info.get("vqgan") == file_digest(os.path.join(folder, "vqgan.safetensors"))


def has_usable_guide(folder, name="guide"):
    """Whether load(folder) decodes with a guide: one is saved there, trained against this
    tokenizer. Reads its config only, so a caller can know before loading anything."""
    path = os.path.join(folder, f"{name}.json")
    if not (os.path.exists(path) and os.path.exists(os.path.join(folder, "vqgan.safetensors"))):
        return False
    try:
        meta = read_json(path)
    except MaskGITError:  # load() reports it
        return False
    return isinstance(meta, dict) and isinstance(meta.get("info"), dict) and _fits_tokenizer(meta["info"], folder)


def load_guide(folder, name="guide"):
    """The guide saved in `folder`, or None when there is none or it was trained against
    another tokenizer (a warning says so: it would redraw faces it was not trained on)."""
    if not os.path.exists(os.path.join(folder, f"{name}.json")):
        return None
    guide, info = load_checkpoint(folder, name, "guide", Guide, GuideConfig)
    if not _fits_tokenizer(info, folder):
        warnings.warn(f"{folder}/{name}.* was trained against another tokenizer ({info.get('vqgan')}); "
                      "decoding from the tokens alone", stacklevel=2)
        return None
    return guide


def load(folder="checkpoints", device="auto", bf16="auto", guide=True):
    """Load the tokenizer, the transformer and (with guide=True, when present) the guide saved
    in `folder` into a ready MaskGIT."""
    return MaskGIT(load_vqgan(folder), load_transformer(folder), load_guide(folder) if guide else None,
                   device=device, bf16=bf16)
