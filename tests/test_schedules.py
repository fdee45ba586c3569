import math

import pytest
import torch

from maskgit.errors import MaskGITError
from maskgit.schedules import SCHEDULES, get_schedule, tokens_still_masked


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_endpoints_and_monotone(name):
    gamma = get_schedule(name)
    assert gamma(0.0) == pytest.approx(1.0)
    assert gamma(1.0) == pytest.approx(0.0, abs=1e-12)
    values = [gamma(i / 100) for i in range(101)]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:]))
    assert all(0 <= v <= 1 for v in values)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_tensor_and_float_agree(name):
    gamma = get_schedule(name)
    r = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert torch.allclose(gamma(r), torch.tensor([gamma(float(v)) for v in r], dtype=torch.float64))


def test_known_values():
    assert get_schedule("cosine")(0.5) == pytest.approx(math.cos(math.pi / 4))
    assert get_schedule("linear")(0.25) == pytest.approx(0.75)
    assert get_schedule("square")(0.5) == pytest.approx(0.75)
    assert get_schedule("cubic")(0.5) == pytest.approx(0.875)


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(MaskGITError, match="unknown schedule 'zigzag'"):
        get_schedule("zigzag")


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("n,total", [(1, 10), (7, 10), (60, 8), (256, 20), (3, 1)])
def test_masked_counts_follow_schedule(name, n, total):
    gamma = get_schedule(name)
    counts = [tokens_still_masked(gamma, t, total, n) for t in range(total)]
    assert counts[-1] == 0
    assert all(a >= b for a, b in zip([n] + counts, counts))  # never re-masks
    for t, c in enumerate(counts[:-1]):
        assert c <= max(0, n - t - 1)  # every step decides at least one token while any are left
        target = n * gamma((t + 1) / total)
        assert c <= max(1.0, target)  # never more masked than the schedule asks
        assert c >= min(n - t - 1, math.floor(target))  # nor fewer, unless forced
        if n - t - 1 >= 1:
            assert c >= 1  # something stays masked until the last step
