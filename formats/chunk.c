/* chunk.c: the raw chunk codec of the cxr store (specs/store.md, "Raw chunks"):
 * byte shuffle (4-byte elements) -> one zstd frame with content size -> little-endian
 * Fletcher32 of the compressed bytes, and back. No HDF5 here: worker threads call these.
 *
 * Each thread keeps one ZSTD_CCtx, one ZSTD_DCtx and a shuffle buffer (a pthread key frees
 * them at thread exit): a chunk is ~16 MB, so re-allocating per call would cost page faults
 * and context setup on every shard.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif

#include "cxr_store.h"

typedef struct {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    uint8_t *shuf;
    size_t shuf_cap;
} codec_tls;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_ok;

static void tls_free(void *p)
{
    codec_tls *t = p;
    if (!t) return;
    ZSTD_freeCCtx(t->cctx);
    ZSTD_freeDCtx(t->dctx);
    free(t->shuf);
    free(t);
}

static void tls_init(void) { tls_ok = pthread_key_create(&tls_key, tls_free) == 0; }

static codec_tls *tls_get(void)
{
    pthread_once(&tls_once, tls_init);
    if (!tls_ok) return NULL;
    codec_tls *t = pthread_getspecific(tls_key);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (pthread_setspecific(tls_key, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

#ifdef __SSE2__
/* The sums of one vector block of 8K big-endian words (K <= 256), in the closed form above:
 * lane l of the accumulators sees words i = 8k + l. a_l = sum_k x, and adding a to p after every
 * step gives p_l = sum_k (K - k) x, so with m = 8K the weight m - i = 8(K - k) - l gives
 *   S = sum_l a_l,  T = sum_l (8 p_l - l a_l).
 * p_l <= 65535 * K(K+1)/2 < 2^32 for K <= 256, so the lanes never wrap. */
static void fletcher_block_sse2(const uint8_t *data, uint32_t K, uint64_t *S, uint64_t *T)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i a0 = zero, a1 = zero, p0 = zero, p1 = zero;
    for (uint32_t k = 0; k < K; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(data + 16 * (size_t)k));
        v = _mm_or_si128(_mm_slli_epi16(v, 8), _mm_srli_epi16(v, 8)); /* big-endian words */
        a0 = _mm_add_epi32(a0, _mm_unpacklo_epi16(v, zero));
        a1 = _mm_add_epi32(a1, _mm_unpackhi_epi16(v, zero));
        p0 = _mm_add_epi32(p0, a0);
        p1 = _mm_add_epi32(p1, a1);
    }
    uint32_t a[8], p[8];
    _mm_storeu_si128((__m128i *)a, a0);
    _mm_storeu_si128((__m128i *)(a + 4), a1);
    _mm_storeu_si128((__m128i *)p, p0);
    _mm_storeu_si128((__m128i *)(p + 4), p1);
    uint64_t s = 0, t = 0;
    for (int l = 0; l < 8; l++) {
        s += a[l];
        t += 8 * (uint64_t)p[l] - (uint64_t)l * a[l];
    }
    *S = s;
    *T = t;
}
#endif

uint32_t cxr_fletcher32(const uint8_t *data, size_t len)
{
    /* HDF5's definition: over big-endian 16-bit words x_0..x_{n-1} (an odd last byte is the
     * high byte of a final word), a = sum x_i and b = sum of the running a, both folded with
     * end-around carry ((s & 0xffff) + (s >> 16)). Folding keeps a value congruent mod 65535
     * and, for a nonzero sum, in [1, 65535]; an all-zero input gives a = b = 0. So the result
     * is fixed by the true sums mod 65535, which we compute per block in closed form:
     *   a' = a + S,  b' = b + m*a + T,  S = sum x_i,  T = sum (m - i) x_i  (i < m)
     * Blocks of 2048 words go through SSE2 lanes (fletcher_block_sse2, about 4x the
     * autovectorized scalar loop); the rest through the scalar loop, whose
     * carried-dependency-free body the compiler vectorizes too. */
    enum { BLOCK = 256 }; /* T < 256*257/2 * 65535 < 2^32 */
    uint64_t A = 0, B = 0, any = 0;
    size_t words = len / 2;
#ifdef __SSE2__
    while (words >= 8) {
        uint32_t K = words / 8 > 256 ? 256 : (uint32_t)(words / 8), m = 8 * K;
        uint64_t s, t;
        fletcher_block_sse2(data, K, &s, &t);
        B = (B + (uint64_t)m * A + t) % 65535u;
        A = (A + s) % 65535u;
        any |= s;
        data += 2 * (size_t)m;
        words -= m;
    }
#endif
    while (words) {
        uint32_t m = words > BLOCK ? BLOCK : (uint32_t)words, s = 0, t = 0;
        for (uint32_t i = 0; i < m; i++) {
            uint32_t x = (uint32_t)data[2 * i] << 8 | data[2 * i + 1];
            s += x;
            t += (m - i) * x;
        }
        B = (B + (uint64_t)m * A + t) % 65535u;
        A = (A + s) % 65535u;
        any |= s;
        data += 2 * (size_t)m;
        words -= m;
    }
    if (len & 1) {
        uint32_t x = (uint32_t)data[0] << 8;
        B = (B + A + x) % 65535u;
        A = (A + x) % 65535u;
        any |= x;
    }
    if (!any) return 0;
    uint32_t a = A ? (uint32_t)A : 65535u, b = B ? (uint32_t)B : 65535u;
    return b << 16 | a;
}

/* HDF5 unshuffle, element size 4: plane j, position e -> byte j of element e. */
/* 1 if any of the first n of the e shuffled float32 elements at src is no pixel a store holds:
 * NaN, an infinity, or a magnitude of CXR_PIXEL_LIMIT (2^9) or more. Those are the biased
 * exponents of 136 and up, byte 3's low 7 bits at 68 or more: one plane (a quarter of the
 * chunk), branch-free, so the compiler vectorizes it. */
static int any_bad_shuffled(const uint8_t *src, size_t e, size_t n)
{
    const uint8_t *p3 = src + 3 * e;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= (uint8_t)((p3[i] & 0x7f) >= 0x44);
    return acc != 0;
}

int64_t cxr_first_nonfinite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return (int64_t)i;
    return -1;
}

int64_t cxr_first_bad_pixel(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(v[i]) < CXR_PIXEL_LIMIT)) return (int64_t)i;
    return -1;
}

const char *cxr_bad_pixel_kind(float x)
{
    return isfinite(x) ? "out-of-range pixel" : "non-finite pixel";
}

const char *cxr_bad_pixel_note(float x)
{
    return isfinite(x) ? " (no normalization writes a magnitude of 512 or more)" : "";
}

static void unshuffle4(uint8_t *dst, const uint8_t *src, size_t e)
{
    const uint8_t *p0 = src, *p1 = src + e, *p2 = src + 2 * e, *p3 = src + 3 * e;
    for (size_t i = 0; i < e; i++) {
        dst[4 * i] = p0[i];
        dst[4 * i + 1] = p1[i];
        dst[4 * i + 2] = p2[i];
        dst[4 * i + 3] = p3[i];
    }
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t cxr_chunk_bytes(int shard, int size) { return (size_t)shard * size * size * 4; }

size_t cxr_chunk_encoded_max(int shard, int size)
{
    return ZSTD_compressBound(cxr_chunk_bytes(shard, size)) + 4;
}

/* HDF5 shuffle, element size 4, of one image into slot `slot` of a shuffled chunk: byte j of
 * pixel e goes to plane j (planes are shard*px bytes apart), position slot*px + e. */
void cxr_chunk_shuffle_image(uint8_t *shuf, int shard, int size, int slot, const float *image)
{
    const size_t px = (size_t)size * (size_t)size, plane = px * (size_t)shard;
    const uint8_t *src = (const uint8_t *)image;
    uint8_t *p0 = shuf + (size_t)slot * px, *p1 = p0 + plane, *p2 = p1 + plane, *p3 = p2 + plane;
    size_t i = 0;
#ifdef __SSSE3__
    /* 16 pixels per step: pshufb gathers each 4-pixel vector's bytes by plane (4 bytes of
     * plane 0, then plane 1, ...), then a 4x4 transpose of those 32-bit groups gives 16 bytes
     * of each plane. Same bytes as the scalar loop, 1/4 the instructions. */
    const __m128i by_plane = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (; i + 16 <= px; i += 16) {
        __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 4 * i)), by_plane);
        __m128i b =
            _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 4 * i + 16)), by_plane);
        __m128i c =
            _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 4 * i + 32)), by_plane);
        __m128i d =
            _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 4 * i + 48)), by_plane);
        __m128i ab0 = _mm_unpacklo_epi32(a, b), ab1 = _mm_unpackhi_epi32(a, b);
        __m128i cd0 = _mm_unpacklo_epi32(c, d), cd1 = _mm_unpackhi_epi32(c, d);
        _mm_storeu_si128((__m128i *)(p0 + i), _mm_unpacklo_epi64(ab0, cd0));
        _mm_storeu_si128((__m128i *)(p1 + i), _mm_unpackhi_epi64(ab0, cd0));
        _mm_storeu_si128((__m128i *)(p2 + i), _mm_unpacklo_epi64(ab1, cd1));
        _mm_storeu_si128((__m128i *)(p3 + i), _mm_unpackhi_epi64(ab1, cd1));
    }
#endif
    for (; i < px; i++) {
        p0[i] = src[4 * i];
        p1[i] = src[4 * i + 1];
        p2[i] = src[4 * i + 2];
        p3[i] = src[4 * i + 3];
    }
}

void cxr_chunk_move_image(uint8_t *dst, int to, const uint8_t *src, int from, int shard, int size)
{
    const size_t px = (size_t)size * (size_t)size, plane = px * (size_t)shard;
    for (int j = 0; j < 4; j++)
        memmove(dst + j * plane + (size_t)to * px, src + j * plane + (size_t)from * px, px);
}

cxr_status cxr_chunk_encode_shuffled(uint8_t **out, size_t *out_cap, size_t *out_size,
                                     uint8_t *shuf, int n, int clean_from, int shard, int size,
                                     int level)
{
    cxr_status st = CXR_OK;
    if (!out || !out_cap || !out_size || !shuf || shard < 1 || size < 1 || n < 0 || n > shard)
        CXR_THROW(CXR_E_ARG, "cxr_chunk_encode: bad arguments (n=%d shard=%d size=%d)", n, shard,
                  size);
    if (level > ZSTD_maxCLevel() || level < ZSTD_minCLevel())
        CXR_THROW(CXR_E_ARG, "cxr_chunk_encode: zstd level %d outside [%d, %d]", level,
                  ZSTD_minCLevel(), ZSTD_maxCLevel());
    const size_t px = (size_t)size * (size_t)size, plane = px * (size_t)shard;
    const size_t nbytes = 4 * plane;
    codec_tls *t = tls_get();
    if (!t) CXR_THROW(CXR_E_NOMEM, "cxr_chunk_encode: no per-thread codec state");
    if (!t->cctx && !(t->cctx = ZSTD_createCCtx()))
        CXR_THROW(CXR_E_NOMEM, "cxr_chunk_encode: ZSTD_createCCtx failed");
    /* The padding rows are zero, and a zero element shuffles to zero in every plane, so each
     * plane's tail after the n real images must be zero: cleared here up to clean_from. */
    if (clean_from > shard) clean_from = shard;
    for (int j = 0; j < 4 && clean_from > n; j++)
        memset(shuf + j * plane + (size_t)n * px, 0, (size_t)(clean_from - n) * px);

    size_t bound = cxr_chunk_encoded_max(shard, size);
    if (!*out || *out_cap < bound) {
        uint8_t *p = realloc(*out, bound);
        if (!p) CXR_THROW(CXR_E_NOMEM, "cxr_chunk_encode: %zu bytes", bound);
        *out = p;
        *out_cap = bound;
    }
    /* ZSTD_compressCCtx resets the context's parameters to `level` with defaults: the same
     * frame ZSTD_compress (the HDF5 filter) produces, content size included. */
    size_t got = ZSTD_compressCCtx(t->cctx, *out, *out_cap - 4, shuf, nbytes, level);
    if (ZSTD_isError(got))
        CXR_THROW(CXR_E_COMPRESS, "cxr_chunk_encode: zstd: %s", ZSTD_getErrorName(got));
    put_le32(*out + got, cxr_fletcher32(*out, got));
    *out_size = got + 4;
bail:
    return st;
}

cxr_status cxr_chunk_encode(uint8_t **out, size_t *out_cap, size_t *out_size, const float *images,
                            int n, int shard, int size, int level)
{
    cxr_status st = CXR_OK;
    if (!out || !out_cap || !out_size || (!images && n > 0) || shard < 1 || size < 1 || n < 0 ||
        n > shard)
        CXR_THROW(CXR_E_ARG, "cxr_chunk_encode: bad arguments (n=%d shard=%d size=%d)", n, shard,
                  size);
    size_t nbytes = cxr_chunk_bytes(shard, size), px = (size_t)size * (size_t)size;
    codec_tls *t = tls_get();
    if (!t) CXR_THROW(CXR_E_NOMEM, "cxr_chunk_encode: no per-thread codec state");
    if (t->shuf_cap < nbytes) {
        uint8_t *p = realloc(t->shuf, nbytes);
        if (!p) CXR_THROW(CXR_E_NOMEM, "cxr_chunk_encode: %zu bytes", nbytes);
        t->shuf = p;
        t->shuf_cap = nbytes;
    }
    for (int i = 0; i < n; i++) cxr_chunk_shuffle_image(t->shuf, shard, size, i, images + i * px);
    CXR_TRY(
        cxr_chunk_encode_shuffled(out, out_cap, out_size, t->shuf, n, shard, shard, size, level));
bail:
    return st;
}

static _Thread_local int64_t last_nonfinite_image = -1;

int64_t cxr_chunk_nonfinite_image(void) { return last_nonfinite_image; }

void cxr_chunk_decode_abandoned(void)
{
    last_nonfinite_image = -1;
    codec_tls *t = tls_get();
    if (t && t->dctx) ZSTD_DCtx_reset(t->dctx, ZSTD_reset_session_and_parameters);
}

int cxr_chunk_sum_ok(const uint8_t *raw, size_t raw_size, uint32_t *stored, uint32_t *computed)
{
    *computed = cxr_fletcher32(raw, raw_size - 4);
    *stored = get_le32(raw + raw_size - 4);
    return *computed == *stored;
}

cxr_status cxr_chunk_decode(float *out, void *scratch, const uint8_t *raw, size_t raw_size,
                            int shard, int size, int n)
{
    cxr_status st = CXR_OK;
    last_nonfinite_image = -1;
    if (!out || !scratch || !raw || shard < 1 || size < 1 || n < 1 || n > shard)
        CXR_THROW(CXR_E_ARG, "cxr_chunk_decode: bad arguments");
    if (raw_size < 5) CXR_THROW(CXR_E_FORMAT, "chunk of %zu bytes is too short", raw_size);
    size_t frame = raw_size - 4;
    /* the sum first: the bytes in file order (a file cut short while mapped faults in it) */
    uint32_t want_sum, sum;
    if (!cxr_chunk_sum_ok(raw, raw_size, &want_sum, &sum))
        CXR_THROW(CXR_E_CHECKSUM, "chunk Fletcher32 mismatch: stored %08x, computed %08x", want_sum,
                  sum);
    size_t elems = (size_t)size * (size_t)size * (size_t)shard, nbytes = elems * 4;
    unsigned long long content = ZSTD_getFrameContentSize(raw, frame);
    if (content == ZSTD_CONTENTSIZE_ERROR) CXR_THROW(CXR_E_FORMAT, "chunk is not a zstd frame");
    if (content == ZSTD_CONTENTSIZE_UNKNOWN)
        CXR_THROW(CXR_E_FORMAT, "chunk's zstd frame has no content size");
    if (content != nbytes)
        CXR_THROW(CXR_E_FORMAT, "chunk holds %llu bytes, expected %zu (shard %d, size %d)", content,
                  nbytes, shard, size);
    size_t fsz = ZSTD_findFrameCompressedSize(raw, frame);
    if (ZSTD_isError(fsz) || fsz != frame)
        CXR_THROW(CXR_E_FORMAT, "chunk is not exactly one zstd frame");
    codec_tls *t = tls_get();
    if (!t) CXR_THROW(CXR_E_NOMEM, "cxr_chunk_decode: no per-thread codec state");
    if (!t->dctx && !(t->dctx = ZSTD_createDCtx()))
        CXR_THROW(CXR_E_NOMEM, "cxr_chunk_decode: ZSTD_createDCtx failed");
    size_t got = ZSTD_decompressDCtx(t->dctx, scratch, nbytes, raw, frame);
    if (ZSTD_isError(got)) CXR_THROW(CXR_E_FORMAT, "chunk zstd frame: %s", ZSTD_getErrorName(got));
    if (got != nbytes)
        CXR_THROW(CXR_E_FORMAT, "chunk decompressed to %zu bytes, expected %zu", got, nbytes);
    unshuffle4((uint8_t *)out, scratch, elems);
    const size_t checked = (size_t)size * (size_t)size * (size_t)n;
    if (any_bad_shuffled(scratch, elems, checked)) {
        int64_t i = cxr_first_bad_pixel(out, checked);
        size_t px = (size_t)size * (size_t)size, at = (size_t)i % px;
        last_nonfinite_image = (int64_t)((size_t)i / px);
        CXR_THROW(CXR_E_FORMAT, "%s %g in image %lld of the chunk at (y %zu, x %zu)%s",
                  cxr_bad_pixel_kind(out[i]), (double)out[i], (long long)((size_t)i / px),
                  at / (size_t)size, at % (size_t)size, cxr_bad_pixel_note(out[i]));
    }
bail:
    return st;
}
