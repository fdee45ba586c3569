"""Iterative parallel decoding (MaskGIT) over token ids, as a generator of steps.

Pure token logic: the caller supplies a function from token ids to logits, so this module
knows nothing about images, devices or autocast.
"""
import math
import operator
from dataclasses import dataclass

import torch

from .errors import MaskGITError
from .schedules import get_schedule, tokens_still_masked

UNDECIDED = ("mode", "sample")  # how a step pictures tokens still masked after it
FINAL_STEP = ("mode", "sample")  # how the schedule's last step picks the tokens it decides (default first)
FINAL_STEP_HELP = "how the schedule's last step picks its tokens: mode (most likely, the default) or sample (a draw)"
ORDERS = ("confidence", "halton")  # which masked tokens a step decides (default first)


@dataclass
class DecodeStep:
    step: int                     # 1-based index of this step
    total_iter: int               # length of the schedule
    tokens: torch.Tensor          # (B, N) prediction: known + decided + a guess for still masked
    still_masked: torch.Tensor    # (B, N) bool, masked after this step
    newly_decided: torch.Tensor   # (B, N) bool, decided at this step
    known: torch.Tensor           # (B, N) bool, known before decoding started
    confidence: torch.Tensor = None  # (B, N) probability of each token's draw at this step

    @property
    def ratio(self):
        return self.step / self.total_iter


def check_decode_settings(schedule, total_iter, sweet_spot, choice_temperature=0.0):
    if isinstance(schedule, str):
        get_schedule(schedule)
    if not isinstance(total_iter, int) or total_iter < 1:
        raise MaskGITError(f"total iterations must be a whole number >= 1, got {total_iter!r}")
    if not isinstance(sweet_spot, int) or not 1 <= sweet_spot <= total_iter:
        raise MaskGITError(
            f"sweet spot must be between 1 and total iterations ({total_iter}), got {sweet_spot!r}")
    # NaN passes a plain `< 0` test and would rank above the known tokens' +inf confidence.
    if not math.isfinite(choice_temperature) or choice_temperature < 0:
        raise MaskGITError(f"choice temperature must be a finite number >= 0, got {choice_temperature!r}")


SEED_MAX = 2 ** 63 - 1
SEED_RANGE = "0..2**63-1"


def check_seed(seed):
    """`seed` as an int, or a MaskGITError unless it is a whole number in 0..2**63-1: the
    seeds every generator here takes alike (torch's stop at 64 bits, with an overflow traceback)."""
    if not isinstance(seed, bool):
        try:
            value = operator.index(seed)  # ints and numpy integers, not 2.5 or "7"
        except TypeError:
            value = None
        if value is not None and 0 <= value <= SEED_MAX:
            return value
    raise MaskGITError(f"seed must be a whole number in {SEED_RANGE}, got {seed!r}")


def gumbel_noise(shape, generator, device):
    u = torch.rand(shape, generator=generator, device=device).clamp_(1e-20, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def halton(index, base):
    """The index-th element (1-based) of the van der Corput sequence in `base`: in [0, 1)."""
    result, f = 0.0, 1.0
    while index > 0:
        f /= base
        result += f * (index % base)
        index //= base
    return result


def halton_ranks(grid):
    """(grid*grid,) rank of each token position in a 2-D Halton sequence (bases 2 and 3):
    positions early in it spread evenly over the grid, and each later one falls in the largest
    gap left (Halton-MaskGIT, Besnier et al. 2025)."""
    ranks, seen, i = torch.full((grid * grid,), -1, dtype=torch.long), 0, 1
    while seen < grid * grid:
        pos = int(halton(i, 2) * grid) * grid + int(halton(i, 3) * grid)
        if ranks[pos] < 0:
            ranks[pos] = seen
            seen += 1
        i += 1
    return ranks


def select_still_masked(confidence, n_masked):
    """True at the n_masked[b] lowest-confidence positions of each row b."""
    ranks = confidence.argsort(dim=1).argsort(dim=1)
    return ranks < n_masked[:, None]


def iterative_decode(logits_fn, tokens, hole, *, mask_token_id, schedule="cosine", total_iter=10,
                     sweet_spot=None, choice_temperature=4.5, sample=True, sampling_temperature=1.0,
                     undecided="mode", final_step="mode", order="confidence", generator=None):
    """Fill `hole` (B, N) bool of `tokens` (B, N) step by step; yields a DecodeStep per step.

    Runs `sweet_spot` steps of a `total_iter`-step schedule; the last yielded step's
    `tokens` are the output. Each step predicts every masked token, scores the choice by
    log-probability plus Gumbel noise scaled by choice_temperature * (1 - r), decides the
    most confident ones and keeps the rest masked, as many as the schedule says.
    Tokens are drawn from softmax(logits / sampling_temperature) (argmax if not `sample`).
    A step's picture shows the tokens still masked after it as the model's most likely
    token (`undecided="mode"`) or as the draw (`"sample"`); only a sweet spot before the
    schedule's end leaves any. `final_step="mode"` (the default) takes the most likely token
    for every token the schedule's last step decides (when the sweet spot reaches it);
    `"sample"` draws them like the earlier steps (lower FID on val faces with "mode":
    docs/experiments.md).
    `order="halton"` decides the masked tokens in a fixed Halton order over the grid instead of
    by confidence (the draws are the same kind); the tokens are still drawn from the logits.
    """
    if undecided not in UNDECIDED:
        raise MaskGITError(f"undecided must be one of {UNDECIDED}, got {undecided!r}")
    if final_step not in FINAL_STEP:
        raise MaskGITError(f"final_step must be one of {FINAL_STEP}, got {final_step!r}")
    if order not in ORDERS:
        raise MaskGITError(f"order must be one of {ORDERS}, got {order!r}")
    sweet_spot = total_iter if sweet_spot is None else sweet_spot
    hole = hole.bool()
    # One schedule for the batch, or one per row (to compare schedules in a single batch).
    per_row = list(schedule) if isinstance(schedule, (list, tuple)) else [schedule] * len(hole)
    if len(per_row) != len(hole):
        raise MaskGITError(f"got {len(per_row)} schedules for a batch of {len(hole)}")
    for s in per_row:
        check_decode_settings(s, total_iter, sweet_spot, choice_temperature)
    gammas = [get_schedule(s) if isinstance(s, str) else s for s in per_row]
    initial = hole.sum(dim=1)
    if (initial == 0).any():
        raise MaskGITError("the hole is empty: paint at least one 4x4 block to inpaint")

    known = ~hole
    if order == "halton":
        grid = math.isqrt(hole.shape[1])
        # earlier in the sequence = more "confident": decided first
        halton_score = -halton_ranks(grid).to(hole.device, torch.float32).expand(hole.shape)
    z = torch.where(hole, torch.full_like(tokens, mask_token_id), tokens)
    masked = hole.clone()
    for t in range(sweet_spot):
        logits = logits_fn(z).float()
        probs = (logits / max(sampling_temperature, 1e-6)).softmax(dim=-1)
        b, n, v = probs.shape
        if sample and not (final_step == "mode" and t == total_iter - 1):
            sampled = torch.multinomial(probs.view(-1, v), 1, generator=generator).view(b, n)
        else:
            sampled = probs.argmax(dim=-1)
        chosen_p = probs.gather(-1, sampled[..., None]).squeeze(-1)
        prediction = torch.where(masked, sampled, z)

        r = (t + 1) / total_iter
        confidence = torch.log(chosen_p.clamp_min(1e-30))
        if order == "halton":
            confidence = halton_score
        elif choice_temperature > 0:
            confidence = confidence + choice_temperature * (1 - r) * gumbel_noise(
                confidence.shape, generator, confidence.device)
        confidence = torch.where(masked, confidence, torch.full_like(confidence, float("inf")))
        n_keep = torch.tensor([tokens_still_masked(g, t, total_iter, int(k)) for g, k in zip(gammas, initial)],
                              device=confidence.device)
        still = select_still_masked(confidence, n_keep) & masked
        newly = masked & ~still
        z = torch.where(newly, prediction, z)
        masked = still
        shown = torch.where(still, probs.argmax(dim=-1), z) if undecided == "mode" else prediction
        yield DecodeStep(step=t + 1, total_iter=total_iter, tokens=shown, still_masked=masked,
                         newly_decided=newly, known=known, confidence=chosen_p)
