#!/usr/bin/env python3
"""peer_torch_gpu.py: the study network (specs/model.md) in PyTorch on the GPU, as the peer of
cxr-train in tests/gpu/device_run.sh: same shapes (1x256x256, batch 64, 5216 images per epoch),
Adam, class-weighted cross-entropy, dropout 0.25, leaky ReLU 0.5. The training images are a
random tensor resident in GPU memory, batches gathered by a shuffled index (as cxr-train's
resident mode), so this times compute only.

Variants: eager, channels_last (eager with NHWC memory format), compile (torch.compile).
Precisions: fp32 (TF32 off), tf32 (TF32 matmul/cudnn on), bf16 (autocast bf16, fp32 weights).
Prints one JSON line per (variant, precision): {"impl","variant","precision","s_per_epoch",
"img_per_s","gpu_mem_mb",...} or {"error": ...} when the variant cannot run (e.g. torch.compile
without a compiler). --variant and --precision take comma-separated lists, run in one process
(one import and CUDA start for all; each line is flushed as soon as its run ends).

Usage: peer_torch_gpu.py --variant eager,channels_last --precision fp32,tf32 [--epochs 3]
"""
import argparse
import json
import sys
import time

from peer_common import study_net


VARIANTS = ("eager", "channels_last", "compile")
PRECISIONS = ("fp32", "tf32", "bf16")


def run(a, variant, precision):
    """One (variant, precision): its JSON line as a dict."""
    a = argparse.Namespace(**vars(a))
    a.variant, a.precision = variant, precision
    rec = {"impl": "torch", "variant": a.variant, "precision": a.precision}
    try:
        import torch
        import torch.nn as nn
        rec["impl"] = f"torch-{torch.__version__}"
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        dev = torch.device("cuda")
        rec["device"] = torch.cuda.get_device_name(0)
        tf32 = a.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
        torch.manual_seed(1)
        model = study_net(nn, a.size).to(dev).train()
        if a.variant == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        step_model = torch.compile(model) if a.variant == "compile" else model
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
        lossf = nn.CrossEntropyLoss(weight=torch.tensor([1.94, 0.67], device=dev))
        data = torch.rand(a.images, 1, a.size, a.size, device=dev) * 2 - 1
        labels = (torch.arange(a.images, device=dev) % 4 != 0).long()
        if a.variant == "channels_last":
            data = data.contiguous(memory_format=torch.channels_last)

        def epoch():
            perm = torch.randperm(a.images, device=dev)
            loss = None
            for i in range(0, a.images, a.batch):
                idx = perm[i:i + a.batch]
                x, y = data[idx], labels[idx]
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                    loss = lossf(step_model(x), y)
                loss.backward()
                opt.step()
            return loss

        torch.cuda.reset_peak_memory_stats()
        epoch()  # warm-up: cudnn.benchmark choices, torch.compile
        torch.cuda.synchronize()
        times = []
        for _ in range(a.epochs):
            t0 = time.perf_counter()
            loss = epoch()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        s = sorted(times)[len(times) // 2]
        rec.update(s_per_epoch=round(s, 4), img_per_s=round(a.images / s, 1),
                   epochs_s=[round(t, 4) for t in times], loss=float(loss),
                   gpu_mem_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1),
                   data_wait_frac=0.0)
    except Exception as e:  # report, do not abort the benchmark table
        rec["error"] = f"{type(e).__name__}: {e}"[:500]
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="eager", help="comma-separated: " + ",".join(VARIANTS))
    ap.add_argument("--precision", default="fp32", help="comma-separated: " + ",".join(PRECISIONS))
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up)")
    ap.add_argument("--images", type=int, default=5216)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    variants, precisions = a.variant.split(","), a.precision.split(",")
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"--variant {v}: expected one of {', '.join(VARIANTS)}")
    for p in precisions:
        if p not in PRECISIONS:
            ap.error(f"--precision {p}: expected one of {', '.join(PRECISIONS)}")
    for v in variants:
        for p in precisions:
            print(json.dumps(run(a, v, p)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
