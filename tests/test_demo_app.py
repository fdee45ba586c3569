"""The studio end to end: its API through gradio_client, and the page in a real browser."""
import os
import shutil
import socket
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "demo"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio_app():
    from app import create_app
    return create_app(os.path.join(ROOT, "checkpoints"), "cpu")


@pytest.fixture(scope="module")
def server(studio_app):
    from app import CSS
    app = studio_app
    app.queue(default_concurrency_limit=1)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS,
               show_error=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


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


def test_stepping_through_a_run_does_not_wait_for_the_models_queue(studio_app):
    limits = {getattr(f.fn, "__name__", ""): f.concurrency_limit for f in studio_app.fns.values()}
    assert limits["inpaint"] == limits["compare"] == limits["generate"] == "default"  # one model run at a time
    assert limits["scrub"] is None and limits["play"] >= 2
    assert studio_app.delete_cache is not None  # Gradio's copies of served files do not pile up


def test_download_prunes_old_exports(studio_app, monkeypatch):
    import helpers
    studio = next(f.fn.__self__ for f in studio_app.fns.values() if getattr(f.fn, "__name__", "") == "download")
    pruned = []
    monkeypatch.setattr(helpers, "prune_exports", lambda folder, **kw: pruned.append(folder))
    frames = [np.zeros((8, 8, 3), np.uint8)] * 2
    paths = studio.download({"frames": frames, "kind": "inpaint"})
    assert pruned == [studio.export_dir] and all(os.path.exists(p) for p in paths)


def test_inpaint_streams_every_step(server, editor_files, face):
    from gradio_client import Client
    client = Client(server, verbose=False)
    job = client.submit(editor_files, "cosine", 7, 10, 4.5, 0, True, api_name="/inpaint")
    updates = list(job)
    assert len(updates) == 7  # one streamed update per step up to the sweet spot
    for masked, mask, pred, result, status, plot in updates:
        assert mask and pred and plot  # both pictures in every step
    final = updates[-1]
    assert final[3], "the final update carries the result"
    small = load_rgb(final[3])
    assert small.shape == (64, 64, 3)  # streamed at model resolution; the page enlarges it
    # paste-back on: known pixels far from the hole are unchanged (webp is lossy: tolerance)
    known = np.ones((64, 64), bool)
    known[16:48, 12:52] = False
    assert np.abs(small[known] - face[known].astype(int)).mean() < 6


def test_masked_input_shows_the_fill_the_encoder_sees(server, editor_files, face):
    from gradio_client import Client
    client = Client(server, verbose=False)
    views = {}
    for fill in ("gray", "smooth"):
        updates = list(client.submit(editor_files, "cosine", 2, 2, 4.5, 0, True, fill, api_name="/inpaint"))
        views[fill] = load_rgb(updates[0][0])
    inside = (slice(24, 40), slice(20, 44))
    assert np.abs(views["gray"][inside] - 128).max() <= 3  # flat gray, as in the course
    assert np.abs(views["smooth"][inside] - 128).mean() > 5  # continues the surroundings
    known = (slice(0, 12), slice(None))
    for view in views.values():
        assert np.abs(view[known] - face[known].astype(int)).mean() < 6


def test_the_last_step_choice_reaches_the_decoding(server, editor_files):
    from gradio_client import Client
    client = Client(server, verbose=False)
    results = {}
    for final_step in ("mode", "sample"):  # 2 cosine steps: the last one decides most hole tokens
        updates = list(client.submit(editor_files, "cosine", 2, 2, 4.5, 0, False, "smooth", final_step,
                                     api_name="/inpaint"))
        results[final_step] = load_rgb(updates[-1][3]).astype(int)
    assert np.abs(results["mode"] - results["sample"]).mean() > 1
    with pytest.raises(Exception):  # not a choice: refused with a message, nothing decoded
        client.predict(editor_files, "cosine", 2, 2, 4.5, 0, False, "smooth", "greedy", api_name="/inpaint")


def test_compare_streams_all_schedules_side_by_side(server, editor_files):
    from gradio_client import Client
    client = Client(server, verbose=False)
    job = client.submit(editor_files, ["cosine", "linear", "square", "cubic"], 5, 5, 4.5, 1, True,
                        api_name="/compare")
    updates = list(job)
    assert len(updates) == 5
    grid = load_rgb(updates[-1][0])
    assert grid.shape[1] > 4 * 500  # four enlarged columns of (mask | prediction)


def test_bad_requests_get_messages_and_the_server_keeps_working(server, editor_files, tmp_path, face):
    from gradio_client import Client, handle_file
    client = Client(server, verbose=False)
    empty = np.zeros((256, 256, 4), np.uint8)
    Image.fromarray(empty).save(tmp_path / "empty.png")
    no_hole = dict(editor_files, layers=[handle_file(str(tmp_path / "empty.png"))])
    with pytest.raises(Exception, match="Paint a hole"):
        client.predict(no_hole, "cosine", 10, 10, 4.5, 0, True, api_name="/inpaint")
    with pytest.raises(Exception, match="sweet spot"):
        client.predict(editor_files, "cosine", 8, 5, 4.5, 0, True, api_name="/inpaint")
    with pytest.raises(Exception, match="at least one schedule"):
        client.predict(editor_files, [], 5, 5, 4.5, 0, True, api_name="/compare")
    # everything masked: not an error, it draws a new face
    full = np.zeros((256, 256, 4), np.uint8)
    full[..., 3] = 255
    Image.fromarray(full).save(tmp_path / "full.png")
    everything = dict(editor_files, layers=[handle_file(str(tmp_path / "full.png"))])
    out = client.predict(everything, "cosine", 4, 4, 4.5, 0, True, api_name="/inpaint")
    assert "draws a new one" in out[4]
    # and a normal request still works afterwards
    out = client.predict(editor_files, "linear", 3, 3, 4.5, 0, True, api_name="/inpaint")
    assert out[3]


def chromium():
    return shutil.which("chromium")


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_browser_paint_and_inpaint(server, tmp_path):
    from playwright.sync_api import sync_playwright
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
    shots = os.environ.get("MASKGIT_SCREENSHOT_DIR", str(tmp_path))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        page.goto(server)
        page.wait_for_selector("#editor canvas", timeout=60000)
        time.sleep(2)
        canvas = page.locator("#editor canvas").last
        box = canvas.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx - 60, cy)
        page.mouse.down()
        page.mouse.move(cx + 60, cy + 10, steps=6)
        page.mouse.up()
        time.sleep(1)
        page.click("#inpaint-btn")
        page.wait_for_function(
            "() => document.querySelector('#status') && document.querySelector('#status').innerText.includes('Step 10 of 10')",
            timeout=60000)
        page.wait_for_selector("#result img", timeout=30000)
        time.sleep(1)
        page.screenshot(path=os.path.join(shots, "studio.png"), full_page=True)
        status = page.inner_text("#status")
        browser.close()
    assert "Step 10 of 10" in status
