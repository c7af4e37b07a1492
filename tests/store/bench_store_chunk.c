/* bench_store_chunk.c (not a test): chunk codec speed and ratio on real preprocessed images.
 * Preprocesses up to `shard` JPEGs found under DIR (default data/sample) into one chunk, then
 * times cxr_chunk_encode and cxr_chunk_decode at zstd levels from -10 (fastest) to 9 (best of R
 * runs). Usage: bench_store_chunk [DIR] [SHARD] [REPEATS] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_clock.h"
#include "cxr_preprocess.h"
#include "cxr_store.h"

static int collect(const char *dir, char **out, int max, int n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return n;
    char *names[4096];
    int k = 0;
    while ((e = readdir(d)) && k < 4096)
        if (e->d_name[0] != '.') names[k++] = strdup(e->d_name);
    closedir(d);
    for (int i = 0; i < k; i++) { /* sort for a stable choice */
        for (int j = i + 1; j < k; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    }
    for (int i = 0; i < k; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        size_t l = strlen(p);
        if (n < max && l > 5 && (strcmp(p + l - 5, ".jpeg") == 0 || strcmp(p + l - 4, ".jpg") == 0))
            out[n++] = strdup(p);
        else
            n = collect(p, out, max, n);
        free(names[i]);
    }
    return n;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "data/sample";
    int shard = argc > 2 ? atoi(argv[2]) : 64, reps = argc > 3 ? atoi(argv[3]) : 3;
    cxr_preprocess_params pp;
    cxr_preprocess_defaults(&pp);
    int S = pp.size;
    size_t per = (size_t)S * S, bytes = per * shard * 4;
    char **files = calloc((size_t)shard, sizeof *files);
    int n = collect(dir, files, shard, 0);
    if (n == 0) {
        fprintf(stderr, "no JPEGs under %s\n", dir);
        return 1;
    }
    float *img = calloc(per * shard, 4), *out = malloc(bytes);
    void *scratch = malloc(bytes);
    cxr_decoder *dec = cxr_decoder_create();
    for (int i = 0; i < n; i++)
        if (cxr_preprocess_file(dec, &pp, files[i], img + per * i) != CXR_OK) {
            fprintf(stderr, "%s\n", cxr_last_error());
            return 1;
        }
    printf("chunk: %d images of %dx%d from %s (%d real), %.1f MiB raw\n", shard, S, S, dir, n,
           bytes / 1048576.0);
    const int levels[] = { -10, -5, -3, -1, 1, 3, 9 };
    for (size_t L = 0; L < sizeof levels / sizeof levels[0]; L++) {
        uint8_t *raw = NULL;
        size_t cap = 0, rsz = 0;
        double be = 1e9, bd = 1e9;
        for (int r = 0; r < reps; r++) {
            double t0 = cxr_now_s();
            if (cxr_chunk_encode(&raw, &cap, &rsz, img, n, shard, S, levels[L]) != CXR_OK) return 1;
            double t1 = cxr_now_s();
            if (cxr_chunk_decode(out, scratch, raw, rsz, shard, S, shard) != CXR_OK) return 1;
            double t2 = cxr_now_s();
            if (t1 - t0 < be) be = t1 - t0;
            if (t2 - t1 < bd) bd = t2 - t1;
        }
        if (memcmp(out, img, bytes) != 0) return 1;
        printf("level %d: %zu bytes (ratio %.2f), encode %.1f ms (%.0f MB/s), decode %.1f ms (%.0f "
               "MB/s)\n",
               levels[L], rsz, (double)bytes / rsz, be * 1e3, bytes / be / 1e6, bd * 1e3,
               bytes / bd / 1e6);
        free(raw);
    }
    cxr_decoder_destroy(dec);
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    free(img);
    free(out);
    free(scratch);
    return 0;
}
