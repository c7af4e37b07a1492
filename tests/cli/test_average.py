"""test_average.py BIN SAMPLE: cxr-train --average-from E (weight averaging, specs/model.md).
The training weights are those of a run without averaging, to the bit; the checkpoint's /average
is the float32 running mean of the epoch-end weights from epoch E on, computed here from a run
without averaging stopped after each epoch; the log's epochs say how many epochs their
evaluation averaged; a resume continues the mean to the bit; cxr-eval and cxr-export read the
mean, not the training weights, and cxr-eval says so; a resume with another --average-from, and a file whose
average_count contradicts its epochs, are refused."""

import json
import os
import shutil
import tempfile

import h5py
import numpy as np

from clitest import BIN, SAMPLE, fail, finish, run

NAMES = ["conv1.w", "conv1.b", "conv2.w", "conv2.b", "conv3.w", "conv3.b", "conv4.w",
         "conv4.b", "dense1.w", "dense1.b", "dense2.w", "dense2.b", "out.w", "out.b"]


def tensors(path, group):
    with h5py.File(path, "r") as f:
        return {n: f[group][n][()] for n in NAMES} if group in f else None


def same(a, b):
    return a is not None and b is not None and all(np.array_equal(a[n], b[n]) for n in NAMES)


def attrs(path):
    with h5py.File(path, "r") as f:
        return {k: f.attrs[k] for k in f.attrs}


def epochs(log):
    return [x for x in map(json.loads, open(log)) if x["type"] == "epoch"]


W = tempfile.mkdtemp(prefix="cxr-average.")
try:
    store = f"{W}/s.h5"
    run("cxr-pack", SAMPLE, "-o", store, "--size", "32", "--shard", "8", "--val-fraction",
        "0.25", "--threads", "2", "--quiet")
    # a constant rate, so that a run stopped after epoch 2 and resumed for 3 is the 3-epoch run
    T = ["--device", "cpu", "--batch", "8", "--threads", "2", "--no-monitor", "-q",
         "--max-steps", "2", "--schedule", "constant", "--warmup-steps", "0"]

    # ---- reference: no averaging, the weights after epochs 2 and 3
    run("cxr-train", store, *T, "--epochs", "2", "--checkpoint", f"{W}/b.h5")
    shutil.copy(f"{W}/b.h5", f"{W}/b2.h5")
    run("cxr-train", store, *T, "--epochs", "3", "--resume", f"{W}/b.h5")
    w2, w3 = tensors(f"{W}/b2.h5", "params"), tensors(f"{W}/b.h5", "params")
    if tensors(f"{W}/b.h5", "average") is not None or "average_count" in attrs(f"{W}/b.h5"):
        fail("a run without averaging wrote an average")

    # ---- averaging from epoch 2 in one run
    run("cxr-train", store, *T, "--epochs", "3", "--average-from", "2", "--checkpoint",
        f"{W}/a.h5", "--log", f"{W}/a.jsonl")
    if not same(tensors(f"{W}/a.h5", "params"), w3):
        fail("averaging changed the training weights")
    want = {n: w2[n] + (w3[n] - w2[n]) / np.float32(2) for n in NAMES}
    if any(want[n].dtype != np.float32 for n in NAMES):
        fail("the reference mean is not float32")
    avg = tensors(f"{W}/a.h5", "average")
    if not same(avg, want):
        fail("/average is not the float32 mean of epochs 2 and 3")
    if same(avg, w3):
        fail("the mean equals the last weights: the test cannot tell them apart")
    a = attrs(f"{W}/a.h5")
    if (a.get("average_from"), a.get("average_count")) != (2, 2):
        fail(f"attributes average_from/average_count: {a.get('average_from')}, "
             f"{a.get('average_count')}")
    got = [e.get("averaged") for e in epochs(f"{W}/a.jsonl")]
    if got != [None, 1, 2]:
        fail(f"log 'averaged' per epoch: {got}, want [None, 1, 2]")
    # the best model (by val AUC) holds the mean of its own epochs, or none before epoch 2
    best = attrs(f"{W}/a.best.h5")
    if best.get("average_count", 0) != max(0, int(best["epoch"]) - 1):
        fail(f"best model of epoch {best['epoch']} averages {best.get('average_count')} epochs")

    # ---- the tools read the mean: cxr-export's weights are /average, cxr-eval agrees with it
    run("cxr-export", f"{W}/a.h5", "--weights", "-o", f"{W}/a.w.h5")
    if not same(tensors(f"{W}/a.w.h5", "params"), want):
        fail("cxr-export --weights did not export the mean")
    ev = {}
    for name in ("a.h5", "a.w.h5", "b.h5"):
        r = run("cxr-eval", f"{W}/{name}", store, "--split", "val", "--threads", "2", "--json")
        ev[name] = json.loads(r.stdout) if r.returncode == 0 else {}
    if ev["a.h5"].get("loss") != ev["a.w.h5"].get("loss") or "loss" not in ev["a.h5"]:
        fail(f"cxr-eval: checkpoint {ev['a.h5'].get('loss')} vs its weights "
             f"{ev['a.w.h5'].get('loss')}")
    if ev["a.h5"].get("averaged_epochs") != 2 or ev["a.w.h5"].get("averaged_epochs") != 2 or \
            "averaged_epochs" in ev["b.h5"]:
        fail(f"cxr-eval --json averaged_epochs: {ev['a.h5'].get('averaged_epochs')}, "
             f"{ev['b.h5'].get('averaged_epochs')} (want 2, absent)")
    r = run("cxr-eval", f"{W}/a.h5", store, "--split", "val", "--threads", "2")
    if b"weights   the mean of epochs 2-3" not in r.stdout:
        fail(f"cxr-eval's report does not say the weights are a mean: {r.stdout[:300]!r}")
    if ev["a.h5"].get("loss") == ev["b.h5"].get("loss"):
        fail("cxr-eval of the averaged checkpoint gives the training weights' loss")
    r = run("cxr-eval", f"{W}/a.h5", store, "--split", "val", "--threads", "2", "--json",
            "--ensemble", f"{W}/b.h5")
    members = json.loads(r.stdout).get("ensemble", []) if r.returncode == 0 else []
    if [m.get("averaged_epochs") for m in members] != [2, None]:
        fail(f"cxr-eval --ensemble --json members' averaged_epochs: {members}")
    # ... and the text report too (it said "(epoch 3)" alone, a scale walk)
    r = run("cxr-eval", f"{W}/a.h5", store, "--split", "val", "--threads", "2",
            "--ensemble", f"{W}/b.h5")
    if b"a.h5 (epoch 3, the mean of 2 epochs): loss" not in r.stdout or \
            b"b.h5 (epoch 3): loss" not in r.stdout:
        fail(f"cxr-eval --ensemble's members do not say which is a mean: {r.stdout[:400]!r}")
    log3 = epochs(f"{W}/a.jsonl")[-1]
    if abs(ev["a.h5"].get("loss", 0) - log3["eval_loss"]) > 1e-6 * abs(log3["eval_loss"]):
        fail(f"cxr-eval loss {ev['a.h5'].get('loss')} is not the log's epoch-3 eval_loss "
             f"{log3['eval_loss']}")

    # ---- a resume continues the mean to the bit
    run("cxr-train", store, *T, "--epochs", "2", "--average-from", "2", "--checkpoint",
        f"{W}/c.h5")
    if not same(tensors(f"{W}/c.h5", "average"), w2):
        fail("the mean of one epoch is not its weights")
    # ... which an ensemble's member says, as --json's averaged_epochs 1 does
    r = run("cxr-eval", f"{W}/c.h5", store, "--split", "val", "--threads", "2",
            "--ensemble", f"{W}/b.h5")
    if b"c.h5 (epoch 2, the mean of 1 epoch)" not in r.stdout:
        fail(f"cxr-eval --ensemble's member of a one-epoch mean does not say so: {r.stdout[:400]!r}")
    run("cxr-train", store, *T, "--epochs", "3", "--resume", f"{W}/c.h5", "--log",
        f"{W}/c.jsonl")
    if not same(tensors(f"{W}/c.h5", "average"), want) or \
            not same(tensors(f"{W}/c.h5", "params"), w3):
        fail("resumed: /average or /params differs from the uninterrupted run's")
    if [e.get("averaged") for e in epochs(f"{W}/c.jsonl")] != [2]:
        fail("resumed log: epoch 3 does not say it averaged 2 epochs")
    # ... also from a mean of 2 epochs, which differs from the training weights
    run("cxr-train", store, *T, "--epochs", "4", "--resume", f"{W}/b.h5")
    w4 = tensors(f"{W}/b.h5", "params")
    want4 = {n: want[n] + (w4[n] - want[n]) / np.float32(3) for n in NAMES}
    shutil.copy(f"{W}/a.h5", f"{W}/d.h5")
    run("cxr-train", store, *T, "--epochs", "4", "--resume", f"{W}/d.h5")
    if not same(tensors(f"{W}/d.h5", "average"), want4) or \
            not same(tensors(f"{W}/d.h5", "params"), w4):
        fail("resumed from a mean of 2 epochs: /average or /params differs from the reference")
    # ... whose members in an ensemble say how many epochs their mean holds (3: epochs 2-4),
    # not the epoch it began at
    r = run("cxr-eval", f"{W}/d.h5", store, "--split", "val", "--threads", "2", "--json",
            "--ensemble", f"{W}/a.h5")
    members = json.loads(r.stdout).get("ensemble", []) if r.returncode == 0 else []
    if [m.get("averaged_epochs") for m in members] != [3, 2]:
        fail(f"cxr-eval --ensemble --json members' averaged_epochs: {members} (want 3, 2)")

    # ---- refused: another --average-from on a resume; an inconsistent average_count
    r = run("cxr-train", store, *T, "--epochs", "4", "--resume", f"{W}/c.h5", "--average-from",
            "3", want=2)
    if b"--average-from 3 differs from the checkpoint's 2" not in r.stderr:
        fail(f"resume with another --average-from: {r.stderr!r}")
    shutil.copy(f"{W}/a.h5", f"{W}/bad.h5")
    with h5py.File(f"{W}/bad.h5", "r+") as f:
        f.attrs.modify("average_count", np.int32(3))
    r = run("cxr-eval", f"{W}/bad.h5", store, "--split", "val", "--threads", "2", want=None)
    if r.returncode == 0 or b"average_count" not in r.stderr or b"bad.h5" not in r.stderr:
        fail(f"average_count 3 after 3 epochs from 2 is not refused: {r.returncode} "
             f"{r.stderr!r}")
    # ... and a file whose count was removed (its tools would read the training weights) or
    # whose /average lacks a count, and an averaged checkpoint without its training weights
    for edit, what in (("count", "average_count"), ("from", "/average"), ("params", "params")):
        shutil.copy(f"{W}/a.h5", f"{W}/bad.h5")
        with h5py.File(f"{W}/bad.h5", "r+") as f:
            if edit == "count":
                del f.attrs["average_count"]
            elif edit == "from":
                del f.attrs["average_count"], f.attrs["average_from"]
            else:
                del f["params"]
        for tool in ("cxr-eval", "cxr-train"):
            args = [store, "--split", "val", "--threads", "2"] if tool == "cxr-eval" else \
                [*T, "--epochs", "4", "--resume", f"{W}/bad.h5", "--no-checkpoint"]
            if tool == "cxr-eval":
                r = run(tool, f"{W}/bad.h5", *args, want=None)
            else:
                r = run(tool, store, *args, want=None)
            if r.returncode != 3 or what.encode() not in r.stderr:
                fail(f"{tool}, {edit} edited: exit {r.returncode} {r.stderr[-300:]!r}")

    # ---- averaging that never starts is said
    r = run("cxr-train", store, *T, "--epochs", "1", "--average-from", "5", "--no-checkpoint")
    if b"weight averaging from epoch 5 is after the run's last epoch (1)" not in r.stderr:
        fail(f"no warning for an average that never starts: {r.stderr!r}")
    # ... but one that starts at the last epoch is not (it averages that one epoch)
    r = run("cxr-train", store, *T, "--epochs", "1", "--average-from", "1", "--no-checkpoint")
    if b"is after the run's last epoch" in r.stderr:
        fail(f"averaging from the last epoch said to never start: {r.stderr!r}")
finally:
    shutil.rmtree(W, ignore_errors=True)
finish()
