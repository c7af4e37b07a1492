/* bench_peak: the arithmetic peak this CPU gives, measured, not estimated from a clock and a
 * datasheet: fused multiply-adds in fp32 (AVX2 ymm, AVX-512 zmm) and bf16 dot products
 * (AVX512-BF16 vdpbf16ps zmm: 32 bf16 products summed into 16 fp32 lanes, 64 FLOP), each on
 * every thread at once, 12 independent accumulators a thread (more than latency x ports on any
 * x86 core), nothing read from memory. The figures bound what a kernel can reach: cxr's
 * GFLOP/s in bench_train_cpu.sh are read against them. bf16 can be slower than fp32 per FLOP:
 * an AVX512-BF16 core without AMX may issue vdpbf16ps at a quarter of its FMA rate (half its
 * FLOP), and then no bf16 kernel without AMX beats a good fp32 one. AMX tiles are not measured.
 *
 * Usage: bench_peak [threads=2] [seconds=0.5 a kind]. One line a kind the CPU has:
 *   impl=peak-KIND threads=T gflop_per_s=G ginstr_per_s=I (per thread) flop_per_instr=F
 * (T: the threads that ran) and a last line with bf16 over fp32 (AVX-512) where both ran.
 * Exit 0; a kind the CPU lacks is said and skipped, and so is every kind off x86-64. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define ACC 12 /* independent accumulator chains a thread */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Each kernel runs `iters` rounds of ACC instructions on ACC named accumulators and returns
 * their sum, which the caller keeps (so nothing is optimised away). The empty asm takes every
 * accumulator in and out of a register each round, so the compiler can neither fold the chains
 * nor keep them in memory (an array would be stored each round: a store a product). */
#define ACCS(T, init)                                                                     \
    T a0 = init(0), a1 = init(1), a2 = init(2), a3 = init(3), a4 = init(4), a5 = init(5), \
      a6 = init(6), a7 = init(7), a8 = init(8), a9 = init(9), a10 = init(10), a11 = init(11)
#define ROUND(op)                                                                                \
    do {                                                                                         \
        a0 = op(a0), a1 = op(a1), a2 = op(a2), a3 = op(a3), a4 = op(a4), a5 = op(a5);            \
        a6 = op(a6), a7 = op(a7), a8 = op(a8), a9 = op(a9), a10 = op(a10), a11 = op(a11);        \
        __asm__ volatile(""                                                                      \
                         : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), \
                           "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));                  \
    } while (0)
#define SUM(red)                                                                               \
    (red(a0) + red(a1) + red(a2) + red(a3) + red(a4) + red(a5) + red(a6) + red(a7) + red(a8) + \
     red(a9) + red(a10) + red(a11))

#define Y_INIT(k) _mm256_set1_ps((float)(k))
#define Y_FMA(a)  _mm256_fmadd_ps(x, y, a)
__attribute__((target("avx2,fma"))) static float y_red(__m256 v)
{
    float l[8], s = 0;
    _mm256_storeu_ps(l, v);
    for (int j = 0; j < 8; j++) s += l[j];
    return s;
}
__attribute__((target("avx2,fma"))) static float fma_ymm(long iters)
{
    const __m256 x = _mm256_set1_ps(1.0f), y = _mm256_set1_ps(1e-7f);
    ACCS(__m256, Y_INIT);
    for (long i = 0; i < iters; i++) ROUND(Y_FMA);
    return SUM(y_red);
}

#define Z_INIT(k) _mm512_set1_ps((float)(k))
#define Z_FMA(a)  _mm512_fmadd_ps(x, y, a)
#define Z_DOT(a)  _mm512_dpbf16_ps(a, bx, by)
__attribute__((target("avx512f"))) static float fma_zmm(long iters)
{
    const __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(1e-7f);
    ACCS(__m512, Z_INIT);
    for (long i = 0; i < iters; i++) ROUND(Z_FMA);
    return SUM(_mm512_reduce_add_ps);
}

__attribute__((target("avx512f,avx512bf16"))) static float dpbf16_zmm(long iters)
{
    /* 0x3f80 is bf16 1.0, 0x3380 about 6e-8: products that change the sums slowly */
    const __m512bh bx = (__m512bh)_mm512_set1_epi16(0x3f80),
                   by = (__m512bh)_mm512_set1_epi16(0x3380);
    ACCS(__m512, Z_INIT);
    for (long i = 0; i < iters; i++) ROUND(Z_DOT);
    return SUM(_mm512_reduce_add_ps);
}

struct kind {
    const char *name;
    float (*run)(long);
    double flop_per_instr;
    const char *needs; /* what the CPU must have, as /proc/cpuinfo's flags say it */
    int has;
};

/* Runs k on `threads` threads at once for about `seconds`; returns GFLOP/s over the threads
 * that ran (*ran: OMP_THREAD_LIMIT or the like may give fewer) and sets *ginstr to instructions
 * a second per thread (the slowest thread's: all start together). */
static double measure(const struct kind *k, int threads, double seconds, double *ginstr, int *ran,
                      float *keep)
{
    long iters = 1000;
    for (;;) { /* calibrate on one thread: a round of about seconds / 4 */
        double t0 = now();
        *keep += k->run(iters);
        double dt = now() - t0;
        if (dt > seconds / 4 || iters > (1L << 40)) {
            iters = (long)((double)iters * seconds / (dt > 0 ? dt : 1e-9));
            break;
        }
        iters *= 4;
    }
    if (iters < 1) iters = 1;
    double slowest = 0;
    float sum = 0;
    int team = 1;
#pragma omp parallel num_threads(threads) reduction(max : slowest) reduction(+ : sum)
    {
#pragma omp single
        team = omp_get_num_threads();
        double t0 = now();
        sum += k->run(iters);
        slowest = now() - t0;
    }
    *keep += sum;
    *ran = team;
    double instr = (double)iters * ACC;
    *ginstr = instr / slowest / 1e9;
    return instr * k->flop_per_instr * team / slowest / 1e9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    double seconds = argc > 2 ? atof(argv[2]) : 0.5;
    if (threads < 1 || threads > 4096 || !(seconds > 0 && seconds < 600)) {
        fprintf(stderr, "usage: bench_peak [threads=2 (1..4096)] [seconds=0.5 a kind]\n");
        return 2;
    }
    const int avx512 = __builtin_cpu_supports("avx512f") > 0;
    const struct kind kinds[] = {
        { "fp32-avx2", fma_ymm, 16, "avx2+fma",
          __builtin_cpu_supports("avx2") > 0 && __builtin_cpu_supports("fma") > 0 },
        { "fp32-avx512", fma_zmm, 32, "avx512f", avx512 },
        { "bf16-avx512", dpbf16_zmm, 64, "avx512f+avx512_bf16",
          avx512 && __builtin_cpu_supports("avx512bf16") > 0 },
    };
    float keep = 0;
    double fp32_512 = 0, bf16 = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        const struct kind *k = &kinds[i];
        if (!k->has) {
            printf("impl=peak-%s skipped: this CPU lacks %s\n", k->name, k->needs);
            continue;
        }
        int ran;
        double gi, g = measure(k, threads, seconds, &gi, &ran, &keep);
        printf("impl=peak-%s threads=%d gflop_per_s=%.1f ginstr_per_s=%.3f flop_per_instr=%.0f\n",
               k->name, ran, g, gi, k->flop_per_instr);
        if (i == 1) fp32_512 = g;
        if (i == 2) bf16 = g;
    }
    if (fp32_512 > 0 && bf16 > 0)
        printf("ratio bf16/fp32 (FLOP a second, AVX-512): %.2f\n", bf16 / fp32_512);
    fprintf(stderr, "# (checksum %g)\n", (double)keep);
    return 0;
}

#else /* not x86-64 GCC/Clang: nothing to measure */
int main(void)
{
    printf("impl=peak skipped: bench_peak measures x86-64 vector units only\n");
    return 0;
}
#endif
