/* test_gpu_loader.c: the loader's GPU half delivers exactly the CPU loader's batches: for a small
 * synthetic store (written with the store writer API, tests/runtime/loader_fixture.h), in
 * streamed and resident mode, shuffled over two epochs, every batch's images on the device
 * (downloaded) equal the CPU loader's bytes, with the same labels and indices. Exits 77
 * without a GPU. */
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* the fixture's corrupt-copy helper */
#include "../runtime/loader_fixture.h"
#pragma GCC diagnostic pop
#include "cxr_clock.h"
#include "cxr_cuda.h"
#include "cxr_loader.h"
#include "gpu_test.h"

static void compare(cxr_backend *gpu, const cxr_store *s, cxr_resident_mode mode)
{
    cxr_cuda_ctx *cu = cxr_backend_cuda_context(gpu);
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 5;
    o.shuffle = 1;
    o.seed = 3;
    o.window = 2;
    cxr_loader *l = NULL;
    cxr_gpu_loader *g = NULL;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK_OK(cxr_gpu_loader_create(&g, cu, s, "train", &o, mode));
    CHECK(cxr_gpu_loader_is_resident(g) == (mode == CXR_RESIDENT_ON));
    CHECK(cxr_gpu_loader_n_batches(g) == cxr_loader_n_batches(l));
    const size_t img = 24 * 24;
    float *dst = NULL, *host = malloc((size_t)o.batch * img * 4);
    CHECK_OK(gpu->alloc(gpu->ctx, (void **)&dst, (size_t)o.batch * img * 4));
    size_t bad = 0, batches = 0;
    for (int e = 0; e < 2; e++) {
        double t0 = cxr_now_s();
        CHECK_OK(cxr_loader_begin_epoch(l, e));
        CHECK_OK(cxr_gpu_loader_begin_epoch(g, e));
        for (;;) {
            cxr_batch b;
            cxr_gpu_batch gb;
            CHECK_OK(cxr_loader_next_batch(l, &b));
            CHECK_OK(cxr_gpu_loader_next(g, dst, &gb));
            CHECK(gb.n == b.n);
            if (b.n == 0 || gb.n != b.n) break;
            CHECK(gb.step == b.step);
            CHECK_OK(gpu->download(gpu->ctx, host, dst, (size_t)b.n * img * 4));
            if (memcmp(host, b.images, (size_t)b.n * img * 4) != 0) {
                if (bad < 3)
                    fprintf(stderr, "epoch %d batch %lld: device bytes differ\n", e,
                            (long long)b.step);
                bad++;
            }
            for (int i = 0; i < b.n; i++) {
                CHECK(gb.labels[i] == b.labels[i]);
                CHECK(gb.indices[i] == b.indices[i]);
            }
            batches++;
        }
        /* resident: nothing to wait for (0); streamed: the CPU loader's wait (some) plus the
         * copy waits, within the epoch's wall time */
        double wall = cxr_now_s() - t0, wait = cxr_gpu_loader_wait_seconds(g);
        fprintf(stderr, "epoch %d: wait %.6f s of %.6f s\n", e, wait, wall);
        if (mode == CXR_RESIDENT_ON)
            CHECK(wait == 0.0);
        else
            CHECK(wait > 0 && wait <= wall);
    }
    printf("gpu_loader %s: %zu batches compared, %zu differ\n",
           mode == CXR_RESIDENT_ON ? "resident" : "streamed", batches, bad);
    CHECK(bad == 0);
    CHECK(batches == 2 * (size_t)cxr_loader_n_batches(l));
    gpu->free(gpu->ctx, dst);
    free(host);
    cxr_gpu_loader_destroy(g);
    cxr_loader_destroy(l);
}

int main(void)
{
    cxr_backend *gpu = gpu_or_skip("gpu_loader");
    char path[] = "/tmp/cxr_gpu_loader_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    CHECK_OK(fixture_store(path, 24, 4, 37, 0, 0, 5));
    cxr_store *s = NULL;
    CHECK_OK(cxr_store_open(&s, path));
    compare(gpu, s, CXR_RESIDENT_OFF);
    compare(gpu, s, CXR_RESIDENT_ON);
    cxr_store_close(s);
    unlink(path);
    cxr_backend_destroy(gpu);
    TEST_END();
}
