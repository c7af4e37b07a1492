/* conv.c: 3x3 'same' convolution (stride 1, zero padding 1), CPU reference, forward and backward.
 *
 * Two ways to run the products: the forward (out = W @ cols(in) + b), the input gradient
 * (din = W_flipped @ cols(dout), the 'same' convolution of dout with the flipped, transposed
 * kernel) and the weight gradient (dW = dout @ cols(in)^T; backward ops write their outputs,
 * cxr_ops.h):
 *  - direct (AVX2+FMA CPUs, images spread over the OpenMP threads): each strip of a few output
 *    rows copies its input rows once into a zero-bordered band (in L2), and gemm_avx2.c reads
 *    the 9*C "columns" straight from it through an offset table: no im2col strip is written
 *    and nothing is packed; bias and leaky ReLU happen inside the kernel;
 *  - im2col + sgemm (CPUs without AVX2+FMA, or CXR_CPU_PARALLEL=blas): im2col by strips
 *    of output rows sized to stay in L2, one single-threaded sgemm each (sgemm.c: oneDNN's).
 * OpenMP threads take contiguous ranges of images (static, so the per-thread dW/db partial sums
 * and their fixed-order reduction make results bit-identical for a given thread count).
 */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "cpu_internal.h"
#include "dnnl_cpu.h"
#include "cxr_ops.h"

/* Target floats of one column strip (C*9 x rows*W): 128 Ki floats = 512 KiB. */
#define STRIP_FLOATS (128 * 1024)

static int strip_rows(void *ctx, int C, int H, int W)
{
    const size_t sf = ((cxr_cpu_ctx *)ctx)->strip_floats;
    long r = (long)(sf ? sf : STRIP_FLOATS) / ((long)C * 9 * W);
    if (r < 1) r = 1;
    /* even strips when H is even, so the fused pool gets whole windows and every variant of
     * the forward runs the same GEMM shapes (the sgemm's last bits depend on them); odd row
     * counts round up */
    if (!(H & 1)) r = (r + 1) & ~1L;
    if (r > H) r = H;
    return (int)r;
}

#ifdef CXR_HAVE_DNNL
/* oneDNN's convolutions run on chunks of the batch: a primitive copies each argument into its
 * own (blocked) layout, in buffers as large as the largest copy (dnnl_cpu.c), and the fused
 * forward keeps the whole unpooled map, so on the whole batch they would grow with it (1.5 GiB
 * of copies and a 256 MiB map at batch 64, 256x256). A chunk holds at most `per` images: as
 * many as keep its largest tensor within DNNL_CHUNK_BYTES, but at least DNNL_CHUNK_MIN and at
 * least the ops' threads (so a CPU of many cores keeps each busy); the batch is cut into the
 * fewest such chunks, of equal sizes within one image (two primitive shapes a batch size at
 * most). bench_train_cpu at batch 64 on a 2-core Xeon (tests/bench/results/xeon-2026-12-07c/
 * dnnl_chunks.txt): 128 MiB and 16 images, peak RSS 4.28 -> 3.04 GB at 0.98x the whole batch's
 * images/s (13.9 -> 7.1 GB at batch 256, 0.96x); against the whole batch, chunks of 64 MiB
 * (16 images at conv2) were ~3% slower a step and chunks of 8 images ~8%. */
#define DNNL_CHUNK_BYTES ((size_t)128 << 20)
#define DNNL_CHUNK_MIN   16

/* The number of chunks of N images; chunk i of n holds [i*N/n, (i+1)*N/n). */
static int dnnl_chunks(void *ctx, int N, int C, int K, int H, int W)
{
    const size_t img = (size_t)(C > K ? C : K) * H * W * sizeof(float);
    const size_t target = ((cxr_cpu_ctx *)ctx)->dnnl_chunk;
    size_t per = (target ? target : DNNL_CHUNK_BYTES) / img;
    if (per < DNNL_CHUNK_MIN) per = DNNL_CHUNK_MIN;
    const int threads = cxr_cpu_threads(ctx);
    if (per < (size_t)threads) per = (size_t)threads;
    const size_t n = ((size_t)N + per - 1) / per;
    return n > 1 ? (int)n : 1;
}

static int chunk_start(int i, int n, int N) { return (int)((long)N * i / n); }
#endif

/* col (C*9, (y1-y0)*W) from rows y0..y1-1 of the padded-by-1 plane stack in (C,H,W). */
static void im2col_strip(float *col /* (C*9, ld) */, const float *in /* (C,H,W) */, int C, int H,
                         int W, int y0, int y1, size_t ld)
{
    const size_t ns = ld;
    for (int c = 0; c < C; c++) {
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++) {
                float *row = col + (size_t)((c * 3 + ky) * 3 + kx) * ns;
                const int dx = kx - 1;
                for (int y = y0; y < y1; y++) {
                    const int yy = y + ky - 1;
                    float *dst = row + (size_t)(y - y0) * W;
                    if (yy < 0 || yy >= H) {
                        memset(dst, 0, sizeof(float) * (size_t)W);
                        continue;
                    }
                    const float *src = in + ((size_t)c * H + yy) * W;
                    if (dx == 0) {
                        memcpy(dst, src, sizeof(float) * (size_t)W);
                    } else if (dx < 0) {
                        dst[0] = 0.0f;
                        memcpy(dst + 1, src, sizeof(float) * (size_t)(W - 1));
                    } else {
                        memcpy(dst, src + 1, sizeof(float) * (size_t)(W - 1));
                        dst[W - 1] = 0.0f;
                    }
                }
            }
        }
    }
}

/* Sum of n floats in 8 interleaved partial sums (vectorises; a fixed order, so the result is
 * the same on every run). */
static float sum_f(const float *x, size_t n)
{
    float acc[8] = { 0 };
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += x[i + l];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += x[i];
    return s;
}

/* Row stride of a column strip of ns floats: padded by one cache line, so that the rows of a
 * 4 KiB-multiple strip do not all fall into the same L1 set when a kernel walks down a column
 * panel. */
static size_t col_ld(int ns) { return (size_t)ns + 16; }

/* Floats between the channel planes of a padded band of R output rows ((R+2) x (W+2) values):
 * rounded up to 4 KiB plus one cache line, so that the same pixel of consecutive channels falls
 * into consecutive L1 sets (with planes 4 KiB apart, the 9*C rows a kernel panel reads would
 * share one 8-way set and evict each other). */
static size_t pad_plane(int R, int W)
{
    return ((size_t)(R + 2) * (W + 2) + 1023) / 1024 * 1024 + 16;
}

/* Rows y0-1 .. y1 of x (C,H,W) into band (C planes of `plane` floats, rows of W+2), zero
 * outside the image: the padded input that output rows y0..y1-1 read. A band of a few rows
 * stays in L2, where padding the whole image would stream it through memory once more. */
static void pad_band(float *band, size_t plane, const float *x, int C, int H, int W, int y0, int y1)
{
    const size_t pw = (size_t)W + 2;
    for (int c = 0; c < C; c++) {
        float *d = band + (size_t)c * plane;
        for (int y = y0 - 1; y <= y1; y++, d += pw) {
            if (y < 0 || y >= H) {
                memset(d, 0, sizeof(float) * pw);
                continue;
            }
            d[0] = 0.0f;
            memcpy(d + 1, x + ((size_t)c * H + y) * W, sizeof(float) * (size_t)W);
            d[W + 1] = 0.0f;
        }
    }
}

/* offs[(c*3+ky)*3+kx] = the offset of the "column" (c,ky,kx) of a band's first output pixel. */
static void pad_offsets(int *offs, size_t plane, int C, int W)
{
    const int pw = W + 2;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                offs[(c * 3 + ky) * 3 + kx] = (int)(c * plane) + ky * pw + kx;
}

/* Per-thread source of the "columns" of a strip: a padded image (direct) or an im2col strip. */
typedef struct {
    int direct;
    float *buf; /* direct: a padded band (pad_band); else: the im2col strip */
    const int *offs;
    size_t plane;     /* direct: the band's plane stride */
    int wide;         /* direct: the AVX-512 kernels (cxr_cpu_ctx.avx512) */
    const float *U;   /* direct product by Winograd: the transformed weights (else NULL) */
    cxr_wino_work wk; /* and its work buffers */
} col_src;

/* Cm[:, rows y0..y1) (M, (y1-y0)*W, leading dimension ldc) += A (M, C*9) @ columns of those
 * rows of x (C,H,W). With bias
 * (direct mode only) Cm is not read: Cm = bias + product, leaky ReLU'd when relu. */
static cxr_status strip_product(const col_src *src, float *Cm, size_t ldc, const float *A, int M,
                                const float *x, int C, int H, int W, int y0, int y1,
                                const float *bias, float alpha, int relu)
{
    if (src->direct) {
        pad_band(src->buf, src->plane, x, C, H, W, y0, y1);
        if (src->U) { /* two rows at a time from four band rows (strips are even) */
            for (int y = y0; y < y1; y += 2)
                cxr_wino_rows(Cm + (size_t)(y - y0) * W, ldc, src->U,
                              src->buf + (size_t)(y - y0) * (W + 2), src->plane, C, M, W, bias,
                              alpha, relu, &src->wk, src->wide);
            return CXR_OK;
        }
        for (int y = y0; y < y1; y++)
            (src->wide ? cxr_gemm_wcol512 : cxr_gemm_wcol)(
                Cm + (size_t)(y - y0) * W, ldc, A, (size_t)C * 9,
                src->buf + (size_t)(y - y0) * (W + 2), src->offs, M, W, C * 9, bias, alpha, relu);
        return CXR_OK;
    }
    const int ns = (y1 - y0) * W;
    im2col_strip(src->buf, x, C, H, W, y0, y1, col_ld(ns));
    return cxr_cpu_sgemm(0, 0, M, ns, C * 9, 1.0f, A, C * 9, src->buf, (int)col_ld(ns), 1.0f, Cm,
                         (int)ldc);
}

/* OpenMP threads over the images (at most one per image), and whether the direct kernels run
 * (AVX2+FMA, unless CXR_CPU_PARALLEL=blas asks for the im2col + sgemm path). The sgemm runs
 * single-threaded inside each thread (sgemm.c). */
static int plan_threads(void *ctx, int N, int *omp_threads)
{
    cxr_cpu_ctx *c = ctx;
    cxr_cpu_enter(ctx);
    *omp_threads = c->n_threads < N ? c->n_threads : N;
    return !c->blas_parallel && cxr_gemm_wcol_available();
}

/* Scratch floats for a col_src over a C-channel input: padded band or im2col strip of R rows. */
static size_t src_floats(int direct, int C, int W, int R)
{
    size_t f = direct ? (size_t)C * pad_plane(R, W) : (size_t)C * 9 * col_ld(R * W);
    return (f + 15) / 16 * 16;
}

/* Floats reserved for an offset table of Kd ints (pad_offsets). */
#define OFFS_FLOATS(Kd) (((size_t)(Kd) + 15) / 16 * 16)

/* ---- the forward and the input gradient by Winograd (winograd.c) */

/* Whether a direct product of C input channels runs by Winograd (the forward with the layer's
 * C, the input gradient with its K): at least 16 of them (conv2-conv4; conv1's single channel
 * leaves too little to save) with even sizes
 * (strips of even rows, whole 2x2 tiles) and rows of at least 32 pixels (16 tiles: at 8, the
 * products run in half-masked tiles and Winograd measured slower than the direct product). */
static int wino_applies(void *ctx, int direct, int C, int H, int W)
{
    const cxr_cpu_ctx *c = ctx;
    return direct && c->wino && C >= 16 && W >= 32 && !((H | W) & 1);
}

/* Row stride of the Winograd buffers for W/2 tiles: padded by one cache line (as col_ld). */
static size_t wino_ld(int W) { return (size_t)(W / 2 + 15) / 16 * 16 + 16; }

/* Per-thread floats of the Winograd buffers: V, M, the offsets and K zeros. */
static size_t wino_floats(int C, int K, int W)
{
    return 16 * ((size_t)C + K) * wino_ld(W) + OFFS_FLOATS(C) + ((size_t)K + 15) / 16 * 16;
}

/* The transformed weights into the context's buffer (flip: of w's flipped, transposed kernel,
 * cxr_wino_weights): U, or NULL when out of memory. */
static const float *wino_weights(void *ctx, const float *w, int K, int C, int flip)
{
    cxr_cpu_ctx *c = ctx;
    const size_t bytes = (size_t)16 * K * C * sizeof(float);
    if (c->wino_u_bytes < bytes) {
        free(c->wino_u);
        c->wino_u = aligned_alloc(64, (bytes + 63) / 64 * 64);
        c->wino_u_bytes = c->wino_u ? bytes : 0;
        if (!c->wino_u) return NULL;
    }
    cxr_wino_weights(c->wino_u, w, K, C, flip);
    return c->wino_u;
}

/* Lays out the Winograd work buffers in a thread's scratch at `at` (wino_floats of them). */
static cxr_wino_work wino_work(float *at, int C, int K, int W)
{
    const size_t ld = wino_ld(W);
    cxr_wino_work wk = { at, ld, at + 16 * (size_t)C * ld, ld, NULL, NULL };
    int *offs = (int *)(at + 16 * ((size_t)C + K) * ld);
    for (int c = 0; c < C; c++) offs[c] = (int)((size_t)c * ld);
    float *zero = (float *)offs + OFFS_FLOATS(C);
    memset(zero, 0, sizeof(float) * (size_t)K);
    wk.offs = offs, wk.zero = zero;
    return wk;
}

/* A forward's column source in a thread's scratch: the band (or im2col strip) of sf floats,
 * its offset table, and the Winograd buffers at `wo` when U is given. */
static col_src forward_src(float *scr, size_t sf, int direct, int wide, int R, const float *U,
                           size_t wo, int C, int K, int W)
{
    int *offs = (int *)(scr + sf);
    col_src src = { .direct = direct,
                    .buf = scr,
                    .offs = offs,
                    .plane = pad_plane(R, W),
                    .wide = wide,
                    .U = U };
    if (U)
        src.wk = wino_work(scr + wo, C, K, W);
    else if (direct) /* the direct product's column table (Winograd has its own) */
        pad_offsets(offs, src.plane, C, W);
    return src;
}

cxr_status cxr_conv3x3_forward_cpu(void *ctx, float *out /* (N,K,H,W) */,
                                   const float *in /* (N,C,H,W) */, const float *w /* (K,C,3,3) */,
                                   const float *b /* (K) */, int N, int C, int K, int H, int W)
{
    if (!ctx) return cxr_set_error(CXR_E_ARG, "conv3x3_forward: no cpu context");
#ifdef CXR_HAVE_DNNL
    if (cxr_cpu_dnnl_conv(ctx, CXR_DNNL_CONV_FWD, C)) {
        cxr_cpu_enter(ctx);
        const int n = dnnl_chunks(ctx, N, C, K, H, W);
        for (int i = 0; i < n; i++) {
            const int n0 = chunk_start(i, n, N), nb = chunk_start(i + 1, n, N) - n0;
            CXR_CPU_RET(cxr_dnnl_conv_forward(
                ((cxr_cpu_ctx *)ctx)->dnnl, out + (size_t)n0 * K * H * W,
                in + (size_t)n0 * C * H * W, w, b, 0.0f, 0, NULL, nb, C, K, H, W));
        }
        return CXR_OK;
    }
#endif
    int ot;
    const int direct = plan_threads(ctx, N, &ot), wide = direct && ((cxr_cpu_ctx *)ctx)->avx512;
    const int R = strip_rows(ctx, C, H, W);
    const int wino = wino_applies(ctx, direct, C, H, W);
    const size_t sf = src_floats(direct, C, W, R), wo = sf + OFFS_FLOATS(C * 9);
    const size_t need = wo + (wino ? wino_floats(C, K, W) : 0);
    for (int t = 0; t < ot; t++)
        if (!cxr_cpu_scratch(ctx, t, need * sizeof(float)))
            return cxr_set_error(CXR_E_NOMEM, "conv3x3_forward: no scratch (%zu floats)", need);
    const float *U = wino ? wino_weights(ctx, w, K, C, 0) : NULL;
    if (wino && !U) return cxr_set_error(CXR_E_NOMEM, "conv3x3_forward: no Winograd weights");
    const size_t in_img = (size_t)C * H * W, out_img = (size_t)K * H * W, hw = (size_t)H * W;
    int failed = 0;
#pragma omp parallel num_threads(ot)
    {
        cxr_cpu_check_team(ot, &failed);
        const int t = omp_get_thread_num();
        float *scr = cxr_cpu_scratch(ctx, t, 0);
        const col_src src = forward_src(scr, sf, direct, wide, R, U, wo, C, K, W);
        const int n0 = (int)((long)N * t / ot), n1 = (int)((long)N * (t + 1) / ot);
        for (int n = n0; n < n1; n++) {
            const float *x = in + (size_t)n * in_img;
            float *y = out + (size_t)n * out_img;
            for (int y0 = 0; y0 < H; y0 += R) {
                const int y1 = y0 + R < H ? y0 + R : H;
                const int ns = (y1 - y0) * W;
                if (direct) {
                    cxr_cpu_note_failure(strip_product(&src, y + (size_t)y0 * W, hw, w, K, x, C, H,
                                                       W, y0, y1, b, 0.0f, 0),
                                         &failed);
                    continue;
                }
                for (int k = 0; k < K; k++) {
                    float *o = y + (size_t)k * hw + (size_t)y0 * W;
                    const float bk = b[k];
                    for (int i = 0; i < ns; i++) o[i] = bk;
                }
                cxr_cpu_note_failure(strip_product(&src, y + (size_t)y0 * W, hw, w, K, x, C, H, W,
                                                   y0, y1, NULL, 0.0f, 0),
                                     &failed);
            }
        }
    }
    if (failed) return cxr_cpu_region_failed("conv3x3_forward", failed, ot);
    return CXR_OK;
}

/* Own kernels: din when din != NULL, dW and db when do_dw. */
static cxr_status conv_backward_own(void *ctx, float *din, float *dw, float *db, const float *dout,
                                    const float *in, const float *w, int N, int C, int K, int H,
                                    int W, int do_dw)
{
    int ot;
    const int direct = plan_threads(ctx, N, &ot), wide = direct && ((cxr_cpu_ctx *)ctx)->avx512;
    /* dW reads the input's columns (C*9), din dout's (K*9) */
    int Rw = strip_rows(ctx, C, H, W);
    const int Rd = strip_rows(ctx, K, H, W);
    /* direct dW: bands of >= 1024 pixels, to amortise its per-band reductions */
    if (direct && Rw * W < 1024) Rw = (1024 + W - 1) / W < H ? (1024 + W - 1) / W : H;
    const size_t colf = src_floats(direct, C, W, Rw);
    const size_t df = din ? src_floats(direct, K, W, Rd) : 0;
    const size_t wn = (size_t)K * C * 9, wn16 = (wn + 15) / 16 * 16;
    /* scratch per thread: dW source | its offsets | din source | its offsets | dW partial |
     * flipped W | db partial | C zeros (the direct din product's "bias": it writes din) */
    const size_t o_offx = colf, o_src = o_offx + OFFS_FLOATS(C * 9);
    const size_t o_offs = o_src + df, o_dw = o_offs + OFFS_FLOATS(K * 9);
    const size_t k16 = ((size_t)K + 15) / 16 * 16;
    /* din by Winograd (the forward's shape with C and K swapped): its buffers after the rest */
    const int wino = din && wino_applies(ctx, direct, K, H, W);
    const size_t wo = o_dw + 2 * wn16 + k16 + (size_t)C + 16;
    const size_t need = wo + (wino ? wino_floats(K, C, W) : 0);
    for (int t = 0; t < ot; t++)
        if (!cxr_cpu_scratch(ctx, t, need * sizeof(float)))
            return cxr_set_error(CXR_E_NOMEM, "conv3x3_backward: no scratch (%zu floats)", need);
    const float *U = wino ? wino_weights(ctx, w, C, K, 1) : NULL;
    if (wino && !U) return cxr_set_error(CXR_E_NOMEM, "conv3x3_backward: no Winograd weights");
    const size_t in_img = (size_t)C * H * W, out_img = (size_t)K * H * W, hw = (size_t)H * W;
    int failed = 0;
#pragma omp parallel num_threads(ot)
    {
        cxr_cpu_check_team(ot, &failed);
        const int t = omp_get_thread_num();
        float *scr = cxr_cpu_scratch(ctx, t, 0);
        float *col = scr, *dwp = scr + o_dw;
        float *wf = dwp + wn16;
        float *dbp = wf + wn16, *zeros = dbp + k16;
        int *offs = (int *)(scr + o_offs), *offx = (int *)(scr + o_offx);
        col_src src = { .direct = direct,
                        .buf = scr + o_src,
                        .offs = offs,
                        .plane = pad_plane(Rd, W),
                        .wide = wide,
                        .U = U };
        if (U) src.wk = wino_work(scr + wo, K, C, W);
        const size_t xplane = pad_plane(Rw, W);
        if (direct) pad_offsets(offx, xplane, C, W);
        memset(dwp, 0, sizeof(float) * wn);
        memset(dbp, 0, sizeof(float) * (size_t)K);
        memset(zeros, 0, sizeof(float) * (size_t)C);
        /* din is the 'same' convolution of dout with the flipped, transposed kernel
         * wf (C,K,3,3)[c,k,ky,kx] = w[k,c,2-ky,2-kx]: a product with inner dimension K*9
         * writing din directly (no column-gradient buffer to zero and scatter back) */
        if (din && !U) { /* (Winograd transforms the kernel itself, wino_weights) */
            for (int c = 0; c < C; c++)
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < 9; j++)
                        wf[((size_t)c * K + k) * 9 + j] = w[((size_t)k * C + c) * 9 + 8 - j];
            if (direct) pad_offsets(offs, src.plane, K, W);
        }
        const int n0 = (int)((long)N * t / ot), n1 = (int)((long)N * (t + 1) / ot);
        for (int n = n0; n < n1; n++) {
            const float *x = in + (size_t)n * in_img;
            const float *g = dout + (size_t)n * out_img;
            for (int k = 0; k < K && do_dw; k++) dbp[k] += sum_f(g + (size_t)k * hw, hw);
            for (int y0 = 0; y0 < H && do_dw; y0 += Rw) {
                const int y1 = y0 + Rw < H ? y0 + Rw : H;
                const int ns = (y1 - y0) * W;
                if (direct) {
                    pad_band(col, xplane, x, C, H, W, y0, y1);
                    cxr_conv_dw(dwp, g + (size_t)y0 * W, hw, col, offx, K, C * 9, y1 - y0, W);
                    continue;
                }
                im2col_strip(col, x, C, H, W, y0, y1, col_ld(ns));
                /* dW (K, C*9) += dout_strip (K, ns) @ col^T (ns, C*9) */
                cxr_cpu_note_failure(cxr_cpu_sgemm(0, 1, K, C * 9, ns, 1.0f, g + (size_t)y0 * W,
                                                   (int)hw, col, (int)col_ld(ns), 1.0f, dwp, C * 9),
                                     &failed);
            }
            if (!din) continue;
            float *dx = din + (size_t)n * in_img;
            for (int y0 = 0; y0 < H; y0 += Rd) {
                const int y1 = y0 + Rd < H ? y0 + Rd : H;
                /* din_strip (C, ns) = wf (C, K*9) @ columns of dout (K*9, ns): the direct
                 * kernel starts its sums from the zero "bias" and never reads din; the sgemm
                 * path (beta 1) adds to the strip zeroed here, while it is in cache */
                if (!direct)
                    for (int c = 0; c < C; c++)
                        memset(dx + (size_t)c * hw + (size_t)y0 * W, 0,
                               sizeof(float) * (size_t)(y1 - y0) * W);
                cxr_cpu_note_failure(strip_product(&src, dx + (size_t)y0 * W, hw, wf, C, g, K, H, W,
                                                   y0, y1, direct ? zeros : NULL, 0.0f, 0),
                                     &failed);
            }
        }
    }
    if (failed) return cxr_cpu_region_failed("conv3x3_backward", failed, ot);
    /* fixed-order reduction of the per-thread partial sums, written over dW and db */
    for (int t = 0; t < ot && do_dw; t++) {
        const float *dwp = cxr_cpu_scratch(ctx, t, 0) + o_dw;
        const float *dbp = dwp + 2 * wn16;
        if (t == 0) {
            memcpy(dw, dwp, sizeof(float) * wn);
            memcpy(db, dbp, sizeof(float) * (size_t)K);
            continue;
        }
        for (size_t i = 0; i < wn; i++) dw[i] += dwp[i];
        for (int k = 0; k < K; k++) db[k] += dbp[k];
    }
    return CXR_OK;
}

cxr_status cxr_conv3x3_backward_cpu(void *ctx, float *din /* (N,C,H,W) or NULL */,
                                    float *dw /* (K,C,3,3) */, float *db /* (K) */,
                                    const float *dout /* (N,K,H,W) */,
                                    const float *in /* (N,C,H,W) */, const float *w /* (K,C,3,3) */,
                                    int N, int C, int K, int H, int W)
{
    if (!ctx) return cxr_set_error(CXR_E_ARG, "conv3x3_backward: no cpu context");
    int own_dw = 1, own_din = din != NULL;
#ifdef CXR_HAVE_DNNL
    cxr_cpu_ctx *c = ctx;
    const size_t in_img = (size_t)C * H * W, out_img = (size_t)K * H * W;
    if (cxr_cpu_dnnl_conv(ctx, CXR_DNNL_CONV_BWD_W, C)) {
        cxr_cpu_enter(ctx);
        const int n = dnnl_chunks(ctx, N, C, K, H, W);
        /* the first chunk writes dw and db, each later one its own into part (the calling
         * thread's scratch: no op of ours runs meanwhile), added in order */
        const size_t wn = (size_t)K * C * 9;
        float *part = n > 1 ? cxr_cpu_scratch(ctx, 0, sizeof(float) * (wn + (size_t)K)) : NULL;
        if (n > 1 && !part)
            return cxr_set_error(CXR_E_NOMEM, "conv3x3_backward: %zu bytes",
                                 sizeof(float) * (wn + (size_t)K));
        for (int i = 0; i < n; i++) {
            const int n0 = chunk_start(i, n, N), nb = chunk_start(i + 1, n, N) - n0;
            float *pw = i ? part : dw, *pb = i ? part + wn : db;
            CXR_CPU_RET(cxr_dnnl_conv_backward_weights(c->dnnl, pw, pb,
                                                       dout + (size_t)n0 * out_img,
                                                       in + (size_t)n0 * in_img, nb, C, K, H, W));
            if (!i) continue;
            for (size_t j = 0; j < wn; j++) dw[j] += part[j];
            for (int k = 0; k < K; k++) db[k] += part[wn + (size_t)k];
        }
        own_dw = 0;
    }
    if (din && cxr_cpu_dnnl_conv(ctx, CXR_DNNL_CONV_BWD_DATA, C)) {
        cxr_cpu_enter(ctx);
        const int n = dnnl_chunks(ctx, N, C, K, H, W);
        for (int i = 0; i < n; i++) {
            const int n0 = chunk_start(i, n, N), nb = chunk_start(i + 1, n, N) - n0;
            CXR_CPU_RET(cxr_dnnl_conv_backward_data(c->dnnl, din + (size_t)n0 * in_img,
                                                    dout + (size_t)n0 * out_img, w, nb, C, K, H,
                                                    W));
        }
        own_din = 0;
    }
#endif
    if (!own_dw && !own_din) return CXR_OK;
    return conv_backward_own(ctx, own_din ? din : NULL, dw, db, dout, in, w, N, C, K, H, W, own_dw);
}

/* Bias, product and epilogue of one strip go through a per-thread tile (K x rows*W) that stays
 * in L2: leaky ReLU and the pool read it there instead of streaming the full map from memory
 * again, and the map itself is only written when the caller wants it (conv1: the input of
 * conv2). The tile holds the same values conv3x3_forward writes (same strips, same products),
 * so the results equal the separate ops' bit for bit. */
cxr_status cxr_conv3x3_lrelu_pool_forward_cpu(void *ctx, float *out /* (N,K,H,W) or NULL */,
                                              float *pooled /* (N,K,H/2,W/2) or NULL */,
                                              uint8_t *idx /* (N,K,H/2,W/2) or NULL */,
                                              const float *in /* (N,C,H,W) */,
                                              const float *w /* (K,C,3,3) */,
                                              const float *b /* (K) */, float alpha, int N, int C,
                                              int K, int H, int W)
{
    if (!ctx) return cxr_set_error(CXR_E_ARG, "conv3x3_lrelu_pool_forward: no cpu context");
    if (!out && !pooled) return cxr_set_error(CXR_E_ARG, "conv3x3_lrelu_pool_forward: no output");
    if (pooled && (!idx || ((H | W) & 1)))
        return cxr_set_error(CXR_E_ARG, "conv3x3_lrelu_pool_forward: pool of %dx%d (idx %p)", H, W,
                             (void *)idx);
#ifdef CXR_HAVE_DNNL
    if (cxr_cpu_dnnl_conv(ctx, CXR_DNNL_CONV_FWD, C)) {
        /* oneDNN conv + bias + leaky ReLU, our pool; where oneDNN leaves the ReLU (its Winograd
         * forward, C >= 32 on AVX-512), ours after the pool when only the pooled map is kept: the
         * ReLU is increasing, so it commutes with the max and runs on a quarter of the map */
        cxr_cpu_ctx *c = ctx;
        cxr_cpu_enter(ctx);
        const int n = dnnl_chunks(ctx, N, C, K, H, W);
        const size_t out_img = (size_t)K * H * W, in_img = (size_t)C * H * W;
        if (!out) { /* the map of the largest chunk, pooled as each chunk is done */
            const size_t bytes = (size_t)((N + n - 1) / n) * out_img * sizeof(float);
            if (c->map_bytes < bytes) {
                free(c->map);
                c->map = aligned_alloc(64, (bytes + 63) / 64 * 64);
                c->map_bytes = c->map ? bytes : 0;
                if (!c->map)
                    return cxr_set_error(CXR_E_NOMEM, "conv3x3_lrelu_pool_forward: %zu bytes",
                                         bytes);
            }
        }
        for (int i = 0; i < n; i++) {
            const int n0 = chunk_start(i, n, N), nb = chunk_start(i + 1, n, N) - n0;
            float *map = out ? out + (size_t)n0 * out_img : c->map;
            const size_t nmap = (size_t)nb * out_img, pofs = (size_t)n0 * out_img / 4;
            int left = 0;
            CXR_CPU_RET(cxr_dnnl_conv_forward(c->dnnl, map, in + (size_t)n0 * in_img, w, b, alpha,
                                              1, &left, nb, C, K, H, W));
            if (left && out) CXR_CPU_RET(cxr_leaky_relu_forward_cpu(ctx, map, map, alpha, nmap));
            if (!pooled) continue;
            CXR_CPU_RET(cxr_maxpool2_forward_cpu(ctx, pooled + pofs, idx + pofs, map, nb, K, H, W));
            if (left && !out)
                CXR_CPU_RET(
                    cxr_leaky_relu_forward_cpu(ctx, pooled + pofs, pooled + pofs, alpha, nmap / 4));
        }
        return CXR_OK;
    }
#endif
    int ot;
    const int direct = plan_threads(ctx, N, &ot), wide = direct && ((cxr_cpu_ctx *)ctx)->avx512;
    const int R = strip_rows(ctx, C, H, W);
    const int wino = wino_applies(ctx, direct, C, H, W);
    const size_t sf = src_floats(direct, C, W, R), tile_floats = (size_t)K * R * W;
    const size_t wo = sf + OFFS_FLOATS(C * 9) + tile_floats + 16;
    const size_t need = wo + (wino ? wino_floats(C, K, W) : 0);
    for (int t = 0; t < ot; t++)
        if (!cxr_cpu_scratch(ctx, t, need * sizeof(float)))
            return cxr_set_error(CXR_E_NOMEM, "conv3x3_lrelu_pool_forward: no scratch (%zu floats)",
                                 need);
    const float *U = wino ? wino_weights(ctx, w, K, C, 0) : NULL;
    if (wino && !U)
        return cxr_set_error(CXR_E_NOMEM, "conv3x3_lrelu_pool_forward: no Winograd weights");
    const size_t in_img = (size_t)C * H * W, out_img = (size_t)K * H * W, hw = (size_t)H * W;
    const int Ho = H / 2, Wo = W / 2;
    const size_t pimg = (size_t)K * Ho * Wo, phw = (size_t)Ho * Wo;
    int failed = 0;
#pragma omp parallel num_threads(ot)
    {
        cxr_cpu_check_team(ot, &failed);
        const int t = omp_get_thread_num();
        float *scr = cxr_cpu_scratch(ctx, t, 0);
        float *tile = scr + sf + OFFS_FLOATS(C * 9);
        const col_src src = forward_src(scr, sf, direct, wide, R, U, wo, C, K, W);
        const int n0 = (int)((long)N * t / ot), n1 = (int)((long)N * (t + 1) / ot);
        for (int n = n0; n < n1; n++) {
            const float *x = in + (size_t)n * in_img;
            for (int y0 = 0; y0 < H; y0 += R) {
                const int y1 = y0 + R < H ? y0 + R : H;
                const int ns = (y1 - y0) * W;
                if (direct && !pooled) { /* conv1: bias, product, ReLU straight into out */
                    cxr_cpu_note_failure(strip_product(&src,
                                                       out + (size_t)n * out_img + (size_t)y0 * W,
                                                       hw, w, K, x, C, H, W, y0, y1, b, alpha, 1),
                                         &failed);
                    continue;
                }
                if (direct) {
                    cxr_cpu_note_failure(strip_product(&src, tile, (size_t)ns, w, K, x, C, H, W, y0,
                                                       y1, b, alpha, 1),
                                         &failed);
                } else {
                    for (int k = 0; k < K; k++) {
                        float *o = tile + (size_t)k * ns;
                        const float bk = b[k];
                        for (int i = 0; i < ns; i++) o[i] = bk;
                    }
                    cxr_cpu_note_failure(strip_product(&src, tile, (size_t)ns, w, K, x, C, H, W, y0,
                                                       y1, NULL, 0.0f, 0),
                                         &failed);
                    for (int k = 0; k < K; k++) {
                        float *o = tile + (size_t)k * ns;
                        for (int i = 0; i < ns; i++)
                            o[i] = cxr_select_f(o[i] > 0.0f, o[i], alpha * o[i]);
                    }
                }
                for (int k = 0; k < K; k++) {
                    float *o = tile + (size_t)k * ns;
                    if (out)
                        memcpy(out + (size_t)n * out_img + (size_t)k * hw + (size_t)y0 * W, o,
                               sizeof(float) * (size_t)ns);
                    if (pooled)
                        for (int r = 0; r < y1 - y0; r += 2) {
                            const size_t po =
                                (size_t)n * pimg + (size_t)k * phw + (size_t)((y0 + r) / 2) * Wo;
                            cxr_pool_row(pooled + po, idx + po, o + (size_t)r * W,
                                         o + (size_t)(r + 1) * W, Wo);
                        }
                }
            }
        }
    }
    if (failed) return cxr_cpu_region_failed("conv3x3_lrelu_pool_forward", failed, ot);
    return CXR_OK;
}
