/* dnnl_cpu.c: the CPU backend's oneDNN primitives (built with -DCXR_DNNL=ON and libdnnl-dev):
 * 3x3 convolution forward (+ bias + leaky ReLU), its input and weight gradients, and the dense
 * layers' three products as matmuls. oneDNN picks its kernels for the CPU at hand (AVX2,
 * AVX-512, AVX512-BF16, AMX), which is what the op table gains from it on CPUs our own
 * kernels (AVX2) do not cover; which ops use it is the backend's choice (backend_cpu.c).
 *
 * Each primitive is created once per shape and kept (a small cache in the context). Our tensors
 * stay in the graph's layouts (NCHW, OIHW, row-major matrices); a primitive gets its preferred
 * ("any") layouts and data types, and reorders move data between them inside the op. With
 * bf16 the convolutions and matmuls read bf16 copies of their inputs and weights (the reorders
 * convert) and write fp32: fp32 master weights, fp32 gradients. Gradients are written, as cxr_ops.h
 * asks (the `acc` argument flag, a reorder with a sum post-op, is kept for an accumulating
 * output but no op uses it).
 * oneDNN runs on the same OpenMP threads as the rest of the backend (its OpenMP runtime), so
 * they compute with flush-to-zero like ours, and with asynchronous signals blocked: its GEMM
 * kernels cannot take one (cxr_signals.h; prim_run holds them back from the calling thread). */
#include "dnnl_cpu.h"

#ifdef CXR_HAVE_DNNL
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>
#include <omp.h>

/* In bf16, whether the dense layers' matmuls take bf16 operands too (1) or stay fp32 (0). */
#define DENSE_BF16_DEFAULT 1

#include "cpu_internal.h"
#include "cxr_signals.h"

enum { K_FWD, K_BWD_DATA, K_BWD_W, K_MM_FWD, K_MM_DW, K_MM_DIN };

#define MAX_ARGS  5
/* Primitives kept (when full, all are dropped and made again as used): each batch size the
 * backend runs makes up to two chunk shapes of each convolution op on oneDNN (conv.c,
 * dnnl_chunks), 20-30 primitives with the dense products; 128 hold the training batch, an
 * epoch's last batch and an evaluation's, bf16 included, with room to spare (48 did not). */
#define MAX_PRIMS 128

typedef struct {
    int arg;    /* DNNL_ARG_* of the primitive */
    int output; /* 0: read by the primitive; 1: written */
    int acc;    /* output added to the user's tensor (reorder with a sum post-op) */
    dnnl_memory_desc_t user, prim;
    dnnl_memory_t umem, pmem; /* the user's tensor, the primitive's copy (when they differ) */
    dnnl_primitive_t reorder; /* user -> prim (inputs) or prim -> user (outputs); NULL: none */
    size_t buf_bytes;         /* pmem's storage: the context's buffer of this argument slot */
} dn_arg;

typedef struct {
    int key[9];
    dnnl_primitive_t p;
    int nargs;
    dn_arg a[MAX_ARGS];
    char impl[64];
    int relu_left; /* a forward asked for a ReLU it leaves to the caller (Winograd) */
} dn_prim;

/* The primitives' copies of their arguments in their own layouts live in one buffer per
 * argument slot (the i-th argument of every primitive shares buffer i), as large as the largest
 * such copy: primitives run one at a time and every copy is made again at each run (a copy is
 * filled from the user's tensor before the primitive, or written back to it after), so nothing
 * lives in them between runs. Per primitive, the copies at batch 64 would be 0.3-0.5 GB each for
 * conv2 and add up to several GB over the network's primitives; the backend also runs each
 * convolution on chunks of the batch (conv.c, dnnl_chunks), which bounds the largest copy. */
struct cxr_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    int bf16;
    int dense_bf16;       /* bf16 and the matmuls too (CXR_DNNL_DENSE=bf16); else fp32 matmuls */
    dnnl_alg_kind_t algo; /* convolutions: auto (oneDNN may pick Winograd) or direct */
    int fwd_wino;         /* a forward may leave its ReLU (Winograd); CXR_DNNL_FWD=fused: not */
    int n;
    dn_prim prims[MAX_PRIMS];
    void *slot[MAX_ARGS];
    size_t slot_bytes[MAX_ARGS];
};

#define DN_TRY(call, what)                                                                       \
    do {                                                                                         \
        dnnl_status_t s_ = (call);                                                               \
        if (s_ != dnnl_success)                                                                  \
            return cxr_set_error(                                                                \
                s_ == dnnl_unimplemented ? CXR_E_UNSUPPORTED : CXR_E_INTERNAL,                   \
                "oneDNN %s: %s (status %d)", what,                                               \
                s_ == dnnl_unimplemented ? "no implementation on this CPU" : "failed", (int)s_); \
    } while (0)

cxr_status cxr_dnnl_create(cxr_dnnl **out, int bf16)
{
    *out = NULL;
    cxr_dnnl *d = calloc(1, sizeof *d);
    if (!d) return cxr_set_error(CXR_E_NOMEM, "oneDNN: out of memory");
    d->bf16 = bf16;
    const char *dense, *algo, *fwd;
    if (cxr_dnnl_knobs(&dense, &algo, &fwd) != CXR_OK) {
        free(d);
        return CXR_E_ARG;
    }
    d->dense_bf16 = bf16 && DENSE_BF16_DEFAULT;
    if (bf16 && dense && !strcmp(dense, "bf16")) d->dense_bf16 = 1;
    if (dense && !strcmp(dense, "fp32")) d->dense_bf16 = 0;
    /* auto: oneDNN picks Winograd F(4x4,3x3) where it has it and judges it faster (on AVX-512
     * the study's conv2-conv4 backward passes at batch 64), else direct; CXR_DNNL_ALGO=direct
     * keeps every convolution direct (specs/model.md, "Winograd") */
    d->algo = algo && !strcmp(algo, "direct") ? dnnl_convolution_direct : dnnl_convolution_auto;
    d->fwd_wino = !(fwd && !strcmp(fwd, "fused"));
    if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags) != dnnl_success) {
        cxr_dnnl_destroy(d);
        return cxr_set_error(CXR_E_INTERNAL, "oneDNN: cannot create the CPU engine");
    }
    *out = d;
    return CXR_OK;
}

static void prim_free(dn_prim *p)
{
    for (int i = 0; i < p->nargs; i++) {
        dn_arg *a = &p->a[i];
        if (a->reorder) dnnl_primitive_destroy(a->reorder);
        if (a->umem) dnnl_memory_destroy(a->umem);
        if (a->pmem) dnnl_memory_destroy(a->pmem);
    }
    if (p->p) dnnl_primitive_destroy(p->p);
    memset(p, 0, sizeof *p);
}

void cxr_dnnl_destroy(cxr_dnnl *d)
{
    if (!d) return;
    for (int i = 0; i < d->n; i++) prim_free(&d->prims[i]);
    for (int i = 0; i < MAX_ARGS; i++) free(d->slot[i]);
    if (d->strm) dnnl_stream_destroy(d->strm);
    if (d->eng) dnnl_engine_destroy(d->eng);
    free(d);
}

static dnnl_memory_desc_t md_tag(int nd, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                                 dnnl_format_tag_t tag)
{
    dnnl_memory_desc_t m;
    dnnl_dims_t full = { 0 }; /* the API's parameter is a full dnnl_dims_t */
    for (int i = 0; i < nd; i++) full[i] = dims[i];
    dnnl_memory_desc_init_by_tag(&m, nd, full, dt, tag);
    return m;
}

/* Memory objects and reorders of argument a (slot i), once the primitive's layout is known. */
static cxr_status arg_setup(cxr_dnnl *d, dn_arg *a, int i, int sum_in_prim)
{
    DN_TRY(dnnl_memory_create(&a->umem, &a->user, d->eng, DNNL_MEMORY_NONE), "memory");
    const int differ = !dnnl_memory_desc_equal(&a->user, &a->prim);
    if (!differ && !(a->output && a->acc && !sum_in_prim)) return CXR_OK;
    a->buf_bytes = dnnl_memory_desc_get_size(&a->prim);
    if (d->slot_bytes[i] < a->buf_bytes) { /* grow the slot; others find it at their next run */
        free(d->slot[i]);
        d->slot[i] = aligned_alloc(64, (a->buf_bytes + 63) / 64 * 64);
        d->slot_bytes[i] = d->slot[i] ? a->buf_bytes : 0;
        if (!d->slot[i])
            return cxr_set_error(CXR_E_NOMEM, "oneDNN: no buffer (%zu bytes)", a->buf_bytes);
    }
    DN_TRY(dnnl_memory_create(&a->pmem, &a->prim, d->eng, d->slot[i]), "memory");
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (a->output && a->acc) { /* user += reorder(prim) */
        DN_TRY(dnnl_primitive_attr_create(&attr), "attr");
        DN_TRY(dnnl_post_ops_create(&po), "post-ops");
        DN_TRY(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
        DN_TRY(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
    }
    dnnl_primitive_desc_t rpd = NULL;
    const dnnl_status_t s =
        a->output
            ? dnnl_reorder_primitive_desc_create(&rpd, &a->prim, d->eng, &a->user, d->eng, attr)
            : dnnl_reorder_primitive_desc_create(&rpd, &a->user, d->eng, &a->prim, d->eng, attr);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    DN_TRY(s, "reorder");
    const dnnl_status_t s2 = dnnl_primitive_create(&a->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    DN_TRY(s2, "reorder");
    return CXR_OK;
}

/* Finish entry p from its primitive descriptor: the primitive, and for each argument the
 * layout the primitive chose (exec_arg_md) and the reorders to it. */
static cxr_status prim_finish(cxr_dnnl *d, dn_prim *p, dnnl_primitive_desc_t pd, int sum_in_prim)
{
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(p->impl, sizeof p->impl, "%s", impl ? impl : "?");
    for (int i = 0; i < p->nargs; i++) {
        const dnnl_memory_desc_t *m =
            dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, p->a[i].arg);
        if (!m) return cxr_set_error(CXR_E_INTERNAL, "oneDNN: no layout for argument %d", i);
        p->a[i].prim = *m;
        CXR_CPU_RET(arg_setup(d, &p->a[i], i, sum_in_prim));
    }
    DN_TRY(dnnl_primitive_create(&p->p, pd), "primitive");
    return CXR_OK;
}

/* A finished entry of that key (one whose creation failed half-way has no primitive: it is not
 * found, and the next attempt starts it over, so that attempt reports the real cause again). */
static dn_prim *prim_find(cxr_dnnl *d, const int key[9])
{
    for (int i = 0; i < d->n; i++)
        if (d->prims[i].p && !memcmp(d->prims[i].key, key, sizeof d->prims[i].key))
            return &d->prims[i];
    return NULL;
}

static dn_prim *prim_new(cxr_dnnl *d, const int key[9])
{
    for (int i = 0; i < d->n; i++) /* a failed attempt's entry of this key */
        if (!memcmp(d->prims[i].key, key, sizeof d->prims[i].key)) {
            prim_free(&d->prims[i]);
            memcpy(d->prims[i].key, key, sizeof d->prims[i].key);
            return &d->prims[i];
        }
    if (d->n == MAX_PRIMS) { /* shapes changed many times: start over */
        for (int i = 0; i < d->n; i++) prim_free(&d->prims[i]);
        d->n = 0;
    }
    dn_prim *p = &d->prims[d->n++];
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, sizeof p->key);
    return p;
}

/* Run p on the user pointers ptr[i] (one per argument, in p->a order). */
static cxr_status prim_exec(cxr_dnnl *d, dn_prim *p, void *const *ptr)
{
    dnnl_exec_arg_t args[MAX_ARGS];
    for (int i = 0; i < p->nargs; i++) {
        dn_arg *a = &p->a[i];
        DN_TRY(dnnl_memory_set_data_handle(a->umem, ptr[i]), "set handle");
        if (a->pmem) DN_TRY(dnnl_memory_set_data_handle(a->pmem, d->slot[i]), "set handle");
        if (!a->output && a->reorder) {
            dnnl_exec_arg_t r[2] = { { DNNL_ARG_FROM, a->umem }, { DNNL_ARG_TO, a->pmem } };
            DN_TRY(dnnl_primitive_execute(a->reorder, d->strm, 2, r), "reorder");
        }
        args[i].arg = a->arg;
        args[i].memory = a->pmem ? a->pmem : a->umem;
    }
    DN_TRY(dnnl_primitive_execute(p->p, d->strm, p->nargs, args), "execute");
    for (int i = 0; i < p->nargs; i++) {
        dn_arg *a = &p->a[i];
        if (a->output && a->reorder) {
            dnnl_exec_arg_t r[2] = { { DNNL_ARG_FROM, a->pmem }, { DNNL_ARG_TO, a->umem } };
            DN_TRY(dnnl_primitive_execute(a->reorder, d->strm, 2, r), "reorder");
        }
    }
    DN_TRY(dnnl_stream_wait(d->strm), "wait");
    return CXR_OK;
}

/* prim_exec with every asynchronous signal held back from the calling thread: oneDNN's GEMM
 * kernels point the stack pointer into the heap, where a signal's frame would land
 * (cxr_signals.h); the OpenMP workers block them for good (backend_cpu.c). A signal sent
 * meanwhile is delivered when the primitive returns (about a millisecond later). */
static cxr_status prim_run(cxr_dnnl *d, dn_prim *p, void *const *ptr)
{
    cxr_sigmask_saved old;
    cxr_sigmask_block_async(&old);
    const cxr_status st = prim_exec(d, p, ptr);
    cxr_sigmask_restore(&old);
    return st;
}

static dnnl_data_type_t low(const cxr_dnnl *d) { return d->bf16 ? dnnl_bf16 : dnnl_f32; }
/* the matmuls' operand type: bf16 only with dense_bf16 */
static dnnl_data_type_t low_mm(const cxr_dnnl *d) { return d->dense_bf16 ? dnnl_bf16 : dnnl_f32; }

/* The convolution's descriptors: user layouts in a[], "any" for the primitive. */
static void conv_dims(int N, int C, int K, int H, int W, dnnl_dim_t *x, dnnl_dim_t *w,
                      dnnl_dim_t *b, dnnl_dim_t *y)
{
    x[0] = N, x[1] = C, x[2] = H, x[3] = W;
    w[0] = K, w[1] = C, w[2] = 3, w[3] = 3;
    b[0] = K;
    y[0] = N, y[1] = K, y[2] = H, y[3] = W;
}

static const dnnl_dims_t one2 = { 1, 1 };

static void set_arg(dn_arg *a, int arg, int output, int acc, dnnl_memory_desc_t user)
{
    memset(a, 0, sizeof *a);
    a->arg = arg, a->output = output, a->acc = acc, a->user = user;
}

/* The forward's descriptor, its output of type yt: with the leaky ReLU (alpha) as a post-op
 * when relu. */
static dnnl_status_t fwd_pd(cxr_dnnl *d, dnnl_primitive_desc_t *pd, dnnl_data_type_t yt,
                            float alpha, int relu, int N, int C, int K, int H, int W)
{
    dnnl_dim_t xd[4], wd[4], bd[1], yd[4];
    conv_dims(N, C, K, H, W, xd, wd, bd, yd);
    const dnnl_memory_desc_t xa = md_tag(4, xd, low(d), dnnl_format_tag_any);
    const dnnl_memory_desc_t wa = md_tag(4, wd, low(d), dnnl_format_tag_any);
    const dnnl_memory_desc_t ba = md_tag(1, bd, dnnl_f32, dnnl_x);
    const dnnl_memory_desc_t ya = md_tag(4, yd, yt, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    dnnl_status_t s = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, d->algo, &xa,
                                                         &wa, &ba, &ya, one2, one2, one2);
    if (s != dnnl_success) return s;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (relu) {
        s = dnnl_primitive_attr_create(&attr);
        if (s == dnnl_success) s = dnnl_post_ops_create(&po);
        if (s == dnnl_success)
            s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, alpha, 0.0f);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &cd, attr, d->eng, NULL);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

/* The fewest input channels for which a forward leaves its ReLU to run by Winograd: its
 * transforms are amortised over the input channels, and with few it was slower than the fused
 * direct forward (specs/model.md, "Winograd forward"). */
#define WINO_FWD_MIN_C 32

/* Whether pd runs by Winograd. */
static int pd_wino(dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    return impl && strstr(impl, "wino");
}

cxr_status cxr_dnnl_conv_forward(cxr_dnnl *d, float *out, const float *in, const float *w,
                                 const float *b, float alpha, int relu, int *relu_left, int N,
                                 int C, int K, int H, int W)
{
    int abits;
    memcpy(&abits, &alpha, sizeof abits);
    /* the caller's ReLU after the pool is exact for an increasing ReLU (alpha >= 0) */
    const int may_leave =
        relu && relu_left && d->fwd_wino && !d->bf16 && C >= WINO_FWD_MIN_C && alpha >= 0.0f;
    const int key[9] = { K_FWD, N, C, K, H, W, relu, relu ? abits : 0, may_leave };
    dn_prim *p = prim_find(d, key);
    if (!p) {
        p = prim_new(d, key);
        dnnl_primitive_desc_t pd = NULL;
        /* Winograd without the ReLU beats the fused direct forward where oneDNN picks it */
        if (may_leave && fwd_pd(d, &pd, dnnl_f32, alpha, 0, N, C, K, H, W) == dnnl_success) {
            p->relu_left = pd_wino(pd);
            if (!p->relu_left) dnnl_primitive_desc_destroy(pd), pd = NULL;
        }
        if (!pd)
            DN_TRY(fwd_pd(d, &pd, dnnl_f32, alpha, relu, N, C, K, H, W), "convolution forward");
        dnnl_dim_t xd[4], wd[4], bd[1], yd[4];
        conv_dims(N, C, K, H, W, xd, wd, bd, yd);
        p->nargs = 4;
        set_arg(&p->a[0], DNNL_ARG_SRC, 0, 0, md_tag(4, xd, dnnl_f32, dnnl_nchw));
        set_arg(&p->a[1], DNNL_ARG_WEIGHTS, 0, 0, md_tag(4, wd, dnnl_f32, dnnl_oihw));
        set_arg(&p->a[2], DNNL_ARG_BIAS, 0, 0, md_tag(1, bd, dnnl_f32, dnnl_x));
        set_arg(&p->a[3], DNNL_ARG_DST, 1, 0, md_tag(4, yd, dnnl_f32, dnnl_nchw));
        const cxr_status st = prim_finish(d, p, pd, 0);
        dnnl_primitive_desc_destroy(pd);
        if (st) return st;
    }
    if (relu_left) *relu_left = p->relu_left;
    void *ptr[4] = { (void *)in, (void *)w, (void *)b, out };
    return prim_run(d, p, ptr);
}

/* The forward descriptor a backward primitive needs as its hint. */
static cxr_status conv_hint(cxr_dnnl *d, dnnl_primitive_desc_t *pd, int N, int C, int K, int H,
                            int W)
{
    DN_TRY(fwd_pd(d, pd, low(d), 0.0f, 0, N, C, K, H, W), "convolution forward");
    return CXR_OK;
}

cxr_status cxr_dnnl_conv_backward_data(cxr_dnnl *d, float *din, const float *dout, const float *w,
                                       int N, int C, int K, int H, int W)
{
    const int key[9] = { K_BWD_DATA, N, C, K, H, W, 0, 0, 0 };
    dn_prim *p = prim_find(d, key);
    if (!p) {
        p = prim_new(d, key);
        dnnl_dim_t xd[4], wd[4], bd[1], yd[4];
        conv_dims(N, C, K, H, W, xd, wd, bd, yd);
        const dnnl_memory_desc_t xa = md_tag(4, xd, dnnl_f32, dnnl_format_tag_any);
        const dnnl_memory_desc_t wa = md_tag(4, wd, low(d), dnnl_format_tag_any);
        const dnnl_memory_desc_t ya = md_tag(4, yd, low(d), dnnl_format_tag_any);
        dnnl_convolution_desc_t cd;
        DN_TRY(
            dnnl_convolution_backward_data_desc_init(&cd, d->algo, &xa, &wa, &ya, one2, one2, one2),
            "convolution backward data");
        dnnl_primitive_desc_t hint = NULL, pd = NULL;
        CXR_CPU_RET(conv_hint(d, &hint, N, C, K, H, W));
        const dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, NULL, d->eng, hint);
        dnnl_primitive_desc_destroy(hint);
        DN_TRY(s, "convolution backward data");
        p->nargs = 3;
        set_arg(&p->a[0], DNNL_ARG_DIFF_DST, 0, 0, md_tag(4, yd, dnnl_f32, dnnl_nchw));
        set_arg(&p->a[1], DNNL_ARG_WEIGHTS, 0, 0, md_tag(4, wd, dnnl_f32, dnnl_oihw));
        set_arg(&p->a[2], DNNL_ARG_DIFF_SRC, 1, 0, md_tag(4, xd, dnnl_f32, dnnl_nchw));
        const cxr_status st = prim_finish(d, p, pd, 0);
        dnnl_primitive_desc_destroy(pd);
        if (st) return st;
    }
    void *ptr[3] = { (void *)dout, (void *)w, din };
    return prim_run(d, p, ptr);
}

cxr_status cxr_dnnl_conv_backward_weights(cxr_dnnl *d, float *dw, float *db, const float *dout,
                                          const float *in, int N, int C, int K, int H, int W)
{
    const int key[9] = { K_BWD_W, N, C, K, H, W, 0, 0, 0 };
    dn_prim *p = prim_find(d, key);
    if (!p) {
        p = prim_new(d, key);
        dnnl_dim_t xd[4], wd[4], bd[1], yd[4];
        conv_dims(N, C, K, H, W, xd, wd, bd, yd);
        const dnnl_memory_desc_t xa = md_tag(4, xd, low(d), dnnl_format_tag_any);
        const dnnl_memory_desc_t wa = md_tag(4, wd, dnnl_f32, dnnl_format_tag_any);
        const dnnl_memory_desc_t ba = md_tag(1, bd, dnnl_f32, dnnl_x);
        const dnnl_memory_desc_t ya = md_tag(4, yd, low(d), dnnl_format_tag_any);
        dnnl_convolution_desc_t cd;
        DN_TRY(dnnl_convolution_backward_weights_desc_init(&cd, d->algo, &xa, &wa, &ba, &ya, one2,
                                                           one2, one2),
               "convolution backward weights");
        dnnl_primitive_desc_t hint = NULL, pd = NULL;
        CXR_CPU_RET(conv_hint(d, &hint, N, C, K, H, W));
        const dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, NULL, d->eng, hint);
        dnnl_primitive_desc_destroy(hint);
        DN_TRY(s, "convolution backward weights");
        p->nargs = 4;
        set_arg(&p->a[0], DNNL_ARG_SRC, 0, 0, md_tag(4, xd, dnnl_f32, dnnl_nchw));
        set_arg(&p->a[1], DNNL_ARG_DIFF_DST, 0, 0, md_tag(4, yd, dnnl_f32, dnnl_nchw));
        set_arg(&p->a[2], DNNL_ARG_DIFF_WEIGHTS, 1, 0, md_tag(4, wd, dnnl_f32, dnnl_oihw));
        set_arg(&p->a[3], DNNL_ARG_DIFF_BIAS, 1, 0, ba);
        const cxr_status st = prim_finish(d, p, pd, 0);
        dnnl_primitive_desc_destroy(pd);
        if (st) return st;
    }
    void *ptr[4] = { (void *)in, (void *)dout, dw, db };
    return prim_run(d, p, ptr);
}

/* dst (M,N) = src (M,K) @ wei (K,N) (+ bias (1,N) when not NULL), with the given plain
 * layouts. */
static cxr_status matmul(cxr_dnnl *d, int kind, float *dst, const float *src, dnnl_format_tag_t st,
                         const float *wei, dnnl_format_tag_t wt, const float *bias, int M, int N,
                         int K)
{
    const int key[9] = { kind, M, N, K, 0, 0, 0, 0, 0 };
    const int has_bias = bias != NULL;
    dn_prim *p = prim_find(d, key);
    if (!p) {
        p = prim_new(d, key);
        const dnnl_dim_t sd[2] = { M, K }, wd[2] = { K, N }, bd[2] = { 1, N }, dd[2] = { M, N };
        const dnnl_memory_desc_t sa = md_tag(2, sd, low_mm(d), st);
        const dnnl_memory_desc_t wa = md_tag(2, wd, low_mm(d), wt);
        const dnnl_memory_desc_t ba = md_tag(2, bd, dnnl_f32, dnnl_ab);
        const dnnl_memory_desc_t da = md_tag(2, dd, dnnl_f32, dnnl_ab);
        dnnl_matmul_desc_t md;
        DN_TRY(dnnl_matmul_desc_init(&md, &sa, &wa, has_bias ? &ba : NULL, &da), "matmul");
        dnnl_primitive_desc_t pd = NULL;
        DN_TRY(dnnl_primitive_desc_create(&pd, &md, NULL, d->eng, NULL), "matmul");
        p->nargs = has_bias ? 4 : 3;
        set_arg(&p->a[0], DNNL_ARG_SRC, 0, 0, md_tag(2, sd, dnnl_f32, st));
        set_arg(&p->a[1], DNNL_ARG_WEIGHTS, 0, 0, md_tag(2, wd, dnnl_f32, wt));
        set_arg(&p->a[2], DNNL_ARG_DST, 1, 0, da);
        if (has_bias) set_arg(&p->a[3], DNNL_ARG_BIAS, 0, 0, ba);
        const cxr_status r = prim_finish(d, p, pd, 1);
        dnnl_primitive_desc_destroy(pd);
        if (r) return r;
    }
    void *ptr[4] = { dst, (void *)src, (void *)wei, (void *)bias };
    void *ord[4] = { ptr[1], ptr[2], ptr[0], ptr[3] };
    return prim_run(d, p, ord);
}

cxr_status cxr_dnnl_dense_forward(cxr_dnnl *d, float *out, const float *in, const float *w,
                                  const float *b, int N, int IN, int OUT)
{
    /* out (N,OUT) = in (N,IN) @ W^T (IN,OUT) + b; W^T is W (OUT,IN) read as "ba" */
    return matmul(d, K_MM_FWD, out, in, dnnl_ab, w, dnnl_ba, b, N, OUT, IN);
}

cxr_status cxr_dnnl_dense_backward(cxr_dnnl *d, float *din, float *dw, const float *dout,
                                   const float *in, const float *w, int N, int IN, int OUT)
{
    /* dW (OUT,IN) = dout^T (OUT,N) @ in (N,IN) */
    CXR_CPU_RET(matmul(d, K_MM_DW, dw, dout, dnnl_ba, in, dnnl_ab, NULL, OUT, IN, N));
    /* din (N,IN) = dout (N,OUT) @ W (OUT,IN) */
    if (din) CXR_CPU_RET(matmul(d, K_MM_DIN, din, dout, dnnl_ab, w, dnnl_ab, NULL, N, IN, OUT));
    return CXR_OK;
}

int cxr_dnnl_isa_avx512_core(void)
{
    /* the ISA values are masks of the ISAs they include */
    return (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
}

const char *cxr_dnnl_isa(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

const char *cxr_dnnl_conv_mode(const cxr_dnnl *d)
{
    if (d->algo == dnnl_convolution_direct) return "direct (CXR_DNNL_ALGO=direct)";
    return d->fwd_wino ? "auto" : "auto, fused forward (CXR_DNNL_FWD=fused)";
}

int cxr_dnnl_dense_bf16(const cxr_dnnl *d) { return d->dense_bf16; }

const char *cxr_dnnl_last_impl(const cxr_dnnl *d, int i)
{
    return i >= 0 && i < d->n ? d->prims[i].impl : NULL;
}

size_t cxr_dnnl_largest_copy(const cxr_dnnl *d)
{
    size_t m = 0;
    for (int i = 0; i < MAX_ARGS; i++)
        if (d->slot_bytes[i] > m) m = d->slot_bytes[i];
    return m;
}
#else
typedef int cxr_dnnl_unused; /* ISO C: no empty translation unit */
#endif
