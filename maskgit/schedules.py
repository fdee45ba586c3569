"""Mask schedules: gamma(r) is the fraction of the hole still masked at progress r in [0, 1].

Every schedule satisfies gamma(0) = 1, gamma(1) = 0 and is non-increasing. They accept a
Python float, a numpy array or a torch tensor (training draws one ratio per sample).
"""
import math

import numpy as np
import torch

from .errors import MaskGITError


def _ops(r):
    if isinstance(r, torch.Tensor):
        return torch
    return np if isinstance(r, np.ndarray) else math


def cosine(r):
    return _ops(r).cos(math.pi / 2 * r)


def linear(r):
    return 1 - r


def square(r):
    return 1 - r**2


def cubic(r):
    return 1 - r**3


def sqrt(r):
    return 1 - _ops(r).sqrt(r)


def log(r):
    # 1 - ln(1 + (e - 1) r): drops fast early, like sqrt but smoother at 0.
    return 1 - _ops(r).log(1 + (math.e - 1) * r)


def exp(r):
    # (e^(1-r) - 1) / (e - 1): convex, below linear: decides most tokens in the first steps.
    return (_ops(r).exp(1 - r) - 1) / (math.e - 1)


SCHEDULES = {
    "cosine": cosine,
    "linear": linear,
    "square": square,
    "cubic": cubic,
    "sqrt": sqrt,
    "log": log,
    "exp": exp,
}


def get_schedule(name):
    """Look up a schedule by name; unknown names raise ValueError listing the choices."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise MaskGITError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}") from None


def tokens_still_masked(schedule, step, total_iter, initial_masked):
    """How many of the hole's tokens stay masked after 0-based `step` of `total_iter`.

    Follows floor(initial_masked * gamma((step + 1) / total_iter)), keeps at least one
    token masked before the last step and at most initial_masked - step - 1 (so every
    step decides something), and masks nothing after the last step.
    """
    if step >= total_iter - 1:
        return 0
    # The nudge keeps float error from flooring an exact count one too low: linear's
    # 20 * (1 - 9/10) is 1.9999999999999996, not 2. A true fraction short of an integer by
    # under 1e-9 would be lifted across it, which takes far longer schedules than any here.
    target = math.floor(initial_masked * schedule((step + 1) / total_iter) + 1e-9)
    return max(0, min(initial_masked - step - 1, max(1, target)))
