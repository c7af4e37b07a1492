/* fixture.h: a small landmark-style dataset written by the manifest tests themselves:
 * DIR/manifest.csv (header permuted, CRLF and LF lines, quoted fields with commas and doubled
 * quotes, "None" and empty values, a duplicate id, a bad id, a malformed line of each kind) and
 * DIR/images/ with gray JPEGs made by tjCompress2 in both layouts (DIR/images/<id>.jpg and
 * DIR/images/<a>/<b>/<c>/<id>.jpg), some non-square, two of them absent on purpose.
 *
 * Expected numbers, derived from the rows below (asserted by the tests):
 *   33 data rows; malformed 2 (lines 24 and 25); missing 4; bad id 1; duplicate 1;
 *   image not found 2; other class 5 (labels 100 and abc); planned 18 with --top-classes 3:
 *   classes "7" (7 images), "5" (6), "42" (5) -- 5 before 42 because ties go by numeric id.
 */
#ifndef CXR_MANIFEST_FIXTURE_H
#define CXR_MANIFEST_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

/* One manifest line each (without line end); header is line 1. */
static const char *const fixture_lines[] = {
    "landmark_id,id,url",                          /* 1 header, permuted */
    "7,a7000,http://h/a7000.jpg",                  /* 2 */
    "7,a7001,http://h/a7001.jpg",                  /* 3 */
    "7,a7002,\"http://h/q?x=1,y=2\"",              /* 4 quoted comma */
    "7,a7003,http://h/a7003.jpg",                  /* 5 */
    "7,a7004,http://h/a7004.jpg",                  /* 6 */
    "7,a7005,http://h/a7005.jpg",                  /* 7 */
    "7,a7006,http://h/a7006.jpg",                  /* 8 */
    "7,a7007,http://h/a7007.jpg",                  /* 9 image absent */
    "7,a7001,http://h/dup.jpg",                    /* 10 duplicate id */
    "7,../etc,http://h/x.jpg",                     /* 11 bad id */
    "7,,http://h/noid.jpg",                        /* 12 missing id */
    "5,b5000,http://h/b5000.jpg",                  /* 13 nested layout */
    "5,b5001,http://h/b5001.jpg",                  /* 14 */
    "5,b5002,http://h/b5002.jpg",                  /* 15 */
    "5,\"b5003\",\"http://h/say \"\"hi\"\".jpg\"", /* 16 quoted id, doubled quotes */
    "\"5\",b5004,http://h/b5004.jpg",              /* 17 */
    "5,b5005,http://h/b5005.jpg",                  /* 18 */
    "42,c4200,http://h/c4200.jpg",                 /* 19 */
    "42,c4201,http://h/c4201.jpg",                 /* 20 */
    "42,c4202,http://h/c4202.jpg",                 /* 21 */
    "42,c4203,http://h/c4203.jpg",                 /* 22 image absent */
    "42,c4204,http://h/c4204.jpg",                 /* 23 */
    "42,c4205,http://h/c4205.jpg,extra",           /* 24 malformed: 4 fields */
    "42,c4206,\"http://h/open.jpg",                /* 25 malformed: unterminated quote */
    "None,n0001,None",                             /* 26 missing url and label */
    "None,n0002,None",                             /* 27 */
    ",n0003,http://h/n0003.jpg",                   /* 28 empty label */
    "42,c4207,http://h/c4207.jpg",                 /* 29 */
    "100,d1000,http://h/d1000.jpg",                /* 30 other class */
    "100,d1001,http://h/d1001.jpg",                /* 31 */
    "100,d1002,http://h/d1002.jpg",                /* 32 */
    "abc,e0001,http://h/e0001.jpg",                /* 33 */
    "abc,e0002,http://h/e0002.jpg",                /* 34 */
};
#define FIXTURE_LINES ((int)(sizeof fixture_lines / sizeof *fixture_lines))

/* ids written as images, and how: 0 flat, 1 nested; w x h */
typedef struct {
    const char *id;
    int nested, w, h, cls; /* cls: 0 "7", 1 "5", 2 "42", 3 other */
} fixture_image;

static const fixture_image fixture_images[] = {
    { "a7000", 0, 48, 32, 0 },
    { "a7001", 0, 32, 32, 0 },
    { "a7002", 1, 32, 48, 0 },
    { "a7003", 0, 40, 32, 0 },
    { "a7004", 0, 32, 32, 0 },
    { "a7005", 1, 64, 32, 0 },
    { "a7006", 0, 32, 32, 0 },
    { "b5000", 1, 32, 32, 1 },
    { "b5001", 1, 48, 32, 1 },
    { "b5002", 1, 32, 32, 1 },
    { "b5003", 1, 32, 40, 1 },
    { "b5004", 1, 32, 32, 1 },
    { "b5005", 0, 32, 32, 1 },
    { "c4200", 0, 32, 32, 2 },
    { "c4201", 0, 32, 48, 2 },
    { "c4202", 1, 32, 32, 2 },
    { "c4204", 0, 48, 32, 2 },
    { "c4207", 0, 32, 32, 2 },
    { "d1000", 0, 32, 32, 3 },
    { "d1001", 0, 32, 32, 3 },
    { "d1002", 0, 32, 32, 3 },
    { "e0001", 0, 32, 32, 3 },
    { "e0002", 0, 32, 32, 3 },
    { "n0001", 0, 32, 32, 3 }, /* present but its row is missing url/label */
};
#define FIXTURE_IMAGES ((int)(sizeof fixture_images / sizeof *fixture_images))

static int fixture_mkdir(const char *p) { return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -1; }

/* A gray JPEG whose pattern depends on the class (stripes of a class-dependent period). */
static int fixture_jpeg(const char *path, int w, int h, int cls, int seed)
{
    unsigned char *px = malloc((size_t)w * (size_t)h);
    if (!px) return -1;
    int period = 4 + 4 * cls;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[y * w + x] = (unsigned char)((((x + y * (cls == 1)) / period) % 2) * 160 + 40 +
                                            (x * 7 + y * 13 + seed * 31) % 23);
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long len = 0;
    int rc = tj ? tjCompress2(tj, px, w, 0, h, TJPF_GRAY, &jpg, &len, TJSAMP_GRAY, 90, 0) : -1;
    free(px);
    if (tj) tjDestroy(tj);
    if (rc != 0) return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(jpg, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    tjFree(jpg);
    return ok ? 0 : -1;
}

/* Write the fixture under dir (which must exist). Line ends alternate LF / CRLF. 0 on success. */
static int fixture_write(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/manifest.csv", dir);
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    for (int i = 0; i < FIXTURE_LINES; i++)
        fprintf(f, "%s%s", fixture_lines[i], i % 2 ? "\r\n" : "\n");
    if (fclose(f) != 0) return -1;
    snprintf(p, sizeof p, "%s/images", dir);
    if (fixture_mkdir(p)) return -1;
    for (int i = 0; i < FIXTURE_IMAGES; i++) {
        const fixture_image *im = &fixture_images[i];
        if (im->nested) {
            const char *d = im->id;
            snprintf(p, sizeof p, "%s/images/%c", dir, d[0]);
            if (fixture_mkdir(p)) return -1;
            snprintf(p, sizeof p, "%s/images/%c/%c", dir, d[0], d[1]);
            if (fixture_mkdir(p)) return -1;
            snprintf(p, sizeof p, "%s/images/%c/%c/%c", dir, d[0], d[1], d[2]);
            if (fixture_mkdir(p)) return -1;
            snprintf(p, sizeof p, "%s/images/%c/%c/%c/%s.jpg", dir, im->id[0], im->id[1], im->id[2],
                     im->id);
        } else {
            snprintf(p, sizeof p, "%s/images/%s.jpg", dir, im->id);
        }
        if (fixture_jpeg(p, im->w, im->h, im->cls, i)) return -1;
    }
    return 0;
}
#endif
