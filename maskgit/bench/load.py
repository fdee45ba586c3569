"""Many users at once: streaming /inpaint requests through gradio_client on the loopback.

  python -m maskgit.bench load [--users 1 4 8 16] [--concurrency 16] [--out docs/bench]

Starts the studio (demo/app.py, --concurrency N: its model runs at once, sharing forward
passes) in a subprocess. For each number of users, that many clients submit a 10-step
/inpaint at the same moment (each its own face, hole and seed) and stream it to the end; the
time from submit to the first streamed step and to the last is taken per user. Reports the
median and 95th percentile of both, and whether every user got all steps and a result. Each
client reads its stream with a deadline (`stream`), so a dead server cannot hang the bench.
"""
import os
import statistics
import tempfile
import threading
import time

import numpy as np
from PIL import Image

from ..client import stream
from ..errors import MaskGITError
from .studio import free_port, machine, start_studio

STEPS = 10


def editor_payload(folder, seed):
    """An editor value for the API: a random face and a hole of its own (256x256 files)."""
    from gradio_client import handle_file
    rng = np.random.default_rng(seed)
    face = np.kron(rng.integers(0, 255, (64, 64, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    layer = np.zeros((256, 256, 4), np.uint8)
    top, left = rng.integers(16, 112, 2)
    layer[top:top + 128, left:left + 128, 3] = 255
    Image.fromarray(face).save(os.path.join(folder, f"face{seed}.png"))
    Image.fromarray(layer).save(os.path.join(folder, f"hole{seed}.png"))
    bg = handle_file(os.path.join(folder, f"face{seed}.png"))
    return dict(background=bg, layers=[handle_file(os.path.join(folder, f"hole{seed}.png"))], composite=bg)


def one_user(client, payload, seed, start, out):
    """Wait for the common start, stream one 10-step /inpaint, record its times."""
    start.wait()
    t0, first, n, last = time.perf_counter(), None, 0, None
    try:
        for update in stream(client.submit(payload, "cosine", STEPS, STEPS, 4.5, seed, True, api_name="/inpaint"),
                             idle_timeout=120):
            first = first if first is not None else time.perf_counter() - t0
            n, last = n + 1, update
        out.update(first_s=first, last_s=time.perf_counter() - t0, complete=n == STEPS and bool(last[4]))
    except Exception as e:  # reported in the table: the bench goes on
        out.update(first_s=first, last_s=time.perf_counter() - t0, complete=False, error=str(e)[:200])


def p95(values):
    return float(np.percentile(values, 95))


def users_at_once(url, n, folder):
    """n clients streaming at the same moment: per-user times and their median / p95."""
    from gradio_client import Client
    # Pictures stay on the server (their URLs come back): a remote user would fetch them on its own
    # machine, not on the 2 cores the studio runs on.
    clients = [Client(url, verbose=False, download_files=False) for _ in range(n)]
    payloads = [editor_payload(folder, i) for i in range(n)]
    start, results = threading.Event(), [dict() for _ in range(n)]
    threads = [threading.Thread(target=one_user, args=(clients[i], payloads[i], i, start, results[i]))
               for i in range(n)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join()
    firsts = [r["first_s"] for r in results if r.get("first_s") is not None]
    lasts = [r["last_s"] for r in results]
    row = {"users": n, "all_complete": all(r["complete"] for r in results),
           "first_median_s": round(statistics.median(firsts), 2) if firsts else None,
           "first_p95_s": round(p95(firsts), 2) if firsts else None,
           "last_median_s": round(statistics.median(lasts), 2), "last_p95_s": round(p95(lasts), 2)}
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        row["errors"] = errors[:3]
    return row


def run_load(args):
    proc, url = start_studio(args.checkpoints, free_port(), extra=["--concurrency", str(args.concurrency)])
    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            users_at_once(url, 1, folder)  # warm-up
            for n in args.users:
                rows.append(users_at_once(url, n, folder))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if not rows:
        raise MaskGITError("no load measured: give --users")
    return {"concurrency": args.concurrency, "steps": STEPS, "rows": rows, **machine()}


def report(res):
    lines = [f"studio concurrency {res['concurrency']}: {res['steps']}-step /inpaint, seconds from submit",
             "users  first median / p95   last median / p95   all complete"]
    for r in res["rows"]:
        lines.append(f"{r['users']:>5}  {r['first_median_s']!s:>12} / {r['first_p95_s']!s:<6} "
                     f"{r['last_median_s']:>10} / {r['last_p95_s']:<8} {r['all_complete']}")
    return "\n".join(lines)
