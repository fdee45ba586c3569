"""Finite scalar quantization (Mentzer et al. 2023): no codebook to collapse.

Each of the d latent channels is squashed to a bounded range and rounded to one of
`levels[i]` values; the implicit codebook is the product of the levels (8*5*5*5 = 1000)
and every combination is reachable, so usage stays high without restarts or EMA.
"""
import math

import torch
from torch import nn


class FSQ(nn.Module):
    def __init__(self, levels):
        super().__init__()
        self.levels = tuple(int(n) for n in levels)
        levels_t = torch.tensor(self.levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor((1,) + self.levels[:-1], dtype=torch.float64), 0)
        self.register_buffer("_levels", levels_t, persistent=False)
        self.register_buffer("_basis", basis.long(), persistent=False)

    @property
    def dim(self):
        return len(self.levels)

    @property
    def codebook_size(self):
        return math.prod(self.levels)

    def _bound(self, z):
        # Maps to (-(L-1)/2, (L-1)/2), shifted by half a step for even L so that
        # rounding yields exactly L values.
        half = (self._levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def quantize(self, z):
        """z: (..., d) float -> quantized values in [-1, 1], straight-through gradient."""
        bounded = self._bound(z.float())
        rounded = bounded + (torch.round(bounded) - bounded).detach()
        return rounded / (self._levels // 2)

    def codes_to_indices(self, codes):
        digits = torch.round(codes * (self._levels // 2) + self._levels // 2).long()
        return (digits * self._basis).sum(-1)

    def indices_to_codes(self, indices):
        digits = (indices[..., None] // self._basis) % self._levels.long()
        return (digits.float() - self._levels // 2) / (self._levels // 2)
