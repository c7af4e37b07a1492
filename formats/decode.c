/* decode.c: one JPEG in, one normalized square float32 tensor out (cxr_preprocess.h): the
 * decoder, which reads the JPEG and runs the pixel steps of preprocess.c on it.
 *
 * A cxr_decoder is meant to live in one thread: it holds the tjhandle, scratch buffers that only
 * grow, and a small cache of resize coefficient tables keyed by (src w, src h, dst w, dst h), so
 * the steady state allocates nothing per image. TurboJPEG installs its own setjmp-based libjpeg
 * error manager, so a corrupt file can never make libjpeg call exit(); TJFLAG_STOPONWARNING
 * turns libjpeg's "corrupt data" warnings into errors and TJFLAG_LIMITSCANS refuses progressive
 * files with absurd scan counts.
 */
#include "cxr_preprocess.h"
#include "preprocess_internal.h"
#include "cxr_files.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>

#define MAX_FILE_BYTES ((size_t)1 << 30)
/* the coefficient buffer a progressive or multi-scan JPEG needs (buffered_coef_over): 256 MiB
 * is a 16384 x 8192 gray image or 89 Mpx of 4:2:0 color */
#define MAX_COEF_BYTES ((uint64_t)256 << 20)
#define N_TABLES       4

/* ---------------------------------------------------------------------------------------
 * Decoder
 * ------------------------------------------------------------------------------------- */

typedef struct {
    int w, h, dw, dh; /* key: source crop size and output size; w == 0 marks an empty slot */
    axis_table x, y;
} table_pair;

struct cxr_decoder {
    tjhandle tj;
    uint8_t *pix; /* decoded pixels, 1, 3 or 4 bytes each */
    size_t cap_pix;
    uint8_t *gray; /* gray image when the JPEG decoded to RGB/CMYK */
    size_t cap_gray;
    float *tmp; /* horizontal resize pass */
    size_t cap_tmp;
    uint8_t *file; /* file contents for cxr_preprocess_file */
    size_t cap_file;
    uint8_t *bins; /* equalization bin of every output pixel */
    size_t cap_bins;
    table_pair tables[N_TABLES];
    int next_table;
    cxr_decode_info info;
};

cxr_decoder *cxr_decoder_create(void)
{
    cxr_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->tj = tjInitDecompress();
    if (!d->tj) {
        free(d);
        return NULL;
    }
    return d;
}

void cxr_decoder_destroy(cxr_decoder *d)
{
    if (!d) return;
    if (d->tj) tjDestroy(d->tj);
    free(d->pix);
    free(d->gray);
    free(d->tmp);
    free(d->file);
    free(d->bins);
    for (int i = 0; i < N_TABLES; i++) {
        cxr_axis_table_free(&d->tables[i].x);
        cxr_axis_table_free(&d->tables[i].y);
    }
    free(d);
}

void cxr_decoder_last_info(const cxr_decoder *d, cxr_decode_info *info) { *info = d->info; }

/* A scratch buffer of at least `need` bytes: `buf` itself when it is big enough, otherwise a
 * new allocation (with headroom, so slightly larger images do not reallocate) that replaces it;
 * the old contents are not kept. NULL on allocation failure, with `buf` left as it was. */
static void *grow(void *buf, size_t *cap, size_t need)
{
    if (need <= *cap) return buf;
    size_t want = need + need / 4;
    void *p = malloc(want);
    if (!p) return NULL;
    free(buf);
    *cap = want;
    return p;
}

#define GROW(field, cap, need, what)                                                      \
    do {                                                                                  \
        void *g_ = grow(d->field, &d->cap, (need));                                       \
        if (!g_)                                                                          \
            CXR_THROW(CXR_E_NOMEM, "out of memory for the %s buffer (%zu bytes)", (what), \
                      (size_t)(need));                                                    \
        d->field = g_;                                                                    \
    } while (0)

/* The tables of a w x h source window whose extent [ox, ox + ex) x [oy, oy + ey) is resized to
 * dw x dh (span_of, preprocess.c). */
static cxr_status tables_for(cxr_decoder *d, int w, int h, double ox, double oy, double ex,
                             double ey, int dw, int dh, table_pair **out)
{
    for (int i = 0; i < N_TABLES; i++) {
        table_pair *t = &d->tables[i];
        if (t->w == w && t->h == h && t->dw == dw && t->dh == dh && t->x.off == ox &&
            t->x.ext == ex && t->y.off == oy && t->y.ext == ey) {
            *out = t;
            return CXR_OK;
        }
    }
    table_pair *t = &d->tables[d->next_table];
    d->next_table = (d->next_table + 1) % N_TABLES;
    t->w = 0; /* invalid until both axes are built */
    cxr_status st = cxr_axis_table_build(&t->x, w, ox, ex, dw);
    if (st == CXR_OK) st = cxr_axis_table_build(&t->y, h, oy, ey, dh);
    if (st != CXR_OK) return st;
    t->w = w;
    t->h = h;
    t->dw = dw;
    t->dh = dh;
    *out = t;
    return CXR_OK;
}

/* Smallest TurboJPEG scaling factor <= 1 that keeps both sides of the (cropped) region at least
 * `target`; 1/1 unless the region is at least twice the target on both sides. */
static tjscalingfactor choose_scale(int cw, int ch, int target)
{
    tjscalingfactor best = { 1, 1 };
    if (cw < 2 * target || ch < 2 * target) return best;
    int n = 0;
    tjscalingfactor *f = tjGetScalingFactors(&n);
    for (int i = 0; f && i < n; i++) {
        if (f[i].num > f[i].denom) continue;
        if (TJSCALED(cw, f[i]) < target || TJSCALED(ch, f[i]) < target) continue;
        if ((double)f[i].num / f[i].denom < (double)best.num / best.denom) best = f[i];
    }
    return best;
}

static const char *colorspace_name(int cs)
{
    switch (cs) {
    case TJCS_RGB: return "RGB";
    case TJCS_YCbCr: return "YCbCr";
    case TJCS_GRAY: return "gray";
    case TJCS_CMYK: return "CMYK";
    case TJCS_YCCK: return "YCCK";
    }
    return "unknown";
}

/* What the markers before the first scan say, walked by their lengths (TEM and RSTn have none
 * and are stepped over, as libjpeg does); a truncated or odd stream ends the walk with what was
 * found so far and first_sos 0 (the decoder reports its own errors).
 * adobe: an Adobe APP14 marker (FF EE, "Adobe"). By the convention of Photoshop, which PIL,
 * ImageMagick and web browsers follow, the CMYK/YCCK samples of such a file are stored inverted
 * (0 = full ink); libjpeg passes them through as stored.
 * sof, first_sos: offsets of the first frame header and of the first scan header (0: none). */
typedef struct {
    int adobe, progressive;
    size_t sof, first_sos;
    uint8_t sof_marker; /* the frame's SOFn marker byte (0xC0..0xCF) */
} jpeg_markers;

static jpeg_markers read_markers(const uint8_t *j, size_t len)
{
    jpeg_markers k = { 0 };
    size_t i = 2;
    if (len < 4 || j[0] != 0xFF || j[1] != 0xD8) return k;
    while (i + 4 <= len) {
        if (j[i] != 0xFF) return k;
        uint8_t m = j[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD9) return k;                     /* end of image */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* TEM, RSTn: no length */
            i += 2;
            continue;
        }
        if (m == 0xDA) { /* start of scan: the headers end here */
            k.first_sos = i;
            return k;
        }
        size_t seg = ((size_t)j[i + 2] << 8) | j[i + 3];
        if (seg < 2) {
            /* libjpeg skips an APPn, COM or DNL segment of a bogus length 0 or 1 past its
             * length bytes, without a warning (jdmarker.c skip_variable, get_interesting_appn);
             * any other marker with it is a decode error */
            if ((m >= 0xE0 && m <= 0xEF) || m == 0xFE || m == 0xDC) {
                i += 4;
                continue;
            }
            return k;
        }
        /* libjpeg's test (examine_app14): 12 bytes of data after the length, "Adobe" first */
        if (m == 0xEE && seg >= 14 && i + 9 <= len && !memcmp(j + i + 4, "Adobe", 5)) k.adobe = 1;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && !k.sof) {
            k.sof = i;
            k.sof_marker = m;
            k.progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
        }
        i += 2 + seg;
    }
    return k;
}

/* Bytes of DCT coefficients libjpeg buffers for the whole image before it can output a row,
 * when it must and they are over `cap`, else 0. It must for a progressive frame (SOF2, SOF6,
 * SOF10, SOF14) and for a sequential file whose first scan holds fewer components than the
 * frame (they come in separate scans); an interleaved sequential file is decoded a row of blocks
 * at a time. Headers the walk cannot read give 0 (TurboJPEG's own header check has passed; its
 * decode then judges them). The size: the frame's components at their sampling factors, padded
 * to whole MCUs, 64 coefficients of 2 bytes per 8x8 block, what jdcoefct.c allocates. A walk
 * over the headers alone, up to the first scan's. */
static uint64_t buffered_coef_over(const uint8_t *j, size_t len, const jpeg_markers *k,
                                   uint64_t cap)
{
    const size_t sof = k->sof, first_sos = k->first_sos;
    const int progressive = k->progressive;
    if (!sof || !first_sos || sof + 10 > len || first_sos + 5 > len) return 0;
    const uint8_t *f = j + sof + 4; /* precision, height (2), width (2), components, ... */
    uint64_t h = ((uint64_t)f[1] << 8) | f[2], w = ((uint64_t)f[3] << 8) | f[4];
    int nc = f[5], hmax = 1, vmax = 1;
    if (nc < 1 || sof + 10 + 3 * (size_t)nc > len) return 0;
    for (int c = 0; c < nc; c++) {
        int hs = f[7 + 3 * c] >> 4, vs = f[7 + 3 * c] & 15;
        hmax = hs > hmax ? hs : hmax;
        vmax = vs > vmax ? vs : vmax;
    }
    uint64_t mcu_x = (w + 8 * (uint64_t)hmax - 1) / (8 * (uint64_t)hmax);
    uint64_t mcu_y = (h + 8 * (uint64_t)vmax - 1) / (8 * (uint64_t)vmax), blocks = 0;
    for (int c = 0; c < nc; c++)
        blocks += mcu_x * (uint64_t)(f[7 + 3 * c] >> 4) * mcu_y * (uint64_t)(f[7 + 3 * c] & 15);
    const uint64_t bytes = blocks * 64 * 2;
    /* libjpeg buffers the whole image when the first scan holds fewer components than the
     * frame (jdinput.c: has_multiple_scans), whatever follows in the file */
    const int first_scan_components = j[first_sos + 4];
    return bytes > cap && (progressive || first_scan_components < nc) ? bytes : 0;
}

/* A header whose one fault is libjpeg's JWRN_JFIF_MAJOR: a JFIF segment whose version is not
 * 1.x (0.00 and 2.01 occur in the wild; the version changes nothing the decoder does). Then a
 * copy of the file with that version set to 1.02 (malloc'd; NULL when the warning is another or
 * no such segment comes before the first scan), which decodes under the usual rule: any other
 * warning is corrupt data. TurboJPEG keeps the first warning's text only, so the copy is what
 * lets a later warning still stop the decode. */
static uint8_t *jfif_version_fixed(tjhandle tj, const uint8_t *jpeg, size_t len)
{
    const char *why = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || !why || !strstr(why, "unknown JFIF revision number"))
        return NULL;
    for (size_t i = 2; i + 4 <= len && jpeg[i] == 0xFF;) {
        const unsigned m = jpeg[i + 1];
        if (m == 0xDA || m == 0xD9) break; /* the first scan, or the end */
        const size_t seg = (size_t)jpeg[i + 2] << 8 | jpeg[i + 3];
        if (seg < 2 || i + 2 + seg > len) break;
        if (m == 0xE0 && seg >= 16 && memcmp(jpeg + i + 4, "JFIF", 5) == 0) {
            uint8_t *c = malloc(len);
            if (!c) return NULL;
            memcpy(c, jpeg, len);
            c[i + 9] = 1, c[i + 10] = 2;
            return c;
        }
        i += 2 + seg;
    }
    return NULL;
}

/* A decode stopped by libjpeg's JWRN_JPEG_EOF ("Premature end of JPEG file") of a file whose
 * whole image is one Huffman-coded scan (a baseline or extended sequential frame, SOF0/SOF1,
 * whose first scan holds all its components) and which does not end in the EOI marker: the one
 * case where the data can be complete (a writer that never wrote the last two bytes). Never
 * completed this way: a multi-scan file (cut between scans, it would decode short of its later
 * scans without a warning) and an arithmetic-coded one (libjpeg's arithmetic decoder reads a
 * marker inside the scan as zeros without a warning, so a cut file would pass). */
static int single_scan_without_eoi(tjhandle tj, const uint8_t *jpeg, size_t len,
                                   const jpeg_markers *mk)
{
    const char *why = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || !why || !strstr(why, "Premature end of JPEG file"))
        return 0;
    if (len < 2 || (jpeg[len - 2] == 0xFF && jpeg[len - 1] == 0xD9)) return 0;
    if (!mk->sof || !mk->first_sos || (mk->sof_marker != 0xC0 && mk->sof_marker != 0xC1)) return 0;
    if (mk->sof + 10 > len || mk->first_sos + 5 > len) return 0;
    return jpeg[mk->first_sos + 4] == jpeg[mk->sof + 9]; /* Ns of the scan == Nf of the frame */
}

cxr_status cxr_preprocess_jpeg(cxr_decoder *d, const cxr_preprocess_params *p, const uint8_t *jpeg,
                               size_t len, float *out)
{
    cxr_status st = CXR_OK;
    int w = 0, h = 0, subsamp = 0, cs = 0;
    uint8_t *fixed = NULL; /* jfif_version_fixed's copy, if one was made */
    memset(&d->info, 0, sizeof d->info);
    /* A fresh decompressor for every image. libjpeg keeps what one image defined for the next
     * (its Huffman and quantization tables, for abbreviated datastreams), so an image that
     * leaves one undefined decoded with the previous image's, or with the standard one on a
     * fresh object: its pixels, or whether it decoded at all, depended on what the thread had
     * decoded before (found by fuzz_jpeg's same-input oracle; a store was then not the same at
     * every thread count). And TurboJPEG 2.1 does not abort the libjpeg object when
     * tjDecompressHeader3 fails: the next header read would resume the half-parsed marker state
     * of a bad file ("Bogus marker length" on a good one). */
    if (d->tj) tjDestroy(d->tj);
    d->tj = tjInitDecompress();
    if (!d->tj)
        return cxr_set_error(CXR_E_NOMEM, "out of memory: cannot create a TurboJPEG decompressor");
    CXR_TRY(cxr_preprocess_check(p));
    if (len == 0) CXR_THROW(CXR_E_DECODE, "empty file");
    if (len > MAX_FILE_BYTES) CXR_THROW(CXR_E_DECODE, "JPEG of %zu bytes is too large", len);

    /* Header first: nothing is allocated for an image we are going to refuse (but a copy of
     * one whose only fault is its JFIF version: jfif_version_fixed). */
    if (tjDecompressHeader3(d->tj, jpeg, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        fixed = jfif_version_fixed(d->tj, jpeg, len);
        /* another format under a .jpg name (a PNG export, a DICOM): named, as its fix is a
         * conversion, not a repair */
        const char *kind = cxr_image_kind(jpeg, len);
        if (!fixed && kind && strcmp(kind, "a JPEG image") != 0)
            CXR_THROW(CXR_E_DECODE, "not a readable JPEG: %s (convert it to JPEG)", kind);
        /* said from the file's own bytes: libjpeg's "starts with 0x78 0xff" of a 1-byte file
         * shows its fill byte as the file's second */
        if (!fixed && len < 2)
            CXR_THROW(CXR_E_DECODE,
                      "not a readable JPEG: Not a JPEG file: 1 byte (0x%02x); a JPEG starts with "
                      "0xff 0xd8",
                      jpeg[0]);
        if (!fixed && (jpeg[0] != 0xFF || jpeg[1] != 0xD8))
            CXR_THROW(CXR_E_DECODE,
                      "not a readable JPEG: Not a JPEG file: starts with 0x%02x 0x%02x (a JPEG "
                      "with 0xff 0xd8)",
                      jpeg[0], jpeg[1]);
        if (!fixed ||
            tjDecompressHeader3(d->tj, fixed, (unsigned long)len, &w, &h, &subsamp, &cs) != 0)
            CXR_THROW(CXR_E_DECODE, "not a readable JPEG: %s", tjGetErrorStr2(d->tj));
        jpeg = fixed;
    }
    /* a file that ends (or has an EOI) before its frame header reads as "tables only": 0x0 */
    const jpeg_markers mk = read_markers(jpeg, len); /* also the CMYK inversion's, below */
    if ((w <= 0 || h <= 0) && !mk.sof)
        CXR_THROW(CXR_E_DECODE, "JPEG has no frame header (the file ends before the image is "
                                "declared: cut short, or tables only)");
    if (w <= 0 || h <= 0) CXR_THROW(CXR_E_DECODE, "JPEG declares an empty image (%dx%d)", w, h);
    if (w > p->max_side || h > p->max_side)
        CXR_THROW(CXR_E_DECODE, "image is %dx%d, larger than max_side %d", w, h, p->max_side);
    /* a progressive (or multi-scan) file is buffered whole as coefficients, whatever the DCT
     * scale: bounded per decoder, so that N threads of such files stay within N x the cap */
    const uint64_t coef = buffered_coef_over(jpeg, len, &mk, MAX_COEF_BYTES);
    if (!mk.first_sos) {
        /* TurboJPEG read the headers up to a scan, so a walk that found none has parted from
         * libjpeg's: fail closed, with the most any frame of this size could buffer (4
         * components at sampling factors up to 4, padded to whole MCUs) */
        const uint64_t most = 4 * ((uint64_t)(w + 7) / 8 + 4) * ((uint64_t)(h + 7) / 8 + 4) * 128;
        if (most > MAX_COEF_BYTES)
            CXR_THROW(CXR_E_DECODE,
                      "JPEG of %dx%d whose markers cxr cannot follow to its first scan: decoding "
                      "it might buffer up to %s%llu MiB of coefficients, over the %llu MiB limit",
                      w, h, most % 1048576 ? "more than " : "", (unsigned long long)(most >> 20),
                      (unsigned long long)(MAX_COEF_BYTES >> 20));
    }
    if (coef)
        CXR_THROW(CXR_E_DECODE,
                  "progressive or multi-scan JPEG of %dx%d: decoding it buffers %s%llu MiB of "
                  "coefficients, over the %llu MiB limit",
                  w, h, coef % 1048576 ? "more than " : "", (unsigned long long)(coef >> 20),
                  (unsigned long long)(MAX_COEF_BYTES >> 20));

    int crop = cxr_wants_crop(w, h, p->crop_ratio);
    int cw = w, ch = h;
    if (crop) cw = ch = (w < h ? w : h);
    tjscalingfactor f = choose_scale(cw, ch, p->size);
    int sw = TJSCALED(w, f), sh = TJSCALED(h, f);

    /* YCbCr and gray JPEGs decode straight to their luma channel; the others go through RGB. */
    int pf = TJPF_GRAY, ps = 1;
    if (cs == TJCS_RGB)
        pf = TJPF_RGB, ps = 3;
    else if (cs == TJCS_CMYK || cs == TJCS_YCCK)
        pf = TJPF_CMYK, ps = 4;
    else if (cs != TJCS_GRAY && cs != TJCS_YCbCr)
        CXR_THROW(CXR_E_DECODE, "unsupported JPEG colorspace %d", cs);

    size_t npix = (size_t)sw * (size_t)sh;
    GROW(pix, cap_pix, npix * ps, "decode");
    int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    int rc = tjDecompress2(d->tj, jpeg, (unsigned long)len, d->pix, sw, 0, sh, pf, flags);
    if (rc != 0 && single_scan_without_eoi(d->tj, jpeg, len, &mk)) {
        /* every scan is there and only the end marker is missing: the image is whole. Decoded
         * again with the marker appended, under the same rule: data cut inside the scan then
         * meets the marker early, which libjpeg reports as corrupt data */
        const int own = jpeg == fixed; /* already jfif_version_fixed's copy */
        uint8_t *c = own ? realloc(fixed, len + 2) : malloc(len + 2);
        if (!c) CXR_THROW(CXR_E_NOMEM, "out of memory: a copy of a JPEG of %zu bytes", len);
        if (!own) memcpy(c, jpeg, len);
        c[len] = 0xFF, c[len + 1] = 0xD9;
        jpeg = fixed = c;
        len += 2;
        rc = tjDecompress2(d->tj, jpeg, (unsigned long)len, d->pix, sw, 0, sh, pf, flags);
    }
    if (rc != 0) {
        const char *why = tjGetErrorStr2(d->tj);
        /* libjpeg's JERR_OUT_OF_MEMORY ("Insufficient memory (case N)"), TurboJPEG's own
         * allocation failures: the machine's fault, not the file's (cxr-pack stops, no skip) */
        if (why && (strstr(why, "Insufficient memory") || strstr(why, "Memory allocation failure")))
            CXR_THROW(CXR_E_NOMEM, "out of memory decoding (%s, %dx%d): %s", colorspace_name(cs), w,
                      h, why);
        if (tjGetErrorCode(d->tj) == TJERR_WARNING)
            CXR_THROW(CXR_E_DECODE, "corrupt JPEG data (%s JPEG, %dx%d): %s", colorspace_name(cs),
                      w, h, tjGetErrorStr2(d->tj));
        CXR_THROW(CXR_E_DECODE, "JPEG decode failed (%s, %dx%d): %s", colorspace_name(cs), w, h,
                  tjGetErrorStr2(d->tj));
    }

    const uint8_t *gray = d->pix;
    if (ps != 1) {
        GROW(gray, cap_gray, npix, "gray");
        if (ps == 4) {
            /* R = (255-C)(255-K)/255, likewise G, B (what PIL does). With an Adobe marker the
             * stored samples are 255-C, 255-K (inverted), so R = C'K'/255. */
            uint8_t *px = d->pix;
            unsigned inv = mk.adobe ? 0u : 255u;
            for (size_t i = 0; i < npix; i++) {
                unsigned k = inv ^ px[4 * i + 3];
                for (int c = 0; c < 3; c++)
                    px[3 * i + c] = (uint8_t)(((inv ^ px[4 * i + c]) * k + 127u) / 255u);
            }
        }
        cxr_rgb_to_gray(d->gray, d->pix, npix);
        gray = d->gray;
    }

    /* The region in scaled pixels, exactly: the whole image or the square of step 3, taken on
     * the full-size grid and scaled by m/n. A side that is not a multiple of n ends inside its
     * last scaled pixel (TJSCALED rounds up: 1026 at 1/4 is 256.5 pixels, decoded as 257);
     * resized as whole pixels, the image was stretched by up to n - 1 source pixels towards
     * its right and bottom edges. The window decoded pixels are read from is the region
     * rounded out to whole pixels. */
    const double fm = (double)f.num / (double)f.denom;
    int x0 = 0, y0 = 0, side = 0;
    double ox = 0.0, oy = 0.0, ex = (double)w * fm, ey = (double)h * fm;
    if (crop) {
        cxr_center_square(w, h, &x0, &y0, &side, &side);
        ox = (double)x0 * fm, oy = (double)y0 * fm;
        ex = ey = (double)side * fm;
    }
    x0 = (int)floor(ox), y0 = (int)floor(oy);
    cw = (int)ceil(ox + ex) - x0, ch = (int)ceil(oy + ey) - y0;
    if (cw > sw - x0) cw = sw - x0;
    if (ch > sh - y0) ch = sh - y0;
    ox -= x0, oy -= y0;

    size_t n = (size_t)p->size * (size_t)p->size;
    const uint8_t *win = gray + (size_t)y0 * sw + x0;
    if (cxr_window_constant(win, cw, ch, sw)) {
        /* exactly its value: the weights' float sums would leave it some ulps apart (77 +-
         * 8e-6, more the more taps), which min-max stretched to the whole of [-1, 1] */
        for (size_t i = 0; i < n; i++) out[i] = (float)win[0];
    } else {
        table_pair *t = NULL;
        CXR_TRY(tables_for(d, cw, ch, ox, oy, ex, ey, p->size, p->size, &t));
        GROW(tmp, cap_tmp, (size_t)p->size * (size_t)cw * sizeof(float), "resize");
        cxr_resize_tables(out, win, cw, sw, &t->x, &t->y, d->tmp);
    }

    if (p->equalize == CXR_EQUALIZE_GLOBAL && p->normalize != CXR_NORM_ZSCORE255) {
        GROW(bins, cap_bins, n, "equalize");
        cxr_equalize_normalize(out, d->bins, n, p->normalize);
    } else {
        if (p->equalize == CXR_EQUALIZE_GLOBAL) cxr_equalize(out, n);
        if (p->equalize == CXR_EQUALIZE_CLAHE)
            cxr_clahe(out, p->size, p->size, CXR_CLAHE_TILES, p->clahe_clip);
        cxr_normalize(out, n, p->normalize);
    }

    d->info.width = w;
    d->info.height = h;
    d->info.colorspace = cs;
    d->info.scale_num = f.num;
    d->info.scale_denom = f.denom;
    d->info.scaled_width = sw;
    d->info.scaled_height = sh;
    d->info.crop_x = x0;
    d->info.crop_y = y0;
    d->info.crop_w = cw;
    d->info.crop_h = ch;
bail:
    free(fixed);
    return st;
}

/* Read the whole file into d->file (normally with one read()); *len gets its size. The reasons
 * are cxr-pack's skip reasons, recorded in stores: keep their wording. */
static cxr_status read_file(cxr_decoder *d, const char *path, size_t *len)
{
    cxr_status st = CXR_OK;
    struct stat sb;
    /* O_NONBLOCK: a FIFO in place of a file must not hang the reader; fstat refuses it below */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) /* out of descriptors or memory: the run stops, the file is not skipped */
        return cxr_set_error(cxr_open_status(errno), "cannot open: %s%s", strerror(errno),
                             cxr_open_note(errno));
    if (fstat(fd, &sb) != 0) CXR_THROW(CXR_E_IO, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode)) CXR_THROW(CXR_E_IO, "not a regular file");
    if (sb.st_size == 0) CXR_THROW(CXR_E_DECODE, "empty file");
    if ((uint64_t)sb.st_size > CXR_JPEG_MAX_FILE)
        CXR_THROW(CXR_E_DECODE, "file larger than %u MiB", CXR_JPEG_MAX_FILE >> 20);
    size_t want = (size_t)sb.st_size, got = 0;
    void *g = grow(d->file, &d->cap_file, want);
    if (!g) CXR_THROW(CXR_E_NOMEM, "out of memory reading %zu bytes", want);
    d->file = g;
    while (got < want) {
        ssize_t r = read(fd, d->file + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) CXR_THROW(CXR_E_IO, "read failed: %s", strerror(errno));
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got != want) CXR_THROW(CXR_E_DECODE, "short read (%zu of %zu bytes)", got, want);
    *len = got;
bail:
    close(fd);
    return st;
}

const uint8_t *cxr_decoder_file(const cxr_decoder *d) { return d->file; }

cxr_status cxr_decode_file(cxr_decoder *d, const cxr_preprocess_params *p, const char *path,
                           float *out, uint64_t *bytes)
{
    size_t len = 0;
    cxr_status st = read_file(d, path, &len);
    if (bytes) *bytes = len;
    if (st == CXR_OK) st = cxr_preprocess_jpeg(d, p, d->file, len, out);
    return st;
}

cxr_status cxr_preprocess_file(cxr_decoder *d, const cxr_preprocess_params *p, const char *path,
                               float *out)
{
    cxr_status st = cxr_decode_file(d, p, path, out, NULL);
    if (st != CXR_OK) return cxr_wrap_error(st, "%s", path);
    return CXR_OK;
}
