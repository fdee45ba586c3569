import math
from fractions import Fraction

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
        assert c <= max(1.0, target + 1e-9)  # never more masked than the schedule asks
        assert c >= min(n - t - 1, math.floor(target - 1e-9))  # nor fewer, unless forced
        if n - t - 1 >= 1:
            assert c >= 1  # something stays masked until the last step


EXACT = {"linear": lambda r: 1 - r, "square": lambda r: 1 - r * r, "cubic": lambda r: 1 - r ** 3}


@pytest.mark.parametrize("name", sorted(EXACT))
@pytest.mark.parametrize("total", [8, 10, 12, 20])
def test_polynomial_counts_are_exact_floors(name, total):
    # In floats 20 * (1 - 9/10) is 1.9999999999999996; the rule is floor of the exact value.
    exact = EXACT[name]
    for n in range(1, 257):
        for t in range(total - 1):
            want = max(0, min(n - t - 1, max(1, math.floor(n * exact(Fraction(t + 1, total))))))
            assert tokens_still_masked(get_schedule(name), t, total, n) == want, (n, t)


def test_exact_fractions_are_not_floored_one_too_low():
    # N * gamma(r) in floating point lands just below these integers: a plain floor gives 62, 1, 3, 8
    assert tokens_still_masked(get_schedule("linear"), 2, 10, 90) == 63   # 90 * 7/10
    assert tokens_still_masked(get_schedule("linear"), 8, 10, 20) == 2    # 20 * 1/10
    assert tokens_still_masked(get_schedule("linear"), 7, 10, 20) == 4    # 20 * 2/10
    assert tokens_still_masked(get_schedule("square"), 7, 10, 25) == 9    # 25 * (1 - 0.64)
