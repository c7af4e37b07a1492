/* jpeg_make: test helper for tests/pack (test_dups.py, test_cmyk.py): makes JPEGs with
 * libjpeg(-turbo)'s own API, so no binary test file is kept in the repository.
 *
 *   jpeg_make reencode IN OUT QUALITY   decode IN (gray or RGB, as stored) and encode it again
 *                                       at QUALITY (4:4:4): other bytes, slightly other pixels
 *   jpeg_make cmyk DIR                  write 256x256 images of 16x16 flat blocks, 16 gray levels
 *                                       0, 17, ..., 255, in four encodings, all at quality 100:
 *       gray.jpg          1-channel grayscale
 *       cmyk_adobe.jpg    CMYK colorspace, Adobe APP14 marker, inverted samples (Photoshop)
 *       ycck_adobe.jpg    the same samples compressed as YCCK (jpeg_set_colorspace(JCS_YCCK))
 *       cmyk_plain.jpg    CMYK without the Adobe marker, plain samples (C = 0: no ink)
 *   (No YCCK without the marker: only the marker's transform flag marks a file as YCCK.)
 *   jpeg_make progressive W H OUT       a W x H grayscale gradient, progressive (a decoder
 *                                       buffers all its coefficients: 2 bytes a pixel)
 *   Every block is 8x8-aligned and flat, so a quality-100 JPEG (quantizer 1) stores its DC
 *   exactly and each file decodes to exactly the gray levels of gray.jpg if the decoder applies
 *   the right convention: with the marker, R = round(C' K' / 255) of the stored C', K'; without,
 *   R = round((255 - C)(255 - K) / 255). The gray level of a block is split between the CMY
 *   and K samples in three ways (all K, all CMY, half and half) so both channels matter.
 * Exit 0 ok, 1 error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <turbojpeg.h>

#define SIDE 256
#define BLK  16

static int progressive; /* write_jpeg: a progressive file (jpeg_simple_progression) */

static int write_jpeg(const char *path, const unsigned char *pix, int w, int h, int comps,
                      J_COLOR_SPACE in, J_COLOR_SPACE out, int adobe, int quality)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 0;
    }
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = in;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, out);
    jpeg_set_quality(&ci, quality, TRUE);
    for (int c = 0; c < ci.num_components; c++)
        ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
    ci.write_Adobe_marker = adobe ? TRUE : FALSE; /* set_colorspace turned it on for CMYK/YCCK */
    if (progressive) jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)ci.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return fclose(f) == 0;
}

/* Stored (inverted, Adobe) samples c, k with round(c * k / 255) == g. */
static void split_level(int g, int variant, int *c, int *k)
{
    *c = g;
    *k = 255; /* all in CMY */
    if (variant == 1) {
        *c = 255;
        *k = g; /* all in K */
    } else if (variant == 2) {
        int kk = (255 + g + 1) / 2, cc = (g * 255 + kk / 2) / kk;
        if (cc <= 255 && (cc * kk + 127) / 255 == g) {
            *c = cc;
            *k = kk;
        }
    }
}

static int make_cmyk(const char *dir)
{
    static unsigned char gray[SIDE * SIDE], inv[SIDE * SIDE * 4], plain[SIDE * SIDE * 4];
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int bx = x / BLK, by = y / BLK, g = ((bx * 5 + by * 3) % 16) * 17, c, k;
            split_level(g, (bx + by) % 3, &c, &k);
            size_t i = (size_t)y * SIDE + (size_t)x;
            gray[i] = (unsigned char)g;
            for (int ch = 0; ch < 4; ch++) {
                int v = ch < 3 ? c : k;
                inv[4 * i + ch] = (unsigned char)v;
                plain[4 * i + ch] = (unsigned char)(255 - v);
            }
        }
    char p[4096];
    struct {
        const char *name;
        const unsigned char *pix;
        J_COLOR_SPACE out;
        int adobe;
    } f[] = { { "cmyk_adobe.jpg", inv, JCS_CMYK, 1 },
              { "ycck_adobe.jpg", inv, JCS_YCCK, 1 },
              { "cmyk_plain.jpg", plain, JCS_CMYK, 0 } };
    snprintf(p, sizeof p, "%s/gray.jpg", dir);
    if (!write_jpeg(p, gray, SIDE, SIDE, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 0, 100)) return 1;
    for (size_t j = 0; j < sizeof f / sizeof f[0]; j++) {
        snprintf(p, sizeof p, "%s/%s", dir, f[j].name);
        if (!write_jpeg(p, f[j].pix, SIDE, SIDE, 4, JCS_CMYK, f[j].out, f[j].adobe, 100)) return 1;
    }
    return 0;
}

static int reencode(const char *in, const char *out, int quality)
{
    FILE *f = fopen(in, "rb");
    if (!f) {
        perror(in);
        return 1;
    }
    static unsigned char buf[64 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tjhandle tj = tjInitDecompress();
    int w, h, sub, cs;
    if (!tj || tjDecompressHeader3(tj, buf, (unsigned long)n, &w, &h, &sub, &cs) != 0) {
        fprintf(stderr, "jpeg_make: %s: %s\n", in, tjGetErrorStr2(tj));
        return 1;
    }
    int gray = cs == TJCS_GRAY, comps = gray ? 1 : 3;
    unsigned char *pix = malloc((size_t)w * (size_t)h * (size_t)comps);
    if (!pix || tjDecompress2(tj, buf, (unsigned long)n, pix, w, 0, h, gray ? TJPF_GRAY : TJPF_RGB,
                              0) != 0) {
        fprintf(stderr, "jpeg_make: %s: %s\n", in, tjGetErrorStr2(tj));
        return 1;
    }
    tjDestroy(tj);
    int ok = write_jpeg(out, pix, w, h, comps, gray ? JCS_GRAYSCALE : JCS_RGB,
                        gray ? JCS_GRAYSCALE : JCS_YCbCr, 0, quality);
    free(pix);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "reencode") == 0)
        return reencode(argv[2], argv[3], atoi(argv[4]));
    if (argc == 3 && strcmp(argv[1], "cmyk") == 0) return make_cmyk(argv[2]);
    if (argc == 5 && strcmp(argv[1], "progressive") == 0) {
        const int w = atoi(argv[2]), h = atoi(argv[3]);
        unsigned char *pix = w > 0 && h > 0 ? malloc((size_t)w * (size_t)h) : NULL;
        if (!pix) return 1;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) pix[(size_t)y * w + x] = (unsigned char)((x + y) & 255);
        progressive = 1;
        const int ok = write_jpeg(argv[4], pix, w, h, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 0, 90);
        free(pix);
        return ok ? 0 : 1;
    }
    fprintf(stderr, "usage: jpeg_make reencode IN OUT QUALITY | jpeg_make cmyk DIR | "
                    "jpeg_make progressive W H OUT\n");
    return 2;
}
