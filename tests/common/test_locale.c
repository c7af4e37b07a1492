/* test_locale.c FIXTURE_LOG: the library inside a host process that set a locale whose decimal
 * separator is a comma (setlocale(LC_ALL, "de_DE.UTF-8"), as a C program calling setlocale(LC_ALL,
 * "") or Python's locale.setlocale does). Every number cxr writes keeps its '.', every number it
 * reads is read with one, and the host's own formatting stays its locale's. Before the fix an
 * augmentation spec did not parse (so a checkpoint of the default recipe could not be read), and
 * the CSV rows, the monitor's JSON lines, the ONNX metadata and the report's SVG got commas.
 * Run by with_locale.sh, which makes the locale (localedef into LOCPATH). */
#define _GNU_SOURCE /* memmem */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_augment.h"
#include "cxr_backend_cpu.h"
#include "cxr_checkpoint.h"
#include "cxr_monitor.h"
#include "cxr_onnx.h"
#include "cxr_parse.h"
#include "cxr_report.h"
#include "cxr_table.h"
#include "cxr_test.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 22);
    size_t n = buf ? fread(buf, 1, (1 << 22) - 1, f) : 0;
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

/* 1 when the host's own formatting is still the comma locale's */
static int host_locale_kept(void)
{
    char b[16];
    snprintf(b, sizeof b, "%.1f", 0.5);
    return strcmp(b, "0,5") == 0;
}

/* DIGITS.DDD followed by a comma: the monitor's time stamp, %.3f */
static int t_is_json(const char *q)
{
    const char *d = q;
    while (*q >= '0' && *q <= '9') q++;
    if (q == d || *q++ != '.') return 0;
    for (int i = 0; i < 3; i++, q++)
        if (*q < '0' || *q > '9') return 0;
    return *q == ',';
}

/* every point of every SVG polyline has one comma, between its x and y */
static int svg_points_ok(const char *html, int *n_points)
{
    *n_points = 0;
    for (const char *p = strstr(html, "points=\""); p; p = strstr(p, "points=\"")) {
        p += 8;
        const char *end = strchr(p, '"');
        if (!end) return 0;
        while (p < end) {
            const char *sp = memchr(p, ' ', (size_t)(end - p));
            const char *q = sp ? sp : end;
            int commas = 0;
            for (const char *c = p; c < q; c++) commas += *c == ',';
            if (q > p && commas != 1) return 0;
            if (q > p) (*n_points)++;
            p = q + 1;
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    if (!setlocale(LC_ALL, "de_DE.UTF-8")) {
        fprintf(stderr, "de_DE.UTF-8 cannot be set (run by with_locale.sh, which makes it; the "
                        "locales package: scripts/install-deps.sh)\n");
        return 1;
    }
    REQUIRE(host_locale_kept()); /* else nothing below would be tested */
    char dir[] = "/tmp/cxr-locale-test.XXXXXX", path[128];
    REQUIRE(mkdtemp(dir));

    /* option values and their formatting */
    double v = 0;
    CHECK(cxr_parse_double("0.5", "--x", 0, 1, 0, &v) == CXR_OK);
    CHECK(v == 0.5);
    CHECK(cxr_parse_double("0,5", "--x", 0, 1, 0, &v) == CXR_E_ARG); /* one syntax everywhere */
    char buf[64];
    CHECK(!strcmp(cxr_format_double(buf, sizeof buf, 0.25), "0.25"));

    /* augmentation specs: parsed, formatted, and read back */
    cxr_augment_params a, b;
    CHECK(cxr_augment_parse("rotate=5,scale=0.95:1.05", &a) == CXR_OK);
    CHECK(a.scale_min == 0.95f && a.scale_max == 1.05f && a.rotate_deg == 5.0f);
    cxr_augment_params_default(&a);
    char spec[320];
    cxr_augment_format(&a, spec, sizeof spec);
    CHECK(strstr(spec, "scale=0.9:1.1") != NULL);
    CHECK(cxr_augment_parse(spec, &b) == CXR_OK);
    CHECK(!memcmp(&a, &b, sizeof a));
    CHECK(cxr_augment_check_normal("rotate=0.5") == CXR_OK);
    CHECK(cxr_augment_check_normal("rotate=1e-39") == CXR_E_ARG);

    /* a CSV table's numbers */
    snprintf(path, sizeof path, "%s/t.csv", dir);
    const char *cols[] = { "p" };
    cxr_table *t = NULL;
    CHECK_OK(cxr_table_open(&t, path, CXR_TABLE_CSV, cols, 1));
    cxr_table_num(t, 0.5);
    cxr_table_end_row(t);
    cxr_table_num_exact(t, 0.125);
    cxr_table_end_row(t);
    CHECK_OK(cxr_table_close(t));
    char *csv = slurp(path);
    CHECK(csv && strstr(csv, "\n0.5\n0.125\n"));
    free(csv);

    /* the monitor's samples: its own thread formats them */
    snprintf(path, sizeof path, "%s/mon.jsonl", dir);
    cxr_monitor *m = NULL;
    CHECK_OK(cxr_monitor_create_ex(&m, 0.01, path, -1, "no-such-nvml.so"));
    cxr_monitor_sample_now(m);
    usleep(50000);
    CHECK_OK(cxr_monitor_stop(m));
    cxr_monitor_destroy(m);
    char *mon = slurp(path);
    CHECK(mon && strstr(mon, "{\"t\":"));
    for (const char *p = mon; p && (p = strstr(p, "\"t\":")); p += 4)
        CHECK(t_is_json(p + 4)); /* "t":0.012, not "t":0,012, */
    free(mon);

    /* a checkpoint of the default augmentation, and its ONNX export's threshold */
    cxr_backend *be = NULL;
    CHECK_OK(cxr_backend_cpu_create(&be, 1));
    cxr_model_config cfg;
    cxr_model_config_defaults(&cfg, 2);
    cfg.image_size = 16;
    cfg.channels[0] = 2, cfg.channels[1] = 2, cfg.channels[2] = 2, cfg.channels[3] = 2;
    cfg.dense[0] = 4, cfg.dense[1] = 4;
    cfg.batch_capacity = 2;
    cxr_model *model = NULL;
    CHECK_OK(cxr_model_create(&model, &cfg, be));
    static char n0[] = "NORMAL", n1[] = "PNEUMONIA";
    static char *names[2] = { n0, n1 };
    cxr_checkpoint_meta meta, got;
    memset(&meta, 0, sizeof meta);
    meta.model = cfg;
    cxr_adam_defaults(&meta.adam);
    meta.epochs = 1;
    meta.batch = 2;
    meta.threads = 1;
    meta.seed = 1;
    meta.threshold = 0.4375;
    cxr_preprocess_defaults(&meta.pp);
    meta.pp.size = 16;
    meta.n_classes = 2;
    meta.class_names = names;
    snprintf(meta.augment, sizeof meta.augment, "%s", spec);
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    CHECK_OK(cxr_checkpoint_save(path, model, &meta));
    if (cxr_checkpoint_read_meta(path, &got) == CXR_OK) {
        CHECK(!strcmp(got.augment, spec) && got.threshold == 0.4375);
        cxr_checkpoint_meta_free(&got);
    } else {
        fprintf(stderr, "checkpoint not read back: %s\n", cxr_last_error());
        CHECK(0);
    }
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    CHECK(cxr_onnx_write(path, model, &meta) == CXR_OK);
    FILE *f = fopen(path, "rb");
    char *onnx = calloc(1, 1 << 20);
    size_t n = f && onnx ? fread(onnx, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    CHECK(n > 0 && memmem(onnx, n, "0.4375", 6) && !memmem(onnx, n, "0,4375", 6));
    free(onnx);
    cxr_model_destroy(model);
    cxr_backend_destroy(be);

    /* the HTML report: its SVG coordinates and number cells */
    cxr_log_run *run = NULL;
    CHECK_OK(cxr_log_read(argv[1], NULL, NULL, &run));
    snprintf(path, sizeof path, "%s/r.html", dir);
    if (run) CHECK_OK(cxr_report_write_html(path, &run, 1, NULL, 0));
    cxr_log_run_free(run);
    char *html = slurp(path);
    int n_points = 0;
    CHECK(html && svg_points_ok(html, &n_points) && n_points > 10);
    free(html);

    CHECK(host_locale_kept()); /* the host's locale untouched by all of it */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    TEST_END();
}
