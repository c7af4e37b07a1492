/* test_chunk_codec.c: cxr_chunk_encode/decode round trip (bit-exact, random bit patterns
 * including NaN payloads, several n with partial shards), zero padding, and the errors of the
 * decoder: a flipped byte -> CXR_E_CHECKSUM; a bad frame with a valid checksum, a wrong
 * shard/size -> CXR_E_FORMAT. Also Fletcher32 against values computed by hand, and 4 threads
 * encoding/decoding at once give the same bytes as one thread (per-thread zstd contexts). */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "cxr_store.h"
#include "cxr_test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

enum { T_SHARD = 4, T_SIZE = 32, T_THREADS = 4 };
typedef struct {
    const float *in;     /* (T_SHARD, T_SIZE, T_SIZE) */
    const uint8_t *want; /* serial encoding */
    size_t want_size;
    int ok;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    size_t elems = (size_t)T_SHARD * T_SIZE * T_SIZE;
    float *out = malloc(elems * 4);
    void *scratch = malloc(elems * 4);
    uint8_t *raw = NULL;
    size_t cap = 0, rsz = 0;
    j->ok = out && scratch;
    for (int r = 0; r < 20 && j->ok; r++) {
        j->ok = cxr_chunk_encode(&raw, &cap, &rsz, j->in, T_SHARD, T_SHARD, T_SIZE, 1 + r % 3) ==
                    CXR_OK &&
                cxr_chunk_decode(out, scratch, raw, rsz, T_SHARD, T_SIZE, T_SHARD) == CXR_OK &&
                memcmp(out, j->in, elems * 4) == 0;
        if (j->ok && r % 3 == 2) j->ok = rsz == j->want_size && memcmp(raw, j->want, rsz) == 0;
    }
    free(raw);
    free(out);
    free(scratch);
    return NULL;
}

static void threads_check(void)
{
    size_t elems = (size_t)T_SHARD * T_SIZE * T_SIZE;
    float *in = malloc(T_THREADS * elems * 4);
    uint8_t *want[T_THREADS] = { 0 };
    size_t cap[T_THREADS] = { 0 }, sz[T_THREADS] = { 0 };
    job jobs[T_THREADS];
    pthread_t th[T_THREADS];
    REQUIRE(in);
    for (size_t i = 0; i < T_THREADS * elems; i++) in[i] = (float)((i * 7919) % 1013) / 1013.0f;
    for (int t = 0; t < T_THREADS; t++) {
        CHECK_OK(cxr_chunk_encode(&want[t], &cap[t], &sz[t], in + t * elems, T_SHARD, T_SHARD,
                                  T_SIZE, 3));
        jobs[t] = (job){ in + t * elems, want[t], sz[t], 0 };
    }
    for (int t = 0; t < T_THREADS; t++)
        REQUIRE(pthread_create(&th[t], NULL, worker, &jobs[t]) == 0);
    for (int t = 0; t < T_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK(jobs[t].ok);
        free(want[t]);
    }
    free(in);
}

/* HDF5's Fletcher32 as HDF5 writes it (H5_checksum_fletcher32): the serial two-sum loop with
 * end-around-carry folds every 360 words. cxr_fletcher32 computes it in closed form per block;
 * this literal version pins it, edge cases included. */
static uint32_t fletcher32_serial(const uint8_t *data, size_t len)
{
    uint32_t a = 0, b = 0;
    size_t words = len / 2;
    while (words) {
        size_t block = words > 360 ? 360 : words;
        words -= block;
        for (size_t i = 0; i < block; i++, data += 2) {
            a += (uint32_t)data[0] << 8 | data[1];
            b += a;
        }
        a = (a & 0xffffu) + (a >> 16);
        b = (b & 0xffffu) + (b >> 16);
    }
    if (len & 1) {
        a += (uint32_t)data[0] << 8;
        b += a;
        a = (a & 0xffffu) + (a >> 16);
        b = (b & 0xffffu) + (b >> 16);
    }
    a = (a & 0xffffu) + (a >> 16);
    b = (b & 0xffffu) + (b >> 16);
    return b << 16 | a;
}

static void check_fletcher_against_serial(void)
{
    enum { MAXLEN = 40000 };
    uint8_t *d = malloc(MAXLEN);
    REQUIRE(d);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    /* random bytes, all-zero, all-0xff (sums == 0 mod 65535: folded 0xffff, not 0), a lone
     * nonzero byte at the end, at lengths around the 256- and 360-word block edges */
    for (int pattern = 0; pattern < 4; pattern++) {
        for (size_t i = 0; i < MAXLEN; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            d[i] = pattern == 0 ? (uint8_t)x : pattern == 2 ? 0xff : 0;
        }
        /* ... and around the 2048-word vector blocks and their 8-word steps */
        const size_t lens[] = { 0,    1,    2,    3,    15,   16,    17,    31,    511,  512,  513,
                                719,  720,  721,  1023, 4095, 4096,  4097,  4111,  4112, 4113, 4999,
                                5000, 8191, 8192, 8208, 8209, 12303, 20000, 39999, 40000 };
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            size_t n = lens[k];
            if (pattern == 3 && n) d[n - 1] = 1;
            uint32_t fast = cxr_fletcher32(d, n), slow = fletcher32_serial(d, n);
            if (fast != slow)
                fprintf(stderr, "fletcher32 pattern %d len %zu: %08x, serial %08x\n", pattern, n,
                        fast, slow);
            CHECK(fast == slow);
            if (pattern == 3 && n) d[n - 1] = 0;
        }
    }
    free(d);
}

/* The two-step encoder (cxr-pack's): cxr_chunk_shuffle_image against the definition of the
 * shuffle, at sizes with and without a tail after the 16-pixel vector steps; slots filled out
 * of order, one through cxr_chunk_move_image, stale bytes past n: cxr_chunk_encode_shuffled
 * must give exactly cxr_chunk_encode's chunk, also when told that the slots past clean_from are
 * zero already. */
static void check_shuffled_path(void)
{
    const int sizes[] = { 1, 3, 4, 5, 7, 20 };
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const int size = sizes[k], shard = 5;
        const size_t px = (size_t)size * size, bytes = cxr_chunk_bytes(shard, size);
        CHECK(bytes == px * shard * 4);
        float *img = malloc(px * shard * 4);
        uint8_t *shuf = malloc(bytes), *other = malloc(bytes);
        REQUIRE(img && shuf && other);
        uint32_t *bits = (uint32_t *)img;
        for (size_t i = 0; i < px * shard; i++) bits[i] = next32();
        for (int n = 0; n <= shard; n++) {
            memset(shuf, 0x5A, bytes); /* stale bytes everywhere */
            memset(other, 0xA5, bytes);
            for (int i = n - 1; i >= 1; i--)
                cxr_chunk_shuffle_image(shuf, shard, size, i, img + i * px);
            if (n) { /* image 0 arrives through another chunk's slot 3 */
                cxr_chunk_shuffle_image(other, shard, size, 3, img);
                cxr_chunk_move_image(shuf, 0, other, 3, shard, size);
            }
            const uint8_t *src = (const uint8_t *)img;
            size_t bad = 0;
            for (size_t e = 0; e < px * n; e++)
                for (int j = 0; j < 4; j++) bad += shuf[j * px * shard + e] != src[4 * e + j];
            CHECK(bad == 0);
            uint8_t *a = NULL, *b = NULL;
            size_t ca = 0, cb = 0, sa = 0, sb = 0;
            CHECK_OK(cxr_chunk_encode(&a, &ca, &sa, img, n, shard, size, 3));
            CHECK_OK(cxr_chunk_encode_shuffled(&b, &cb, &sb, shuf, n, shard, shard, size, 3));
            CHECK(sa == sb && memcmp(a, b, sa) == 0);
            /* clean_from: a zeroed buffer with stale bytes only in slot n (a failed image's)
             * is cleared up to n + 1 and left alone past it, and still gives the same chunk */
            if (n < shard) {
                memset(other, 0, bytes);
                for (int i = 0; i < n; i++)
                    cxr_chunk_shuffle_image(other, shard, size, i, img + i * px);
                cxr_chunk_shuffle_image(other, shard, size, n, img); /* stale */
                size_t sc = 0;
                CHECK_OK(cxr_chunk_encode_shuffled(&b, &cb, &sc, other, n, n + 1, shard, size, 3));
                CHECK(sc == sa && memcmp(a, b, sa) == 0);
                /* and clean_from is honoured: stale bytes past it stay and change the chunk */
                if (n + 2 <= shard) {
                    cxr_chunk_shuffle_image(other, shard, size, n + 1, img);
                    CHECK_OK(
                        cxr_chunk_encode_shuffled(&b, &cb, &sc, other, n, n + 1, shard, size, 3));
                    CHECK(!(sc == sa && memcmp(a, b, sa) == 0));
                }
            }
            free(a);
            free(b);
        }
        free(img);
        free(shuf);
        free(other);
    }
}

int main(void)
{
    const int shard = 8, size = 20;
    const size_t per = (size_t)size * size, total = per * shard;
    float *in = malloc(total * 4), *out = malloc(total * 4);
    void *scratch = malloc(total * 4);
    uint8_t *raw = NULL;
    size_t cap = 0, rsz = 0;
    REQUIRE(in && out && scratch);

    /* Fletcher32 by hand: words are big-endian 16-bit; "abcde" -> words 0x6162 0x6364 0x6500 */
    {
        const uint8_t d[] = { 'a', 'b', 'c', 'd', 'e' };
        uint32_t a = 0x6162 + 0x6364 + 0x6500, b = 0x6162 + (0x6162 + 0x6364) + a;
        a = (a & 0xffff) + (a >> 16), b = (b & 0xffff) + (b >> 16);
        b = (b & 0xffff) + (b >> 16);
        CHECK(cxr_fletcher32(d, 5) == (b << 16 | a));
        CHECK(cxr_fletcher32(d, 0) == 0);
    }
    check_fletcher_against_serial();
    check_shuffled_path();

    const int ns[] = { 1, 3, 7, 8 };
    for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
        int n = ns[t];
        uint32_t *bits = (uint32_t *)in;
        for (size_t i = 0; i < per * n; i++) {
            /* half arbitrary bit patterns of pixels (denormals, -0, magnitudes up to just below
             * CXR_PIXEL_LIMIT: an exponent of 136 or more loses its top bit), half smooth values */
            bits[i] = (i & 1) ? next32() : 0;
            if (((bits[i] >> 23) & 0xff) >= 136) bits[i] &= ~0x40000000u;
            if (!(i & 1)) in[i] = (float)(i % 251) * 0.01f - 1.0f;
        }
        for (size_t i = per * n; i < total; i++) bits[i] = next32(); /* must be ignored */
        CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, in, n, shard, size, 3));
        CHECK(rsz > 4 && rsz <= cap);
        memset(out, 0xAB, total * 4);
        CHECK_OK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, n));
        CHECK(memcmp(out, in, per * n * 4) == 0);
        size_t nonzero = 0;
        const uint8_t *pad = (const uint8_t *)(out + per * n);
        for (size_t i = 0; i < (total - per * n) * 4; i++) nonzero += pad[i] != 0;
        CHECK(nonzero == 0);
        /* checksum as stored: little-endian Fletcher32 of the frame */
        uint32_t f = cxr_fletcher32(raw, rsz - 4);
        CHECK(raw[rsz - 4] == (f & 0xff) && raw[rsz - 1] == f >> 24);
        /* encoding is deterministic */
        uint8_t *raw2 = NULL;
        size_t cap2 = 0, rsz2 = 0;
        CHECK_OK(cxr_chunk_encode(&raw2, &cap2, &rsz2, in, n, shard, size, 3));
        CHECK(rsz2 == rsz && memcmp(raw, raw2, rsz) == 0);
        free(raw2);
    }

    /* A NaN or an infinity (a valid frame and checksum): CXR_E_FORMAT naming the image slot and
     * the pixel; out holds the chunk, where cxr_first_nonfinite finds the value. */
    {
        const uint32_t bad_bits[3] = { 0x7fc00000u, 0x7f800000u, 0xff800000u };
        for (int b = 0; b < 3; b++) {
            for (size_t i = 0; i < total; i++) in[i] = (float)(i % 97) * 0.5f;
            size_t at = per * 2 + (size_t)size * 3 + 4; /* image 2, y 3, x 4 */
            memcpy(&in[at], &bad_bits[b], 4);
            CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, in, 3, shard, size, 3));
            CHECK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, 3) == CXR_E_FORMAT);
            CHECK(strstr(cxr_last_error(), "non-finite pixel") != NULL);
            CHECK(strstr(cxr_last_error(), "image 2 of the chunk at (y 3, x 4)") != NULL);
            CHECK(cxr_first_nonfinite(out, total) == (int64_t)at);
            CHECK(cxr_chunk_nonfinite_image() == 2);
        }
        /* finite values no normalization writes: magnitudes of 512 (CXR_PIXEL_LIMIT) and up */
        const float big[4] = { 512.0f, -512.0f, 3e38f, -FLT_MAX };
        for (int b = 0; b < 4; b++) {
            for (size_t i = 0; i < total; i++) in[i] = (float)(i % 97) * 0.5f;
            size_t at = per * 1 + (size_t)size * 2 + 5; /* image 1, y 2, x 5 */
            in[at] = big[b];
            CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, in, 3, shard, size, 3));
            CHECK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, 3) == CXR_E_FORMAT);
            char want[96];
            snprintf(want, sizeof want,
                     "out-of-range pixel %g in image 1 of the chunk at (y 2, x 5)", (double)big[b]);
            CHECK(strstr(cxr_last_error(), want) != NULL);
            CHECK(cxr_first_bad_pixel(out, total) == (int64_t)at);
            CHECK(cxr_first_nonfinite(out, total) == -1);
            CHECK(cxr_chunk_nonfinite_image() == 1);
            in[at] = nextafterf(CXR_PIXEL_LIMIT, 0.0f) * (big[b] < 0 ? -1.0f : 1.0f);
            CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, in, 3, shard, size, 3));
            CHECK_OK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, 3));
        }
        in[per * 2 + (size_t)size * 3 + 4] = 1.0f;
        CHECK(cxr_first_nonfinite(in, total) == -1);
        CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, in, 3, shard, size, 3));
        CHECK_OK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, 3));
        /* a NaN past the chunk's n images (padding, which a raw reader ignores) is no error;
         * counted as an image, it is */
        memcpy(&in[per * 3 + 5], &bad_bits[0], 4);
        CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, in, shard, shard, size, 3));
        CHECK_OK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, 3));
        CHECK(memcmp(out, in, per * 3 * 4) == 0);
        CHECK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, 4) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "image 3 of the chunk") != NULL);
        CHECK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, 0) == CXR_E_ARG);
        CHECK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size, shard + 1) == CXR_E_ARG);
        in[per * 3 + 5] = 1.0f;
        CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, in, 3, shard, size, 3));
    }

    /* Corrupt one byte of the frame: checksum error. */
    {
        uint8_t *bad = malloc(rsz);
        REQUIRE(bad);
        for (size_t pos = 0; pos < rsz; pos += rsz / 7 + 1) {
            memcpy(bad, raw, rsz);
            bad[pos] ^= 0x40;
            cxr_status s = cxr_chunk_decode(out, scratch, bad, rsz, shard, size, 3);
            CHECK(s == CXR_E_CHECKSUM);
        }
        /* Corrupt the frame but fix the checksum: the zstd layer must reject it. */
        memcpy(bad, raw, rsz);
        bad[1] ^= 0xff; /* inside the zstd magic number */
        put_le32(bad + rsz - 4, cxr_fletcher32(bad, rsz - 4));
        CHECK(cxr_chunk_decode(out, scratch, bad, rsz, shard, size, 3) == CXR_E_FORMAT);
        CHECK(cxr_chunk_nonfinite_image() == -1); /* a bad frame, not a value */
        /* Truncated frame with a valid checksum. */
        size_t cut = rsz / 2;
        memcpy(bad, raw, cut);
        put_le32(bad + cut, cxr_fletcher32(bad, cut));
        CHECK(cxr_chunk_decode(out, scratch, bad, cut + 4, shard, size, 3) == CXR_E_FORMAT);
        free(bad);
        /* The frame and then an empty skippable frame (magic 0x184D2A50, length 0), with a
         * valid checksum: a chunk is exactly one frame (specs/store.md) */
        uint8_t *two = malloc(rsz + 8);
        REQUIRE(two);
        memcpy(two, raw, rsz - 4);
        put_le32(two + rsz - 4, 0x184D2A50u);
        put_le32(two + rsz, 0);
        put_le32(two + rsz + 4, cxr_fletcher32(two, rsz + 4));
        CHECK(cxr_chunk_decode(out, scratch, two, rsz + 8, shard, size, 3) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "not exactly one zstd frame"));
        free(two);
        /* Right bytes, wrong geometry. */
        CHECK(cxr_chunk_decode(out, scratch, raw, rsz, shard - 1, size, 3) == CXR_E_FORMAT);
        CHECK(cxr_chunk_decode(out, scratch, raw, rsz, shard, size + 1, 3) == CXR_E_FORMAT);
        CHECK(cxr_chunk_decode(out, scratch, raw, 3, shard, size, 3) == CXR_E_FORMAT);
    }
    threads_check();
    /* Bad arguments */
    CHECK(cxr_chunk_encode(&raw, &cap, &rsz, in, shard + 1, shard, size, 3) == CXR_E_ARG);
    CHECK(cxr_chunk_encode(&raw, &cap, &rsz, in, 1, shard, size, 99) == CXR_E_ARG);

    free(raw);
    free(in);
    free(out);
    free(scratch);
    TEST_END();
}
