"""peer_onnxruntime.py MODEL.onnx STORE.h5 SPLIT THREADS BATCH: the peer of bench_forward.sh:
onnxruntime (CPU execution provider, THREADS intra-op threads, sequential) runs the model
cxr-export wrote over the preprocessed images of STORE's SPLIT, read first through the cxr
package (untimed), BATCH images per run. Prints one line: images, seconds and img/s of the
timed passes (after one warm-up batch), and the session's creation time."""
import sys
import time

import numpy as np
import onnxruntime as ort

import cxr

model, store, split, threads, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
with cxr.Store(store) as st:
    n = len(st.labels(split))
    x = np.stack([np.asarray(st.read_image(split, i), dtype=np.float32) for i in range(n)])
x = x.reshape(n, 1, x.shape[-2], x.shape[-1])
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
t0 = time.perf_counter()
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
t1 = time.perf_counter()
sess.run(["probabilities"], {"image": x[:batch]})  # warm-up
t2 = time.perf_counter()
for i in range(0, n, batch):
    sess.run(["probabilities"], {"image": x[i:i + batch]})
dt = time.perf_counter() - t2
print(f"onnxruntime {ort.__version__}: {n} images in {dt:.2f} s ({n / dt:.1f} img/s); "
      f"session {t1 - t0:.2f} s")
