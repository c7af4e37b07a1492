/* bench_preprocess.c: single-thread cost of preprocessing, ms per image, on a folder of JPEGs
 * (default /work/shared/data/chest_xray_fullres, searched one level deep).
 *   bench_preprocess [DIR] [SIZE] [REPEATS]
 * For every image it times (best of REPEATS runs, files already in memory):
 *   decode_full  tjDecompress2 to gray at full size (what a naive loader does)
 *   decode_dct   tjDecompress2 to gray at the DCT scale cxr_preprocess_jpeg picks
 *   preprocess   the whole cxr_preprocess_jpeg (decode + crop + resize + equalize + normalize)
 *   clahe        the same with equalize = CLAHE (cxr-pack --equalize clahe), against the above
 * and prints the mean over images (thread CPU time; BENCH_WALL=1 for wall time). Built by
 * tests/preprocess/CMakeLists.txt; not a ctest. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <turbojpeg.h>

#include "bench_cpu.h"
#include "cxr_preprocess.h"

typedef struct {
    unsigned char *buf;
    size_t len;
} blob;

/* Thread CPU time by default (a shared, loaded machine inflates wall time); BENCH_WALL=1 in
 * the environment switches to wall-clock time. */
static clockid_t bench_clock = CLOCK_THREAD_CPUTIME_ID;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int load(const char *path, blob *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b->buf = malloc((size_t)n);
    b->len = b->buf ? fread(b->buf, 1, (size_t)n, f) : 0;
    fclose(f);
    return b->len == (size_t)n && n > 0;
}

static int collect(const char *dir, blob **files, int *n, int *cap, int depth)
{
    DIR *dh = opendir(dir);
    if (!dh) return 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        size_t l = strlen(e->d_name);
        if (l > 5 &&
            (strcmp(e->d_name + l - 5, ".jpeg") == 0 || strcmp(e->d_name + l - 4, ".jpg") == 0)) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 64;
                *files = realloc(*files, sizeof(blob) * *cap);
            }
            if (load(path, &(*files)[*n])) (*n)++;
        } else if (depth > 0) {
            collect(path, files, n, cap, depth - 1);
        }
    }
    closedir(dh);
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/work/shared/data/chest_xray_fullres";
    int size = argc > 2 ? atoi(argv[2]) : 256;
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    const char *wall = getenv("BENCH_WALL");
    if (wall && wall[0] == '1') bench_clock = CLOCK_MONOTONIC;
    blob *files = NULL;
    int n = 0, cap = 0;
    if (!collect(dir, &files, &n, &cap, 1) || n == 0) {
        fprintf(stderr, "no JPEG files under %s\n", dir);
        return 2;
    }
    bench_print_cpu();
    cxr_preprocess_params p;
    cxr_preprocess_defaults(&p);
    p.size = size;
    cxr_preprocess_params pc = p;
    pc.equalize = CXR_EQUALIZE_CLAHE;
    cxr_decoder *d = cxr_decoder_create();
    tjhandle tj = tjInitDecompress();
    float *out = malloc(sizeof(float) * size * size);
    unsigned char *pix = NULL;
    size_t pix_cap = 0;
    double t_full = 0, t_dct = 0, t_pre = 0, t_clahe = 0, mpix = 0, mpix_dct = 0;
    int scaled = 0, bad = 0, hist8[17] = { 0 };
    for (int i = 0; i < n; i++) {
        if (cxr_preprocess_jpeg(d, &p, files[i].buf, files[i].len, out) != CXR_OK) {
            fprintf(stderr, "image %d: %s\n", i, cxr_last_error());
            bad++;
            continue;
        }
        cxr_decode_info info;
        cxr_decoder_last_info(d, &info);
        scaled += info.scale_num < info.scale_denom;
        hist8[info.scale_num * 8 / info.scale_denom]++; /* factors are k/8 */
        mpix += info.width * (double)info.height / 1e6;
        mpix_dct += info.scaled_width * (double)info.scaled_height / 1e6;
        /* the benchmark decodes gray at the sizes the pipeline used; RGB JPEGs are rare */
        size_t need = (size_t)info.width * info.height * 4;
        if (need > pix_cap) {
            free(pix);
            pix = malloc(need);
            pix_cap = need;
        }
        double best_full = 1e30, best_dct = 1e30, best_pre = 1e30, best_clahe = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            const int e1 = tjDecompress2(tj, files[i].buf, files[i].len, pix, info.width, 0,
                                         info.height, TJPF_GRAY, 0);
            double t1 = now_ms();
            const int e2 = tjDecompress2(tj, files[i].buf, files[i].len, pix, info.scaled_width, 0,
                                         info.scaled_height, TJPF_GRAY, 0);
            double t2 = now_ms();
            /* a failed decode timed as a fast one would flatter the ratio (a warning, which
             * the library accepts in two cases, formats/decode.c, is a full decode) */
            if ((e1 || e2) && tjGetErrorCode(tj) != TJERR_WARNING) {
                fprintf(stderr, "image %d: decode failed: %s\n", i, tjGetErrorStr2(tj));
                return 1;
            }
            cxr_preprocess_jpeg(d, &p, files[i].buf, files[i].len, out);
            double t3 = now_ms();
            cxr_preprocess_jpeg(d, &pc, files[i].buf, files[i].len, out);
            double t4 = now_ms();
            if (t4 - t3 < best_clahe) best_clahe = t4 - t3;
            if (t1 - t0 < best_full) best_full = t1 - t0;
            if (t2 - t1 < best_dct) best_dct = t2 - t1;
            if (t3 - t2 < best_pre) best_pre = t3 - t2;
        }
        t_full += best_full;
        t_dct += best_dct;
        t_pre += best_pre;
        t_clahe += best_clahe;
    }
    int ok = n - bad;
    printf("%d images from %s (%d failed), output %dx%d, best of %d, single thread, %s time\n", n,
           dir, bad, size, size, reps, bench_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU");
    if (ok > 0) {
        printf(
            "mean source %.2f Mpixel; %d of %d decoded at a reduced DCT scale (mean %.3f Mpixel)\n",
            mpix / ok, scaled, ok, mpix_dct / ok);
        printf("scale factors used:");
        for (int k = 0; k <= 16; k++)
            if (hist8[k]) printf(" %d/8: %d", k, hist8[k]);
        printf("\n");
        printf("decode full scale (gray):     %7.2f ms/image\n", t_full / ok);
        printf("decode reduced scale (gray):  %7.2f ms/image\n", t_dct / ok);
        printf("whole preprocessing:          %7.2f ms/image  (%.2f ms beyond the decode)\n",
               t_pre / ok, (t_pre - t_dct) / ok);
        printf("whole preprocessing, CLAHE:   %7.2f ms/image  (%.2f ms beyond the decode; %.2fx "
               "the global equalization's)\n",
               t_clahe / ok, (t_clahe - t_dct) / ok, t_clahe / t_pre);
    }
    free(out);
    free(pix);
    for (int i = 0; i < n; i++) free(files[i].buf);
    free(files);
    tjDestroy(tj);
    cxr_decoder_destroy(d);
    return bad ? 1 : 0;
}
