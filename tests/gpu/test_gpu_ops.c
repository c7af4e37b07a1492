/* test_gpu_ops.c: every op of the CUDA backend, forward and backward, against the CPU reference
 * on random inputs (cxr_ops.h table on both sides). Argument: fp32 (default), tf32 or bf16 sets the
 * precision of convolutions and GEMMs; the elementwise ops, pooling, loss and Adam do not depend
 * on it and are checked to the last bits (pooling, activations, dropout) or to 1e-6 relative.
 * Outputs, gradients included (backward ops write them, cxr_ops.h), start as junk: random values
 * on the CPU and 0x7F bytes on the GPU, checking that they are overwritten.
 * Exits 77 without a GPU. */
#include "gpu_test.h"

static cxr_backend *cpu, *gpu;
static cxr_precision prec = CXR_PRECISION_FP32;
static uint64_t seed = 1;

static void check_conv(int N, int C, int K, int H, int W, int want_din)
{
    const size_t nin = (size_t)N * C * H * W, nout = (size_t)N * K * H * W, nw = (size_t)K * C * 9;
    float *x = rand_host(nin, seed++, 1.0f), *w = rand_host(nw, seed++, 0.5f);
    float *b = rand_host((size_t)K, seed++, 0.5f), *dy = rand_host(nout, seed++, 1.0f);
    float *din = rand_host(nin, seed++, 0.1f), *dw = rand_host(nw, seed++, 0.1f);
    float *db = rand_host((size_t)K, seed++, 0.1f);
    float *y_ref = calloc(nout, sizeof(float));
    float *dx_d = to_dev(gpu, x, nin * 4), *dw_d = to_dev(gpu, w, nw * 4),
          *db_d = to_dev(gpu, b, K * 4);
    float *y_d = dev_junk(gpu, nout * 4), *dy_d = to_dev(gpu, dy, nout * 4);
    float *gin_d = dev_junk(gpu, nin * 4), *gw_d = dev_junk(gpu, nw * 4),
          *gb_d = dev_junk(gpu, K * 4);
    const cxr_precision cp = prec == CXR_PRECISION_BF16 ? CXR_PRECISION_TF32 : prec; /* convs */
    char what[96];
    double atol, rtol;

    CHECK_OK(cpu->conv3x3_forward(cpu->ctx, y_ref, x, w, b, N, C, K, H, W));
    CHECK_OK(gpu->conv3x3_forward(gpu->ctx, y_d, dx_d, dw_d, db_d, N, C, K, H, W));
    float *y = from_dev(gpu, y_d, nout);
    reduction_tol(cp, (size_t)C * 9, amax(y_ref, nout), &atol, &rtol);
    snprintf(what, sizeof what, "conv fwd N%d C%d K%d %dx%d", N, C, K, H, W);
    validate(what, y, y_ref, nout, atol, rtol);

    CHECK_OK(
        cpu->conv3x3_backward(cpu->ctx, want_din ? din : NULL, dw, db, dy, x, w, N, C, K, H, W));
    CHECK_OK(gpu->conv3x3_backward(gpu->ctx, want_din ? gin_d : NULL, gw_d, gb_d, dy_d, dx_d, dw_d,
                                   N, C, K, H, W));
    float *g_in = from_dev(gpu, gin_d, nin), *g_w = from_dev(gpu, gw_d, nw),
          *g_b = from_dev(gpu, gb_d, K);
    if (want_din) {
        reduction_tol(cp, (size_t)K * 9, amax(din, nin), &atol, &rtol);
        snprintf(what, sizeof what, "conv bwd din N%d C%d K%d", N, C, K);
        validate(what, g_in, din, nin, atol, rtol);
    }
    reduction_tol(cp, (size_t)N * H * W, amax(dw, nw), &atol, &rtol);
    snprintf(what, sizeof what, "conv bwd dw N%d C%d K%d", N, C, K);
    validate(what, g_w, dw, nw, atol, rtol);
    reduction_tol(CXR_PRECISION_FP32, (size_t)N * H * W, amax(db, K), &atol, &rtol);
    snprintf(what, sizeof what, "conv bwd db N%d C%d K%d", N, C, K);
    validate(what, g_b, db, (size_t)K, atol, rtol);

    void *dev[] = { dx_d, dw_d, db_d, y_d, dy_d, gin_d, gw_d, gb_d };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) gpu->free(gpu->ctx, dev[i]);
    float *host[] = { x, w, b, dy, din, dw, db, y_ref, y, g_in, g_w, g_b };
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void check_pool(int N, int C, int H, int W)
{
    const size_t nin = (size_t)N * C * H * W, no = nin / 4;
    float *x = rand_host(nin, seed++, 1.0f), *dy = rand_host(no, seed++, 1.0f);
    float *din = rand_host(nin, seed++, 0.1f);
    float *y = calloc(no, 4), *yf = calloc(no, 4), *ig = calloc(no, 4), *ic = calloc(no, 4);
    uint8_t *idx = calloc(no, 1), *idx_g = calloc(no, 1);
    float *x_d = to_dev(gpu, x, nin * 4), *y_d = dev_junk(gpu, no * 4),
          *dy_d = to_dev(gpu, dy, no * 4);
    float *din_d = dev_junk(gpu, nin * 4);
    uint8_t *idx_d = dev_junk(gpu, no);
    CHECK_OK(cpu->maxpool2_forward(cpu->ctx, y, idx, x, N, C, H, W));
    CHECK_OK(gpu->maxpool2_forward(gpu->ctx, y_d, idx_d, x_d, N, C, H, W));
    float *yg = from_dev(gpu, y_d, no);
    CHECK_OK(gpu->download(gpu->ctx, idx_g, idx_d, no));
    for (size_t i = 0; i < no; i++) ig[i] = idx_g[i], ic[i] = idx[i];
    validate("maxpool fwd out (exact)", yg, y, no, 0.0, 0.0);
    validate("maxpool fwd argmax (exact)", ig, ic, no, 0.0, 0.0);
    CHECK_OK(cpu->maxpool2_backward(cpu->ctx, din, dy, idx, N, C, H, W));
    CHECK_OK(gpu->maxpool2_backward(gpu->ctx, din_d, dy_d, idx_d, N, C, H, W));
    float *dg = from_dev(gpu, din_d, nin);
    validate("maxpool bwd din (exact)", dg, din, nin, 0.0, 0.0);
    /* ties: a constant plane must pick index 0 everywhere, as the CPU */
    for (size_t i = 0; i < nin; i++) x[i] = 0.25f;
    CHECK_OK(gpu->upload(gpu->ctx, x_d, x, nin * 4));
    CHECK_OK(gpu->maxpool2_forward(gpu->ctx, y_d, idx_d, x_d, N, C, H, W));
    CHECK_OK(gpu->download(gpu->ctx, idx_g, idx_d, no));
    size_t nz = 0;
    for (size_t i = 0; i < no; i++) nz += idx_g[i] != 0;
    CHECK(nz == 0);
    gpu->free(gpu->ctx, x_d), gpu->free(gpu->ctx, y_d), gpu->free(gpu->ctx, dy_d);
    gpu->free(gpu->ctx, din_d), gpu->free(gpu->ctx, idx_d);
    free(x), free(dy), free(din), free(y), free(yf), free(ig), free(ic), free(idx), free(idx_g);
    free(yg), free(dg);
}

/* The global average pool of head gap against the CPU's, to the bit both ways (the same double
 * sum in the same order; the backward's single division), din written whole over junk. */
static void check_gap(int N, int C, int HW)
{
    const size_t nin = (size_t)N * C * HW, no = (size_t)N * C;
    float *x = rand_host(nin, seed++, 1.0f), *dy = rand_host(no, seed++, 1.0f);
    float *y = calloc(no, 4), *din = calloc(nin, 4);
    float *x_d = to_dev(gpu, x, nin * 4), *y_d = dev_junk(gpu, no * 4),
          *dy_d = to_dev(gpu, dy, no * 4), *din_d = dev_junk(gpu, nin * 4);
    REQUIRE(gpu->global_avgpool_forward && gpu->global_avgpool_backward);
    CHECK_OK(cpu->global_avgpool_forward(cpu->ctx, y, x, N, C, HW));
    CHECK_OK(gpu->global_avgpool_forward(gpu->ctx, y_d, x_d, N, C, HW));
    float *yg = from_dev(gpu, y_d, no);
    validate("global avgpool fwd (exact)", yg, y, no, 0.0, 0.0);
    CHECK_OK(cpu->global_avgpool_backward(cpu->ctx, din, dy, N, C, HW));
    CHECK_OK(gpu->global_avgpool_backward(gpu->ctx, din_d, dy_d, N, C, HW));
    float *dg = from_dev(gpu, din_d, nin);
    validate("global avgpool bwd (exact)", dg, din, nin, 0.0, 0.0);
    gpu->free(gpu->ctx, x_d), gpu->free(gpu->ctx, y_d), gpu->free(gpu->ctx, dy_d);
    gpu->free(gpu->ctx, din_d);
    free(x), free(dy), free(y), free(din), free(yg), free(dg);
}

/* The input pool's k x k mean against the CPU's, to the bit (the same double sum). */
static void check_avgpool(int N, int C, int H, int W, int k)
{
    const size_t nin = (size_t)N * C * H * W, no = nin / ((size_t)k * k);
    float *x = rand_host(nin, seed++, 1.0f), *y = calloc(no, 4);
    float *x_d = to_dev(gpu, x, nin * 4), *y_d = dev_junk(gpu, no * 4);
    REQUIRE(gpu->avgpool_forward);
    CHECK_OK(cpu->avgpool_forward(cpu->ctx, y, x, N, C, H, W, k));
    CHECK_OK(gpu->avgpool_forward(gpu->ctx, y_d, x_d, N, C, H, W, k));
    float *yg = from_dev(gpu, y_d, no);
    validate("input avgpool fwd (exact)", yg, y, no, 0.0, 0.0);
    gpu->free(gpu->ctx, x_d), gpu->free(gpu->ctx, y_d);
    free(x), free(y), free(yg);
}

/* The fused forward (conv3x3_lrelu_pool_forward: cuDNN with beta 0, then one epilogue kernel)
 * against the CPU's fused op, with the output map (with_out), the pool (with_pool), or both;
 * `constant`: zero weights and a constant bias (negative when constant < 0), so every window
 * is a tie and the argmax must be 0 everywhere, exactly as the CPU. Outputs start as junk.
 * Checked: the map and the pooled map at the convolution's tolerance; the argmax equal to the
 * CPU's except where the two windows' values are within that tolerance (a near-tie the
 * summation order may flip); and the GPU's unfused ops (conv3x3_forward, leaky ReLU, maxpool2)
 * giving the same bits as the fused op. */
static void check_fused_forward(int N, int C, int K, int H, int W, int with_out, int with_pool,
                                int constant)
{
    const size_t nin = (size_t)N * C * H * W, nout = (size_t)N * K * H * W, np = nout / 4;
    const size_t nw = (size_t)K * C * 9;
    const float alpha = 0.5f;
    float *x = rand_host(nin, seed++, 1.0f), *w = rand_host(nw, seed++, 0.5f);
    float *b = rand_host((size_t)K, seed++, 0.5f);
    if (constant) {
        memset(w, 0, nw * sizeof(float));
        for (int k = 0; k < K; k++) b[k] = constant > 0 ? 0.25f : -0.75f;
    }
    float *a_ref = calloc(nout, 4), *p_ref = calloc(np + 1, 4);
    uint8_t *i_ref = calloc(np + 1, 1);
    float *x_d = to_dev(gpu, x, nin * 4), *w_d = to_dev(gpu, w, nw * 4);
    float *b_d = to_dev(gpu, b, (size_t)K * 4);
    float *a_d = with_out ? dev_junk(gpu, nout * 4) : NULL;
    float *p_d = with_pool ? dev_junk(gpu, np * 4) : NULL;
    uint8_t *i_d = with_pool ? dev_junk(gpu, np) : NULL;
    const cxr_precision cp = prec == CXR_PRECISION_BF16 ? CXR_PRECISION_TF32 : prec;
    char what[112];
    double atol, rtol;
    /* the CPU's map always (its fused results equal its unfused ones bit for bit) */
    CHECK_OK(cpu->conv3x3_lrelu_pool_forward(cpu->ctx, a_ref, with_pool ? p_ref : NULL,
                                             with_pool ? i_ref : NULL, x, w, b, alpha, N, C, K, H,
                                             W));
    CHECK_OK(gpu->conv3x3_lrelu_pool_forward(gpu->ctx, a_d, p_d, i_d, x_d, w_d, b_d, alpha, N, C, K,
                                             H, W));
    if (constant) {
        atol = rtol = 0.0;
    } else {
        reduction_tol(cp, (size_t)C * 9, amax(a_ref, nout), &atol, &rtol);
    }
    float *a = NULL, *pg = NULL, *ig = NULL;
    uint8_t *ib = NULL;
    if (with_out) {
        a = from_dev(gpu, a_d, nout);
        snprintf(what, sizeof what, "fused fwd map N%d C%d K%d %dx%d%s", N, C, K, H, W,
                 constant ? " const" : "");
        validate(what, a, a_ref, nout, atol, rtol);
    }
    if (with_pool) {
        pg = from_dev(gpu, p_d, np);
        ib = malloc(np + 1);
        CHECK_OK(gpu->download(gpu->ctx, ib, i_d, np));
        snprintf(what, sizeof what, "fused fwd pooled N%d C%d K%d %dx%d%s", N, C, K, H, W,
                 constant ? " const" : "");
        validate(what, pg, p_ref, np, atol, rtol);
        /* argmax: the GPU's choice must hold the window's max within the tolerance */
        const int Ho = H / 2, Wo = W / 2;
        size_t differ = 0, bad = 0;
        for (size_t o = 0; o < np; o++) {
            if (ib[o] == i_ref[o]) continue;
            differ++;
            if (ib[o] > 3) { /* not a window position (an unwritten byte): no value to read */
                bad++;
                continue;
            }
            const size_t P = o / ((size_t)Ho * Wo);
            const int r = (int)(o % ((size_t)Ho * Wo)), i = r / Wo, j = r % Wo;
            const float *base = a_ref + (P * H + 2 * (size_t)i) * W + 2 * (size_t)j;
            const float vg = base[(ib[o] >> 1) * W + (ib[o] & 1)];
            const float vc = base[(i_ref[o] >> 1) * W + (i_ref[o] & 1)];
            if (!(fabs((double)vg - vc) <= atol + rtol * fabs((double)vc))) bad++;
        }
        printf("%-34s n=%-9zu differ %zu (near-ties), wrong %zu %s\n", "fused fwd argmax", np,
               differ, bad, bad || (constant && differ) ? "MISMATCH" : "ok");
        if (bad || (constant && differ)) cxr_test_failures++;
    }
    /* the GPU's unfused ops: the same bits */
    if (!constant) {
        float *u_d = dev_junk(gpu, nout * 4), *q_d = with_pool ? dev_junk(gpu, np * 4) : NULL;
        uint8_t *j_d = with_pool ? dev_junk(gpu, np) : NULL;
        CHECK_OK(gpu->conv3x3_forward(gpu->ctx, u_d, x_d, w_d, b_d, N, C, K, H, W));
        CHECK_OK(gpu->leaky_relu_forward(gpu->ctx, u_d, u_d, alpha, nout));
        if (with_pool) CHECK_OK(gpu->maxpool2_forward(gpu->ctx, q_d, j_d, u_d, N, K, H, W));
        if (with_out) {
            float *u = from_dev(gpu, u_d, nout);
            validate("fused fwd map = unfused (exact)", a, u, nout, 0.0, 0.0);
            free(u);
        }
        if (with_pool) {
            float *q = from_dev(gpu, q_d, np), *jf = malloc(np * 4 + 4);
            uint8_t *jb = malloc(np + 1);
            CHECK_OK(gpu->download(gpu->ctx, jb, j_d, np));
            ig = malloc(np * 4 + 4);
            for (size_t o = 0; o < np; o++) ig[o] = ib[o], jf[o] = jb[o];
            validate("fused fwd pooled = unfused (exact)", pg, q, np, 0.0, 0.0);
            validate("fused fwd argmax = unfused (exact)", ig, jf, np, 0.0, 0.0);
            free(q), free(jf), free(jb);
            gpu->free(gpu->ctx, q_d), gpu->free(gpu->ctx, j_d);
        }
        gpu->free(gpu->ctx, u_d);
    }
    void *dev[] = { x_d, w_d, b_d, a_d, p_d, i_d };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) gpu->free(gpu->ctx, dev[i]);
    free(x), free(w), free(b), free(a_ref), free(p_ref), free(i_ref), free(a), free(pg);
    free(ig), free(ib);
}

/* The fused pool + leaky ReLU backward (maxpool2_lrelu_backward) against the CPU's, to the bit:
 * argmax from a CPU pool of random data and of a constant plane (all ties), pooled activations
 * with exact zeros and negatives (the slope alpha), dout with dropped (0) entries; din starts as
 * junk, so every element must be written. */
static void check_fused_backward(int N, int C, int H, int W, int constant)
{
    const size_t nin = (size_t)N * C * H * W, no = nin / 4;
    float *x = rand_host(nin, seed++, 1.0f), *dy = rand_host(no, seed++, 1.0f);
    float *y = calloc(no + 1, 4), *din = rand_host(nin, seed++, 1.0f);
    uint8_t *idx = calloc(no + 1, 1);
    if (constant)
        for (size_t i = 0; i < nin; i++) x[i] = -0.125f;
    CHECK_OK(cpu->maxpool2_forward(cpu->ctx, y, idx, x, N, C, H, W));
    for (size_t i = 0; i < no; i += 7) y[i] = 0.0f;  /* slope alpha at exactly 0 */
    for (size_t i = 3; i < no; i += 5) dy[i] = 0.0f; /* dropped */
    float *dy_d = to_dev(gpu, dy, no * 4), *y_d = to_dev(gpu, y, no * 4);
    uint8_t *idx_d = to_dev(gpu, idx, no);
    float *din_d = dev_junk(gpu, nin * 4);
    CHECK_OK(cpu->maxpool2_lrelu_backward(cpu->ctx, din, dy, idx, y, 0.5f, N, C, H, W));
    CHECK_OK(gpu->maxpool2_lrelu_backward(gpu->ctx, din_d, dy_d, idx_d, y_d, 0.5f, N, C, H, W));
    float *g = from_dev(gpu, din_d, nin);
    char what[96];
    snprintf(what, sizeof what, "fused pool+lrelu bwd N%d C%d %dx%d%s (exact)", N, C, H, W,
             constant ? " const" : "");
    validate(what, g, din, nin, 0.0, 0.0);
    gpu->free(gpu->ctx, dy_d), gpu->free(gpu->ctx, y_d), gpu->free(gpu->ctx, idx_d);
    gpu->free(gpu->ctx, din_d);
    free(x), free(dy), free(y), free(din), free(idx), free(g);
}

static void check_dense(int N, int IN, int OUT)
{
    const size_t ni = (size_t)N * IN, no = (size_t)N * OUT, nw = (size_t)OUT * IN;
    float *x = rand_host(ni, seed++, 1.0f), *w = rand_host(nw, seed++, 0.1f);
    float *b = rand_host((size_t)OUT, seed++, 0.5f), *dy = rand_host(no, seed++, 1.0f);
    float *din = rand_host(ni, seed++, 0.1f), *dw = rand_host(nw, seed++, 0.1f);
    float *db = rand_host((size_t)OUT, seed++, 0.1f), *y = calloc(no, 4);
    float *x_d = to_dev(gpu, x, ni * 4), *w_d = to_dev(gpu, w, nw * 4),
          *b_d = to_dev(gpu, b, OUT * 4);
    float *y_d = dev_junk(gpu, no * 4), *dy_d = to_dev(gpu, dy, no * 4);
    float *din_d = dev_junk(gpu, ni * 4), *dw_d = dev_junk(gpu, nw * 4),
          *db_d = dev_junk(gpu, OUT * 4);
    double atol, rtol;
    CHECK_OK(cpu->dense_forward(cpu->ctx, y, x, w, b, N, IN, OUT));
    CHECK_OK(gpu->dense_forward(gpu->ctx, y_d, x_d, w_d, b_d, N, IN, OUT));
    float *yg = from_dev(gpu, y_d, no);
    reduction_tol(prec, (size_t)IN, amax(y, no), &atol, &rtol);
    validate("dense fwd", yg, y, no, atol, rtol);
    CHECK_OK(cpu->dense_backward(cpu->ctx, din, dw, db, dy, x, w, N, IN, OUT));
    CHECK_OK(gpu->dense_backward(gpu->ctx, din_d, dw_d, db_d, dy_d, x_d, w_d, N, IN, OUT));
    float *gi = from_dev(gpu, din_d, ni), *gw = from_dev(gpu, dw_d, nw),
          *gb = from_dev(gpu, db_d, OUT);
    reduction_tol(prec, (size_t)OUT, amax(din, ni), &atol, &rtol);
    validate("dense bwd din", gi, din, ni, atol, rtol);
    reduction_tol(prec, (size_t)N, amax(dw, nw), &atol, &rtol);
    validate("dense bwd dw", gw, dw, nw, atol, rtol);
    validate("dense bwd db (same order: exact)", gb, db, (size_t)OUT, 0.0, 0.0);
    void *dev[] = { x_d, w_d, b_d, y_d, dy_d, din_d, dw_d, db_d };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) gpu->free(gpu->ctx, dev[i]);
    float *host[] = { x, w, b, dy, din, dw, db, y, yg, gi, gw, gb };
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void check_elementwise(size_t n)
{
    float *x = rand_host(n, seed++, 2.0f), *d = rand_host(n, seed++, 1.0f);
    float *y = calloc(n, 4), *x_d = to_dev(gpu, x, n * 4), *y_d = dev_junk(gpu, n * 4);
    float *d_d = to_dev(gpu, d, n * 4);
    CHECK_OK(cpu->leaky_relu_forward(cpu->ctx, y, x, 0.5f, n));
    CHECK_OK(gpu->leaky_relu_forward(gpu->ctx, y_d, x_d, 0.5f, n));
    float *g = from_dev(gpu, y_d, n);
    validate("leaky_relu fwd (exact)", g, y, n, 0.0, 0.0);
    free(g);
    CHECK_OK(cpu->leaky_relu_backward(cpu->ctx, d, y, 0.5f, n));
    CHECK_OK(gpu->leaky_relu_backward(gpu->ctx, d_d, y_d, 0.5f, n));
    g = from_dev(gpu, d_d, n);
    validate("leaky_relu bwd (exact)", g, d, n, 0.0, 0.0);
    free(g);
    /* the input scale: one rounding after the product, one after the sum, as the CPU (no FMA) */
    REQUIRE(gpu->scale_shift);
    CHECK_OK(cpu->scale_shift(cpu->ctx, y, x, 2.0f / 255.0f, -1.0f, n));
    CHECK_OK(gpu->scale_shift(gpu->ctx, y_d, x_d, 2.0f / 255.0f, -1.0f, n));
    g = from_dev(gpu, y_d, n);
    validate("input scale (exact)", g, y, n, 0.0, 0.0);
    free(g);
    const float keeps[3] = { 0.75f, 0.5f, 0.9f };
    for (int k = 0; k < 3; k++) {
        const uint64_t key = 0x1234567ull + (uint64_t)k * 977;
        CHECK_OK(cpu->dropout_apply(cpu->ctx, x, key, keeps[k], n));
        CHECK_OK(gpu->dropout_apply(gpu->ctx, x_d, key, keeps[k], n));
        g = from_dev(gpu, x_d, n);
        char what[64];
        snprintf(what, sizeof what, "dropout keep %.2f (exact masks)", keeps[k]);
        validate(what, g, x, n, 0.0, 0.0);
        free(g);
    }
    gpu->free(gpu->ctx, x_d), gpu->free(gpu->ctx, y_d), gpu->free(gpu->ctx, d_d);
    free(x), free(d), free(y);
}

/* mixed: mixup's weights and partners' labels (cxr_ops.h softmax_xent) */
static void check_loss(int N, int C, int weighted, float eps, int mixed)
{
    const size_t n = (size_t)N * C;
    float *z = rand_host(n, seed++, 3.0f), *dl = rand_host(n, seed++, 0.1f);
    float *p = calloc(n, 4), *cw = rand_host((size_t)C, seed++, 1.0f);
    int32_t *lab = malloc((size_t)N * 4);
    float loss = 0, loss_g = 0;
    for (int c = 0; c < C; c++) cw[c] = 1.5f + cw[c];
    int32_t *lab2 = malloc((size_t)N * 4);
    float *mix = malloc((size_t)N * 4);
    for (int i = 0; i < N; i++) lab[i] = (i * 7 + 3) % C;
    for (int i = 0; i < N; i++) lab2[i] = (i * 5 + 1) % C, mix[i] = (float)(i % 7) / 6.0f;
    float *z_d = to_dev(gpu, z, n * 4), *dl_d = dev_junk(gpu, n * 4), *p_d = dev_junk(gpu, n * 4);
    float *cw_d = to_dev(gpu, cw, (size_t)C * 4), *l_d = dev_junk(gpu, 4);
    int32_t *lab_d = to_dev(gpu, lab, (size_t)N * 4), *lab2_d = to_dev(gpu, lab2, (size_t)N * 4);
    float *mix_d = to_dev(gpu, mix, (size_t)N * 4);
    CHECK_OK(cpu->softmax_xent(cpu->ctx, &loss, dl, p, z, lab, mixed ? lab2 : NULL,
                               mixed ? mix : NULL, weighted ? cw : NULL, eps, N, C));
    CHECK_OK(gpu->softmax_xent(gpu->ctx, l_d, dl_d, p_d, z_d, lab_d, mixed ? lab2_d : NULL,
                               mixed ? mix_d : NULL, weighted ? cw_d : NULL, eps, N, C));
    CHECK_OK(gpu->download(gpu->ctx, &loss_g, l_d, 4));
    float *pg = from_dev(gpu, p_d, n), *dg = from_dev(gpu, dl_d, n);
    /* expf on the GPU is within 2 ulp (glibc's is correctly rounded): a few ulp after scaling */
    validate(mixed      ? "softmax_xent loss (mixup)"
             : weighted ? "softmax_xent loss (weighted)"
                        : "softmax_xent loss",
             &loss_g, &loss, 1, 0.0, 1e-6);
    validate("softmax_xent probs", pg, p, n, 1e-7, 1e-6);
    validate("softmax_xent dlogits", dg, dl, n, 1e-7, 1e-5);
    free(pg);
    CHECK_OK(cpu->softmax_forward(cpu->ctx, p, z, N, C));
    CHECK_OK(gpu->softmax_forward(gpu->ctx, p_d, z_d, N, C));
    pg = from_dev(gpu, p_d, n);
    validate("softmax fwd", pg, p, n, 1e-7, 1e-6);
    void *dev[] = { z_d, dl_d, p_d, cw_d, l_d, lab_d, lab2_d, mix_d };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) gpu->free(gpu->ctx, dev[i]);
    free(z), free(dl), free(p), free(cw), free(lab), free(pg), free(dg), free(lab2), free(mix);
}

static void check_adam(size_t n)
{
    float *p = rand_host(n, seed++, 1.0f), *m = rand_host(n, seed++, 0.01f);
    float *v = rand_host(n, seed++, 0.01f), *g = rand_host(n, seed++, 0.1f);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]);
    float *p_d = to_dev(gpu, p, n * 4), *m_d = to_dev(gpu, m, n * 4), *v_d = to_dev(gpu, v, n * 4);
    float *g_d = to_dev(gpu, g, n * 4);
    for (int64_t t = 1; t <= 3; t++) { /* step 3 with AdamW's decay */
        const float wd = t == 3 ? 0.1f : 0.0f;
        CHECK_OK(cpu->adam_step(cpu->ctx, p, m, v, g, n, 0.01f, 0.9f, 0.999f, 1e-8f, wd, t));
        CHECK_OK(
            gpu->adam_step(gpu->ctx, p_d, m_d, v_d, g_d, n, 0.01f, 0.9f, 0.999f, 1e-8f, wd, t));
    }
    float *pg = from_dev(gpu, p_d, n), *mg = from_dev(gpu, m_d, n), *vg = from_dev(gpu, v_d, n);
    /* same operations without contraction, IEEE div/sqrt: expected bit-identical */
    validate("adam params (3 steps)", pg, p, n, 0.0, 1e-6);
    validate("adam m", mg, m, n, 0.0, 1e-6);
    validate("adam v", vg, v, n, 0.0, 1e-6);
    gpu->free(gpu->ctx, p_d), gpu->free(gpu->ctx, m_d), gpu->free(gpu->ctx, v_d),
        gpu->free(gpu->ctx, g_d);
    free(p), free(m), free(v), free(g), free(pg), free(mg), free(vg);
}

/* The backend's choice lines (cxr_backend_cuda_set_log), printed and counted per direction. */
static int plan_lines[3]; /* forward, backward-data, backward-filter */
static void on_line(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
    plan_lines[0] += strstr(line, " forward:") != NULL;
    plan_lines[1] += strstr(line, " backward-data:") != NULL;
    plan_lines[2] += strstr(line, " backward-filter:") != NULL;
}

/* Plans are built per direction on first use and reported once: a forward-only shape chooses
 * only a forward algorithm; a backward without input gradient (conv1) no backward-data one;
 * repeating a call chooses nothing again. */
static void check_lazy_plans(void)
{
    const int N = 5, C = 4, K = 4, H = 8, W = 8;
    const size_t nin = (size_t)N * C * H * W, nout = (size_t)N * K * H * W;
    float *x = rand_host(nin, seed++, 1.0f), *w = rand_host((size_t)K * C * 9, seed++, 0.5f);
    float *x_d = to_dev(gpu, x, nin * 4), *w_d = to_dev(gpu, w, (size_t)K * C * 36);
    float *b_d = to_dev(gpu, w, (size_t)K * 4), *y_d = dev_junk(gpu, nout * 4);
    float *din_d = dev_junk(gpu, nin * 4), *dw_d = dev_junk(gpu, (size_t)K * C * 36);
    float *db_d = dev_junk(gpu, (size_t)K * 4);
    int before[3];
    memcpy(before, plan_lines, sizeof before);
#define NEW(d) (plan_lines[d] - before[d])
    CHECK_OK(gpu->conv3x3_forward(gpu->ctx, y_d, x_d, w_d, b_d, N, C, K, H, W));
    CHECK(NEW(0) == 1 && NEW(1) == 0 && NEW(2) == 0);
    CHECK_OK(gpu->conv3x3_backward(gpu->ctx, NULL, dw_d, db_d, y_d, x_d, w_d, N, C, K, H, W));
    CHECK(NEW(0) == 1 && NEW(1) == 0 && NEW(2) == 1);
    CHECK_OK(gpu->conv3x3_backward(gpu->ctx, din_d, dw_d, db_d, y_d, x_d, w_d, N, C, K, H, W));
    CHECK(NEW(0) == 1 && NEW(1) == 1 && NEW(2) == 1);
    CHECK_OK(gpu->conv3x3_forward(gpu->ctx, y_d, x_d, w_d, b_d, N, C, K, H, W));
    CHECK_OK(gpu->conv3x3_backward(gpu->ctx, din_d, dw_d, db_d, y_d, x_d, w_d, N, C, K, H, W));
    CHECK(NEW(0) == 1 && NEW(1) == 1 && NEW(2) == 1);
#undef NEW
    printf("lazy plans: one choice per direction, when first used: %s\n",
           cxr_test_failures ? "NO" : "ok");
    void *dev[] = { x_d, w_d, b_d, y_d, din_d, dw_d, db_d };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) gpu->free(gpu->ctx, dev[i]);
    free(x), free(w);
}

/* bf16: the dense weights' bf16 copy follows every write: new values uploaded are used (the copy
 * goes stale and is converted again), and after an Adam step over a block holding the weights
 * (which rewrites the copy in its own kernel) a product equals the one from a fresh conversion,
 * to the bit. */
static void check_bf16_shadow(int N, int IN, int OUT)
{
    const size_t ni = (size_t)N * IN, no = (size_t)N * OUT, nw = (size_t)OUT * IN;
    float *x = rand_host(ni, seed++, 1.0f), *w = rand_host(nw, seed++, 0.1f);
    float *b = rand_host((size_t)OUT, seed++, 0.5f), *g = rand_host(nw, seed++, 0.1f);
    float *y = calloc(no, 4);
    float *x_d = to_dev(gpu, x, ni * 4), *w_d = to_dev(gpu, w, nw * 4),
          *b_d = to_dev(gpu, b, OUT * 4);
    float *g_d = to_dev(gpu, g, nw * 4), *y_d = dev_junk(gpu, no * 4);
    float *m_d = NULL, *v_d = NULL;
    double atol, rtol;
    CHECK_OK(gpu->alloc(gpu->ctx, (void **)&m_d, nw * 4));
    CHECK_OK(gpu->alloc(gpu->ctx, (void **)&v_d, nw * 4));
    CHECK_OK(gpu->dense_forward(gpu->ctx, y_d, x_d, w_d, b_d, N, IN, OUT)); /* makes the copy */
    for (size_t i = 0; i < nw; i++) w[i] = -2.0f * w[i];
    CHECK_OK(gpu->upload(gpu->ctx, w_d, w, nw * 4)); /* copy stale */
    CHECK_OK(cpu->dense_forward(cpu->ctx, y, x, w, b, N, IN, OUT));
    CHECK_OK(gpu->dense_forward(gpu->ctx, y_d, x_d, w_d, b_d, N, IN, OUT));
    float *y1 = from_dev(gpu, y_d, no);
    reduction_tol(prec, (size_t)IN, amax(y, no), &atol, &rtol);
    validate("bf16 copy after upload: dense fwd", y1, y, no, atol, rtol);
    CHECK_OK(gpu->adam_step(gpu->ctx, w_d, m_d, v_d, g_d, nw, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1));
    CHECK_OK(gpu->dense_forward(gpu->ctx, y_d, x_d, w_d, b_d, N, IN, OUT)); /* Adam's copy */
    float *ya = from_dev(gpu, y_d, no), *wa = from_dev(gpu, w_d, nw);
    CHECK_OK(gpu->upload(gpu->ctx, w_d, wa, nw * 4)); /* same values: fresh conversion */
    CHECK_OK(gpu->dense_forward(gpu->ctx, y_d, x_d, w_d, b_d, N, IN, OUT));
    float *yf = from_dev(gpu, y_d, no);
    validate("bf16 copy written by adam = fresh conversion (exact)", ya, yf, no, 0.0, 0.0);
    void *dev[] = { x_d, w_d, b_d, g_d, y_d, m_d, v_d };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) gpu->free(gpu->ctx, dev[i]);
    free(x), free(w), free(b), free(g), free(y), free(y1), free(ya), free(wa), free(yf);
}

/* test_gpu_ops [fp32|tf32|bf16] [quick]: quick leaves out the real-size convolution. */
int main(int argc, char **argv)
{
    gpu = gpu_or_skip("gpu_ops");
    if (argc > 1) CHECK_OK(cxr_precision_parse(argv[1], &prec));
    const int quick = argc > 2 && strcmp(argv[2], "quick") == 0;
    CHECK_OK(cxr_backend_set_precision(gpu, prec));
    cxr_backend_cuda_set_log(gpu, on_line, NULL);
    CHECK_OK(cxr_backend_cpu_create(&cpu, 2));
    printf("gpu_ops: precision %s\n", cxr_precision_name(prec));
    check_lazy_plans();
    /* the study's conv2 at batch 2: the algorithms training meets (tiny shapes never do) */
    if (!quick) check_conv(2, 16, 32, 256, 256, 1);
    check_conv(3, 1, 8, 16, 16, 0); /* conv1-like: no input gradient */
    check_conv(2, 8, 16, 12, 12, 1);
    check_conv(2, 16, 32, 8, 8, 1);
    check_conv(1, 3, 5, 6, 10, 1); /* odd channel counts, non-square */
    check_pool(2, 3, 8, 12);
    check_gap(3, 128, 32 * 32); /* pool4's map of a 256 px batch's first images */
    check_gap(2, 5, 1);
    check_avgpool(3, 1, 256, 256, 4); /* the input pool of a 256 px batch's first images */
    check_avgpool(2, 3, 16, 24, 2);
    /* fused slots: training's layers (pool, no map), conv1 (map only, odd and non-square
     * sizes allowed there), both, and all-tie planes */
    check_fused_forward(2, 8, 16, 12, 12, 0, 1, 0);
    check_fused_forward(3, 1, 4, 7, 9, 1, 0, 0);
    check_fused_forward(2, 3, 5, 6, 10, 1, 1, 0);
    check_fused_forward(2, 4, 6, 8, 8, 0, 1, 1);
    check_fused_forward(2, 4, 6, 8, 8, 1, 1, -1);
    if (!quick) check_fused_forward(2, 16, 32, 256, 256, 0, 1, 0);
    check_fused_backward(2, 3, 8, 12, 0);
    check_fused_backward(3, 5, 6, 10, 0);
    check_fused_backward(2, 4, 8, 8, 1);
    check_dense(5, 300, 70);
    check_dense(4, 2048, 2); /* long reduction, out layer-like */
    check_elementwise(1001); /* a dropout tail of 1 element */
    check_loss(7, 2, 1, 0.0f, 0);
    check_loss(64, 5, 0, 0.0f, 0);
    check_loss(7, 2, 1, 0.1f, 0); /* label smoothing */
    check_loss(64, 5, 0, 0.2f, 0);
    check_loss(64, 2, 1, 0.0f, 1); /* mixup */
    check_loss(7, 5, 0, 0.1f, 1);
    check_adam(4099);
    if (prec == CXR_PRECISION_BF16) check_bf16_shadow(6, 1000, 40);
    cxr_backend_destroy(cpu);
    cxr_backend_destroy(gpu);
    TEST_END();
}
