"""Bad input, faults and load, replayed: the command line's and the studio API's bad-input
catalogues, the kill tests, and the load levels, in one table.

  maskgit-bench reliability --out docs/bench                 # everything (about 15 min on 2 cores)
  maskgit-bench reliability --users --skip-cli               # the studio's catalogue and the kills only

Everything runs on the loopback, on files made here. A bad request passes when it gets a
one-line message and the studio keeps serving; an odd but valid one (16-bit, rotated,
transparent pictures, a late sweet spot) passes when it is served. The kill tests stop the
studio with SIGKILL while a client streams (the client must get an error within seconds, a
restart must serve again) and a training run between saves (the resumed run must lose at most
one save interval and continue from its state).
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import MaskGITError
from .load import stream, users_at_once
from .reliability_cli import Fixtures, run_cli_catalogue, summary
from .studio import free_port, machine, start_studio

SAVE_SECONDS = 3  # the killed training run's save interval


@dataclass
class ApiCase:
    name: str
    api: str
    args: tuple
    error: str = None  # a word the one-line message must hold; None: the request must be served


def editor(files, background=None, layer=None):
    """An editor value (background, layers, composite) from files made by Fixtures."""
    from gradio_client import handle_file
    bg = handle_file(background or files["face256"])
    return dict(background=bg, layers=[handle_file(layer or files["layer"])], composite=bg)


def api_fixtures(f):
    """Editor-sized pictures beside the command line's fixtures."""
    face = np.asarray(Image.open(f.face).convert("RGB"))
    paths = {"face256": f.path("face256.png"), "layer": f.path("layer.png"), "empty": f.path("empty.png"),
             "small": f.path("small.png"), "rgba": f.path("rgba.png")}
    Image.fromarray(face).resize((256, 256), Image.NEAREST).save(paths["face256"])
    layer = np.zeros((256, 256, 4), np.uint8)
    layer[80:176, 64:192] = (255, 0, 255, 255)
    Image.fromarray(layer).save(paths["layer"])
    Image.fromarray(np.zeros((256, 256, 4), np.uint8)).save(paths["empty"])
    Image.fromarray(np.zeros((128, 64, 4), np.uint8)).save(paths["small"])
    rgba = np.dstack([face, np.full((64, 64), 128, np.uint8)])
    Image.fromarray(rgba).save(paths["rgba"])
    return paths


def api_cases(f, files):
    ok = editor(files)
    inpaint = lambda name, *args, error=None, value=ok: ApiCase(  # noqa: E731
        f"/inpaint: {name}", "/inpaint", (value, *args), error)
    plain = ("cosine", 3, 3, 4.5, 0, True)
    return [
        inpaint("no hole painted", *plain, error="Paint a hole", value=editor(files, layer=files["empty"])),
        inpaint("layer of another size", *plain, error="shape", value=editor(files, layer=files["small"])),
        inpaint("sweet spot above total", "cosine", 8, 5, 4.5, 0, True, error="sweet spot"),
        inpaint("total iterations 0", "cosine", 1, 0, 4.5, 0, True, error="minimum"),
        inpaint("total iterations 1000", "cosine", 10, 1000, 4.5, 0, True, error="maximum"),
        inpaint("unknown schedule", "zigzag", 3, 3, 4.5, 0, True, error="zigzag"),
        inpaint("negative temperature", "cosine", 3, 3, -1.0, 0, True, error="minimum"),
        inpaint("seed beyond 64 bits", "cosine", 3, 3, 4.5, 2 ** 64, True, error="seed"),
        inpaint("seed below -2**63", "cosine", 3, 3, 4.5, -2 ** 63 - 1, True, error="seed"),
        inpaint("text file as the face", *plain, error="not a readable image", value=editor(files, background=f.text)),
        inpaint("truncated PNG as the face", *plain, error="not a readable image", value=editor(files, background=f.truncated)),
        inpaint("decompression bomb as the face", *plain, error="pixels", value=editor(files, background=f.bomb)),
        inpaint("16-bit picture (valid)", *plain, value=editor(files, background=f.face16)),
        inpaint("EXIF-rotated JPEG (valid)", *plain, value=editor(files, background=f.rotated)),
        inpaint("transparent picture (valid)", *plain, value=editor(files, background=files["rgba"])),
        inpaint("sweet spot 20 of 30 (valid)", "cosine", 20, 30, 4.5, 0, True),
        ApiCase("/resample: nothing to resample", "/resample", (ok, *plain), "Resample"),
        ApiCase("/compare: a schedule twice", "/compare", (ok, ["cosine", "cosine"], 3, 3, 4.5, 0, True), "once"),
        ApiCase("/compare: 31 schedules", "/compare", (ok, ["cosine"] * 31, 3, 3, 4.5, 0, True), ""),
        ApiCase("/compare: unknown schedule", "/compare", (ok, ["cosine", "zigzag"], 3, 3, 4.5, 0, True), ""),
        ApiCase("/candidates: 9", "/candidates", (ok, 9, "cosine", 3, 3, 4.5, 0, True), ""),
        ApiCase("/candidates: 0", "/candidates", (ok, 0, "cosine", 3, 3, 4.5, 0, True), ""),
        ApiCase("/compare: no schedules", "/compare", (ok, [], 3, 3, 4.5, 0, True), "at least one"),
        ApiCase("/candidates: sweet spot above total", "/candidates", (ok, 2, "cosine", 8, 5, 4.5, 0, True), "sweet spot"),
        ApiCase("/compare: sweet spot 0", "/compare", (ok, ["cosine"], 0, 3, 4.5, 0, True), ""),
        ApiCase("/candidates: 2 (valid)", "/candidates", (ok, 2, "cosine", 3, 3, 4.5, 0, True)),
        ApiCase("/compare: 4 schedules (valid)", "/compare",
                (ok, ["cosine", "linear", "square", "cubic"], 3, 3, 4.5, 0, True)),
    ]


def judge_api(client, case):
    try:
        client.predict(*case.args, api_name=case.api)
    except Exception as e:  # gradio_client raises the server's message as an AppError (or ValueError)
        message = str(e).strip()
        problems = [] if case.error is not None else [f"refused: {message[:120]}"]
        if case.error is not None and ("\n" in message or "Traceback" in message or not message):
            problems.append("not a one-line message")
        if case.error and case.error.lower() not in message.lower():
            problems.append(f"message lacks {case.error!r}")
        return {"case": case.name, "passed": not problems, "problems": problems, "message": message[:160]}
    problems = [] if case.error is None else ["accepted"]
    return {"case": case.name, "passed": not problems, "problems": problems, "message": ""}


def run_api_catalogue(url, f, files):
    """Every API case against a live studio, then a valid request: is it still serving?"""
    from gradio_client import Client
    client = Client(url, verbose=False)
    results = []
    for case in api_cases(f, files):
        results.append(judge_api(client, case))
        print(("pass " if results[-1]["passed"] else "FAIL ") + case.name, file=sys.stderr, flush=True)
    served = judge_api(client, ApiCase("studio still serving after the catalogue", "/inpaint",
                                       (editor(files), "linear", 3, 3, 4.5, 1, True)))
    results.append(served)
    return results


def studio_kill(checkpoints, files, idle_timeout=5.0):
    """SIGKILL the studio while a client streams; then restart it on the same port."""
    from gradio_client import Client
    port = free_port()
    proc, url = start_studio(checkpoints, port)
    try:
        updates = stream(Client(url, verbose=False).submit(editor(files), "cosine", 30, 30, 4.5, 0, True,
                                                           api_name="/inpaint"), idle_timeout=idle_timeout)
        next(updates)
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        try:
            for _ in updates:
                pass
            error = "none: the stream ended as if complete"
        except (TimeoutError, ConnectionError) as e:
            error = type(e).__name__
        seconds = round(time.monotonic() - killed, 1)
    finally:
        proc.kill()
        proc.wait()
    proc, url = start_studio(checkpoints, port)
    try:
        served = bool(Client(url, verbose=False).predict(editor(files), "cosine", 3, 3, 4.5, 0, True,
                                                         api_name="/inpaint")[4])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    passed = error in ("TimeoutError", "ConnectionError") and seconds <= idle_timeout + 5 and served
    return {"case": "studio killed while streaming", "passed": passed, "client_error": error,
            "seconds_to_error": seconds, "idle_timeout_s": idle_timeout, "restart_serves": served}


def synthetic_faces(folder, n=24):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        os.makedirs(os.path.join(folder, split), exist_ok=True)
        for i in range(n):
            face = np.kron(rng.integers(0, 255, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
            Image.fromarray(face).save(os.path.join(folder, split, f"{i}.png"))


def training_kill(checkpoints, root):
    """SIGKILL a small transformer run between saves, resume it, and count what was lost."""
    data, out = os.path.join(root, "data"), os.path.join(root, "run")
    synthetic_faces(data)
    argv = [sys.executable, "-m", "maskgit", "train", "transformer", "--data-root", data, "--out", out,
            "--vqgan", checkpoints, "--dim", "32", "--layers", "1", "--heads", "2", "--batch-size", "4",
            "--device", "cpu", "--val-every", "100000", "--save-seconds", str(SAVE_SECONDS)]
    log = open(os.path.join(root, "train.log"), "w")
    proc = subprocess.Popen(argv + ["--steps", "1000000"], stdout=log, stderr=subprocess.STDOUT)
    state = os.path.join(out, "state.json")
    deadline = time.time() + 300
    while not os.path.exists(state):  # the first save
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.close()
            tail = open(log.name).read().strip().splitlines()[-1:] or ["(no output)"]
            return {"case": "training killed and resumed", "passed": False,
                    "problems": [f"no state was saved: {tail[0][-200:]}"]}
        time.sleep(0.2)
    time.sleep(SAVE_SECONDS * 1.7)  # somewhere between two saves
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lost = time.time() - os.path.getmtime(state)
    saved_step = json.load(open(state))["info"]["step"]
    resumed = subprocess.run(argv + ["--steps", str(saved_step + 3)], stdout=log, stderr=subprocess.STDOUT)
    final_step = json.load(open(state))["info"]["step"]
    passed = resumed.returncode == 0 and final_step == saved_step + 3 and lost <= SAVE_SECONDS + 2
    return {"case": "training killed and resumed", "passed": passed, "save_interval_s": SAVE_SECONDS,
            "seconds_lost": round(lost, 1), "saved_step": saved_step, "resumed_to": final_step}


def run_reliability(args):
    results, kills, load_rows = [], [], []
    with tempfile.TemporaryDirectory(prefix="maskgit-reliability-") as root:
        f = Fixtures(root, args.checkpoints)
        files = api_fixtures(f)
        if not args.skip_cli:
            results += [dict(r, where="command line") for r in run_cli_catalogue(args.checkpoints)]
        proc, url = start_studio(args.checkpoints, free_port())
        try:
            results += [dict(r, where="studio API") for r in run_api_catalogue(url, f, files)]
            for n in args.users:
                load_rows.append(users_at_once(url, n, root))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        kills.append(studio_kill(args.checkpoints, files))
        kills.append(training_kill(args.checkpoints, root))
    if not results:
        raise MaskGITError("nothing was run")
    by_where = {w: summary([r for r in results if r["where"] == w]) for w in ("command line", "studio API")}
    users = lambda n: f"{n} user" + "s" * (n != 1)  # noqa: E731
    return {"summary": {**{f"{w}: passed": f"{s['passed']} of {s['cases']}" for w, s in by_where.items() if s["cases"]},
                        **{k["case"]: "passed" if k["passed"] else "FAILED" for k in kills},
                        **{f"load: {users(r['users'])}, p95 to last step (s)": r["last_p95_s"] for r in load_rows}},
            "cases": results, "kills": kills, "load": load_rows, **machine()}


def report(res):
    lines = [f"{k}: {v}" for k, v in res["summary"].items()]
    lines += [f"FAIL {r['where']}: {r['case']} ({'; '.join(r['problems'])})" for r in res["cases"] if not r["passed"]]
    lines += [f"{k['case']}: {json.dumps({x: y for x, y in k.items() if x not in ('case',)})}" for k in res["kills"]]
    return "\n".join(lines)
