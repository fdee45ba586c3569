"""Concurrent decoding runs sharing forward passes (maskgit.serving.BatchedModel)."""
import threading
import time

import numpy as np
import pytest
import torch

from conftest import synthetic_face, tiny_maskgit
from maskgit.errors import MaskGITError
from maskgit.serving import BatchedModel


@pytest.fixture(scope="module")
def model():
    return tiny_maskgit(guide=True)


def faces_and_holes(n):
    rng = np.random.default_rng(0)
    faces = [synthetic_face(rng) for _ in range(n)]
    holes = []
    for i in range(n):
        hole = np.zeros((64, 64), bool)
        hole[8 + 2 * i:40 + 2 * i, 10:30 + 3 * i] = True
        holes.append(hole)
    return faces, holes


def run(m, face, hole, **kw):
    return [(s.tokens.clone(), s.composite.clone()) for s in m.inpaint_steps(face, hole, **kw)]


def in_threads(fns):
    out, errors = [None] * len(fns), []

    def go(i):
        try:
            out[i] = fns[i]()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return out


def test_one_call_is_the_models_own(model):
    batched = BatchedModel(model)
    tokens = torch.randint(0, 27, (3, 256))
    assert torch.allclose(batched.logits(tokens), model._logits(tokens), atol=1e-5)
    images = torch.rand(3, 3, 64, 64)
    holes = torch.zeros(3, 64, 64, dtype=torch.bool)
    holes[:, 10:30] = True
    assert torch.allclose(batched.decode(tokens, images, holes, "guided"),
                          model.decode(tokens, images, holes, "guided"), atol=1e-5)
    assert torch.equal(batched.encode(images), model.encode(images))
    assert batched.guide is model.guide and batched.image_size == model.image_size  # the rest passes through
    batched.close()


def test_concurrent_runs_share_forward_passes_and_get_their_own_results(model):
    faces, holes = faces_and_holes(6)
    settings = [dict(schedule=s, sweet_spot=t, total_iter=t, seed=i, decoder=d)
                for i, (s, t, d) in enumerate([("cosine", 6, "guided"), ("linear", 6, "tokens"), ("square", 4, "guided"),
                                               ("cubic", 6, "guided"), ("cosine", 5, "tokens"), ("exp", 6, "guided")])]
    alone = [run(model, f, h, **kw) for f, h, kw in zip(faces, holes, settings)]
    batched = BatchedModel(model, window_ms=50)

    def user(i):
        with batched.request():
            return run(batched, faces[i], holes[i], **settings[i])
    together = in_threads([lambda i=i: user(i) for i in range(6)])
    for a, b in zip(alone, together):
        assert len(a) == len(b)
        for (ta, ca), (tb, cb) in zip(a, b):
            assert torch.equal(ta, tb) and torch.allclose(ca, cb, atol=1e-4)
    stats = batched.stats
    assert stats["batches"] < stats["calls"] and stats["largest"] > 1  # forward passes were shared
    batched.close()


def test_batches_respect_max_rows_and_whole_calls(model):
    batched = BatchedModel(model, window_ms=100, max_rows=4)
    tokens = [torch.randint(0, 27, (3, 256)) for _ in range(4)]
    outs = in_threads([lambda t=t: batched.logits(t) for t in tokens])
    for t, o in zip(tokens, outs):
        assert o.shape == (3, 256, 27) and torch.allclose(o, model._logits(t), atol=1e-5)
    assert batched.stats["largest"] <= 4 and batched.stats["batches"] == 4
    batched.close()


def test_an_error_reaches_every_caller_and_the_worker_keeps_serving(model):
    batched = BatchedModel(model, window_ms=60_000)
    bad = torch.full((2, 256), 10_000)  # no such token id: the forward pass fails
    barrier = threading.Barrier(2)

    def failing_run():
        with batched.request():
            barrier.wait()  # both runs in flight: the worker waits for both calls, then one pass
            try:
                batched.logits(bad)
            except IndexError as e:
                return e

    errors = in_threads([failing_run, failing_run])
    assert all(isinstance(e, IndexError) for e in errors) and batched.stats["batches"] == 1
    good = torch.randint(0, 27, (1, 256))
    assert batched.logits(good).shape == (1, 256, 27)
    batched.close()
    with pytest.raises(MaskGITError, match="closed"):
        batched.logits(good)


def test_a_lone_run_does_not_wait_for_company(model):
    batched = BatchedModel(model, window_ms=60_000)
    face, hole = faces_and_holes(1)
    start = time.perf_counter()
    with batched.request():
        run(batched, face[0], hole[0], sweet_spot=3, total_iter=3)
    assert time.perf_counter() - start < 30  # every run in flight was waiting: not one 60 s window
    batched.close()
