import numpy as np
import pytest
import torch

from maskgit.decoding import check_seed, iterative_decode
from maskgit.errors import MaskGITError
from maskgit.schedules import get_schedule, tokens_still_masked
from maskgit.transformer import BidirectionalTransformer, TransformerConfig

VOCAB, N = 32, 64


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BidirectionalTransformer(TransformerConfig(vocab_size=VOCAB, n_tokens=N, dim=32, n_layers=2,
                                                      n_heads=4)).eval()


def run(model, tokens, hole, seed=0, **kw):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return list(iterative_decode(model, tokens, hole, mask_token_id=VOCAB, generator=gen, **kw))


def batch(seed=0, b=3):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (b, N), generator=g)
    hole = torch.rand(b, N, generator=g) < 0.4
    hole[:, 0] = True
    return tokens, hole


@pytest.mark.parametrize("schedule", ["cosine", "linear", "square", "cubic", "sqrt", "log", "exp"])
@pytest.mark.parametrize("total", [1, 5, 12])
def test_invariants(model, schedule, total):
    tokens, hole = batch()
    steps = run(model, tokens, hole, schedule=schedule, total_iter=total, sweet_spot=total)
    assert len(steps) == total
    initial = hole.sum(1)
    prev_masked = hole
    decided = torch.zeros_like(hole)
    for t, s in enumerate(steps):
        assert s.step == t + 1
        # known tokens never change
        assert torch.equal(s.tokens[~hole], tokens[~hole])
        assert torch.equal(s.known, ~hole)
        # decided tokens stay decided, with the value they got
        assert not (s.still_masked & ~prev_masked).any()
        assert torch.equal(s.newly_decided, prev_masked & ~s.still_masked)
        if t > 0:
            assert torch.equal(s.tokens[decided], steps[t - 1].tokens[decided])
        decided |= s.newly_decided
        # the count still masked follows the schedule
        for b in range(len(tokens)):
            want = tokens_still_masked(get_schedule(schedule), t, total, int(initial[b]))
            assert int(s.still_masked[b].sum()) == want
        assert s.tokens.min() >= 0 and s.tokens.max() < VOCAB  # never a mask token in the output
        prev_masked = s.still_masked
    assert not steps[-1].still_masked.any()  # nothing masked after the last step


def test_sweet_spot_stops_early_and_matches_the_full_run(model):
    tokens, hole = batch()
    full = run(model, tokens, hole, total_iter=10, sweet_spot=10)
    early = run(model, tokens, hole, total_iter=10, sweet_spot=4)
    assert len(early) == 4
    for a, b in zip(early, full[:4]):  # same seed -> same prefix
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.still_masked, b.still_masked)
    assert early[-1].still_masked.any()  # stopping early leaves masked tokens, filled by the prediction


def test_tokens_still_masked_show_the_most_likely_token(model):
    tokens, hole = batch()
    shown = run(model, tokens, hole, total_iter=10, sweet_spot=3)
    drawn = run(model, tokens, hole, total_iter=10, sweet_spot=3, undecided="sample")
    with torch.no_grad():
        most_likely = model(torch.where(hole, torch.full_like(tokens, VOCAB), tokens)).argmax(-1)
    still = shown[0].still_masked
    assert still.any()
    assert torch.equal(shown[0].tokens[still], most_likely[still])
    for a, b in zip(shown, drawn):  # the decoding itself is the same; only the picture differs
        assert torch.equal(a.still_masked, b.still_masked)
        assert torch.equal(a.tokens[~a.still_masked], b.tokens[~b.still_masked])
    assert not torch.equal(shown[0].tokens, drawn[0].tokens)
    # a whole schedule leaves nothing undecided: the output does not depend on the choice
    full = [run(model, tokens, hole, total_iter=4, undecided=u)[-1].tokens for u in ("mode", "sample")]
    assert torch.equal(*full)


def test_seed_reproducible_and_seed_matters(model):
    tokens, hole = batch()
    a = run(model, tokens, hole, seed=1, total_iter=6)[-1].tokens
    b = run(model, tokens, hole, seed=1, total_iter=6)[-1].tokens
    c = run(model, tokens, hole, seed=2, total_iter=6)[-1].tokens
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_zero_temperature_picks_most_confident(model):
    tokens, hole = batch(b=1)
    steps = run(model, tokens, hole, total_iter=4, choice_temperature=0.0, sample=False)
    with torch.no_grad():
        z = torch.where(hole, torch.full_like(tokens, VOCAB), tokens)
        conf = model(z).softmax(-1).max(-1).values[0]
    first = steps[0]
    decided = conf[first.newly_decided[0]]
    undecided = conf[first.still_masked[0]]
    assert decided.min() >= undecided.max()


@pytest.mark.parametrize("kw,msg", [
    (dict(total_iter=5, sweet_spot=6), "sweet spot"),
    (dict(total_iter=5, sweet_spot=0), "sweet spot"),
    (dict(total_iter=0, sweet_spot=1), "total iterations"),
    (dict(schedule="nope"), "unknown schedule"),
    (dict(choice_temperature=-1.0), "temperature"),
    (dict(choice_temperature=float("nan")), "temperature"),
    (dict(choice_temperature=float("inf")), "temperature"),
    (dict(undecided="mean"), "undecided"),
])
def test_bad_settings_are_clear_errors(model, kw, msg):
    tokens, hole = batch()
    with pytest.raises(MaskGITError, match=msg):
        run(model, tokens, hole, **kw)


def test_empty_hole_is_rejected(model):
    tokens, _ = batch()
    with pytest.raises(MaskGITError, match="empty"):
        run(model, tokens, torch.zeros(3, N, dtype=torch.bool))


def test_final_step_mode_takes_the_most_likely_tokens_at_the_last_step_only(model):
    tokens, hole = batch()
    drawn = run(model, tokens, hole, total_iter=5, final_step="sample")
    greedy = run(model, tokens, hole, total_iter=5)  # the default
    for a, b in zip(drawn[:-1], greedy[:-1]):  # same seed: the steps before the last are the same
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.still_masked, b.still_masked)
    before_last = torch.where(greedy[-2].still_masked, torch.full_like(tokens, VOCAB), greedy[-2].tokens)
    with torch.no_grad():
        most_likely = model(before_last).argmax(-1)
    last = greedy[-1].newly_decided
    assert last.any() and torch.equal(greedy[-1].tokens[last], most_likely[last])
    assert not torch.equal(drawn[-1].tokens[last], most_likely[last])  # draws differ somewhere
    # a sweet spot before the schedule's end never reaches its last step: nothing changes
    early = [run(model, tokens, hole, total_iter=5, sweet_spot=3, final_step=f)[-1] for f in ("sample", "mode")]
    assert torch.equal(early[0].tokens, early[1].tokens)
    with pytest.raises(MaskGITError, match="final_step"):
        run(model, tokens, hole, total_iter=5, final_step="greedy")


@pytest.mark.parametrize("seed", [0, 7, 2 ** 63 - 1, np.int64(5)])
def test_seeds_in_range_are_accepted(seed):
    assert check_seed(seed) == int(seed)
    torch.Generator().manual_seed(check_seed(seed))


@pytest.mark.parametrize("seed", [2 ** 64, -(2 ** 63) - 1, 2 ** 63, -1, 2.5, 3.0, "7", None, True])
def test_seeds_out_of_range_or_not_whole_are_one_line_errors(seed):
    with pytest.raises(MaskGITError, match=r"seed must be a whole number in 0\.\.2\*\*63-1") as e:
        check_seed(seed)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("seed", [18446744073709551616, -9223372036854775809, 1.5])
def test_the_pipeline_refuses_a_bad_seed_before_any_work(seed):
    from conftest import tiny_maskgit
    model = tiny_maskgit()
    image, hole = np.zeros((64, 64, 3), np.uint8), np.ones((64, 64), bool)
    with pytest.raises(MaskGITError, match="seed must be a whole number"):
        model.inpaint(image, hole, seed=seed, total_iter=2, sweet_spot=2)
