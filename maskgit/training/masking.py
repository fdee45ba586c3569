"""Training masks for masked visual token modelling."""

import torch
import torch.nn.functional as F

from ..schedules import get_schedule


def sample_training_mask(batch, grid, schedule="cosine", blob_fraction=0.5, generator=None, device="cpu"):
    """(B, grid*grid) bool mask: per sample r ~ U(0, 1) and ceil(gamma(r) * N) tokens masked.

    Positions are picked by the lowest of random scores: independent noise gives scattered
    masks (the later decoding steps), smooth low-resolution noise gives blobs like the
    painted holes of inpainting (the first step).
    """
    n = grid * grid
    gamma = get_schedule(schedule)
    r = torch.rand(batch, generator=generator)
    n_masked = torch.ceil(gamma(r) * n).clamp(1, n).long()
    scores = torch.rand(batch, n, generator=generator)
    blob = torch.rand(batch, generator=generator) < blob_fraction
    if blob.any():
        coarse = torch.rand(int(blob.sum()), 1, 4, 4, generator=generator)
        smooth = F.interpolate(coarse, size=(grid, grid), mode="bicubic", align_corners=False).flatten(1)
        scores[blob] = smooth + 0.05 * scores[blob]
    ranks = scores.argsort(1).argsort(1)
    return (ranks < n_masked[:, None]).to(device)
