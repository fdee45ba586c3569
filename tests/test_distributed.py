"""Data-parallel training on CPU (gloo): every replica holds the same weights after a run under
a time budget and after its resume, and a resume not every rank can see is refused."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch.multiprocessing as mp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", os.path.join(ROOT, "train.py"), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def final_record(out):
    with open(os.path.join(out, "log.jsonl")) as f:
        return [json.loads(line) for line in f if '"final"' in line][-1]


@pytest.mark.parametrize("stage", ["vqgan", "transformer"])
def test_replicas_agree_under_a_time_budget_and_after_a_resume(tiny_data_root, tmp_path, stage):
    out = str(tmp_path / stage)
    common = ["--data-root", tiny_data_root, "--out", out, "--batch-size", "4", "--device", "cpu",
              "--val-every", "1000", "--save-seconds", "1"]
    if stage == "vqgan":
        common += ["--channels", "8", "16", "--res-blocks", "1", "--disc-weight", "0.1", "--gan-start", "0.5",
                   "--disc-channels", "8"]
    else:
        tokenizer = str(tmp_path / "tok")
        done = torchrun("vqgan", "--data-root", tiny_data_root, "--out", tokenizer, "--steps", "2", "--batch-size",
                        "4", "--channels", "8", "8", "16", "--res-blocks", "1", "--disc-weight", "0", "--device", "cpu")
        assert done.returncode == 0, done.stderr[-2000:]
        common += ["--vqgan", tokenizer, "--dim", "32", "--layers", "1", "--heads", "2"]
    first = torchrun(stage, *common, "--minutes", "0.05")
    assert first.returncode == 0, first.stderr[-2000:]
    record = final_record(out)
    assert record["replicas_agree"] is True and record["step"] > 0
    again = torchrun(stage, *common, "--minutes", "0.1")
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = final_record(out)
    assert resumed["replicas_agree"] is True and resumed["step"] > record["step"]
    assert f"resumed {out}" in again.stdout


def _load_on_each_rank(rank, folder, port, result):
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from maskgit.errors import MaskGITError
    from maskgit.training.common import Distributed
    ddp = Distributed("cpu")
    seen = {0: {"step": 7}, 1: None}[rank]  # rank 1's disk holds no state
    try:
        ddp.load_state(folder, lambda _: None if seen is None else ({}, seen))
        result[rank] = "loaded"
    except MaskGITError as e:
        result[rank] = str(e)
    ddp.close()


def test_a_resume_that_only_rank_0_sees_is_refused_on_every_rank(tmp_path):
    result = mp.Manager().dict()
    mp.spawn(_load_on_each_rank, args=(str(tmp_path), free_port(), result), nprocs=2)
    assert all("do not all see the same state" in result[r] for r in (0, 1))
