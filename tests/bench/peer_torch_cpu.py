#!/usr/bin/python3
"""peer_torch_cpu.py: the study network (specs/model.md) in PyTorch on the CPU, same shapes and
step as bench_train_cpu.c (forward, class-weighted cross-entropy, backward, Adam) on random
data. Prints one key=value line like the C driver, for tests/bench/bench_train_cpu.sh.
Usage: peer_torch_cpu.py [batch=64] [timed_steps=3] [warmup=1] [threads=2] [image_size=256]"""
import sys
import time

import torch
import torch.nn as nn

from peer_common import study_net


def main():
    a = [int(v) for v in sys.argv[1:]]
    batch, steps, warm, threads, s = (a + [64, 3, 1, 2, 256][len(a):])[:5]
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = study_net(nn, s).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    lossf = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.9]))
    x = torch.rand(batch, 1, s, s) * 2 - 1
    y = torch.arange(batch) % 2
    t0 = 0.0
    for i in range(warm + steps):
        if i == warm:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
    total = time.perf_counter() - t0
    print(f"impl=torch-{torch.__version__} threads={threads} batch={batch} steps={steps} "
          f"img_per_s={batch * steps / total:.3f} loss={loss.item():.4f} "
          f"mkldnn={int(torch.backends.mkldnn.is_available())}")


if __name__ == "__main__":
    main()
