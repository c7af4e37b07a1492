"""onnx_check.py MODEL.onnx CHECKPOINT.h5 STORE.h5 SAMPLE_DIR CXR_PREDICT: onnx.checker and onnxruntime on an
exported model against cxr-predict (export.onnxruntime, see test_onnxruntime.sh)."""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort

import cxr

model_path, ckpt, store_path, sample, predict = sys.argv[1:6]
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg, file=sys.stderr)


m = onnx.load(model_path)
onnx.checker.check_model(m, full_check=True)  # raises on an invalid model
opsets = {o.domain: o.version for o in m.opset_import}
if opsets != {"": 13}:
    fail(f"opset_import {opsets}, expected the default domain at 13")
props = {p.key: p.value for p in m.metadata_props}

with cxr.Store(store_path) as st:
    classes = st.classes
    labels = st.labels("test")
    n = len(labels)
    images = np.stack([np.asarray(st.read_image("test", i), dtype=np.float32) for i in range(n)])
    paths = [st.image_path("test", i) for i in range(n)]
if json.loads(props.get("cxr.class_names", "[]")) != list(classes):
    fail(f"cxr.class_names {props.get('cxr.class_names')!r} vs the store's {classes}")

sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
x = images.reshape(n, 1, images.shape[-2], images.shape[-1])
probs = sess.run(["probabilities"], {"image": x})[0]
one = sess.run(["probabilities"], {"image": x[:1]})[0]  # N is dynamic
if probs.shape != (n, len(classes)) or one.shape != (1, len(classes)):
    fail(f"output shapes {probs.shape} {one.shape}")

# the same images as JPEGs through cxr-predict (its own decode and preprocessing)
files = [p if os.path.isabs(p) else os.path.join(sample, p) for p in paths]
missing = [f for f in files if not os.path.exists(f)]
if missing:
    fail(f"store paths not found under {sample}: {missing[:3]}")
    sys.exit(1)
out = subprocess.run([predict, ckpt, *files, "--device", "cpu",
                      "--threads", "2"], capture_output=True, text=True, check=True).stdout
rows = [line.split("\t") for line in out.splitlines()[1:]]  # after the header
ref = np.array([[float(v) for v in r[3:3 + len(classes)]] for r in rows], dtype=np.float64)
diff = np.abs(probs.astype(np.float64) - ref)
print(f"{n} images, {len(classes)} classes; max |onnxruntime - cxr-predict| = {diff.max():.3g}; "
      f"p[1] range {probs[:, 1].min():.4f}..{probs[:, 1].max():.4f}; onnxruntime {ort.__version__}, "
      f"onnx {onnx.__version__}")
if diff.max() > 1e-5:
    fail(f"probabilities differ by up to {diff.max():.3g} (image {int(diff.max(axis=1).argmax())})")
# saturated probabilities (all 0 or 1) would hide a wrong graph: the model must not be
spread = np.minimum(ref, 1 - ref).max()
if spread < 0.05:
    fail(f"every probability is within {spread:.3g} of 0 or 1: the comparison says nothing")
if np.abs(one[0] - probs[0]).max() > 1e-6:
    fail("batch of 1 differs from the batch")
sys.exit(1 if fails else 0)
