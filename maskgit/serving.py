"""Serving many users at once: concurrent decoding runs share the model's forward passes.

Each request runs its own decoding generator (`inpaint_steps` and friends) in its own thread,
with its own settings, schedule, masks and random generator. `BatchedModel` is a drop-in
MaskGIT whose three model calls (encode, the transformer's logits, decode) go to one worker
thread: it gathers the calls pending within a few milliseconds, concatenates their rows, runs
one forward pass and hands each caller its slice. Rows are independent in every one of these
networks (per-token LayerNorm, attention within a sequence, per-image GroupNorm), so a caller
gets what it would have got alone, up to float rounding of the larger matrix products.

    batched = BatchedModel(maskgit.load("checkpoints"))
    with batched.request():                  # one per user's run: lets the worker stop waiting
        for step in batched.inpaint_steps(face, hole, schedule="cosine"):   # as with MaskGIT
            ...

No web framework here: the studio (demo/app.py) runs its model events through it.
"""
import contextlib
import copy
import threading
import time

import torch

from .errors import MaskGITError


class _Call:
    __slots__ = ("group", "args", "rows", "arrived", "done", "result", "error")

    def __init__(self, group, args, rows):
        self.group, self.args, self.rows, self.arrived = group, args, rows, time.monotonic()
        self.done, self.result, self.error = threading.Event(), None, None


def _cat(parts):
    return None if parts[0] is None else torch.cat(parts)


class BatchedModel:
    """A MaskGIT whose forward passes are shared by the threads that call it at the same time.

    window_ms: how long the worker waits for more calls after the first of a batch arrives,
    unless every run in flight (see `request`) is already waiting. max_rows: the most rows one
    forward pass takes (a call is never split). Attributes not overridden here (decoding
    generators, guide, image_size, ...) are the wrapped model's, running through the batcher."""

    def __init__(self, model, window_ms=20.0, max_rows=64):
        if max_rows < 1 or window_ms < 0:
            raise MaskGITError("max_rows must be >= 1 and window_ms >= 0")
        self.model, self.window, self.max_rows = model, window_ms / 1000, max_rows
        self.stats = {"batches": 0, "calls": 0, "rows": 0, "largest": 0}
        self._pending, self._active, self._closed = [], 0, False
        self._cond = threading.Condition()
        self._view = copy.copy(model)  # the same modules; its model calls come here
        self._view._logits, self._view.encode, self._view.decode = self.logits, self.encode, self.decode
        self._run = {"logits": model._logits, "encode": model.encode,
                     "decode": lambda tokens, images, holes, decoder: model.decode(tokens, images, holes, decoder)}
        self._worker = threading.Thread(target=self._serve, name="maskgit-batcher", daemon=True)
        self._worker.start()

    def __getattr__(self, name):
        if name == "_view":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._view, name)

    # -- the model calls, from any thread ------------------------------------------------------
    def logits(self, tokens):
        return self._call(("logits",), (tokens,), len(tokens))

    def encode(self, images01):
        return self._call(("encode",), (images01,), len(images01))

    def decode(self, tokens, images=None, holes=None, decoder="tokens"):
        if decoder != "guided":  # the tokens-only decoder never reads the pixels
            images = holes = None
        return self._call(("decode", decoder), (tokens, images, holes), len(tokens))

    @contextlib.contextmanager
    def request(self):
        """Mark one run in flight for its duration: while every run in flight has a call
        waiting, the worker does not wait for more."""
        with self._cond:
            self._active += 1
        try:
            yield self
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def close(self):
        """Stop the worker once the calls already made are served."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join()

    # -- the worker -----------------------------------------------------------------------------
    def _call(self, group, args, rows):
        call = _Call(group, args, rows)
        with self._cond:
            if self._closed:
                raise MaskGITError("the batched model is closed")
            self._pending.append(call)
            self._cond.notify_all()
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def _next_batch(self):
        """Wait for calls, then take the oldest call's group (whole calls, up to max_rows rows)."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            deadline = self._pending[0].arrived + self.window
            while len(self._pending) < self._active and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            group, batch, rows = self._pending[0].group, [], 0
            for call in list(self._pending):
                if call.group == group and (not batch or rows + call.rows <= self.max_rows):
                    batch.append(call)
                    rows += call.rows
                    self._pending.remove(call)
            return batch

    def _serve(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                parts = zip(*(call.args for call in batch))
                out = self._run[batch[0].group[0]](*map(_cat, parts), *batch[0].group[1:])
                start = 0
                for call in batch:
                    call.result, start = out[start:start + call.rows], start + call.rows
            except Exception as e:  # every caller of the batch gets the error
                for call in batch:
                    call.error = e
            rows = sum(call.rows for call in batch)
            self.stats.update(batches=self.stats["batches"] + 1, calls=self.stats["calls"] + len(batch),
                              rows=self.stats["rows"] + rows, largest=max(self.stats["largest"], rows))
            for call in batch:
                call.done.set()
