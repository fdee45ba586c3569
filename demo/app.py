"""MaskGIT inpainting studio: paint a hole over a cat face and watch MaskGIT fill it.

  python demo/app.py                      # http://127.0.0.1:7860
  python demo/app.py --host 0.0.0.0 --port 8000 --device cuda --checkpoints checkpoints
"""
import argparse
import os
import sys
import tempfile
import time

import gradio as gr
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from maskgit import FILLS, MaskGITError, load  # noqa: E402
from maskgit.decoding import FINAL_STEP  # noqa: E402
from maskgit.render import to_uint8_image  # noqa: E402
from maskgit.schedules import SCHEDULES  # noqa: E402

import helpers as ui  # noqa: E402
from plots import schedule_plot  # noqa: E402

N_EXAMPLES = 6
PLAYBACK_CONCURRENCY = 8


class Studio:
    """The model and the event handlers; the Blocks layout is built in `build`."""

    def __init__(self, model):
        self.model = model
        self.export_dir = tempfile.mkdtemp(prefix="maskgit-studio-")
        self.examples = self._make_examples()

    def _make_examples(self):
        # Drawn by the model itself (never copies of the data set).
        final = None
        for final in self.model.generate_steps(N_EXAMPLES, sweet_spot=12, total_iter=12, seed=2024):
            pass
        return [to_uint8_image(img) for img in final.image]

    # -- picking a face ----------------------------------------------------------------
    def load_upload(self, image):
        if image is None:
            return gr.update()
        try:
            return ui.editor_value(ui.prepare_face(image))
        except (ui.InputError, MaskGITError, OSError, ValueError) as e:
            raise gr.Error(f"Could not use that picture: {e}")

    def pick_example(self, evt: gr.SelectData):
        return ui.editor_value(self.examples[evt.index])

    def apply_preset(self, editor, preset, seed):
        try:
            face, _ = ui.read_editor(editor)
            return ui.editor_value(face, ui.preset_hole(preset, seed=int(seed or 0)))
        except (ui.InputError, MaskGITError) as e:
            raise gr.Error(str(e))

    # -- decoding ----------------------------------------------------------------------
    @staticmethod
    def _settings(schedule, sweet_spot, total_iter, temperature, seed, fill="smooth", final_step="mode"):
        return dict(schedule=schedule, sweet_spot=int(sweet_spot), total_iter=int(total_iter),
                    choice_temperature=float(temperature), seed=int(seed or 0), fill=fill, final_step=final_step)

    def _checked_input(self, editor):
        face, hole = ui.read_editor(editor)
        if not hole.any():
            raise ui.InputError("Paint a hole over the face first (or pick a preset hole).")
        return face, hole

    def inpaint(self, editor, schedule, sweet_spot, total_iter, temperature, seed, paste_back, fill="smooth",
                final_step="mode"):
        """Streams (masked input as the encoder sees it, latent mask, prediction, result, status, plot, run)."""
        try:
            face, hole = self._checked_input(editor)
            settings = self._settings(schedule, sweet_spot, total_iter, temperature, seed, fill, final_step)
            note = " The whole face is masked, so this draws a new one." if hole.all() else ""
            masked = ui.masked_view(face, hole, fill)
            frames, start = [], time.time()
            for record in self.model.inpaint_steps(face, hole, **settings):
                mask_pic, image_pic = ui.step_pictures(record, paste_back=paste_back)
                frames.append(ui.big_frame(mask_pic, image_pic))
                status = (f"Step {record.step} of {record.sweet_spot} (schedule length {record.total_iter}): "
                          f"{int(record.newly_decided.sum())} tokens decided, "
                          f"{int(record.still_masked.sum())} still masked. {time.time() - start:.2f} s.{note}")
                # Only what changed travels each step: the masked input once, the result at the end.
                first, last = record.step == 1, record.is_final
                plot = schedule_plot([schedule], record.total_iter, record.step)
                yield (masked if first else gr.skip(), mask_pic, image_pic, image_pic if last else None,
                       status, plot, {"frames": frames, "kind": "inpaint"})
        except (ui.InputError, MaskGITError) as e:
            raise gr.Error(str(e))

    def compare(self, editor, schedules, sweet_spot, total_iter, temperature, seed, paste_back, fill="smooth",
                final_step="mode"):
        """Every chosen schedule on the same face, hole and seed, in one batch, side by side."""
        try:
            face, hole = self._checked_input(editor)
            if not schedules:
                raise ui.InputError("Choose at least one schedule to compare.")
            settings = self._settings(list(schedules), sweet_spot, total_iter, temperature, seed, fill, final_step)
            k = len(schedules)
            faces, holes = np.repeat(face[None], k, 0), np.repeat(hole[None], k, 0)
            frames, start = [], time.time()
            for record in self.model.inpaint_steps(faces, holes, **settings):
                columns = [ui.big_frame(*ui.step_pictures(record, i, paste_back)) for i in range(k)]
                titles = [f"{name}: {int(record.still_masked[i].sum())} masked" for i, name in enumerate(schedules)]
                grid = ui.compare_grid(columns, titles)
                frames.append(grid)
                status = f"Step {record.step} of {record.sweet_spot}, {k} schedules in one batch, {time.time() - start:.2f} s."
                plot = schedule_plot(list(schedules), record.total_iter, record.step)
                yield grid, status, plot, {"frames": frames, "kind": "compare"}
        except (ui.InputError, MaskGITError) as e:
            raise gr.Error(str(e))

    def generate(self, schedule, sweet_spot, total_iter, temperature, seed):
        """Draw a new face from an all-masked grid; it lands in the editor at the end."""
        try:
            settings = self._settings(schedule, sweet_spot, total_iter, temperature, seed, final_step="sample")
            frames = []
            for record in self.model.generate_steps(1, **settings):
                mask_pic, image_pic = ui.step_pictures(record, paste_back=False)
                frames.append(ui.big_frame(mask_pic, image_pic))
                editor = ui.editor_value(to_uint8_image(record.image[0])) if record.is_final else gr.update()
                status = f"Generating: step {record.step} of {record.sweet_spot}."
                yield mask_pic, image_pic, status, {"frames": frames, "kind": "generate"}, editor
        except MaskGITError as e:
            raise gr.Error(str(e))

    # -- stepping through a run ----------------------------------------------------------
    @staticmethod
    def _frames(run):
        if not run or not run.get("frames"):
            raise gr.Error("Run Inpaint, Compare or Generate first.")
        return run["frames"]

    def after_run(self, run):
        n = len(run["frames"]) if run and run.get("frames") else 1
        return gr.update(minimum=1, maximum=max(2, n), value=n, step=1)

    def scrub(self, run, step):
        if not run or not run.get("frames"):
            return None
        frames = run["frames"]
        return frames[min(max(int(step), 1), len(frames)) - 1]

    def play(self, run, ms_per_frame=350):
        frames = self._frames(run)
        for i, f in enumerate(frames, 1):
            yield f, gr.update(value=i)
            time.sleep(ms_per_frame / 1000)

    def download(self, run):
        frames = self._frames(run)
        stem = f"maskgit-{run.get('kind', 'run')}-{int(time.time() * 1000)}"
        ui.prune_exports(self.export_dir)
        return list(ui.export_run(frames, self.export_dir, stem))


CSS = """
#title {text-align: center}
.pixelated img {image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain}
"""


def build(studio):
    schedules = list(SCHEDULES)
    # Gradio keeps a copy of every picture and download it serves: drop those older than a day.
    with gr.Blocks(title="MaskGIT inpainting studio", delete_cache=(3600, 86400)) as app:
        gr.Markdown("# MaskGIT inpainting studio\nPaint a hole over a cat face, pick a mask schedule, "
                    "and watch the transformer fill the hole token by token.", elem_id="title")
        run = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                editor = gr.ImageEditor(label="Face (paint the hole)", type="numpy", elem_id="editor",
                                        sources=(), canvas_size=(ui.VIEW, ui.VIEW), height=330,
                                        brush=gr.Brush(default_size=14, colors=["#ff00ff"], color_mode="fixed"),
                                        eraser=gr.Eraser(default_size=14), layers=False,
                                        value=ui.editor_value(studio.examples[0]))
                with gr.Row():
                    preset = gr.Dropdown(list(ui.PRESETS), value="center box", label="Preset hole", scale=2)
                    preset_btn = gr.Button("Use preset", scale=1)
                upload = gr.Image(label="Upload a face (center-cropped to 64x64)", type="numpy",
                                  sources=["upload", "clipboard"], height=140)
                gallery = gr.Gallery(value=studio.examples, label="Examples (drawn by the model)", columns=6,
                                     height=110, allow_preview=False, elem_classes="pixelated")
            with gr.Column(scale=2):
                schedule = gr.Dropdown(schedules, value="cosine", label="Mask schedule")
                total_iter = gr.Slider(1, 30, value=10, step=1, label="Total iterations (schedule length)")
                sweet_spot = gr.Slider(1, 10, value=10, step=1, label="Sweet spot (step whose prediction is the output)")
                temperature = gr.Slider(0, 10, value=4.5, step=0.1, label="Choice temperature (Gumbel noise)")
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, label="Seed")
                    paste_back = gr.Checkbox(value=True, label="Paste back known pixels")
                fill = gr.Radio(list(FILLS), value="smooth", label="Hole fill the encoder sees",
                                info="smooth keeps the tokens around the hole closer to the whole face's; "
                                     "gray is the course's")
                final_step = gr.Radio(list(FINAL_STEP), value=FINAL_STEP[0], label="Last step takes",
                                      info="mode: each token's most likely value (lower FID on validation faces); "
                                           "sample: a draw, like the earlier steps")
                with gr.Row():
                    inpaint_btn = gr.Button("Inpaint", variant="primary", elem_id="inpaint-btn")
                    generate_btn = gr.Button("Generate a new face")
                compare_set = gr.CheckboxGroup(schedules, value=["cosine", "linear", "square", "cubic"],
                                               label="Schedules to compare")
                compare_btn = gr.Button("Compare schedules")
                plot = gr.Image(label="Schedule", interactive=False, height=230)
        status = gr.Markdown("Ready.", elem_id="status")
        gr.Markdown("Latent mask colours: " + ui.legend_markdown())
        with gr.Row(elem_classes="pixelated"):
            masked_out = gr.Image(label="Masked input (as the encoder sees it)", interactive=False, height=256)
            mask_out = gr.Image(label="Latent mask (16x16 tokens)", interactive=False, height=256)
            pred_out = gr.Image(label="Prediction at this step", interactive=False, height=256)
            result_out = gr.Image(label="Result", interactive=False, height=256, elem_id="result")
        compare_out = gr.Image(label="Schedules side by side", interactive=False, elem_classes="pixelated")
        with gr.Row():
            scrubber = gr.Slider(1, 10, value=1, step=1, label="Step through the last run")
            play_btn = gr.Button("Play", scale=0)
            download_btn = gr.Button("Download GIF + frames", scale=0)
        step_view = gr.Image(label="Step", interactive=False, elem_classes="pixelated")
        files = gr.File(label="Downloads", file_count="multiple")

        settings = [schedule, sweet_spot, total_iter, temperature, seed]
        total_iter.change(lambda t, s: gr.update(maximum=int(t), value=min(int(s), int(t))),
                          [total_iter, sweet_spot], sweet_spot, api_visibility="private")
        upload.change(studio.load_upload, upload, editor, api_visibility="private")
        gallery.select(studio.pick_example, None, editor, api_visibility="private")
        preset_btn.click(studio.apply_preset, [editor, preset, seed], editor, api_visibility="private")
        inpaint_btn.click(studio.inpaint, [editor, *settings, paste_back, fill, final_step],
                          [masked_out, mask_out, pred_out, result_out, status, plot, run],
                          api_name="inpaint").then(studio.after_run, run, scrubber, api_visibility="private")
        compare_btn.click(studio.compare, [editor, compare_set, sweet_spot, total_iter, temperature, seed, paste_back,
                                           fill, final_step],
                          [compare_out, status, plot, run],
                          api_name="compare").then(studio.after_run, run, scrubber, api_visibility="private")
        generate_btn.click(studio.generate, settings, [mask_out, pred_out, status, run, editor],
                           api_name="generate").then(studio.after_run, run, scrubber, api_visibility="private")
        # Stepping through a finished run does no model work: it need not wait for a model's
        # queue slot (playback holds a worker thread while it waits between frames: a few at once).
        scrubber.change(studio.scrub, [run, scrubber], step_view, api_visibility="private",
                        concurrency_limit=None)
        play_btn.click(studio.play, run, [step_view, scrubber], api_visibility="private",
                       concurrency_limit=PLAYBACK_CONCURRENCY)
        download_btn.click(studio.download, run, files, api_visibility="private")
    return app


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--checkpoints", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                         "checkpoints"))
    return p.parse_args(argv)


def create_app(checkpoints, device="auto"):
    return build(Studio(load(checkpoints, device=device)))


def main(argv=None):
    args = parse(argv)
    try:
        app = create_app(args.checkpoints, args.device)
    except MaskGITError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    app.queue(default_concurrency_limit=1, max_size=64)
    app.launch(server_name=args.host, server_port=args.port, share=args.share, css=CSS,
               max_file_size="20mb", footer_links=["api"], show_error=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
