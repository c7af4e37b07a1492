#!/usr/bin/env python3
"""peer_tf_cpu.py: the study network (specs/model.md) in TensorFlow/Keras on the CPU (oneDNN,
NHWC), same shapes and step as bench_train_cpu.c: forward, class-weighted softmax
cross-entropy (weights 1 and 2.9, normalised by the batch's total weight), backward, Adam (lr
1e-4), on random data, one compiled tf.function step. Prints one key=value line like the C
driver, for tests/bench/bench_train_cpu.sh. Run it with the venv's python that
`scripts/install-deps.sh --bench` makes (tensorflow-cpu from PyPI; Debian has no TensorFlow).
Usage: peer_tf_cpu.py [batch=64] [timed_steps=3] [warmup=1] [threads=2] [image_size=256]
                      [policy=float32|mixed_bfloat16]"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


def study_net(s, n_classes=2, alpha=0.5, keep=0.75):
    L = tf.keras.layers
    p = 1.0 - keep
    act = lambda: L.LeakyReLU(negative_slope=alpha)  # noqa: E731
    return tf.keras.Sequential([
        tf.keras.Input((s, s, 1)),
        L.Conv2D(16, 3, padding="same"), act(),
        L.Conv2D(32, 3, padding="same"), act(), L.MaxPooling2D(2), L.Dropout(p),
        L.Conv2D(64, 3, padding="same"), act(), L.MaxPooling2D(2), L.Dropout(p),
        L.Conv2D(128, 3, padding="same"), act(), L.MaxPooling2D(2), L.Dropout(p),
        L.Flatten(),
        L.Dense(512), act(), L.Dropout(p),
        L.Dense(1024), act(), L.Dropout(p),
        L.Dense(n_classes, dtype="float32"),  # logits in fp32 under mixed precision
    ])


def main():
    a = sys.argv[1:]
    nums = [int(v) for v in a[:5]]
    batch, steps, warm, threads, s = (nums + [64, 3, 1, 2, 256][len(nums):])[:5]
    policy = a[5] if len(a) > 5 else "float32"
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.mixed_precision.set_global_policy(policy)
    tf.random.set_seed(1)
    model = study_net(s)
    opt = tf.keras.optimizers.Adam(learning_rate=1e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    cw = tf.constant([1.0, 2.9])
    x = tf.random.uniform((batch, s, s, 1), -1.0, 1.0)
    y = tf.range(batch) % 2

    @tf.function(jit_compile=False)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            w = tf.gather(cw, y)
            loss = tf.reduce_sum(w * ce) / tf.reduce_sum(w)
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables))
        return loss

    t0 = 0.0
    loss = None
    for i in range(warm + steps):
        if i == warm:
            t0 = time.perf_counter()
        loss = step(x, y)
    loss = float(loss)  # waits for the last step
    total = time.perf_counter() - t0
    print(f"impl=tf-{tf.__version__}-{policy} threads={threads} batch={batch} steps={steps} "
          f"img_per_s={batch * steps / total:.3f} loss={loss:.4f} "
          f"onednn={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}")


if __name__ == "__main__":
    main()
