"""The studio's responsiveness in a real browser, against the model alone, in one run.

  python -m maskgit.bench studio [--out docs/bench] [--runs 5]

Starts the studio (demo/app.py) on a free port in a subprocess, drives it in headless
Chromium with Playwright, and times from the click to the first and to the last step shown
(status line updated and the step's pictures loaded) for a 10-step inpaint and a 4-schedule
compare. In the same run it times the same decoding with the model alone (the library,
pictures decoded at every step as the studio streams them). Medians of --runs; the ratios are
browser / model. Runs in the page alternate with runs of the model
alone, so both see the same load. The server's own time to the last step (its status line)
splits the rest into work on the server (pictures) and transport + browser.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

from ..errors import MaskGITError
from .report import machine_name

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARE = ["cosine", "linear", "square", "cubic"]
STEPS = 10
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
# Click a button and time, in the page, the first and the last step shown: the status line says
# "Step k of n" (every change is seen, by a MutationObserver) and every picture of the run's view
# has loaded (polled each frame).
WATCH = r"""async ({button, pictures, steps}) => {
  const status = document.querySelector('#status');
  const text = () => (status.querySelector('.prose') || status).innerText;
  const loaded = () => { const imgs = [...document.querySelectorAll(pictures)];
    return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); };
  const final = new RegExp(`Step ${steps} of ${steps}\\b`), before = text();
  let changed = false, sawFirst = false, sawLast = false, server = null, first = null;
  const seen = new MutationObserver(() => {
    const s = text();
    changed = changed || s !== before;  // from here on the status is the new run's
    if (changed && /Step \d+ of/.test(s)) sawFirst = true;
    if (changed && final.test(s)) { sawLast = true; const m = /([0-9.]+) s\./.exec(s); server = m && 1000 * m[1]; }
  });
  seen.observe(status, {subtree: true, childList: true, characterData: true});
  const t0 = performance.now();
  document.querySelector(button).click();
  return await new Promise(resolve => {
    const tick = () => {
      const now = performance.now() - t0;
      if (first === null && sawFirst && loaded()) first = now;
      if (first !== null && sawLast && loaded()) { seen.disconnect(); return resolve({first, last: now, server, scrollY}); }
      if (now > 120000) { seen.disconnect(); return resolve({first, last: null, server, scrollY}); }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}"""
CASES = {"inpaint": dict(button="#inpaint-btn", pictures="#latent-mask img, #prediction img", steps=STEPS),
         "compare": dict(button="#compare-btn", pictures="#side-by-side img", steps=STEPS)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_studio(checkpoints, port, timeout=300, extra=()):
    """The studio (maskgit_studio.app) in a subprocess on the loopback; returns (process, url) once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "maskgit_studio.app", "--host", "127.0.0.1",
                             "--port", str(port), "--device", "cpu", "--checkpoints", checkpoints, *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url, deadline = f"http://127.0.0.1:{port}/", time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise MaskGITError(f"the studio exited: {proc.stderr.read().decode(errors='replace').strip()[-300:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise MaskGITError(f"the studio did not answer on {url} within {timeout} s")


class ModelOnly:
    """The studio's runs with the library alone, in this process: the same face, hole and
    settings, every step decoded as the studio streams it."""

    def __init__(self, checkpoints):
        from PIL import Image

        from ..pipeline import load
        self.model = load(checkpoints, device="cpu")
        self.face = np.asarray(Image.open(os.path.join(ROOT, "demo", "examples", "face_1.png")).convert("RGB"))
        self.hole = np.zeros((64, 64), bool)
        self.hole[16:48, 16:48] = True  # the studio's "center box" preset

    def time(self, name, seed=0):
        """ms to the first and to the last step of the studio's run `name`, in a worker thread."""
        out = []
        worker = threading.Thread(target=lambda: out.append(self._time(name, seed)))
        worker.start()
        worker.join()
        return out[0]

    def _time(self, name, seed):
        k = len(COMPARE) if name == "compare" else 1
        images, holes = np.repeat(self.face[None], k, 0), np.repeat(self.hole[None], k, 0)
        t0, first = time.perf_counter(), None
        for _ in self.model.inpaint_steps(images, holes, schedule=COMPARE if k > 1 else "cosine", seed=seed,
                                          sweet_spot=STEPS, total_iter=STEPS):
            first = first or time.perf_counter() - t0
        return {"first": 1000 * first, "last": 1000 * (time.perf_counter() - t0)}


def measure(url, model, runs):
    """Each case `runs` times (after a warm-up), alternating a run in the page (headless Chromium
    at 1366x768) with the same run of the model alone, so both see the same machine load."""
    from playwright.sync_api import sync_playwright
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url)
        page.wait_for_selector("#editor [data-ready] canvas", timeout=120000)
        # the layout has settled (fonts and pictures loaded): strokes land where aimed
        page.wait_for_function("() => document.fonts.status === 'loaded' && [...document.images].every(i => i.complete)")
        page.get_by_role("button", name="Use preset").click()  # center box on the first face
        page.wait_for_function("() => /hole: /.test(document.querySelector('#editor').innerText)", timeout=30000)
        for name, case in CASES.items():
            pairs = []
            for i in range(runs + 1):  # the first pair warms up
                in_page = page.evaluate(WATCH, case)
                time.sleep(1.5)  # the run's playback frames and downloads are made after its last step
                pairs.append((in_page, model.time(name, seed=0)))
            pairs = pairs[1:]
            if any(b["last"] is None for b, _ in pairs):
                raise MaskGITError(f"a {name} run did not finish in the page")
            med = lambda f: statistics.median(f(b, m) for b, m in pairs)  # noqa: E731
            out[name] = {"model_first_ms": med(lambda b, m: m["first"]), "model_last_ms": med(lambda b, m: m["last"]),
                         "click_to_first_ms": med(lambda b, m: b["first"]), "click_to_last_ms": med(lambda b, m: b["last"]),
                         "server_last_ms": med(lambda b, m: b["server"] or 0),
                         "last_ratio": med(lambda b, m: b["last"] / m["last"]),
                         "scroll_y_max": max(b["scrollY"] for b, _ in pairs)}
        browser.close()
    return out


def machine():
    """What the numbers were measured on, and how busy it was (1-minute load average)."""
    return {"machine": machine_name(), "load_average_1min": round(os.getloadavg()[0], 2)}


def run_studio(args):
    if shutil.which("chromium") is None:
        raise MaskGITError("headless Chromium is needed: apt-get install -y chromium (and pip install playwright)")
    model = ModelOnly(args.checkpoints)
    proc, url = start_studio(args.checkpoints, free_port())
    try:
        cases = measure(url, model, args.runs)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    res = {"runs": args.runs, "steps": STEPS, "compare_schedules": COMPARE, **machine()}
    for name, case in cases.items():
        res[name] = {k: round(v, 2) if k == "last_ratio" else round(v) for k, v in case.items()}
        res[name]["first_ratio"] = round(case["click_to_first_ms"] / case["model_first_ms"], 2)
    return res


def report(res):
    """A readable table (stderr) of a run_studio result."""
    lines = ["run       model first/last ms   page first/last ms   server last ms   last: page/model"]
    for name in ("inpaint", "compare"):
        r = res[name]
        lines.append(f"{name:9} {r['model_first_ms']:>6} / {r['model_last_ms']:<6}       {r['click_to_first_ms']:>6} / "
                     f"{r['click_to_last_ms']:<6}      {r['server_last_ms']!s:>8}          {r['last_ratio']:.2f}x")
    return "\n".join(lines)
