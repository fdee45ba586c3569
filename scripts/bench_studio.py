"""Studio responsiveness, measured through the real server and gradio_client.

  python scripts/bench_studio.py [--out docs/bench]   # starts the app on a free port, prints JSON

Prints: time from submit to the first streamed step and to the last, for one user (median
of 5), and for 4 users submitting at once (each must get its own complete result).
"""
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def editor_payload(folder, seed):
    from gradio_client import handle_file
    rng = np.random.default_rng(seed)
    face = rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)
    Image.fromarray(face).resize((256, 256), Image.NEAREST).save(f"{folder}/bg{seed}.png")
    layer = np.zeros((256, 256, 4), np.uint8)
    layer[64:192, 64:192] = (255, 0, 255, 255)
    Image.fromarray(layer).save(f"{folder}/layer{seed}.png")
    bg = handle_file(f"{folder}/bg{seed}.png")
    return dict(background=bg, layers=[handle_file(f"{folder}/layer{seed}.png")], composite=bg)


def one_run(url, payload, seed):
    from gradio_client import Client
    client = Client(url, verbose=False)
    start = time.perf_counter()
    first, n, last = None, 0, None
    for update in client.submit(payload, "cosine", 10, 10, 4.5, seed, True, api_name="/inpaint"):
        n += 1
        first = first or time.perf_counter() - start
        last = update
    return {"first_step_s": first, "total_s": time.perf_counter() - start, "steps": n,
            "has_result": bool(last and last[3])}


def browser_times(url, runs=5):
    """Click Inpaint in headless Chromium and time, in the page, the first and the last step
    appearing in the status line (what a person sees)."""
    import shutil
    from playwright.sync_api import sync_playwright
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
    watch = """() => new Promise(resolve => {
        const t0 = performance.now(); let first = null;
        const read = () => (document.querySelector('#status') || {innerText: ''}).innerText;
        const obs = new MutationObserver(() => {
            const text = read();
            if (first === null && /Step 1 of/.test(text)) first = performance.now() - t0;
            if (first !== null && /Step 10 of 10/.test(text)) { obs.disconnect(); resolve([first, performance.now() - t0]); }
        });
        obs.observe(document.body, {subtree: true, childList: true, characterData: true});
        setTimeout(() => { obs.disconnect(); resolve([null, null]); }, 20000);
        document.querySelector('#inpaint-btn').click();
    })"""
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url)
        page.wait_for_selector("#editor canvas", timeout=60000)
        page.get_by_role("button", name="Use preset").click()
        time.sleep(2)
        page.evaluate(watch)  # warm-up
        for _ in range(runs):
            time.sleep(0.5)
            out.append(page.evaluate(watch))
        browser.close()
    out = [t for t in out if t[0] is not None]
    if not out:
        return {"browser_error": "no complete run seen in the page"}
    return {"browser_first_step_s": round(statistics.median(t[0] for t in out) / 1000, 3),
            "browser_10_steps_s": round(statistics.median(t[1] for t in out) / 1000, 3)}


def main():
    from app import CSS, create_app
    app = create_app(os.path.join(ROOT, "checkpoints"), "cpu")
    app.queue(default_concurrency_limit=1)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    url = f"http://127.0.0.1:{port}/"
    folder = tempfile.mkdtemp()
    payload = editor_payload(folder, 0)
    one_run(url, payload, 0)  # warm-up
    single = [one_run(url, payload, s) for s in range(5)]
    results = [None] * 4

    def user(i):
        results[i] = one_run(url, editor_payload(folder, i + 1), i)
    threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {
        "single_user_first_step_s": round(statistics.median(r["first_step_s"] for r in single), 3),
        "single_user_10_steps_s": round(statistics.median(r["total_s"] for r in single), 3),
        "four_users_all_done_s": round(time.perf_counter() - start, 3),
        "four_users_each_complete": all(r and r["steps"] == 10 and r["has_result"] for r in results),
        "four_users_slowest_total_s": round(max(r["total_s"] for r in results), 3),
    }
    if "--no-browser" not in sys.argv:
        out.update(browser_times(url))
    app.close()
    if "--out" in sys.argv:
        folder = sys.argv[sys.argv.index("--out") + 1]
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "studio.json"), "w") as fh:
            json.dump(out, fh, indent=2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
