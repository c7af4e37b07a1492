/* test_sample.c: preprocess every image of data/sample with the defaults and check the result
 * (finite, in [-1, 1], both ends reached, 224x224 sources decoded at full scale); with
 * --fullres, the large X-rays of the shared folder DIR/chest_xray_fullres instead, which must
 * decode at a reduced DCT scale: exit 77 (skipped) when that folder is absent.
 * usage: test_preprocess_sample SAMPLE_DIR | test_preprocess_sample --fullres SHARED_DATA_DIR */
#include <dirent.h>
#include <string.h>

#include <turbojpeg.h>

#include "cxr_preprocess.h"
#include "cxr_test.h"

static int check_output(const float *out, int n, const char *path)
{
    float lo = out[0], hi = out[0];
    for (int i = 0; i < n; i++) {
        if (!isfinite(out[i])) {
            fprintf(stderr, "%s: non-finite value at %d\n", path, i);
            return 0;
        }
        lo = fminf(lo, out[i]);
        hi = fmaxf(hi, out[i]);
    }
    if (lo != -1.0f || hi != 1.0f) {
        fprintf(stderr, "%s: range [%g, %g], want [-1, 1]\n", path, lo, hi);
        return 0;
    }
    return 1;
}

/* Preprocess up to `limit` .jpeg files of dir; returns how many were done (-1: no such dir) and
 * adds to *n_reduced those decoded at a reduced DCT scale. */
static int run_dir(cxr_decoder *d, const cxr_preprocess_params *p, const char *dir, int limit,
                   int want_side, int want_reduced, int *n_reduced)
{
    DIR *dh = opendir(dir);
    if (!dh) return -1;
    struct dirent *e;
    char path[4096];
    float *out = malloc(sizeof(float) * p->size * p->size);
    REQUIRE(out != NULL);
    int done = 0, reduced = 0;
    while ((e = readdir(dh)) && done < limit) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".jpeg") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        cxr_status st = cxr_preprocess_file(d, p, path, out);
        if (st != CXR_OK) {
            fprintf(stderr, "%s\n", cxr_last_error());
            cxr_test_failures++;
            continue;
        }
        cxr_decode_info info;
        cxr_decoder_last_info(d, &info);
        if (want_side) CHECK(info.width == want_side && info.height == want_side);
        if (want_reduced && info.width >= 2 * p->size && info.height >= 2 * p->size) {
            /* at least 2x the target: decoded smaller, never below the target, and with the
             * smallest TurboJPEG factor that does so (no crop with the defaults) */
            CHECK(info.scale_num < info.scale_denom);
            CHECK(info.scaled_width >= p->size && info.scaled_height >= p->size);
            int nf = 0;
            tjscalingfactor *f = tjGetScalingFactors(&nf);
            for (int k = 0; k < nf; k++) {
                int smaller = f[k].num * info.scale_denom < info.scale_num * f[k].denom;
                if (smaller && TJSCALED(info.width, f[k]) >= p->size &&
                    TJSCALED(info.height, f[k]) >= p->size) {
                    fprintf(stderr, "%s: %d/%d chosen but %d/%d also fits\n", path, info.scale_num,
                            info.scale_denom, f[k].num, f[k].denom);
                    cxr_test_failures++;
                }
            }
            reduced++;
        } else if (want_reduced) {
            CHECK(info.scale_num == info.scale_denom); /* small: full scale */
        }
        if (!check_output(out, p->size * p->size, path)) cxr_test_failures++;
        done++;
    }
    closedir(dh);
    free(out);
    if (want_reduced) printf("%s: %d of %d decoded at a reduced DCT scale\n", dir, reduced, done);
    *n_reduced += reduced;
    return done;
}

int main(int argc, char **argv)
{
    int fullres = argc == 3 && strcmp(argv[1], "--fullres") == 0;
    REQUIRE(argc == 2 || fullres);
    cxr_preprocess_params p;
    cxr_preprocess_defaults(&p);
    cxr_decoder *d = cxr_decoder_create();
    REQUIRE(d != NULL);

    char dir[4096];
    int reduced = 0;
    if (fullres) {
        snprintf(dir, sizeof dir, "%s/chest_xray_fullres/NORMAL", argv[2]);
        int n1 = run_dir(d, &p, dir, 1000, 0, 1, &reduced);
        snprintf(dir, sizeof dir, "%s/chest_xray_fullres/PNEUMONIA", argv[2]);
        int n2 = run_dir(d, &p, dir, 1000, 0, 1, &reduced);
        if (n1 < 0 && n2 < 0) {
            printf("skipped: no shared full-resolution data in %s/chest_xray_fullres\n", argv[2]);
            cxr_decoder_destroy(d);
            return CXR_SKIP_CODE;
        }
        printf("full resolution: %d images, %d at a reduced scale\n", n1 + n2, reduced);
        CHECK(n1 > 0 && n2 > 0);
        CHECK(reduced > 0); /* the reduced-scale checks ran at least once */
    } else {
        const char *sub[] = { "train/NORMAL", "train/PNEUMONIA", "test/NORMAL", "test/PNEUMONIA" };
        int total = 0;
        for (int i = 0; i < 4; i++) {
            snprintf(dir, sizeof dir, "%s/%s", argv[1], sub[i]);
            int n = run_dir(d, &p, dir, 1000, 224, 0, &reduced);
            if (n < 0) fprintf(stderr, "cannot open %s\n", dir);
            CHECK(n > 0);
            total += n > 0 ? n : 0;
        }
        printf("data/sample: %d images preprocessed to %dx%d\n", total, p.size, p.size);
        CHECK(total == 64);
    }
    cxr_decoder_destroy(d);
    TEST_END();
}
