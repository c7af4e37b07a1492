/* backend_cpu.c: the CPU backend: host memory, thread count, per-thread scratch, and the
 * dispatch table filled with the *_cpu ops (conv.c, pool.c, dense.c, act.c, loss.c, adam.c).
 *
 * Threading model (specs/model.md, "CPU implementation"): convolutions run OpenMP threads over
 * the images of a batch, each on its own scratch with our kernels (or, without AVX2+FMA or with
 * CXR_CPU_PARALLEL=blas in the environment, im2col and a single-threaded sgemm: sgemm.c); the
 * dense layers split their columns over the threads; oneDNN's primitives, where they run,
 * use the same OpenMP team.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <omp.h>

#include "cpu_internal.h"
#include "cxr_backend_cpu.h"
#include "cxr_fpenv.h"
#include "cxr_signals.h"
#include "dnnl_cpu.h"
#include "cxr_ops.h"

/* Set up the calling thread's OpenMP team of n threads (libgomp keeps a pool per thread that
 * starts parallel regions, and reuses it for that thread's later regions, oneDNN's included):
 * - the ops split their work into exactly as many slices as threads, and oneDNN plans its
 *   primitives for omp_get_max_threads() threads: a team the runtime shrinks would leave work
 *   undone (OMP_DYNAMIC=true, OMP_THREAD_LIMIT, OMP_MAX_ACTIVE_LEVELS=0, a call from inside
 *   another region). So no dynamic adjustment for this thread's regions, and the team the
 *   runtime grants becomes the backend's thread count (cxr_cpu_threads; the ops check each
 *   region's team, cxr_cpu_check_team);
 * - its default team size becomes n (omp_set_num_threads is per thread), so the regions that
 *   give no num_threads (oneDNN's, train/tta.c) ask for no more threads than were set up here;
 * - every worker, not the calling thread, blocks asynchronous signals for good: oneDNN's GEMM
 *   kernels run on them and cannot take one (cxr_signals.h); the calling thread blocks them only
 *   while a primitive runs (dnnl_cpu.c), so Ctrl-C still reaches it;
 * - unless CXR_CPU_DENORMALS=keep, all of them compute with flush-to-zero + denormals-are-zero
 *   (cxr_fpenv.h).
 * Which (context, team size asked, region level) a thread has set up, and the team it was
 * granted, are thread-local: a pthread_t can be reused by a later thread, whose new pool would
 * then have been taken for set up. A call from inside a region of the caller's own (libgomp
 * grants a team of one there by default) sets up at every op, since what is granted there
 * follows settings of the whole process and a nested region's workers are new threads: the
 * backend then computes with the team that call is granted, and with the full team again at
 * the top level. A host that turns dynamic adjustment back on between ops (omp_set_dynamic(1))
 * has it turned off again at the next op. */
static _Thread_local const cxr_cpu_ctx *team_ctx;
static _Thread_local int team_n, team_granted, team_level;

static void cpu_setup_team(cxr_cpu_ctx *c, int n)
{
    const int flush = !c->keep_denormals;
    omp_set_dynamic(0);
    omp_set_num_threads(n);
    if (flush) cxr_fp_flush_denormals();
    int granted = n;
#pragma omp parallel num_threads(n)
    {
        if (flush) cxr_fp_flush_denormals();
        if (omp_get_thread_num() != 0) cxr_sigmask_block_async(NULL);
        if (omp_get_thread_num() == 0) granted = omp_get_num_threads();
    }
    if (granted < n) omp_set_num_threads(granted);
    c->n_threads = granted;
    team_ctx = c;
    team_n = n;
    team_granted = granted;
    team_level = omp_get_level();
}

void cxr_cpu_enter(void *ctx)
{
    cxr_cpu_ctx *c = ctx;
    /* inside any region, always: what the runtime grants there also follows settings of the
     * whole process (omp_set_max_active_levels, the threads the outer teams hold under
     * OMP_THREAD_LIMIT), and libgomp starts a nested region's workers afresh */
    if (team_ctx != c || team_n != c->n_asked || omp_get_level() > 0 || team_level > 0 ||
        omp_get_dynamic() || (!c->keep_denormals && !cxr_fp_flushing()))
        cpu_setup_team(c, c->n_asked);
    else
        c->n_threads = team_granted; /* another thread's calls may have set its own */
}

static cxr_status cpu_set_threads(void *vctx, int n)
{
    cxr_cpu_ctx *c = vctx;
    if (n <= 0) n = omp_get_num_procs();
    if (n > CXR_CPU_MAX_THREADS) n = CXR_CPU_MAX_THREADS;
    c->n_asked = c->n_threads = n;
    /* the im2col path's sgemm runs single-threaded inside our OpenMP threads (in a build
     * without oneDNN, OpenBLAS's own pool is started when the library loads, before any code
     * of ours, so its MXCSR could not be set) */
    cxr_cpu_sgemm_single_threaded();
    cpu_setup_team(c, n);
    return CXR_OK;
}

static cxr_status cpu_alloc(void *ctx, void **p, size_t bytes)
{
    (void)ctx;
    *p = NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void *q = aligned_alloc(64, rounded);
    if (!q) return cxr_set_error(CXR_E_NOMEM, "cpu backend: cannot allocate %zu bytes", bytes);
    memset(q, 0, rounded);
    *p = q;
    return CXR_OK;
}

static void cpu_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static cxr_status cpu_zero(void *ctx, void *p, size_t bytes)
{
    cxr_cpu_ctx *c = ctx;
    /* Big activation gradients (hundreds of MB): split the memset over the threads. */
    if (bytes < (1u << 22) || c->n_threads == 1) {
        memset(p, 0, bytes);
        return CXR_OK;
    }
    int nt = c->n_threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        size_t lo = bytes / (size_t)nt * (size_t)t;
        size_t hi = t == nt - 1 ? bytes : bytes / (size_t)nt * (size_t)(t + 1);
        memset((char *)p + lo, 0, hi - lo);
    }
    return CXR_OK;
}

static cxr_status cpu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (dst != src) memmove(dst, src, bytes);
    return CXR_OK;
}

static cxr_status cpu_sync(void *ctx)
{
    (void)ctx;
    return CXR_OK;
}

/* The asynchronous copies and fences of cxr_ops.h: copies happen at once, every op has finished
 * when it returns, so there is nothing to wait for. */
static cxr_status cpu_fence(void *ctx, int fence)
{
    (void)ctx;
    (void)fence;
    return CXR_OK;
}

cxr_status cxr_cpu_region_failed(const char *op, int failed, int ot)
{
    if (failed == CXR_CPU_SHORT_TEAM)
        return cxr_set_error(CXR_E_INTERNAL,
                             "%s: OpenMP ran fewer than the %d threads asked for (is "
                             "OMP_THREAD_LIMIT or OMP_DYNAMIC set?); no result",
                             op, ot);
    return cxr_set_error((cxr_status)failed, "%s: matrix product failed (%s)", op,
                         failed == CXR_E_NOMEM ? "out of memory" : "oneDNN sgemm error");
}

int cxr_cpu_threads(void *ctx) { return ctx ? ((cxr_cpu_ctx *)ctx)->n_threads : 1; }

int cxr_backend_cpu_threads(cxr_backend *be)
{
    return be && be->name && !strcmp(be->name, "cpu") ? cxr_cpu_threads(be->ctx) : 0;
}

float *cxr_cpu_scratch(void *ctx, int tid, size_t bytes)
{
    cxr_cpu_ctx *c = ctx;
    if (!c || tid < 0 || tid >= CXR_CPU_MAX_THREADS) return NULL;
    if (c->scratch_bytes[tid] < bytes) {
        free(c->scratch[tid]);
        size_t rounded = (bytes + 63) / 64 * 64;
        c->scratch[tid] = aligned_alloc(64, rounded);
        c->scratch_bytes[tid] = c->scratch[tid] ? rounded : 0;
    }
    return c->scratch[tid];
}

static void cpu_destroy(cxr_backend *be)
{
    if (!be) return;
    cxr_cpu_ctx *c = be->ctx;
    if (c) {
        for (int i = 0; i < CXR_CPU_MAX_THREADS; i++) free(c->scratch[i]);
        free(c->map);
        free(c->wino_u);
#ifdef CXR_HAVE_DNNL
        cxr_dnnl_destroy(c->dnnl);
#endif
        free(c);
    }
    free(be);
}

/* ---- instruction sets and oneDNN */

static int cpu_has(const char *what)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!strcmp(what, "avx512")) return __builtin_cpu_supports("avx512f") > 0;
    if (!strcmp(what, "avx512bf16")) return __builtin_cpu_supports("avx512bf16") > 0;
#endif
    (void)what;
    return 0;
}

/* AMX-BF16: CPUID leaf 7 EDX bit 22 (GCC 12 has no __builtin_cpu_supports name for it); the
 * kernel must also grant the tile state, which oneDNN asks for itself. */
int cxr_cpu_has_amx_bf16(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned a = 7, b, c = 0, d;
    __asm__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return (d >> 22) & 1;
#else
    return 0;
#endif
}

int cxr_cpu_has_bf16(void) { return cpu_has("avx512bf16") || cxr_cpu_has_amx_bf16(); }

/* The ops that run on oneDNN by default: on AVX-512 CPUs the conv ops (for the layers
 * dnnl_layers gives them: conv2 and up) and the dense products; on AVX2 CPUs the dense layers'
 * forward only, where oneDNN measured faster than our kernels (bench_ops_cpu 64 5 2 dense on an
 * AMD EPYC, twice: dense1 forward 0.85-0.87x our time, its gradients 1.40-1.42x, so ours;
 * every convolution 1.06-7.6x slower on oneDNN, with the reorders between NCHW and its blocked
 * layouts). CXR_CPU_DNNL=none|all|LIST overrides, LIST of conv_fwd, conv_bwd_data, conv_bwd_w,
 * dense (both passes), dense_fwd, dense_bwd separated by commas. */
static unsigned dnnl_default_ops(void)
{
    if (cpu_has("avx512"))
        return CXR_DNNL_CONV_FWD | CXR_DNNL_CONV_BWD_DATA | CXR_DNNL_CONV_BWD_W | CXR_DNNL_DENSE;
    return CXR_DNNL_DENSE_FWD;
}

/* CXR_CPU_DNNL's list into *ops: comma-separated names, spaces around them ignored; an unknown
 * name is CXR_E_ARG naming it (a benchmark knob set wrong would measure the wrong thing). */
static cxr_status dnnl_parse_ops(const char *s, unsigned *ops)
{
    static const struct {
        const char *name;
        unsigned ops;
    } names[] = { { "none", 0 },
                  { "all", CXR_DNNL_CONV_FWD | CXR_DNNL_CONV_BWD_DATA | CXR_DNNL_CONV_BWD_W |
                               CXR_DNNL_DENSE },
                  { "conv_fwd", CXR_DNNL_CONV_FWD },
                  { "conv_bwd_data", CXR_DNNL_CONV_BWD_DATA },
                  { "conv_bwd_w", CXR_DNNL_CONV_BWD_W },
                  { "dense", CXR_DNNL_DENSE },
                  { "dense_fwd", CXR_DNNL_DENSE_FWD },
                  { "dense_bwd", CXR_DNNL_DENSE_BWD } };
    *ops = 0;
    for (const char *t = s;;) { /* names exactly: dense_fwd is not dense */
        t += strspn(t, " \t");
        size_t n = strcspn(t, ",");
        const size_t len = n;
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t')) n--;
        size_t k = 0;
        while (k < sizeof names / sizeof *names &&
               !(strlen(names[k].name) == n && !strncmp(t, names[k].name, n)))
            k++;
        if (k == sizeof names / sizeof *names && (n > 0 || t[len] == ','))
            return cxr_set_error(CXR_E_ARG,
                                 "CXR_CPU_DNNL=%s: '%.*s' is not none, all, conv_fwd, "
                                 "conv_bwd_data, conv_bwd_w, dense, dense_fwd or dense_bwd",
                                 s, (int)n, t);
        if (k < sizeof names / sizeof *names) *ops |= names[k].ops;
        if (!t[len]) return CXR_OK;
        t += len + 1;
    }
}

/* Which layers of each conv op run on oneDNN: those of at least dnnl_min_c input channels.
 * conv1 (one input channel: 9 products per output) stays on our kernels wherever they run
 * (AVX2 or AVX-512 width), in fp32 and in bf16 (nothing for bf16 to gain there): on a Xeon with
 * AVX-512 (bench_ops_cpu 64 4 2, best of 4) oneDNN took 2.1x our time for its forward and 1.8x
 * for its weight gradient, 2.2x and 1.3x in bf16. conv2's forward (16 channels in) is ours too,
 * by Winograd: oneDNN's took 1.86x our time on an AMD Zen 4 (bench_ops_cpu 16 5 2; whole steps
 * 1.08x faster with it ours, median of 12 rounds) and 1.60x on the Intel Xeon (bench_ops_cpu 64
 * 3 2; whole steps 1.04-1.08x faster, 9 of 9 undisturbed alternated rounds, and 1.03-1.10x in
 * bf16 without AMX, where ours stays fp32: tests/bench/results/xeon-2026-12-07b/), where before
 * our AVX-512 Winograd forward existed the split lost (specs/model.md, "oneDNN and instruction
 * sets"). In bf16 on AMX it stays oneDNN's (tiles; not measured against ours). The other layers
 * go to oneDNN: conv3's forward ours was even with it in whole steps (1.00x median of 6). An
 * explicit CXR_CPU_DNNL list puts every layer of the ops it names on oneDNN;
 * CXR_CPU_DNNL_MIN_C=F,D,W sets the thresholds. */
static void dnnl_layers(cxr_cpu_ctx *c, int explicit_ops, int bf16)
{
    /* CXR_CPU_DNNL_MIN_C=F,D,W: the three thresholds by hand (a benchmark's knob; checked by
     * cpu_knobs) */
    if (c->dnnl_min_c_set) {
        memcpy(c->dnnl_min_c, c->dnnl_min_c_env, sizeof c->dnnl_min_c);
        return;
    }
    c->dnnl_min_c[0] = c->dnnl_min_c[1] = c->dnnl_min_c[2] = 0;
    if (explicit_ops || c->blas_parallel || !cxr_gemm_wcol_available()) return;
    c->dnnl_min_c[2] = 2;
    c->dnnl_min_c[0] = 32; /* conv2's forward ours, but in bf16 where oneDNN runs AMX tiles (the
                            * CPU has them and the kernel granted them: its effective ISA says) */
#ifdef CXR_HAVE_DNNL
    if (bf16 && cxr_cpu_has_amx_bf16() && strstr(cxr_dnnl_isa(), "amx")) c->dnnl_min_c[0] = 2;
#else
    (void)bf16;
#endif
}

/* The dense ops on oneDNN, for the describe line. */
static const char *dense_name(const cxr_cpu_ctx *c)
{
    const unsigned d = c->dnnl_ops & CXR_DNNL_DENSE;
    const int fixed = cxr_cpu_eval_on_ours(c); /* evaluation passes stay ours */
    if (!d) return "";
    if (d == CXR_DNNL_DENSE_BWD) return " dense_bwd";
    if (d == CXR_DNNL_DENSE_FWD)
        return fixed ? " dense_fwd (training passes; evaluation on ours)" : " dense_fwd";
    return fixed ? " dense (training passes; evaluation on ours)" : " dense";
}

/* (Re)build the oneDNN context for the chosen ops and precision. */
static cxr_status cpu_dnnl_setup(cxr_cpu_ctx *c, unsigned ops, int bf16, int explicit_ops)
{
    dnnl_layers(c, explicit_ops, bf16);
#ifdef CXR_HAVE_DNNL
    cxr_dnnl_destroy(c->dnnl);
    c->dnnl = NULL;
    c->dnnl_ops = 0;
    c->bf16 = 0;
    if (!ops) return CXR_OK;
    CXR_CPU_RET(cxr_dnnl_create(&c->dnnl, bf16));
    c->dnnl_ops = ops;
    c->bf16 = bf16;
    return CXR_OK;
#else
    (void)c, (void)bf16;
    if (ops) return cxr_set_error(CXR_E_UNSUPPORTED, "cpu backend: this build has no oneDNN");
    return CXR_OK;
#endif
}

cxr_status cxr_backend_cpu_set_precision(cxr_backend *be, cxr_precision p)
{
    if (!be || !be->name || strcmp(be->name, "cpu") != 0)
        return cxr_set_error(CXR_E_ARG, "cpu precision: not the CPU backend");
    cxr_cpu_ctx *c = be->ctx;
    if (p == CXR_PRECISION_FP32) {
        if (!c->bf16) return CXR_OK;
        return cpu_dnnl_setup(c, c->dnnl_fp32_ops, 0, c->dnnl_explicit);
    }
    if (p != CXR_PRECISION_BF16)
        return cxr_set_error(CXR_E_ARG,
                             "precision %s: a GPU tensor-core format; the CPU backend has fp32 "
                             "and, on CPUs with AVX512-BF16 or AMX, bf16",
                             cxr_precision_name(p));
    if (!cxr_cpu_has_bf16())
        return cxr_set_error(CXR_E_UNSUPPORTED,
                             "precision bf16 on the CPU needs AVX512-BF16 or AMX (this CPU has "
                             "%s): without them every bf16 product would be converted back to "
                             "fp32 and run slower than fp32 itself, so it is refused; train in "
                             "fp32 (the default) or on a GPU",
                             cxr_gemm_wcol_available() ? "AVX2+FMA" : "neither");
#ifndef CXR_HAVE_DNNL
    return cxr_set_error(CXR_E_UNSUPPORTED,
                         "precision bf16 on the CPU runs on oneDNN, and this build has none "
                         "(install libdnnl-dev and reconfigure with -DCXR_DNNL=ON)");
#else
    /* oneDNN capped below avx512_core (ONEDNN_MAX_CPU_ISA=AVX2, as the AVX2 path is emulated)
     * has no bf16 convolution: refused here, not failed in the first forward */
    if (!cxr_dnnl_isa_avx512_core())
        return cxr_set_error(
            CXR_E_UNSUPPORTED,
            "precision bf16 on the CPU: oneDNN runs at %s here (ONEDNN_MAX_CPU_ISA "
            "caps it), and has bf16 convolutions only from avx512_core on; unset "
            "the cap, or train in fp32",
            cxr_dnnl_isa());
    return cpu_dnnl_setup(
        c, CXR_DNNL_CONV_FWD | CXR_DNNL_CONV_BWD_DATA | CXR_DNNL_CONV_BWD_W | CXR_DNNL_DENSE, 1,
        c->dnnl_explicit);
#endif
}

void cxr_backend_cpu_set_inference(cxr_backend *be, int on)
{
    if (be && be->name && strcmp(be->name, "cpu") == 0) ((cxr_cpu_ctx *)be->ctx)->inference = on;
}

void cxr_backend_cpu_describe(cxr_backend *be, char *buf, size_t cap)
{
    const cxr_cpu_ctx *c = be && be->name && !strcmp(be->name, "cpu") ? be->ctx : NULL;
    if (!c) {
        snprintf(buf, cap, "not the cpu backend");
        return;
    }
    const char *own = c->blas_parallel            ? "im2col+" CXR_CPU_SGEMM_NAME
                      : c->avx512                 ? "own AVX-512 kernels"
                      : cxr_gemm_wcol_available() ? "own AVX2+FMA kernels"
                                                  : "im2col+" CXR_CPU_SGEMM_NAME " (no AVX2)";
    /* our direct forward and input gradient of layers of >= 16 channels: by Winograd unless
     * CXR_CPU_WINOGRAD=0 (different last bits, so the log names it) */
    /* whether our kernels take the forward, the input gradient, of any layer of >= 16
     * channels (on AVX-512 CPUs oneDNN has most of them) */
    const int fwd16 = !(c->dnnl_ops & CXR_DNNL_CONV_FWD) || c->dnnl_min_c[0] > 16,
              din16 = !(c->dnnl_ops & CXR_DNNL_CONV_BWD_DATA) || c->dnnl_min_c[1] > 16;
    /* ... or only an evaluation's forward does (cxr_cpu_fixed_order: fp32, the default ops) */
    const int eval16 =
        !fwd16 && !din16 && (c->dnnl_ops & CXR_DNNL_CONV_FWD) && cxr_cpu_eval_on_ours(c);
    const char *fwd = c->blas_parallel || !cxr_gemm_wcol_available() ? ""
                      : eval16 ? (c->wino ? " (an evaluation's forward by Winograd)"
                                          : " (an evaluation's forward by direct products: "
                                            "CXR_CPU_WINOGRAD=0)")
                      : !c->wino && (fwd16 || din16) ? " (direct products: CXR_CPU_WINOGRAD=0)"
                      : fwd16 && din16               ? " (Winograd forward and input gradient)"
                      : fwd16                        ? " (Winograd forward)"
                      : din16                        ? " (Winograd input gradient)"
                                                     : "";
#ifdef CXR_HAVE_DNNL
    const char *isa = cxr_dnnl_isa();
#else
    const char *isa = "not built";
#endif
    char layers[160] = "";
    const unsigned conv_ops = CXR_DNNL_CONV_FWD | CXR_DNNL_CONV_BWD_DATA | CXR_DNNL_CONV_BWD_W;
    /* the thresholds only when a convolution runs on oneDNN */
    if ((c->dnnl_ops & conv_ops) && (c->dnnl_min_c[0] | c->dnnl_min_c[1] | c->dnnl_min_c[2]))
        snprintf(layers, sizeof layers, " (conv layers of >= %d/%d/%d input channels)",
                 c->dnnl_min_c[0], c->dnnl_min_c[1], c->dnnl_min_c[2]);
    int dense_fp32 = 0;
#ifdef CXR_HAVE_DNNL
    dense_fp32 =
        c->dnnl && c->bf16 && (c->dnnl_ops & CXR_DNNL_DENSE) && !cxr_dnnl_dense_bf16(c->dnnl);
    if (c->dnnl && (c->dnnl_ops & conv_ops)) {
        const size_t n = strlen(layers);
        snprintf(layers + n, sizeof layers - n, ", convolutions %s", cxr_dnnl_conv_mode(c->dnnl));
    }
#endif
    snprintf(buf, cap,
             "%s%s; oneDNN (%s) for:%s%s%s%s%s%s; %s; denormals %s; cpu avx512=%d avx512bf16=%d "
             "amx-bf16=%d",
             own, fwd, isa,
             !(c->dnnl_ops & CXR_DNNL_CONV_FWD) ? ""
             : cxr_cpu_eval_on_ours(c)          ? " conv_fwd (training passes; evaluation on ours)"
                                                : " conv_fwd",
             c->dnnl_ops & CXR_DNNL_CONV_BWD_DATA ? " conv_bwd_data" : "",
             c->dnnl_ops & CXR_DNNL_CONV_BWD_W ? " conv_bwd_w" : "", dense_name(c),
             c->dnnl_ops ? "" : " none", layers,
             c->bf16 ? (dense_fp32 ? "bf16 (dense layers fp32)" : "bf16") : "fp32",
             c->keep_denormals ? "kept (CXR_CPU_DENORMALS=keep)" : "flushed", cpu_has("avx512"),
             cpu_has("avx512bf16"), cxr_cpu_has_amx_bf16());
}

void cxr_backend_destroy(cxr_backend *be)
{
    if (be && be->destroy) be->destroy(be);
}

cxr_status cxr_cpu_knob(const char *name, const char *const *vals, const char *what,
                        const char **out)
{
    const char *v = getenv(name);
    *out = NULL;
    if (!v || !*v) return CXR_OK;
    for (int i = 0; vals[i]; i++)
        if (!strcasecmp(v, vals[i])) {
            *out = vals[i];
            return CXR_OK;
        }
    return cxr_set_error(CXR_E_ARG, "%s=%s: not a value it takes (%s)", name, v, what);
}

cxr_status cxr_dnnl_knobs(const char **dense, const char **algo, const char **fwd)
{
    static const char *const dn[] = { "bf16", "fp32", NULL },
                             *const al[] = { "direct", "auto", NULL },
                             *const fw[] = { "fused", "winograd", "wino", NULL };
    cxr_status st = cxr_cpu_knob("CXR_DNNL_DENSE", dn,
                                 "bf16 or fp32: the dense layers' type in a bf16 run", dense);
    if (st == CXR_OK)
        st = cxr_cpu_knob("CXR_DNNL_ALGO", al, "direct: no Winograd on oneDNN; auto: the default",
                          algo);
    if (st == CXR_OK)
        st = cxr_cpu_knob("CXR_DNNL_FWD", fw,
                          "fused: no Winograd forward; winograd (or wino): the default", fwd);
    return st;
}

/* The CPU backend's knobs (specs/model.md), read and checked at creation. */
static cxr_status cpu_knobs(cxr_cpu_ctx *c)
{
    static const char *const par[] = { "blas", "omp", NULL },
                             *const isa[] = { "avx2", "avx512", NULL },
                             *const den[] = { "keep", "flush", NULL },
                             *const wg[] = { "0", "1", NULL };
    cxr_status st = CXR_OK;
    const char *v;
    CXR_TRY(cxr_cpu_knob("CXR_CPU_PARALLEL", par,
                         "blas: im2col and sgemm; omp: our kernels, the default", &v));
    c->blas_parallel = v && !strcmp(v, "blas");
    /* our conv kernels at AVX-512 width where the CPU has it; avx2 keeps the AVX2 ones
     * (benchmarks, and the same bits as on an AVX2 CPU); avx512: the default */
    CXR_TRY(cxr_cpu_knob("CXR_CPU_ISA", isa,
                         "avx2: our kernels at AVX2 width; avx512: at AVX-512 "
                         "width where the CPU has it, the default",
                         &v));
    c->avx512 = cxr_conv_avx512_available() && !(v && !strcmp(v, "avx2"));
    /* diagnostic only (the benchmark's denormal timing): leave MXCSR as the threads have it */
    CXR_TRY(
        cxr_cpu_knob("CXR_CPU_DENORMALS", den, "keep: no flush to zero; flush: the default", &v));
    c->keep_denormals = v && !strcmp(v, "keep");
    /* our conv forward and input gradient by Winograd where it applies (conv.c); 0: the direct
     * product (benchmarks, and the bits of builds before it) */
    CXR_TRY(
        cxr_cpu_knob("CXR_CPU_WINOGRAD", wg, "0: direct products; 1: Winograd, the default", &v));
    c->wino = !(v && !strcmp(v, "0"));
    /* oneDNN's knobs, read where its context is made (dnnl_cpu.c), are checked here too: a
     * run that never makes one (CXR_CPU_DNNL=none, a build without oneDNN) refuses them alike */
    const char *dense, *algo, *fwd;
    CXR_TRY(cxr_dnnl_knobs(&dense, &algo, &fwd));
    const char *mc = getenv("CXR_CPU_DNNL_MIN_C");
    if (mc && *mc) {
        int n = 0;
        int *t = c->dnnl_min_c_env;
        if (sscanf(mc, "%d,%d,%d%n", &t[0], &t[1], &t[2], &n) != 3 || mc[n] || t[0] < 0 ||
            t[1] < 0 || t[2] < 0)
            CXR_THROW(CXR_E_ARG,
                      "CXR_CPU_DNNL_MIN_C=%s: not F,D,W (three thresholds >= 0: the input "
                      "channels from which conv forward, input gradient and weight gradient run "
                      "on oneDNN)",
                      mc);
        c->dnnl_min_c_set = 1;
    }
bail:
    return st;
}

cxr_status cxr_backend_cpu_create(cxr_backend **out, int n_threads)
{
    *out = NULL;
    cxr_backend *be = calloc(1, sizeof *be);
    cxr_cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return cxr_set_error(CXR_E_NOMEM, "cpu backend: out of memory");
    }
    const cxr_status kst = cpu_knobs(c);
    if (kst != CXR_OK) {
        free(be);
        free(c);
        return kst;
    }
    be->name = "cpu";
    be->ctx = c;
    be->on_device = 0;
    be->destroy = cpu_destroy;
    be->set_threads = cpu_set_threads;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->zero = cpu_zero;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->sync = cpu_sync;
    be->host_alloc = cpu_alloc;
    be->host_free = cpu_free;
    be->download_async = cpu_copy;
    be->fence_mark = cpu_fence;
    be->fence_wait = cpu_fence;
    be->conv3x3_forward = cxr_conv3x3_forward_cpu;
    be->conv3x3_backward = cxr_conv3x3_backward_cpu;
    be->maxpool2_forward = cxr_maxpool2_forward_cpu;
    be->maxpool2_backward = cxr_maxpool2_backward_cpu;
    be->dense_forward = cxr_dense_forward_cpu;
    be->dense_backward = cxr_dense_backward_cpu;
    be->leaky_relu_forward = cxr_leaky_relu_forward_cpu;
    be->leaky_relu_backward = cxr_leaky_relu_backward_cpu;
    be->dropout_apply = cxr_dropout_apply_cpu;
    be->softmax_forward = cxr_softmax_forward_cpu;
    be->softmax_xent = cxr_softmax_xent_cpu;
    be->adam_step = cxr_adam_step_cpu;
    be->conv3x3_lrelu_pool_forward = cxr_conv3x3_lrelu_pool_forward_cpu;
    be->maxpool2_lrelu_backward = cxr_maxpool2_lrelu_backward_cpu;
    be->global_avgpool_forward = cxr_global_avgpool_forward_cpu;
    be->global_avgpool_backward = cxr_global_avgpool_backward_cpu;
    be->avgpool_forward = cxr_avgpool_forward_cpu;
    be->scale_shift = cxr_scale_shift_cpu;
    cpu_set_threads(c, n_threads);
    const char *dn = getenv("CXR_CPU_DNNL");
    if (dn && !*dn) dn = NULL; /* set empty (CXR_CPU_DNNL= cmd): as unset, not "none" */
    unsigned ops = dnnl_default_ops();
    if (dn && dnnl_parse_ops(dn, &ops) != CXR_OK) {
        cpu_destroy(be);
        return CXR_E_ARG;
    }
    c->dnnl_fp32_ops = ops;
    c->dnnl_explicit = dn != NULL;
#ifdef CXR_HAVE_DNNL
    const cxr_status st = cpu_dnnl_setup(c, ops, 0, dn != NULL);
    if (st != CXR_OK) {
        cpu_destroy(be);
        return st;
    }
#else
    (void)ops; /* no oneDNN in this build: our kernels everywhere */
    dnnl_layers(c, 0, 0);
#endif
    *out = be;
    return CXR_OK;
}
