"""MaskGIT inpainting studio: paint a hole over a cat face and watch MaskGIT fill it.

  maskgit-studio                        # http://127.0.0.1:7860, or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
  python demo/app.py                    # the same, from a clone
  gradio demo/app.py                    # reload mode while editing the page (uses `demo` below)
  maskgit-studio --host 0.0.0.0 --port 8000 --device cuda --checkpoints checkpoints
"""
import argparse
import atexit
import contextlib
import glob
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from types import SimpleNamespace

import gradio as gr
import numpy as np
from PIL import Image

try:
    from . import helpers as ui  # imported as a package: maskgit_studio.app (maskgit-studio) or demo.app
except ImportError:
    import helpers as ui  # run as a script: python demo/app.py
from maskgit import FILLS, MaskGITError, load
from maskgit.cli import ArgumentParser, add_model_flags, default_checkpoints
from maskgit.decoding import FINAL_STEP
from maskgit.images import MAX_PIXELS
from maskgit.pipeline import DECODERS, has_usable_guide
from maskgit.render import (confidence_image, data_url, decided_confidence, frame, latent_mask, schedule_svg,
                            step_image, strip, to_uint8_image)
from maskgit.schedules import SCHEDULES
from maskgit.serving import BatchedModel

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKPOINTS = default_checkpoints()
EXAMPLES = os.path.join(HERE, "examples")  # faces the model drew itself (scripts/make_examples.py)
MAX_TOTAL_ITER = 30
MAX_CANDIDATES = 8
MAX_COMPARE = len(SCHEDULES)
MAX_UPLOAD = "20mb"
PAINT_A_HOLE = "Paint a hole over the face first (or pick a preset hole)."
MODEL_CONCURRENCY = 16  # model runs streaming at once; their forward passes are shared (maskgit.serving)
LIMITS = (f"Limits: total iterations 1-{MAX_TOTAL_ITER}; 1-{MAX_CANDIDATES} candidates; up to {MAX_COMPARE} "
          f"different schedules per compare; uploads up to {MAX_UPLOAD.upper()} and "
          f"{MAX_PIXELS // 1_000_000} megapixels.")


def read_text(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as fh:
        return fh.read()


def load_examples(folder=EXAMPLES):
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(glob.glob(os.path.join(folder, "*.png")))]


def one_line(e):
    return gr.Error(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)


class Studio:
    """The model (loaded on first use) and the event handlers; the page is built in `build`."""

    def __init__(self, checkpoints=CHECKPOINTS, device="auto", model=None, concurrency=MODEL_CONCURRENCY):
        """concurrency: model runs at once; above 1 they share forward passes through a
        BatchedModel, at 1 they take turns on the plain model (no batching thread)."""
        self.checkpoints, self.device, self.concurrency = checkpoints, device, int(concurrency)
        if self.concurrency < 1:
            raise MaskGITError(f"concurrency must be >= 1, got {concurrency}")
        self._model, self._lock = None, threading.Lock()
        if model is not None:
            self._model = self._serve(model)
        self.has_guide = model.guide is not None if model is not None else has_usable_guide(checkpoints)
        self.export_dir = tempfile.mkdtemp(prefix="maskgit-studio-")
        atexit.register(shutil.rmtree, self.export_dir, True)
        self.examples = load_examples()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._serve(load(self.checkpoints, device=self.device))
        return self._model

    def _serve(self, model):
        return BatchedModel(model) if self.concurrency > 1 else model

    def _request(self):
        """One run in flight (lets the batcher stop waiting once every run has a call waiting)."""
        model = self.model
        return model.request() if isinstance(model, BatchedModel) else contextlib.nullcontext()

    # -- validation ----------------------------------------------------------------------------
    @staticmethod
    def _settings(schedule, sweet_spot, total_iter, temperature, seed, fill="smooth", final_step="mode",
                  decoder=None):
        total_iter, sweet_spot = int(total_iter), int(sweet_spot)
        if not 1 <= total_iter <= MAX_TOTAL_ITER:
            raise ui.InputError(f"Total iterations must be 1-{MAX_TOTAL_ITER}, got {total_iter}.")
        if not 1 <= sweet_spot <= total_iter:
            raise ui.InputError(f"The sweet spot must be between 1 and total iterations ({total_iter}), "
                                f"got {sweet_spot}.")
        return dict(schedule=schedule, sweet_spot=sweet_spot, total_iter=total_iter,
                    choice_temperature=float(temperature), seed=int(seed or 0), fill=fill, final_step=final_step,
                    decoder=decoder or None)

    @staticmethod
    def _checked(canvas):
        face, hole = ui.read_canvas(canvas)
        if not hole.any():
            raise ui.InputError(PAINT_A_HOLE)
        return face, hole

    @staticmethod
    def _schedules(schedules):
        schedules = list(schedules or [])
        if not schedules:
            raise ui.InputError("Choose at least one schedule to compare.")
        unknown = [s for s in schedules if s not in SCHEDULES]
        if unknown:
            raise ui.InputError(f"Unknown schedule {unknown[0]!r}; choose from {', '.join(SCHEDULES)}.")
        if len(set(schedules)) != len(schedules):
            raise ui.InputError("Each schedule can be compared once: remove the repeated ones.")
        if len(schedules) > MAX_COMPARE:
            raise ui.InputError(f"Compare at most {MAX_COMPARE} schedules at once.")
        return schedules

    @staticmethod
    def _count(n):
        n = int(n)
        if not 1 <= n <= MAX_CANDIDATES:
            raise ui.InputError(f"The number of candidates must be 1-{MAX_CANDIDATES}, got {n}.")
        return n

    @staticmethod
    def _base(run, face):
        """The earlier result a resample redraws part of: the last run, when the canvas shows it."""
        if not run or "tokens" not in run:
            raise ui.InputError("Nothing to resample yet: run Inpaint, Candidates or Compare first.")
        if len(run["rows"]) != 1:
            raise ui.InputError("Pick one of the side-by-side results first (click it).")
        if np.abs(face.astype(int) - run["composites"][0].astype(int)).mean() > 2:
            raise ui.InputError("Resample redraws part of the last result: press 'Paint over the result' "
                                "and paint where it looks wrong.")
        return run

    @staticmethod
    def _guard(fn, *args):
        try:
            return fn(*args)
        except (ui.InputError, MaskGITError, ValueError, TypeError) as e:
            raise one_line(e) from None

    # -- decoding ----------------------------------------------------------------------------------
    def _steps(self, steps, rows, paste_back, confidence):
        """Per step of a decoding generator: (record, [(latent mask, prediction)] per row,
        confidence heatmaps per row or None, seconds since the start, every step's pictures)."""
        start, probs, frames = time.perf_counter(), None, []
        with self._request():
            for record in steps:
                pictures = [(latent_mask(record, i), step_image(record, i, paste_back)) for i in range(rows)]
                heat = None
                if confidence:
                    probs = decided_confidence(probs, record)
                    heat = [confidence_image(probs[i].cpu()) for i in range(rows)]
                frames.append(pictures)
                yield record, pictures, heat, time.perf_counter() - start, frames

    @staticmethod
    def _keep(kind, record, labels, face, hole, frames, settings):
        """What a finished run leaves in the browser's state (gr.State): enough to pick, resample, replay and export it."""
        return {"kind": kind, "rows": list(labels), "face": face, "hole": hole, "settings": settings,
                "tokens": record.tokens.cpu().numpy(),
                "composites": [to_uint8_image(c) for c in record.composite], "frames": frames}

    def _single(self, kind, steps, face, hole, settings, paste_back, confidence):
        """Outputs of a one-face run: masked input (what the encoder saw), latent mask, confidence,
        prediction, result, status, run."""
        for record, pictures, heat, elapsed, frames in self._steps(steps, 1, paste_back, confidence):
            (mask, image), first, last = pictures[0], record.step == 1, record.is_final
            seen = record.encoder_input
            masked = to_uint8_image(seen[0]) if seen is not None else gr.skip()
            note = " The whole face is masked, so this draws a new one." if hole.all() and kind == "inpaint" else ""
            status = (f"Step {record.step} of {record.sweet_spot} (schedule length {record.total_iter}): "
                      f"{int(record.newly_decided.sum())} tokens decided, {int(record.still_masked.sum())} "
                      f"still masked. {elapsed:.2f} s.{note}")
            # Only what changed travels: the masked input once, the result and the run at the end.
            yield (masked, mask, heat[0] if heat else gr.skip(),
                   image, image if last else (None if first else gr.skip()), status,
                   self._keep(kind, record, ["result"], face, hole, frames, settings) if last else gr.skip())

    def _batch(self, kind, steps, labels, face, hole, settings, paste_back):
        """Outputs of a several-row run (candidates, schedules): the side-by-side gallery, status, run."""
        for record, pictures, _, elapsed, frames in self._steps(steps, len(labels), paste_back, False):
            still = record.still_masked.flatten(1).sum(1).tolist()
            gallery = [(frame(m, i), f"{label} · {s} still masked")
                       for (m, i), label, s in zip(pictures, labels, still)]
            status = (f"Step {record.step} of {record.sweet_spot}: {len(labels)} {kind} in one batch, "
                      f"{elapsed:.2f} s.")
            yield (gallery, status,
                   self._keep(kind, record, labels, face, hole, frames, settings) if record.is_final else gr.skip())

    def inpaint(self, canvas, schedule, sweet_spot, total_iter, temperature, seed, paste_back, fill="smooth",
                final_step="mode", decoder=None, confidence=False):
        """Streams (masked input as the encoder sees it, latent mask, confidence, prediction, result, status)."""
        try:
            face, hole = self._checked(canvas)
            settings = self._settings(schedule, sweet_spot, total_iter, temperature, seed, fill, final_step, decoder)
            steps = self.model.inpaint_steps(face, hole, **settings)
            yield from self._single("inpaint", steps, face, hole, settings, paste_back, confidence)
        except (ui.InputError, MaskGITError) as e:
            raise one_line(e) from None

    def resample(self, canvas, run, schedule, sweet_spot, total_iter, temperature, seed, paste_back,
                 fill="smooth", final_step="mode", decoder=None, confidence=False):
        """Redraw only the tokens under the new paint of the last result; every other token is kept."""
        try:
            face, hole = self._checked(canvas)
            base = self._base(run, face)
            settings = self._settings(schedule, sweet_spot, total_iter, temperature, seed, fill, final_step, decoder)
            steps = self.model.resample_steps(base["composites"][0], base["tokens"][0], hole, **settings)
            yield from self._single("resample", steps, face, hole, settings, paste_back, confidence)
        except (ui.InputError, MaskGITError) as e:
            raise one_line(e) from None

    def candidates(self, canvas, n, schedule, sweet_spot, total_iter, temperature, seed, paste_back,
                   fill="smooth", final_step="mode", decoder=None):
        """n completions of the same hole in one batch, side by side."""
        try:
            face, hole = self._checked(canvas)
            n = self._count(n)
            settings = self._settings(schedule, sweet_spot, total_iter, temperature, seed, fill, final_step, decoder)
            steps = self.model.candidates_steps(face, hole, n=n, **settings)
            labels = [f"candidate {i + 1}" for i in range(n)]
            yield from self._batch("candidates", steps, labels, face, hole, settings, paste_back)
        except (ui.InputError, MaskGITError) as e:
            raise one_line(e) from None

    def compare(self, canvas, schedules, sweet_spot, total_iter, temperature, seed, paste_back, fill="smooth",
                final_step="mode", decoder=None):
        """Every chosen schedule on the same face, hole and seed, in one batch, side by side."""
        try:
            face, hole = self._checked(canvas)
            names = self._schedules(schedules)
            settings = self._settings(names, sweet_spot, total_iter, temperature, seed, fill, final_step, decoder)
            k = len(names)
            steps = self.model.inpaint_steps(np.repeat(face[None], k, 0), np.repeat(hole[None], k, 0), **settings)
            yield from self._batch("schedules", steps, names, face, hole, settings, paste_back)
        except (ui.InputError, MaskGITError) as e:
            raise one_line(e) from None

    def generate(self, schedule, sweet_spot, total_iter, temperature, seed):
        """Draw a new face from an all-masked grid: (latent mask, prediction, status) per step."""
        try:
            settings = self._settings(schedule, sweet_spot, total_iter, temperature, seed, final_step="sample")
            settings.pop("decoder")  # nothing is known: the tokens-only decoder
            face = np.full((64, 64, 3), 128, np.uint8)
            hole = np.ones((64, 64), bool)
            for out in self._single("generate", self.model.generate_steps(1, **settings), face, hole, settings,
                                    False, False):
                yield out[1], out[3], out[5].replace("Step", "Generating: step"), out[6]
        except (ui.InputError, MaskGITError) as e:
            raise one_line(e) from None

    # -- after a run (no model work) -----------------------------------------------------------
    def finish(self, run):
        """The run's frames for playback in the page, and its GIF and zip for one-click downloads."""
        if not run or not run.get("frames"):
            return gr.skip(), gr.skip(), gr.skip()
        frames = [strip(pictures) if len(pictures) > 1 else frame(*pictures[0]) for pictures in run["frames"]]
        ui.prune_exports(self.export_dir)
        # One folder serves every client: the random part keeps two runs ending together apart.
        stem = f"maskgit-{run['kind']}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        gif, zip_path = ui.export_run(frames, self.export_dir, stem)
        return {"frames": [data_url(f) for f in frames]}, gif, zip_path

    def use_result(self, run):
        """The run's result in the painter, with no paint: paint a new hole over it. A run of several
        results needs one picked first (clicking it puts it in the painter)."""
        if not run or "composites" not in run:
            raise gr.Error("Nothing to paint over yet: run Inpaint, Candidates or Compare first.")
        if len(run["rows"]) > 1:
            raise gr.Error("Pick one of the side-by-side results first (click it).")
        return ui.painter_value(run["composites"][0])

    def painter_from_run(self, run):
        return self.use_result(run) if run and "composites" in run else gr.skip()

    def pick(self, run, evt: gr.SelectData):
        """A side-by-side result into the painter; it becomes the run to resample."""
        if not run or "composites" not in run or evt.index >= len(run["rows"]):
            raise gr.Error("Run Candidates or Compare first.")
        i = evt.index
        picked = dict(run, rows=[run["rows"][i]], tokens=run["tokens"][i:i + 1], composites=[run["composites"][i]],
                      frames=[[pictures[i]] for pictures in run["frames"]])
        return ui.painter_value(run["composites"][i]), picked

    def load_upload(self, path):
        """The uploaded file, read as the library reads files: turned by its EXIF orientation,
        16-bit scaled, transparency onto white, its pixel count checked before decoding."""
        if path is None:
            return gr.skip()
        try:
            return ui.painter_value(ui.prepare_face(ui.editor_picture(path, "the picture")))
        except (ui.InputError, OSError, ValueError) as e:
            raise gr.Error(f"Could not use that picture: {e}") from None

    def pick_example(self, evt: gr.SelectData):
        return ui.painter_value(self.examples[evt.index])

    def apply_preset(self, canvas, preset, seed):
        return self._guard(lambda: ui.painter_value(ui.read_canvas(canvas)[0],
                                                    ui.preset_hole(preset, seed=int(seed or 0))))

    @staticmethod
    def chart(schedules, total_iter, sweet_spot):
        """The schedule chart of the chosen schedule(s); nothing new for a choice a run refuses."""
        names = [schedules] if isinstance(schedules, str) else list(schedules or [])[:MAX_COMPARE]
        try:
            return schedule_svg(names, int(total_iter), min(int(sweet_spot), int(total_iter))) if names else gr.skip()
        except (MaskGITError, ValueError, TypeError):
            return gr.skip()


PAINTER_HTML = """<div class="mg-painter">
<div class="mg-stage"><img class="mg-face" src="${value.face}" alt="the face to inpaint" draggable="false">
<canvas class="mg-paint" width="64" height="64" aria-label="paint the hole here"></canvas></div>
<div class="mg-tools"><label>Brush <input class="mg-size" type="range" min="1" max="16" step="1" value="${brush}"></label>
<button type="button" class="mg-erase" aria-pressed="${erase}">Eraser</button>
<button type="button" class="mg-clear" id="clear-paint">Clear paint</button>
<span class="mg-note">${note}</span></div></div>"""
PLAYER_HTML = """<div class="mg-player"><img class="mg-frame" alt="a step of the last run">
<div class="mg-controls"><button type="button" class="mg-play">Play</button>
<input class="mg-scrub" type="range" min="1" max="1" step="1" value="1" aria-label="step">
<span class="mg-frame-label">no run yet</span></div></div>"""
# Before a model run leaves the page: a face and a hole are there, else a message under the
# painter and nothing is sent (an empty hole is reported at once, even while the model is busy).
# The page checks the same two things before it queues a run, with the server's words.
CHECK_CANVAS = """(canvas, ...rest) => {
  const message = !canvas || !canvas.face ? %s : !canvas.hole ? %s : null;
  if (message) { if (window.maskgitPainter) window.maskgitPainter.warn(message); throw new Error(message); }
  return [canvas, ...rest]; }""" % (json.dumps(ui.PICK_A_FACE), json.dumps(PAINT_A_HOLE))
MARK_STEP = """(status) => { const m = /Step (\\d+) of/.exec(status || "");
  document.querySelectorAll("#schedule-plot .mg-step").forEach(c => c.classList.toggle("now", !!m && c.dataset.step === m[1]));
  return []; }"""


def picture(label, elem_id=None, height=150, **kw):
    """An output picture streamed at model resolution as PNG; the page enlarges it (pixelated).
    Gradio draws it as wide as it is tall: 150 px fits three panels a row at 1366 px."""
    return gr.Image(label=label, elem_id=elem_id, type="numpy", format="png", interactive=False, height=height,
                    elem_classes="pixelated", buttons=["download"], **kw)


def face_column(studio):
    c = SimpleNamespace()
    first = studio.examples[0] if studio.examples else np.full((64, 64, 3), 128, np.uint8)  # gray without examples
    c.painter = gr.HTML(ui.painter_value(first),
                        html_template=PAINTER_HTML, js_on_load=read_text("painter.js"), elem_id="editor",
                        brush=6, erase=False, note="no hole painted yet")
    with gr.Row():
        c.preset = gr.Dropdown(list(ui.PRESETS), value="center box", label="Preset hole", scale=2, min_width=120)
        c.preset_btn = gr.Button("Use preset", scale=1, min_width=90)
    c.examples = gr.Gallery(value=studio.examples, label="Faces (drawn by the model): click one", columns=6,
                            height=100, allow_preview=False, elem_classes="pixelated", format="png")
    with gr.Row():
        c.upload = FileImage(label=f"Upload a face (center-cropped to 64x64; up to {MAX_UPLOAD.upper()})",
                             type="filepath", sources=["upload", "clipboard"], height=120, scale=2, elem_id="upload")
        c.generate_btn = gr.Button("Generate a new face", scale=1, min_width=100)
    return c


def control_column(studio):
    c = SimpleNamespace()
    schedules = list(SCHEDULES)
    c.schedule = gr.Dropdown(schedules, value="cosine", label="Mask schedule")
    c.total_iter = gr.Slider(1, MAX_TOTAL_ITER, value=10, step=1, label="Total iterations (schedule length)")
    c.sweet_spot = gr.Slider(1, MAX_TOTAL_ITER, value=10, step=1, label="Sweet spot (≤ total: the step shown as output)")
    with gr.Row():
        c.inpaint_btn = gr.Button("Inpaint", variant="primary", elem_id="inpaint-btn", min_width=80)
        c.candidates_btn = gr.Button("Candidates", elem_id="candidates-btn", min_width=80)
        c.compare_btn = gr.Button("Compare", elem_id="compare-btn", min_width=80)
    with gr.Row():
        c.edit_btn = gr.Button("Paint over the result", elem_id="edit-result-btn", size="sm", min_width=80)
        c.resample_btn = gr.Button("Resample the paint", elem_id="resample-btn", size="sm", min_width=80)
    c.show_confidence = gr.Checkbox(value=False, label="Show confidence (probability of each decided token)",
                                    elem_id="show-confidence")
    with gr.Accordion("Advanced settings", open=False):
        c.temperature = gr.Slider(0, 10, value=4.5, step=0.1, label="Choice temperature (Gumbel noise)")
        with gr.Row():
            c.seed = gr.Number(value=0, precision=0, label="Seed", min_width=80)
            c.n = gr.Slider(1, MAX_CANDIDATES, value=4, step=1, label="Candidates", min_width=120)
        c.paste_back = gr.Checkbox(value=True, label="Paste back known pixels")
        c.fill = gr.Radio(list(FILLS), value="smooth", label="Hole fill the encoder sees",
                          info="smooth keeps the tokens around the hole closer to the whole face's; gray is the course's")
        c.final_step = gr.Radio(list(FINAL_STEP), value=FINAL_STEP[0], label="Last step takes",
                                info="mode: each token's most likely value; sample: a draw, like the earlier steps")
        c.decoder = gr.Radio(list(DECODERS) if studio.has_guide else ["tokens"],
                             value="guided" if studio.has_guide else "tokens", visible=studio.has_guide,
                             label="Decoder", info="guided also reads the known pixels; tokens: the tokens alone")
        c.compare_set = gr.CheckboxGroup(schedules, value=["cosine", "linear", "square", "cubic"],
                                         label=f"Schedules to compare (at most {MAX_COMPARE}, each once)")
        gr.Markdown(LIMITS)
    return c


def output_column():
    c = SimpleNamespace()
    c.status = gr.Markdown("Ready: paint a hole, then press Inpaint.", elem_id="status", label="status")
    with gr.Row(elem_classes="mg-outputs"):
        c.mask_out = picture("Latent mask (16x16 tokens)", "latent-mask", min_width=120)
        c.conf_out = picture("Confidence", "confidence", min_width=120, visible=False)
        c.pred_out = picture("Prediction", "prediction", min_width=120)
    with gr.Row(elem_classes="mg-outputs"):
        c.result_out = picture("Result", "result", min_width=120)
        c.masked_out = picture("Masked input (as the encoder sees it)", "masked-input", min_width=120)
    c.legend = gr.HTML(ui.legend_html())
    c.plot = gr.HTML(schedule_svg(["cosine"], 10, 10), elem_id="schedule-plot")
    return c


def lower_panels():
    c = SimpleNamespace()
    c.gallery = gr.Gallery(label="Side by side (click one to paint over it)", elem_id="side-by-side", columns=4,
                           height="auto", allow_preview=False, object_fit="contain", elem_classes="pixelated",
                           format="png")
    with gr.Row():
        with gr.Column(scale=3):
            c.player = gr.HTML({"frames": []}, html_template=PLAYER_HTML, js_on_load=read_text("player.js"),
                               elem_id="player", label="The last run, step by step")
        with gr.Column(scale=1, min_width=160):
            c.gif_btn = gr.DownloadButton("Download GIF", elem_id="download-gif")
            c.zip_btn = gr.DownloadButton("Download frames (zip)", elem_id="download-zip")
    # The API's editor argument (background, layers, composite): files a script can send, unlike the painter's value.
    c.api_editor = FileEditor(type="filepath", visible=False, label="editor")
    c.api_hook = gr.Button(visible=False)
    return c


def build(studio):
    # Gradio keeps a copy of every picture and download it serves: drop those older than a day.
    with gr.Blocks(title="MaskGIT inpainting studio", delete_cache=(3600, 86400)) as app:
        gr.Markdown("## MaskGIT inpainting studio\nPaint a hole over the cat face, then watch the transformer "
                    "fill it token by token.", elem_id="title")
        run = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                face = face_column(studio)
            with gr.Column(scale=3, min_width=260):
                ctl = control_column(studio)
            with gr.Column(scale=5, min_width=300):
                out = output_column()
        low = lower_panels()
        wire(studio, SimpleNamespace(run=run, **vars(face), **vars(ctl), **vars(out), **vars(low)))
    app.queue(default_concurrency_limit=studio.concurrency, max_size=64)
    app.studio = studio
    return app


class FileImage(gr.Image):
    """An upload as the file's path, unread, for the same reasons as FileEditor below."""

    def get_block_name(self):
        return "image"  # the page draws it as Gradio's Image

    def preprocess(self, payload):
        path = getattr(payload, "path", None)
        return path if path is not None else super().preprocess(payload)


class FileEditor(gr.ImageEditor):
    """The API's editor value as the uploaded files' paths, unread: maskgit.images reads them as
    a viewer shows them (EXIF, 16-bit, size checked before decoding) and refuses bad files in one
    line, where Gradio's own reading would convert them to 8-bit RGBA or fail with a traceback."""

    def convert_and_format_image(self, file, flatten_on_white=False):
        path = getattr(file, "path", None)
        return path if path is not None else super().convert_and_format_image(file, flatten_on_white)


def wire(studio, c):
    """Every event of the page. Model runs share one concurrency group. Everything else never
    waits for a model slot: it runs with no concurrency limit (pickers, playback and downloads;
    in the queue, because Gradio 6 shows a gr.Error's message only for queued events) or outside
    the queue (the chart and a visibility toggle, which cannot fail)."""
    private = dict(api_visibility="private")
    light = dict(concurrency_limit=None, **private)
    instant = dict(queue=False, **private)
    model = dict(concurrency_id="model", concurrency_limit=studio.concurrency)
    single = [c.schedule, c.sweet_spot, c.total_iter, c.temperature, c.seed, c.paste_back, c.fill, c.final_step,
              c.decoder]
    single_out = [c.masked_out, c.mask_out, c.conf_out, c.pred_out, c.result_out, c.status, c.run]
    tail = [c.sweet_spot, c.total_iter, c.temperature, c.seed, c.paste_back, c.fill, c.final_step, c.decoder]
    batch_out = [c.gallery, c.status, c.run]
    finish = dict(fn=studio.finish, inputs=c.run, outputs=[c.player, c.gif_btn, c.zip_btn], concurrency_limit=None,
                  **private)

    # The API (first, so its endpoints keep their names): the same handlers, with an editor value
    # (background, layers, composite) for the face.
    c.api_hook.click(studio.inpaint, [c.api_editor, *single, c.show_confidence], single_out, api_name="inpaint",
                     **model)
    c.api_hook.click(studio.resample, [c.api_editor, c.run, *single, c.show_confidence], single_out,
                     api_name="resample", **model)
    c.api_hook.click(studio.candidates, [c.api_editor, c.n, c.schedule, *tail], batch_out, api_name="candidates",
                     **model)
    c.api_hook.click(studio.compare, [c.api_editor, c.compare_set, *tail], batch_out, api_name="compare", **model)

    # The page: the browser checks that there is a face and a hole before anything is sent (the
    # message shows under the painter at once), the run, then its frames for playback and downloads.
    ui_model = dict(js=CHECK_CANVAS, **model, **private)
    c.inpaint_btn.click(studio.inpaint, [c.painter, *single, c.show_confidence], single_out, **ui_model).then(**finish)
    c.resample_btn.click(studio.resample, [c.painter, c.run, *single, c.show_confidence], single_out,
                         **ui_model).then(**finish)
    c.candidates_btn.click(studio.candidates, [c.painter, c.n, c.schedule, *tail], batch_out, **ui_model).then(**finish)
    c.compare_btn.click(studio.compare, [c.painter, c.compare_set, *tail], batch_out, **ui_model).then(**finish)
    c.compare_btn.click(studio.chart, [c.compare_set, c.total_iter, c.sweet_spot], c.plot, **instant)
    c.generate_btn.click(studio.generate, [c.schedule, c.sweet_spot, c.total_iter, c.temperature, c.seed],
                         [c.mask_out, c.pred_out, c.status, c.run], api_name="generate", **model).then(
        studio.painter_from_run, c.run, c.painter, **private).then(**finish)

    c.examples.select(studio.pick_example, None, c.painter, **light)
    c.upload.upload(studio.load_upload, c.upload, c.painter, **light)
    c.preset_btn.click(studio.apply_preset, [c.painter, c.preset, c.seed], c.painter, **light)
    c.edit_btn.click(studio.use_result, c.run, c.painter, **light)
    c.gallery.select(studio.pick, c.run, [c.painter, c.run], **light)
    c.show_confidence.change(lambda show: gr.update(visible=show), c.show_confidence, c.conf_out, **instant)
    # In the browser only: keep the sweet spot <= total, mark the current step on the chart.
    c.total_iter.change(None, [c.total_iter, c.sweet_spot], c.sweet_spot, js="(t, s) => Math.min(s, t)")
    gr.on([c.schedule.change, c.total_iter.change, c.sweet_spot.change], studio.chart,
          [c.schedule, c.total_iter, c.sweet_spot], c.plot, **instant)
    c.status.change(None, c.status, None, js=MARK_STEP)


def parse(argv=None):
    p = ArgumentParser(prog="maskgit-studio", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    add_model_flags(p)
    p.add_argument("--concurrency", type=int, default=MODEL_CONCURRENCY,
                   help="model runs at once, sharing forward passes (1: one at a time, no batching)")
    return p.parse_args(argv)


def launch_options(args):
    """launch() arguments; the address and port only when given, so Gradio's environment
    variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT) apply otherwise."""
    options = dict(share=args.share, css=CSS, max_file_size=MAX_UPLOAD, footer_links=["api", "gradio", "settings"],
                   show_error=True)
    if args.host is not None:
        options["server_name"] = args.host
    if args.port is not None:
        options["server_port"] = args.port
    return options


def create_app(checkpoints=CHECKPOINTS, device="auto", model=None, concurrency=MODEL_CONCURRENCY):
    """The page and its handlers; the model loads on first use unless given."""
    return build(Studio(checkpoints, device, model, concurrency))


def main(argv=None):
    args = parse(argv)
    defaults = (args.checkpoints, args.device, args.concurrency) == (CHECKPOINTS, "auto", MODEL_CONCURRENCY)
    try:
        app = demo if defaults else create_app(args.checkpoints, args.device, concurrency=args.concurrency)
        app.studio.model  # load now: a bad checkpoint folder is reported before the server starts
    except MaskGITError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    app.launch(**launch_options(args))
    return 0


CSS = read_text("studio.css")
demo = create_app()  # the page, built at import (`gradio demo/app.py` reloads it); the model loads lazily

if __name__ == "__main__":
    sys.exit(main())
