"""peer_common.py: what the Python peers of the benchmarks share, so that they measure the same
inputs and the same network: the Kaggle folder listing (peer_pil.py, peer_skimage.py) and the
study's CNN (peer_torch_cpu.py, peer_torch_gpu.py). No import of torch here: the network takes
torch.nn as an argument, so the image peers load without it."""
import os


def listing(src):
    """(split, path, label) for SRC/{train,val,test}/<class>/*.jpg|jpeg, classes sorted per split."""
    out = []
    for split in ("train", "val", "test"):
        d = os.path.join(src, split)
        if not os.path.isdir(d):
            continue
        classes = sorted(c for c in os.listdir(d) if os.path.isdir(os.path.join(d, c)))
        for label, c in enumerate(classes):
            for f in sorted(os.listdir(os.path.join(d, c))):
                if f.lower().endswith((".jpg", ".jpeg")):
                    out.append((split, os.path.join(d, c, f), label))
    return out


def study_net(nn, s, n_classes=2, alpha=0.5, keep=0.75):
    """The study network (specs/model.md) for S x S inputs, built from the torch.nn module."""
    p = 1.0 - keep
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(alpha),
        nn.Conv2d(16, 32, 3, padding=1), nn.LeakyReLU(alpha), nn.MaxPool2d(2), nn.Dropout(p),
        nn.Conv2d(32, 64, 3, padding=1), nn.LeakyReLU(alpha), nn.MaxPool2d(2), nn.Dropout(p),
        nn.Conv2d(64, 128, 3, padding=1), nn.LeakyReLU(alpha), nn.MaxPool2d(2), nn.Dropout(p),
        nn.Flatten(),
        nn.Linear(128 * (s // 8) ** 2, 512), nn.LeakyReLU(alpha), nn.Dropout(p),
        nn.Linear(512, 1024), nn.LeakyReLU(alpha), nn.Dropout(p),
        nn.Linear(1024, n_classes))
