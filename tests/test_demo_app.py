"""The studio: its handlers called directly, its API through gradio_client, the page in a
real browser. A tiny random model keeps them fast (the pictures are noise; the behaviour is real)."""
import atexit
import base64
import glob
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, tiny_maskgit
from demo import app as studio_module
from demo import helpers as ui
from maskgit.masks import pixel_to_token_hole
from maskgit.serving import BatchedModel


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio_app():
    return studio_module.create_app(model=tiny_maskgit())


@pytest.fixture(scope="module")
def studio(studio_app):
    return studio_app.studio


@pytest.fixture(scope="module")
def server(studio_app):
    port = free_port()
    studio_app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                      css=studio_module.CSS, show_error=True)
    yield f"http://127.0.0.1:{port}/"
    studio_app.close()


@pytest.fixture
def runs(studio, monkeypatch):
    """Every run the studio keeps (its tokens and results), in order."""
    kept = []
    keep = studio_module.Studio._keep

    def recording(*args):
        kept.append(keep(*args))
        return kept[-1]
    monkeypatch.setattr(studio_module.Studio, "_keep", staticmethod(recording))
    return kept


def box(rows, cols):
    hole = np.zeros((64, 64), bool)
    hole[rows, cols] = True
    return hole


HOLE = box(slice(20, 44), slice(16, 48))


def token_hole(hole):
    return pixel_to_token_hole(torch.from_numpy(np.asarray(hole, bool))[None])[0].numpy()


# -- handlers, called directly ----------------------------------------------------------------------
def test_inpaint_streams_each_step_at_model_resolution(studio, face, runs):
    updates = list(studio.inpaint(ui.painter_value(face, HOLE), "cosine", 7, 10, 4.5, 0, True))
    assert len(updates) == 7  # one update per step up to the sweet spot
    masked, mask, conf, pred, result, status, run = updates[0]
    assert masked.shape == pred.shape == (64, 64, 3) and mask.shape == (16, 16, 3)
    assert result is None and "Step 1 of 7" in status  # the previous result is cleared at once
    assert updates[3][0] == gr.skip() and updates[3][4] == gr.skip() and updates[3][6] == gr.skip()
    final = updates[-1]
    assert np.array_equal(final[4], final[3]) and final[6] is runs[-1]
    known = ~box(slice(16, 48), slice(12, 52))
    assert np.array_equal(final[4][known], face[known])  # paste-back: known pixels are the face's


def test_masked_input_is_what_the_encoder_saw(studio, face):
    views = {}
    for fill in ("gray", "smooth"):
        updates = list(studio.inpaint(ui.painter_value(face, HOLE), "cosine", 2, 2, 4.5, 0, True, fill))
        views[fill] = updates[0][0].astype(int)
        assert updates[1][0] == gr.skip()  # sent once
    assert (views["gray"][HOLE] == 128).all()  # flat gray, as in the course
    rim = face[19, 16:48].astype(int)  # the smooth fill continues the colours around the hole
    assert np.abs(views["smooth"][20, 16:48] - rim).mean() < np.abs(128 - rim).mean()
    for view in views.values():
        assert np.array_equal(view[~HOLE], face[~HOLE])


def test_confidence_heatmap_streams_only_when_asked(studio, face):
    off = list(studio.inpaint(ui.painter_value(face, HOLE), "cosine", 3, 3, 4.5, 0, True))
    assert all(u[2] == gr.skip() for u in off)
    on = list(studio.inpaint(ui.painter_value(face, HOLE), "cosine", 3, 3, 4.5, 0, True, confidence=True))
    heat = on[-1][2]
    assert heat.shape == (16, 16, 4)
    tokens = token_hole(HOLE)
    assert (heat[..., 3][tokens] == 255).all() and (heat[..., 3][~tokens] == 0).all()


def test_candidates_are_several_completions_of_one_hole(studio, face, runs):
    updates = list(studio.candidates(ui.painter_value(face, HOLE), 3, "cosine", 4, 4, 4.5, 0, True))
    gallery, status, run = updates[-1]
    assert len(updates) == 4 and len(gallery) == 3 and "3 candidates in one batch" in status
    assert [caption.split(" ·")[0] for _, caption in gallery] == ["candidate 1", "candidate 2", "candidate 3"]
    assert gallery[0][0].shape == (64, 130, 4)  # (latent mask | prediction), transparent gap
    assert not np.array_equal(run["tokens"][0], run["tokens"][1])
    for n in (0, 9):
        with pytest.raises(gr.Error, match="1-8"):
            list(studio.candidates(ui.painter_value(face, HOLE), n, "cosine", 4, 4, 4.5, 0, True))


def test_picking_a_candidate_puts_it_in_the_painter_to_continue(studio, face, runs):
    list(studio.candidates(ui.painter_value(face, HOLE), 3, "cosine", 3, 3, 4.5, 0, True))
    painter, picked = studio.pick(runs[-1], gr.SelectData(None, {"index": 2, "value": None}))
    got_face, got_hole = ui.read_painter(painter)
    assert np.array_equal(got_face, runs[-1]["composites"][2]) and not got_hole.any()
    assert picked["rows"] == ["candidate 3"] and np.array_equal(picked["tokens"][0], runs[-1]["tokens"][2])
    hole = box(slice(0, 16), slice(0, 16))
    updates = list(studio.inpaint(dict(painter, hole=ui.encode_hole(hole)), "cosine", 3, 3, 4.5, 0, True))
    assert np.array_equal(runs[-1]["face"], runs[-2]["composites"][2])  # iterative: the next run starts from it
    assert updates[-1][4] is not None


def test_resample_redraws_only_the_tokens_under_the_new_paint(studio, face, runs):
    list(studio.inpaint(ui.painter_value(face, HOLE), "cosine", 4, 4, 4.5, 0, True))
    first = runs[-1]
    stroke = box(slice(24, 32), slice(20, 36))
    canvas = ui.painter_value(first["composites"][0], stroke)
    updates = list(studio.resample(canvas, first, "cosine", 5, 5, 4.5, 3, True))
    second = runs[-1]
    token_stroke = token_hole(stroke)
    changed = second["tokens"][0] != first["tokens"][0]
    assert changed.any() and not (changed & ~token_stroke).any()
    mask = updates[0][1]  # the latent mask shows what was re-opened: everything else is known
    assert (mask[~token_stroke] == (70, 70, 70)).all() and not (mask[token_stroke] == (70, 70, 70)).all(-1).any()


def test_resample_refuses_what_it_cannot_do(studio, face, runs):
    canvas = ui.painter_value(face, HOLE)
    resample = lambda canvas, run: list(studio.resample(canvas, run, "cosine", 2, 2, 4.5, 0, True))  # noqa: E731
    with pytest.raises(gr.Error, match="Nothing to resample"):
        resample(canvas, None)
    list(studio.inpaint(canvas, "cosine", 3, 3, 4.5, 0, True))
    with pytest.raises(gr.Error, match="Paint over the result"):  # the canvas shows the face, not the result
        resample(canvas, runs[-1])
    with pytest.raises(gr.Error, match="Paint a hole"):
        resample(ui.painter_value(runs[-1]["composites"][0]), runs[-1])
    list(studio.compare(canvas, ["cosine", "linear"], 2, 2, 4.5, 0, True))
    with pytest.raises(gr.Error, match="Pick one"):
        resample(ui.painter_value(runs[-1]["composites"][0], HOLE), runs[-1])
    with pytest.raises(gr.Error, match="Pick one"):  # 'Paint over the result' cannot know which one
        studio.use_result(runs[-1])
    assert studio.use_result(runs[-2]) == ui.painter_value(runs[-2]["composites"][0])  # the one-result run


def test_compare_takes_each_library_schedule_at_most_once(studio, face):
    canvas = ui.painter_value(face, HOLE)
    gallery, status, _ = list(studio.compare(canvas, ["cosine", "linear", "square"], 3, 3, 4.5, 0, True))[-1]
    assert [c.split(" ·")[0] for _, c in gallery] == ["cosine", "linear", "square"]
    assert len(list(studio.compare(canvas, list(studio_module.SCHEDULES), 2, 2, 4.5, 0, True))[-1][0]) == 7
    for schedules, message in ((["cosine"] * 31, "once"), (["cosine", "zigzag"], "Unknown schedule"),
                               ([], "at least one")):
        with pytest.raises(gr.Error, match=message):
            list(studio.compare(canvas, schedules, 3, 3, 4.5, 0, True))


def test_any_sweet_spot_up_to_total_iterations(studio, face):
    canvas = ui.painter_value(face, HOLE)
    assert len(list(studio.inpaint(canvas, "linear", 20, 30, 4.5, 0, True))) == 20
    with pytest.raises(gr.Error, match="sweet spot"):
        list(studio.inpaint(canvas, "linear", 20, 10, 4.5, 0, True))
    with pytest.raises(gr.Error, match="Total iterations"):
        list(studio.inpaint(canvas, "linear", 5, 31, 4.5, 0, True))


def test_an_empty_hole_is_refused_before_anything_is_sent(studio_app, studio, face):
    with pytest.raises(gr.Error, match="Paint a hole"):  # the API's requests: by the handler
        list(studio.inpaint(ui.painter_value(face), "cosine", 10, 10, 4.5, 0, True))
    page_runs = [f for f in studio_app.fns.values() if f.concurrency_id == "model" and f.api_visibility == "private"]
    assert len(page_runs) == 4 and all("Paint a hole" in (f.js or "") for f in page_runs)  # by the page itself


def test_model_runs_share_a_group_and_the_rest_holds_no_model_slot(studio_app):
    fns = list(studio_app.fns.values())
    models = [f for f in fns if getattr(f.fn, "__name__", "") in ("inpaint", "resample", "candidates", "compare",
                                                                    "generate")]
    assert len(models) == 9 and {f.concurrency_id for f in models} == {"model"}  # page + API events
    assert {f.concurrency_limit for f in models} == {studio_module.MODEL_CONCURRENCY} and studio_module.MODEL_CONCURRENCY > 1
    assert isinstance(studio_app.studio.model, BatchedModel)  # ... sharing their forward passes
    assert not isinstance(studio_module.Studio(model=tiny_maskgit(), concurrency=1).model, BatchedModel)
    finish = [f for f in fns if getattr(f.fn, "__name__", "") == "finish"]
    assert finish and all(f.concurrency_limit is None for f in finish)
    apis = {f.api_name for f in fns if f.api_visibility == "public"}
    assert {"inpaint", "compare", "candidates", "resample", "generate"} <= apis
    assert studio_app.delete_cache is not None  # Gradio's copies of served files do not pile up


def test_the_decoder_choice_is_offered_only_when_load_would_use_the_guide(tmp_path):
    """A guide trained against another tokenizer is not loaded (a warning says so), so the page
    must not offer it: every run would be refused."""
    import json
    shipped = os.path.join(ROOT, "checkpoints")
    for name in ("vqgan.safetensors", "guide.json"):
        shutil.copy(os.path.join(shipped, name), tmp_path / name)
    assert studio_module.Studio(checkpoints=str(tmp_path)).has_guide
    meta = json.load(open(tmp_path / "guide.json"))
    meta["info"]["vqgan"] = "0123456789abcdef"
    json.dump(meta, open(tmp_path / "guide.json", "w"))
    assert not studio_module.Studio(checkpoints=str(tmp_path)).has_guide
    (tmp_path / "guide.json").write_text("{not json")
    assert not studio_module.Studio(checkpoints=str(tmp_path)).has_guide  # loading reports it, in one line
    os.remove(tmp_path / "guide.json")
    assert not studio_module.Studio(checkpoints=str(tmp_path)).has_guide


def test_an_upload_is_read_as_the_library_reads_files(studio_app, tmp_path, face, monkeypatch):
    """Through the upload box's own preprocessing: transparency onto white (not black), and a
    picture over the pixel limit refused in one line before it is decoded."""
    from gradio.data_classes import ImageData
    from PIL import ImageFile
    from maskgit import images
    from maskgit.images import read_model_rgb
    upload = next(b for b in studio_app.blocks.values() if getattr(b, "elem_id", None) == "upload")
    assert upload.get_block_name() == "image"  # a name the page has no component for draws nothing
    see_through = np.zeros((64, 64, 4), np.uint8)
    see_through[:, :32] = (*face[0, 0], 255)  # the left half one opaque colour, the right half transparent
    Image.fromarray(see_through).save(tmp_path / "half.png")
    sent = upload.preprocess(ImageData(path=str(tmp_path / "half.png"), orig_name="half.png"))
    value = studio_app.studio.load_upload(sent)
    assert value == ui.painter_value(read_model_rgb(str(tmp_path / "half.png"))[0])
    assert (ui.decode_face(value["face"])[:, 40:] == 255).all()
    monkeypatch.setattr(images, "MAX_PIXELS", 64 * 64 - 1)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the pixels were decoded"))
    with pytest.raises(gr.Error, match=r"Could not use that picture: the picture is 64x64 .*over the limit") as refused:
        studio_app.studio.load_upload(upload.preprocess(ImageData(path=str(tmp_path / "half.png"),
                                                                  orig_name="half.png")))
    assert "\n" not in str(refused.value)
    (tmp_path / "notes.png").write_text("not a picture")  # refused by the studio in one line, not by Gradio
    with pytest.raises(gr.Error, match=r"Could not use that picture: the picture is not a readable image: notes.png"):
        studio_app.studio.load_upload(upload.preprocess(ImageData(path=str(tmp_path / "notes.png"),
                                                                  orig_name="notes.png")))


def test_finish_sends_every_frame_once_and_prepares_the_downloads(studio, face, runs, monkeypatch):
    pruned = []
    monkeypatch.setattr(ui, "prune_exports", lambda folder, **kw: pruned.append(folder))
    list(studio.compare(ui.painter_value(face, HOLE), ["cosine", "linear"], 4, 4, 4.5, 0, True))
    player, gif, zip_path = studio.finish(runs[-1])
    assert len(player["frames"]) == 4 and all(f.startswith("data:image/png;base64,") for f in player["frames"])
    last = Image.open(io.BytesIO(base64.b64decode(player["frames"][-1].split(",")[1])))
    assert last.size == (2 * 130 + 6, 64)  # both schedules' (mask | prediction), model resolution
    assert pruned == [studio.export_dir] and os.path.exists(gif) and os.path.exists(zip_path)
    monkeypatch.setattr(time, "strftime", lambda *a: "20261204-120000")  # two runs ending in the same second
    first, second = studio.finish(runs[-1]), studio.finish(runs[-1])
    assert len({first[1], second[1], first[2], second[2]}) == 4
    assert studio.finish(None) == (gr.skip(), gr.skip(), gr.skip())


def test_export_folder_is_removed_at_exit(monkeypatch):
    registered = []
    monkeypatch.setattr(atexit, "register", lambda fn, *a: registered.append((fn, a)))
    studio = studio_module.Studio(model=tiny_maskgit())
    assert os.path.isdir(studio.export_dir)
    for fn, args in registered:
        fn(*args)
    assert not os.path.exists(studio.export_dir)


def test_hosting_options_and_module_level_app(monkeypatch):
    options = studio_module.launch_options(studio_module.parse([]))
    assert "server_name" not in options and "server_port" not in options  # GRADIO_SERVER_* apply
    assert "settings" in options["footer_links"]
    given = studio_module.launch_options(studio_module.parse(["--host", "0.0.0.0", "--port", "8001"]))
    assert given["server_name"] == "0.0.0.0" and given["server_port"] == 8001
    assert isinstance(studio_module.demo, gr.Blocks) and studio_module.demo.studio._model is None  # lazy
    for path in glob.glob(os.path.join(ROOT, "demo", "*.py")):
        assert "sys.path.insert" not in open(path).read(), path


def test_a_bad_checkpoint_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert studio_module.main(["--checkpoints", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


# -- the API, through gradio_client ---------------------------------------------------------------------
@pytest.fixture
def editor_files(tmp_path, face):
    from gradio_client import handle_file
    Image.fromarray(face).resize((256, 256), Image.NEAREST).save(tmp_path / "bg.png")
    layer = np.zeros((256, 256, 4), np.uint8)
    layer[80:176, 64:192] = (255, 0, 255, 255)  # hole: rows 20..44, cols 16..48 of the 64x64 face
    Image.fromarray(layer).save(tmp_path / "layer.png")
    return dict(background=handle_file(str(tmp_path / "bg.png")), layers=[handle_file(str(tmp_path / "layer.png"))],
                composite=handle_file(str(tmp_path / "bg.png")))


def load_rgb(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_api_inpaint_streams_pngs_and_accepts_a_late_sweet_spot(server, editor_files, face):
    from gradio_client import Client
    client = Client(server, verbose=False)
    updates = list(client.submit(editor_files, "cosine", 20, 30, 4.5, 0, True, api_name="/inpaint"))
    assert len(updates) == 20 and all(u[1] and u[3] for u in updates)  # latent mask, prediction every step
    result = updates[-1][4]
    assert result.endswith(".png") and load_rgb(result).shape == (64, 64, 3)
    known = ~box(slice(16, 48), slice(12, 52))
    assert np.array_equal(load_rgb(result)[known], face[known])  # lossless: exactly the known pixels


def test_api_candidates_then_resample_in_one_session(server, editor_files, tmp_path):
    from gradio_client import Client, handle_file
    client = Client(server, verbose=False)
    gallery, status, *_ = client.predict(editor_files, 4, "cosine", 3, 3, 4.5, 0, True, api_name="/candidates")
    assert len(gallery) == 4 and "4 candidates" in status
    with pytest.raises(Exception, match="Pick one"):  # several results: the page picks one first
        client.predict(editor_files, "cosine", 3, 3, 4.5, 0, True, api_name="/resample")
    out = client.predict(editor_files, "cosine", 3, 3, 4.5, 0, True, api_name="/inpaint")
    stroke = np.zeros((256, 256, 4), np.uint8)
    stroke[100:120, 100:140, 3] = 255
    Image.fromarray(stroke).save(tmp_path / "stroke.png")
    result = handle_file(out[4])
    redo = client.predict(dict(background=result, layers=[handle_file(str(tmp_path / "stroke.png"))],
                               composite=result), "cosine", 4, 4, 4.5, 1, True, api_name="/resample")
    assert "Step 4 of 4" in redo[5] and redo[4]


def test_bad_api_requests_get_one_line_messages_and_the_server_keeps_working(server, editor_files, tmp_path):
    from gradio_client import Client, handle_file
    client = Client(server, verbose=False)
    empty = np.zeros((256, 256, 4), np.uint8)
    Image.fromarray(empty).save(tmp_path / "empty.png")
    no_hole = dict(editor_files, layers=[handle_file(str(tmp_path / "empty.png"))])
    small = np.zeros((128, 64, 4), np.uint8)
    Image.fromarray(small).save(tmp_path / "small.png")
    odd_layer = dict(editor_files, layers=[handle_file(str(tmp_path / "small.png"))])
    for args, message in (((no_hole, "cosine", 10, 10, 4.5, 0, True), "Paint a hole"),
                          ((editor_files, "cosine", 8, 5, 4.5, 0, True), "sweet spot"),
                          ((odd_layer, "cosine", 5, 5, 4.5, 0, True), "face's shape"),
                          ((editor_files, "cosine", 3, 3, 4.5, 0, True), "Nothing to resample")):
        with pytest.raises(Exception, match=message):
            client.predict(*args, api_name="/resample" if message == "Nothing to resample" else "/inpaint")
    with pytest.raises(Exception, match="once"):
        client.predict(editor_files, ["cosine", "cosine"], 5, 5, 4.5, 0, True, api_name="/compare")
    with pytest.raises(Exception):  # 9 candidates: above the slider's range
        client.predict(editor_files, 9, "cosine", 3, 3, 4.5, 0, True, api_name="/candidates")
    assert client.predict(editor_files, "linear", 3, 3, 4.5, 0, True, api_name="/inpaint")[4]


# -- the page, in headless Chromium ------------------------------------------------------------------
def chromium():
    return shutil.which("chromium")


FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.fixture
def page(server):
    if chromium() is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        tab = browser.new_page(viewport={"width": 1366, "height": 768})
        tab.goto(server)
        tab.wait_for_selector("#editor [data-ready] canvas", timeout=60000)
        # the layout has settled (fonts and pictures loaded): strokes land where aimed
        tab.wait_for_function("() => document.fonts.status === 'loaded' && [...document.images].every(i => i.complete)")
        yield tab
        browser.close()


def paint(page, x0, y0, x1, y1):
    """A stroke from (x0, y0) to (x1, y1) in face pixels (0-64) on the painter; returns once the
    painter counts the painted pixels."""
    before = page.inner_text("#editor .mg-note")
    page.locator("#editor canvas").scroll_into_view_if_needed()
    box = page.locator("#editor canvas").bounding_box()
    at = lambda x, y: (box["x"] + x / 64 * box["width"], box["y"] + y / 64 * box["height"])  # noqa: E731
    page.mouse.move(*at(x0, y0))
    page.mouse.down()
    page.mouse.move(*at(x1, y1), steps=4)
    page.mouse.up()
    page.wait_for_function("(before) => { const n = document.querySelector('#editor .mg-note').innerText; "
                           "return n !== before && n.startsWith('hole:'); }", arg=before, timeout=5000)


def wait_for_step(page, text, timeout=30000):
    page.wait_for_function(f"() => document.querySelector('#status').innerText.includes({text!r})", timeout=timeout)


def wait_for_runs(runs, n, timeout=60):
    """Until the server has kept n runs (a run is kept with its last step)."""
    deadline = time.time() + timeout
    while len(runs) < n:
        assert time.time() < deadline, f"only {len(runs)} of {n} runs finished"
        time.sleep(0.1)


def in_view(page, selector):
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 768 and box["x"] + box["width"] <= 1366


def test_browser_first_view_and_streaming_without_scrolling(page):
    for selector in ("#editor", "#inpaint-btn", "#latent-mask", "#prediction"):
        assert in_view(page, selector), selector
    page.click("#inpaint-btn")  # no hole yet: the page says so at once and sends nothing
    page.wait_for_function("() => /Paint a hole/.test(document.querySelector('#editor .mg-note').innerText)",
                           timeout=2000)
    paint(page, 16, 30, 48, 34)
    page.evaluate("""() => { window.seen = new Set(); new MutationObserver(() => {
        const img = document.querySelector('#prediction img'); if (img) window.seen.add(img.src); })
        .observe(document.body, {subtree: true, childList: true, attributes: true}); }""")
    page.click("#inpaint-btn")
    wait_for_step(page, "Step 10 of 10")
    page.wait_for_selector("#result img", timeout=10000)
    assert page.evaluate("window.seen.size") >= 3  # the prediction changed while streaming
    assert page.evaluate("window.scrollY") == 0
    page.screenshot(path=os.path.join(os.environ.get("MASKGIT_SCREENSHOT_DIR", "/tmp"), "studio-test.png"))


def run_then_continue(page, runs, button, pick, then_button, stroke):
    """Paint, run `button`, `pick` a result into the painter, paint `stroke`, run `then_button`:
    returns the two runs the server kept."""
    paint(page, 16, 30, 48, 34)
    page.click(button)
    wait_for_runs(runs, 1)
    pick()
    page.wait_for_function("() => /no hole painted/.test(document.querySelector('#editor').innerText)")
    paint(page, *stroke)
    page.click(then_button)
    wait_for_runs(runs, 2)
    return runs


def test_browser_resample_changes_only_tokens_under_the_stroke(page, runs):
    first, second = run_then_continue(page, runs, "#inpaint-btn", lambda: page.click("#edit-result-btn"),
                                      "#resample-btn", (20, 10, 36, 12))
    assert second["kind"] == "resample" and np.array_equal(second["face"], first["composites"][0])
    token_stroke = token_hole(second["hole"])
    assert 0 < token_stroke.sum() < 40 and token_stroke[2:4].any() and not token_stroke[8:].any()
    changed = second["tokens"][0] != first["tokens"][0]
    assert changed.any() and not (changed & ~token_stroke).any()


def test_browser_pick_a_candidate_and_inpaint_again(page, runs):
    def pick_the_second():
        wait_for_step(page, "Step 10 of 10: 4 candidates")
        page.locator("#side-by-side img").nth(1).click()
    candidates, again = run_then_continue(page, runs, "#candidates-btn", pick_the_second, "#inpaint-btn",
                                          (8, 8, 24, 8))
    assert again["kind"] == "inpaint" and np.array_equal(again["face"], candidates["composites"][1])
    assert again["hole"][8, 16] and not again["hole"][40].any()


def test_browser_upload_arrives_as_the_library_reads_the_file(page, runs, tmp_path, face):
    """A wide picture, half transparent, through the upload box: the run's face is the file's
    center square as maskgit.images reads it (white under the transparency)."""
    from maskgit.images import read_model_rgb
    picture = np.zeros((64, 96, 4), np.uint8)
    picture[:, :48, :3], picture[:, :48, 3] = face[:, :48], 255  # the right half transparent
    Image.fromarray(picture).save(tmp_path / "wide.png")
    paint(page, 8, 8, 24, 8)  # the upload replaces the painter's value: its paint goes
    page.locator("#upload input[type=file]").set_input_files(str(tmp_path / "wide.png"))
    page.wait_for_function("() => /no hole painted/.test(document.querySelector('#editor').innerText)",
                           timeout=20000)
    paint(page, 16, 30, 48, 34)
    page.click("#inpaint-btn")
    wait_for_runs(runs, 1)
    expected = read_model_rgb(str(tmp_path / "wide.png"))[0]
    assert np.array_equal(runs[0]["face"], expected) and (expected[:, 40:] == 255).all()


# -- a studio that dies mid-stream ------------------------------------------------------------------
def documented_stream():
    """The deadline loop of docs/studio-api.md, as a reader would copy it."""
    text = open(os.path.join(ROOT, "docs", "studio-api.md")).read()
    code = re.search(r"```python\n(import time\n.*?def stream\(.*?)\n\nfor ", text, re.S).group(1)
    namespace = {}
    exec(code, namespace)
    return namespace["stream"]


def test_a_client_gets_an_error_within_seconds_when_the_studio_is_killed(editor_files):
    port = free_port()
    serve = ("import sys; from conftest import tiny_maskgit; from demo import app; "
             "app.create_app(model=tiny_maskgit()).launch(server_name='127.0.0.1', server_port=int(sys.argv[1]), "
             "quiet=True)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]))
    proc = subprocess.Popen([sys.executable, "-c", serve, str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = wait_for_client(f"http://127.0.0.1:{port}/", proc)
        stream = documented_stream()
        updates = stream(client.submit(editor_files, 8, "cosine", 30, 30, 4.5, 0, True, api_name="/candidates"),
                         idle_timeout=3)
        next(updates)  # the run is streaming
        waiting = client.submit(editor_files, 8, "cosine", 30, 30, 4.5, 1, True, api_name="/candidates")
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        with pytest.raises(Exception):  # a single answer: a timeout (or the refused connection) ends it
            waiting.result(timeout=3)
        with pytest.raises((TimeoutError, ConnectionError)):
            for _ in updates:
                pass
        assert time.monotonic() - killed < 3 + 3 + 4
    finally:
        proc.kill()
        proc.wait()


def wait_for_client(url, proc, timeout=120):
    from gradio_client import Client
    deadline = time.time() + timeout
    while True:
        assert proc.poll() is None, "the studio exited"
        try:
            return Client(url, verbose=False)
        except Exception:
            assert time.time() < deadline, "the studio did not start"
            time.sleep(0.5)


def test_api_faces_are_read_as_the_library_reads_files_and_bad_files_are_one_line(server, tmp_path, face):
    """The API's editor files go through maskgit.images: 16-bit and EXIF-rotated pictures give
    the same face as maskgit-inpaint would; an unreadable file is refused in one line."""
    from gradio_client import Client, handle_file
    from maskgit.images import read_model_rgb
    client = Client(server, verbose=False)
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[20:44, 16:48, 3] = 255
    Image.fromarray(layer).save(tmp_path / "layer.png")
    Image.fromarray(face[..., 1].astype(np.uint16) * 200).save(tmp_path / "face16.png")  # 16-bit gray
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side
    Image.fromarray(face).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    known = ~box(slice(16, 48), slice(12, 52))
    for name in ("face16.png", "turned.jpg"):
        path = str(tmp_path / name)
        value = dict(background=handle_file(path), layers=[handle_file(str(tmp_path / "layer.png"))],
                     composite=handle_file(path))
        result = client.predict(value, "cosine", 2, 2, 4.5, 0, True, api_name="/inpaint")[4]
        assert np.array_equal(load_rgb(result)[known], read_model_rgb(path)[0][known].astype(int)), name
    (tmp_path / "notes.png").write_text("not a picture")
    bad = dict(background=handle_file(str(tmp_path / "notes.png")), layers=[handle_file(str(tmp_path / "layer.png"))],
               composite=handle_file(str(tmp_path / "notes.png")))
    with pytest.raises(Exception) as refused:
        client.predict(bad, "cosine", 2, 2, 4.5, 0, True, api_name="/inpaint")
    assert "not a readable image" in str(refused.value) and "\n" not in str(refused.value).strip()
