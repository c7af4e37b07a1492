/* bench_train_cpu.c: CPU training throughput of the full study network (specs/model.md) on
 * random data: a few warm-up steps, then timed steps of forward + weighted-loss backward +
 * Adam. Prints one line of key=value pairs (images/s, GFLOP/s against the analytic FLOP count)
 * and a per-phase split. Not a ctest; run through tests/bench/bench_train_cpu.sh.
 * Environment: BENCH_PRECISION=bf16 (the CPU backend's bf16; exit 3 with the reason where it is
 * refused); BENCH_DENORMAL=1: afterwards, forward + backward (no Adam) on the same images scaled
 * by 1e-36, whose gradients are denormal, alternated with the normal images, and one more line
 * with both backward times (CXR_CPU_DENORMALS=keep switches the library's flushing off).
 * Usage: bench_train_cpu [batch=64] [timed_steps=3] [warmup=1] [threads=2] [image_size=256] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "cxr_backend_cpu.h"
#include "cxr_clock.h"
#include "cxr_model.h"
#include "rng.h"

static double cpu_now(void)
{ /* user + system CPU seconds of this process */
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + 1e-6 * (r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

/* Multiply-adds x2 of one training image: forward convs and dense layers, backward twice that
 * (input and weight gradients), minus conv1's input gradient, which is not computed. */
static double train_flops(const cxr_model_config *c)
{
    const double S = c->image_size;
    double f = 0, conv1 = 0, sz = S;
    int cin = 1;
    for (int i = 0; i < 4; i++) {
        double l = 2.0 * sz * sz * c->channels[i] * cin * 9;
        if (i == 0) conv1 = l;
        f += l;
        cin = c->channels[i];
        if (i >= 1) sz /= 2;
    }
    double in = (double)c->channels[3] * sz * sz;
    const double outs[3] = { c->dense[0], c->dense[1], c->n_classes };
    for (int i = 0; i < 3; i++) f += 2.0 * in * outs[i], in = outs[i];
    return 3.0 * f - conv1;
}

int main(int argc, char **argv)
{
    int batch = argc > 1 ? atoi(argv[1]) : 64, steps = argc > 2 ? atoi(argv[2]) : 3;
    int warm = argc > 3 ? atoi(argv[3]) : 1, threads = argc > 4 ? atoi(argv[4]) : 2;
    int S = argc > 5 ? atoi(argv[5]) : 256;
    cxr_backend *be = NULL;
    cxr_model *m = NULL;
    cxr_model_config c;
    cxr_model_config_defaults(&c, 2);
    c.batch_capacity = batch;
    c.image_size = S;
    if (cxr_backend_cpu_create(&be, threads) || cxr_model_create(&m, &c, be)) {
        fprintf(stderr, "bench_train_cpu: %s\n", cxr_last_error());
        return 1;
    }
    char path[512];
    cxr_backend_cpu_describe(be, path, sizeof path);
    const char *prec = getenv("BENCH_PRECISION");
    if (prec && !strcmp(prec, "bf16") &&
        cxr_backend_cpu_set_precision(be, CXR_PRECISION_BF16) != CXR_OK) {
        printf("impl=cxr-bf16 refused: %s\n", cxr_last_error());
        return 3;
    }
    if (prec) cxr_backend_cpu_describe(be, path, sizeof path);
    printf("# path: %s\n", path);
    float *x = malloc((size_t)batch * S * S * sizeof(float));
    int32_t *y = malloc((size_t)batch * sizeof(int32_t));
    uint64_t k = cxr_rng_key(1, 2, 3);
    for (size_t i = 0; i < (size_t)batch * S * S; i++) x[i] = 2.0f * cxr_rng_uniform(k, i) - 1.0f;
    for (int i = 0; i < batch; i++) y[i] = i & 1;
    const float cw[2] = { 1.0f, 2.9f };
    cxr_adam_params ap;
    cxr_adam_defaults(&ap);
    ap.lr = 1e-4f;
    /* optional: lr and a learnable synthetic task (class 1 has a brighter centre square), to
     * print the loss of every step (the lr probe of specs/model.md) */
    const char *lr_env = getenv("BENCH_LR");
    if (lr_env) {
        ap.lr = (float)atof(lr_env);
        for (int i = 0; i < batch; i++)
            for (int r = S / 4; r < 3 * S / 4; r++)
                for (int q = S / 4; q < 3 * S / 4; q++)
                    x[((size_t)i * S + r) * S + q] =
                        0.5f * x[((size_t)i * S + r) * S + q] + (y[i] ? 0.5f : -0.5f);
    }
    double tf = 0, tb = 0, ta = 0, t0 = 0, c0 = 0;
    float loss = 0;
    for (int s = 0; s < warm + steps; s++) {
        if (s == warm) tf = tb = ta = 0, t0 = cxr_now_s(), c0 = cpu_now();
        double a = cxr_now_s();
        if (cxr_model_forward(m, x, batch, 1)) goto err;
        double b = cxr_now_s();
        if (cxr_model_loss_backward(m, y, cw, batch, &loss)) goto err;
        double d = cxr_now_s();
        if (cxr_model_step(m, &ap)) goto err;
        double e = cxr_now_s();
        tf += b - a, tb += d - b, ta += e - d;
        if (lr_env) printf("step %d loss %.5f\n", s + 1, loss);
    }
    double total = cxr_now_s() - t0, cpu = cpu_now() - c0;
    double ips = (double)batch * steps / total, gf = train_flops(&c) * 1e-9;
    printf("impl=cxr threads=%d batch=%d steps=%d img_per_s=%.3f gflop_per_img=%.3f "
           "gflop_per_s=%.1f forward_s=%.3f backward_s=%.3f adam_s=%.3f loss=%.4f "
           "activation_mb=%.0f param_block_mb=%.0f cpu_util=%.2f\n",
           threads, batch, steps, ips, gf, ips * gf, tf / steps, tb / steps, ta / steps, loss,
           cxr_model_activation_bytes(m) / 1048576.0, cxr_model_n_params(m) * 4.0 / 1048576.0,
           cpu / total);
    if (getenv("BENCH_DENORMAL")) {
        /* images x 1e-36: activations shrink into the denormal range after the first layers and
         * the weight gradients (dout x activation) are denormal products */
        float *xt = malloc((size_t)batch * S * S * sizeof(float));
        if (!xt) return 1;
        for (size_t i = 0; i < (size_t)batch * S * S; i++) xt[i] = x[i] * 1e-36f;
        double tb_norm = 0, tb_den = 0;
        const int reps = 2;
        for (int r = 0; r < 2 * reps; r++) {
            const float *xi = r & 1 ? xt : x;
            if (cxr_model_forward(m, xi, batch, 1)) goto err;
            const double a = cxr_now_s();
            if (cxr_model_loss_backward(m, y, cw, batch, &loss)) goto err;
            *(r & 1 ? &tb_den : &tb_norm) += cxr_now_s() - a;
        }
        printf("impl=cxr-denormal backward_normal_s=%.3f backward_denormal_s=%.3f "
               "denormal_over_normal=%.2f flushing=%s\n",
               tb_norm / reps, tb_den / reps, tb_den / tb_norm,
               getenv("CXR_CPU_DENORMALS") && !strcasecmp(getenv("CXR_CPU_DENORMALS"), "keep")
                   ? "off"
                   : "on");
        free(xt);
    }
    free(x), free(y);
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
    return 0;
err:
    fprintf(stderr, "bench_train_cpu: %s\n", cxr_last_error());
    return 1;
}
