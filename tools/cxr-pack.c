/* cxr-pack: pack a folder of chest X-ray JPEGs (SRC/{train,val,test}/<class>/<files>) into a
 * cxr HDF5 store (specs/store.md). A thin main over cxr_pack.h: parse options, scan the tree,
 * install SIGINT/SIGTERM/SIGHUP handlers, run the pipeline, print progress and a summary. */
#include <getopt.h>
#include <malloc.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxr_signals.h"
#include "cxr_clock.h"
#include "cxr_parse.h"
#include "cxr_files.h"
#include "cxr_pack.h"
#include "cxr_tmpfile.h"
#include "pack_manifest.h" /* --manifest mode: options, plan, summary line */

#define USAGE "usage: cxr-pack SRC_DIR -o STORE.h5 [options]"

static void usage(FILE *f)
{
    fprintf(
        f,
        USAGE
        "\n"
        "\n"
        "Pack SRC_DIR/{train,val,test}/<class>/*.jpg into an HDF5 store (specs/store.md): each "
        "image\n"
        "is decoded, converted to gray, resized to SIZE x SIZE (antialiased), equalized (CLAHE "
        "unless\n"
        "--equalize says otherwise), scaled to [-1,1] and stored as float32 in chunks of SHARD "
        "images\n"
        "(shuffle + zstd + Fletcher32).\n"
        "\n"
        "Input layout: train/ and test/ are required, val/ is optional (if there, a folder).\n"
        "Classes are the sorted union of the class folder names (of two, the second is the\n"
        "positive class of cxr-eval's binary metrics) but those without a .jpg/.jpeg file in\n"
        "any split (skipped, each folder named); files are taken in bytewise name order.\n"
        "Hidden files (leading '.'), Thumbs.db and desktop.ini are ignored silently\n"
        "(symlinks are followed). Inputs are files ending in .jpg or .jpeg (any case); any\n"
        "other entry of a class folder is skipped with its reason (\"not a .jpg/.jpeg file\",\n"
        "a folder: not searched, a dangling link, a FIFO). Inputs that cannot be read or\n"
        "decoded (empty, truncated, corrupt, larger than 64 MiB, a side above 16384) are\n"
        "skipped too. The first 100 skips print \"cxr-pack: skip <path>: <reason>\", the rest\n"
        "are counted by reason (dropped duplicates by their kept copy's split and kind);\n"
        "every one is recorded in the store (/skipped).\n"
        "\n"
        "Options:\n"
        "  -o, --output FILE     the store to write (required). Written to a temporary file beside "
        "it\n"
        "                        and renamed into place on success; on failure or interruption\n"
        "                        nothing is left and an existing FILE is untouched.\n"
        "  --threads N           worker threads (default: OMP_NUM_THREADS if set, else the cores\n"
        "                        available to the process)\n"
        "  --shard N             images per chunk (default 64)\n"
        "  --level N             zstd level, -7..22 (default %d, a fast level: on a real shard it\n"
        "                        encodes 2x and decodes 2.2x faster than level 1). What a\n"
        "                        higher level saves depends on the equalization: with CLAHE\n"
        "                        (the default) level 1's store is ~4%% smaller than -5's, -3's\n"
        "                        ~1.5%% smaller than -5's, level 3's no smaller than 1's; with\n"
        "                        --equalize global the three are ~12%%, ~3%% and ~6%% (level 3\n"
        "                        at twice 1's time)\n"
        "  --size N              output side in pixels, 8 to 4096 (default 256; at least 16 with\n"
        "                        CLAHE; cxr-train needs a multiple of 8, of 8K with\n"
        "                        --input-pool K)\n"
        "  --strict              the first skipped input is fatal (exit 3, no output); without\n"
        "                        it, a source whose every input is skipped is (exit 3, no output)\n"
        "  --val-fraction F      carve a val split out of train, 0 <= F < 1 (0: none), by patient\n"
        "                        (personN_* -> personN, IM-XXXX-YYYY -> IM-XXXX,\n"
        "                        NORMAL2-IM-XXXX-YYYY -> NORMAL2-IM-XXXX, else the file stem) and\n"
        "                        stratified per class: patients in FNV-1a order of their id until\n"
        "                        round(F x class images) are taken. No patient is in both splits.\n"
        "                        An error if SRC_DIR has a val/ folder.\n"
        "  --window N            shards decoded per round (default: threads, at most 6; never\n"
        "                        more than the largest split's shards, nor more than the memory\n"
        "                        free holds: a large --shard lowers it, or is refused). Memory is\n"
        "                        about 2(N+1) x SHARD x SIZE^2 x 4 bytes of images plus as many\n"
        "                        compressed chunks plus, per thread, one input file and the "
        "decoder's\n"
        "                        buffers (peak RSS about 200 MB with 2 threads and the defaults),\n"
        "                        plus about 350 bytes per image for the list of names and labels\n"
        "                        (a million images: 350 MB more; names are stored at the width\n"
        "                        of the split's longest, so one long name adds its length per\n"
        "                        image when a split is written). The output never depends on\n"
        "                        --threads or --window.\n"
        "  -q, --quiet           no progress or per-split lines (skips and errors still print;\n"
        "                        past the first 100 skips, their count; so do the duplicates\n"
        "                        line when there are duplicates, and the summary table on\n"
        "                        stdout)\n"
        "  --duplicates-report F  write every group of duplicate images as TSV: pixel_hash,\n"
        "                        file_hash, split, path, status (packed|dropped), class.\n"
        "                        Duplicates are inputs with identical bytes (file_hash) or\n"
        "                        identical preprocessed images (pixel_hash: e.g. metadata\n"
        "                        changed; a re-encode at another quality is not found); every\n"
        "                        image's hashes are stored and the counts, within and across\n"
        "                        splits and of images under two classes, go to stderr and the\n"
        "                        store\n"
        "  --drop-duplicates     pack one copy of each group: the one in test, else in val, else\n"
        "                        in train, the first in plan order within a split (sorted paths;\n"
        "                        with --manifest, id-hash order; test is never changed); the\n"
        "                        others are recorded as skipped. Decodes\n"
        "                        val and test twice\n"
        "  --no-duplicate-check  no hashes, no duplicate check\n"
        "  -h, --help            this help;  --version  the version\n"
        "\n"
        "Output: a progress bar on a terminal (else one line per split, and within a split one\n"
        "a minute) on stderr, and a summary on\n"
        "stdout: images per split and class, skips, bytes written, compression ratio (float32 "
        "bytes /\n"
        "stored chunk bytes), throughput. The store records the tool version and, as "
        "\"command_line\",\n"
        "the options that determine its content (source, --shard, --level, --size, --strict,\n"
        "--val-fraction, --equalize, --clahe-clip with CLAHE, and --crop-ratio, --normalize,\n"
        "--drop-duplicates, --no-duplicate-check when given):\n"
        "not -o, --threads or --window, so stores are byte-identical across them.\n"
        "\n"
        "Exit codes: 0 ok; 2 usage error (bad option, SRC_DIR not a directory, val/ together with\n"
        "--val-fraction); 3 bad input data (missing train/ or test/, no class folders, a skip "
        "under\n"
        "--strict); 4 I/O error (read, write, rename; a missing --manifest, as the other\n"
        "tools' missing inputs); 130 interrupted (SIGINT/SIGTERM/SIGHUP: the run stops\n"
        "at the next image, the temporary file is removed; one left by a killed run,\n"
        ".STORE.cxr-tmp-PID-..., is removed by a later run that writes STORE once it is 15\n"
        "minutes unwritten, and said by one that finds it younger); 1 other errors\n"
        "(out of memory, also while reading an input: the input is not skipped, the run stops).\n",
        CXR_STORE_ZSTD_LEVEL);
    fputs(pack_manifest_help(), f);
}

/* --manifest FILE --explore: print the manifest's statistics and pack nothing. */
static int explore_main(const char *manifest, int strict)
{
    cxr_manifest_stats s;
    char *text = NULL;
    cxr_status st = cxr_manifest_explore(&s, manifest, strict);
    if (st == CXR_OK) st = cxr_manifest_explore_format(&s, &text);
    const int labelled = st == CXR_OK && s.has_label;
    cxr_manifest_stats_free(&s);
    if (st != CXR_OK) {
        cxr_print_error("cxr-pack", cxr_last_error());
        return cxr_exit_code(st);
    }
    fputs(text, stdout);
    free(text);
    if (labelled) /* a pack's counts are lower where the CSV alone cannot tell: said */
        fprintf(stderr, "cxr-pack: note: the counts are of usable rows (an id, a url and a label "
                        "of at most 4096 bytes); "
                        "a pack also skips rows of a bad or repeated id and rows whose image is "
                        "not found, and its summary counts what it packed\n");
    if ((st = cxr_stdout_close()) != CXR_OK) {
        cxr_print_error("cxr-pack", cxr_last_error());
        return cxr_exit_code(st);
    }
    return 0;
}

typedef struct {
    int tty, quiet;
    double last_draw; /* off a terminal: the last line's time (the start, before any) */
    double every_s;   /* off a terminal: a line within a split at most this often (60) */
    const cxr_pack_plan *plan;
    int64_t listed_skips;  /* skipped as the plan was made (not a .jpg, --strict's stray files):
                              not among the inputs that the progress lines count */
    int64_t listed_seen;   /* of them, reported so far (the pack reports them first, and counts
                              them in its progress's skipped from then on) */
    int64_t skips_before;  /* the inputs' skips of the splits done before this one */
    int64_t skips_unnamed; /* skips past the first SKIPS_NAMED */
    int skips_named;
    struct {
        char reason[160], example[160]; /* escaped */
        int64_t n;
    } by_reason[16]; /* the unnamed skips' first distinct reasons */
    int n_reasons;
} ui_state;

/* Skips named on stderr, one line each; past them a count per reason (a manifest can miss
 * thousands of images; the store's /skipped holds every one with its reason). */
enum { SKIPS_NAMED = 100 };

/* The reason a skip is counted under: a dropped duplicate's names the copy kept ("duplicate of
 * test/A/x.jpg in test (identical file)"), one reason per kept copy, so it counts by the kept
 * copy's split and kind alone; else a set of many distinct images filled the table with 16 kept
 * copies and counted the rest as "other reasons". */
static void reason_key(char *key, size_t cap, const char *reason)
{
    static const char dup[] = "duplicate of ";
    const char *in = NULL; /* the last " in ": a kept copy's path may hold one */
    if (!strncmp(reason, dup, sizeof dup - 1))
        for (const char *p = strstr(reason, " in "); p; p = strstr(p + 1, " in ")) in = p;
    if (in)
        snprintf(key, cap, "duplicate of a copy kept%s", in);
    else
        snprintf(key, cap, "%s", reason);
}

static void count_unnamed(ui_state *u, const char *path, const char *reason)
{
    char key[160], why[160];
    reason_key(key, sizeof key, reason);
    cxr_escape_name(why, sizeof why, key);
    u->skips_unnamed++;
    int k = 0;
    while (k < u->n_reasons && strcmp(u->by_reason[k].reason, why) != 0) k++;
    if (k == u->n_reasons) {
        if (k == (int)(sizeof u->by_reason / sizeof *u->by_reason)) return; /* "other reasons" */
        snprintf(u->by_reason[k].reason, sizeof u->by_reason[k].reason, "%s", why);
        cxr_escape_name(u->by_reason[k].example, sizeof u->by_reason[k].example, path);
        u->n_reasons++;
    }
    u->by_reason[k].n++;
}

/* After the run: the skips past the first SKIPS_NAMED, by reason, with one path each. */
static void print_unnamed(const ui_state *u, const char *store)
{
    if (u->skips_unnamed == 0) return;
    fprintf(stderr, "cxr-pack: %lld more skipped input(s) not named here",
            (long long)u->skips_unnamed);
    if (store) {
        fputs("; ", stderr);
        cxr_fputs_escaped(store, stderr);
        fputs("'s /skipped lists every skip with its reason", stderr);
    }
    fprintf(stderr, ":\n");
    int64_t counted = 0;
    for (int k = 0; k < u->n_reasons; k++) {
        fprintf(stderr, "cxr-pack:   %lld x %s (e.g. %s)\n", (long long)u->by_reason[k].n,
                u->by_reason[k].reason, u->by_reason[k].example);
        counted += u->by_reason[k].n;
    }
    if (counted < u->skips_unnamed)
        fprintf(stderr, "cxr-pack:   %lld x other reasons\n",
                (long long)(u->skips_unnamed - counted));
}

static void ui_skip(void *ctx, const char *split, const char *path, const char *reason)
{
    ui_state *u = ctx;
    (void)split;
    if (u->listed_seen < u->listed_skips) u->listed_seen++;
    if (u->skips_named >= SKIPS_NAMED) {
        count_unnamed(u, path, reason);
        return;
    }
    u->skips_named++;
    char name[1024], why[1024]; /* a newline in a name must not forge a line of its own */
    fprintf(stderr, "%scxr-pack: skip %s: %s\n", u->tty && !u->quiet ? "\r\033[K" : "",
            cxr_escape_name(name, sizeof name, path), cxr_escape_name(why, sizeof why, reason));
}

static void ui_progress(void *ctx, const cxr_pack_progress *p)
{
    ui_state *u = ctx;
    if (u->quiet) return;
    double rate = p->seconds > 0 ? (double)p->done_all / p->seconds : 0;
    /* the inputs' skips: those made as the inputs were listed are not inputs done */
    const int64_t listed = u->listed_seen, skipped = p->skipped - listed;
    double t = cxr_now_s();
    if (!u->tty) {
        if (p->split_done) {
            /* the split's own skips (a walk read the overall count as the split's) */
            fprintf(stderr, "cxr-pack: %s: %lld inputs done, %lld skipped (%lld/%lld overall%s",
                    p->split, (long long)p->total, (long long)(skipped - u->skips_before),
                    (long long)p->done_all, (long long)p->total_all, listed ? "; " : "");
            u->skips_before = skipped;
            if (listed)
                fprintf(stderr, "%lld more skipped as the inputs were listed", (long long)listed);
            fprintf(stderr, ") %.1f s, %.0f img/s\n", p->seconds, rate);
        } else if (t - u->last_draw >= u->every_s) { /* a long split (nohup, a log): a heartbeat */
            const double eta = rate > 0 ? (double)(p->total_all - p->done_all) / rate : 0;
            fprintf(stderr,
                    "cxr-pack: %s: %lld/%lld overall so far, %lld skipped, %.1f s, %.0f img/s, "
                    "ETA %d:%02d\n",
                    p->split, (long long)p->done_all, (long long)p->total_all, (long long)skipped,
                    p->seconds, rate, (int)eta / 60, (int)eta % 60);
        } else
            return;
        u->last_draw = t;
        return;
    }
    if (!p->split_done && t - u->last_draw < 0.1) return;
    u->last_draw = t;
    const int width = 30;
    double frac = p->total_all ? (double)p->done_all / (double)p->total_all : 1.0;
    int fill = (int)(frac * width + 0.5);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double eta = rate > 0 ? (double)(p->total_all - p->done_all) / rate : 0;
    fprintf(stderr, "\r\033[K%-5s [%s] %lld/%lld  %.0f img/s  %.1f MB/s  ETA %d:%02d  skipped %lld",
            p->split, bar, (long long)p->done_all, (long long)p->total_all, rate,
            p->seconds > 0 ? (double)p->input_bytes / 1e6 / p->seconds : 0, (int)eta / 60,
            (int)eta % 60, (long long)skipped);
    if (p->split_done && p->done_all == p->total_all) fputc('\n', stderr);
    fflush(stderr);
}

/* After the val split: a class whose train images all moved to val, or far more of them than
 * the fraction asked (patients few and large), or a val split left empty, is said (a
 * --val-fraction near 1, or too small for the classes' patients). */
static void warn_val_split(const cxr_pack_plan *plan, double fraction)
{
    const cxr_pack_split *tr = NULL, *va = NULL;
    for (int s = 0; s < plan->n_splits; s++) {
        if (!strcmp(plan->splits[s].name, "train")) tr = &plan->splits[s];
        if (!strcmp(plan->splits[s].name, "val")) va = &plan->splits[s];
    }
    if (!tr || !va) return;
    if (va->n == 0)
        fprintf(stderr, "cxr-pack: warning: --val-fraction %g leaves the val split empty\n",
                fraction);
    int64_t *n_tr = calloc((size_t)plan->n_classes, sizeof *n_tr);
    int64_t *n_va = calloc((size_t)plan->n_classes, sizeof *n_va);
    for (int64_t i = 0; n_tr && n_va && i < tr->n; i++) n_tr[tr->items[i].label]++;
    for (int64_t i = 0; n_tr && n_va && i < va->n; i++) n_va[va->items[i].label]++;
    for (int c = 0; n_tr && n_va && c < plan->n_classes; c++) {
        const int64_t n = n_tr[c] + n_va[c];
        const int64_t target = cxr_val_target(fraction, n);
        if (n_va[c] > 0 && n_tr[c] == 0) {
            fputs("cxr-pack: warning: --val-fraction moved every train image of class '", stderr);
            cxr_fputs_escaped(plan->class_names[c], stderr);
            fprintf(stderr, "' (%lld) to val: it has none left to train on\n", (long long)n_va[c]);
        } else if (n_va[c] > target + target / 2 + 1) { /* a patient far larger than the rest */
            fprintf(stderr,
                    "cxr-pack: warning: --val-fraction %g took %lld of the %lld images of "
                    "class '",
                    fraction, (long long)n_va[c], (long long)n);
            cxr_fputs_escaped(plan->class_names[c], stderr);
            fprintf(stderr,
                    "' (%.0f%%, for a target of %lld): val takes whole patients, and this "
                    "class has few, large ones (patient ids: specs/store.md)\n",
                    100.0 * (double)n_va[c] / (double)n, (long long)target);
        }
    }
    free(n_tr);
    free(n_va);
}

/* After writing: a class with no image in the store's /train (an empty train/<class>/ folder,
 * a class only val/ or test/ has, every image of it skipped) cannot be learnt: its class weight
 * is 0 and cxr-train refuses the store. Said for each (the first 10 named), unless
 * warn_val_split already said it of a class --val-fraction emptied. */
static void warn_untrainable(const char *out, int carved, int manifest, int64_t planned_train)
{
    cxr_store *w = NULL;
    cxr_split_info tr, va;
    if (cxr_store_open(&w, out) != CXR_OK) return;
    const int has_tr =
        cxr_store_has_split(w, "train") && cxr_store_split(w, "train", &tr) == CXR_OK;
    /* a train split planned but left empty (every image skipped, or dropped as a duplicate of
     * one in val or test) */
    if (planned_train > 0 && has_tr && tr.n == 0)
        fprintf(stderr,
                "cxr-pack: warning: train holds no image (all %lld planned were skipped or "
                "dropped, see above and the store's /skipped): cxr-train refuses the store\n",
                (long long)planned_train);
    const int has_va = carved && cxr_store_split(w, "val", &va) == CXR_OK;
    int named = 0, more = 0;
    if (has_tr && tr.n > 0)
        for (int c = 0; c < cxr_store_n_classes(w); c++) {
            if (tr.class_counts[c] > 0 || (has_va && va.class_counts[c] > 0)) continue;
            if (named == 10) {
                more++;
                continue;
            }
            named++;
            fputs("cxr-pack: warning: class '", stderr);
            cxr_fputs_escaped(cxr_store_class_name(w, c), stderr);
            fputs("' has no image in train: a model cannot learn it (its class weight is 0), "
                  "and cxr-train refuses the store; ",
                  stderr);
            fputs(manifest ? "its train images were skipped or dropped (see above): mend "
                             "them, or remove its rows from the manifest\n"
                           : "add its training images, or remove its folders\n",
                  stderr);
        }
    if (more) fprintf(stderr, "cxr-pack: warning: ... and %d more such classes\n", more);
    const int nc = cxr_store_n_classes(w);
    if (nc == 1 && has_tr && tr.n > 0) {
        fputs("cxr-pack: warning: one class only, '", stderr);
        cxr_fputs_escaped(cxr_store_class_name(w, 0), stderr);
        fputs("': a classifier needs at least 2, and cxr-train refuses the store\n", stderr);
    }
    /* names are classes as they are spelled: two that differ in case only are two classes (a
     * test/Normal beside train/NORMAL left each without the other's images) */
    int pairs = 0;
    for (int a = 0; a < nc && pairs < 10; a++)
        for (int b = a + 1; b < nc && pairs < 10; b++)
            if (!strcasecmp(cxr_store_class_name(w, a), cxr_store_class_name(w, b))) {
                pairs++;
                fputs("cxr-pack: warning: classes '", stderr);
                cxr_fputs_escaped(cxr_store_class_name(w, a), stderr);
                fputs("' and '", stderr);
                cxr_fputs_escaped(cxr_store_class_name(w, b), stderr);
                fprintf(stderr,
                        "' differ only in case: one class under two %s? Names are taken "
                        "as spelled: rename one\n",
                        manifest ? "labels" : "folder names");
            }
    cxr_store_close(w);
}

/* The output is none of the inputs and not in one of their folders: cxr_output_check saw the
 * source tree by its path, and a class folder reached through a symlink lies outside it (-o
 * SRC/train/A/a.jpg with A -> /ext/A replaced the input a.jpg with the store). Compares each
 * distinct folder of the plan's items (consecutive items share one: few stats) by device and
 * inode with the output's folder; and, when the output exists, each item's file, links followed,
 * with it: an input that is a symlink to a file elsewhere (-o /pool/a.jpg with SRC/train/A/a.jpg
 * -> /pool/a.jpg, or a manifest's --images of links) would be replaced through its target. The
 * folders between `tree` (SRC, or --images DIR) and an input's folder are compared too: a split
 * folder reached through a symlink (SRC/train -> /ext/train) put -o /ext/train/s.h5 inside the
 * tree the next pack scans. opt names the output ("-o", "--duplicates-report"). */
static cxr_status output_not_among_inputs(const char *opt, const char *out, const char *tree,
                                          const cxr_pack_plan *plan)
{
    size_t lt = tree ? strlen(tree) : 0;
    while (lt > 1 && tree[lt - 1] == '/') lt--; /* --images DIR/: its paths are DIR/a/... */
    char dir[4096], last[4096] = "";
    struct stat od, of, id;
    if (stat(cxr_parent_dir(dir, sizeof dir, out), &od) != 0)
        return CXR_OK; /* cxr_output_check has named a missing folder */
    const int exists = stat(out, &of) == 0;
    for (int s = 0; s < plan->n_splits; s++)
        for (int64_t i = 0; i < plan->splits[s].n; i++) {
            const char *p = plan->splits[s].items[i].path;
            if (exists && stat(p, &id) == 0 && id.st_dev == of.st_dev && id.st_ino == of.st_ino)
                return cxr_set_error(CXR_E_ARG,
                                     "%s %s: is the input %s (through a symbolic link); refusing "
                                     "to replace it",
                                     opt, out, p);
            if (strcmp(cxr_parent_dir(dir, sizeof dir, p), last) == 0) continue;
            snprintf(last, sizeof last, "%s", dir);
            if (stat(dir, &id) == 0 && id.st_dev == od.st_dev && id.st_ino == od.st_ino)
                return cxr_set_error(CXR_E_ARG,
                                     "%s %s: is in the folder of the input %s; refusing to write "
                                     "among the inputs",
                                     opt, out, p);
            if (!tree || strncmp(dir, tree, lt) != 0 || dir[lt] != '/') continue;
            for (size_t j = lt + 1; dir[j]; j++) { /* SRC/train, DIR/a, DIR/a/b: links followed */
                if (dir[j] != '/' || dir[j - 1] == '/') continue;
                dir[j] = '\0';
                const int hit =
                    stat(dir, &id) == 0 && id.st_dev == od.st_dev && id.st_ino == od.st_ino;
                if (hit)
                    return cxr_set_error(CXR_E_ARG,
                                         "%s %s: is in the folder %s of the inputs; refusing to "
                                         "write inside the source tree",
                                         opt, out, dir);
                dir[j] = '/';
            }
        }
    return CXR_OK;
}

/* libjpeg allocates and frees several MB per large image (progressive JPEGs keep every
 * coefficient); from fresh mmaps or trimmed heaps each image would pay its page faults again,
 * so keep them in the heap (measured in specs/store.md, "Packing pipeline"). */
static void tune_malloc(void)
{
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 32 << 20); /* glibc's maximum on 64-bit */
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

int main(int argc, char **argv)
{
    cxr_std_fds_open(); /* before any file is opened (cxr_files.h) */
    cxr_signals_ignore_write_signals();
    tune_malloc();
    enum {
        O_THREADS = 256,
        O_SHARD,
        O_LEVEL,
        O_SIZE,
        O_STRICT,
        O_VAL,
        O_WINDOW,
        O_VERSION,
        O_DUP_REPORT,
        O_DUP_DROP,
        O_DUP_NONE
    };
    /* the manifest options' codes (PACK_OPT_*) and values live in pack_manifest.c */
    static const struct option longopts[] = {
        { "output", required_argument, 0, 'o' },
        { "threads", required_argument, 0, O_THREADS },
        { "shard", required_argument, 0, O_SHARD },
        { "level", required_argument, 0, O_LEVEL },
        { "size", required_argument, 0, O_SIZE },
        { "strict", no_argument, 0, O_STRICT },
        { "val-fraction", required_argument, 0, O_VAL },
        { "window", required_argument, 0, O_WINDOW },
        { "quiet", no_argument, 0, 'q' },
        { "duplicates-report", required_argument, 0, O_DUP_REPORT },
        { "drop-duplicates", no_argument, 0, O_DUP_DROP },
        { "no-duplicate-check", no_argument, 0, O_DUP_NONE },
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, O_VERSION },
        { "manifest", required_argument, 0, PACK_OPT_MANIFEST },
        { "images", required_argument, 0, PACK_OPT_IMAGES },
        { "explore", no_argument, 0, PACK_OPT_EXPLORE },
        { "top-classes", required_argument, 0, PACK_OPT_TOP_CLASSES },
        { "min-count", required_argument, 0, PACK_OPT_MIN_COUNT },
        { "test-fraction", required_argument, 0, PACK_OPT_TEST_FRACTION },
        { "crop-ratio", required_argument, 0, PACK_OPT_CROP_RATIO },
        { "normalize", required_argument, 0, PACK_OPT_NORMALIZE },
        { "equalize", required_argument, 0, PACK_OPT_EQUALIZE },
        { "clahe-clip", required_argument, 0, PACK_OPT_CLAHE_CLIP },
        { "class-order", required_argument, 0, PACK_OPT_CLASS_ORDER },
        { 0, 0, 0, 0 }
    };
    pack_manifest_args mcli;
    pack_manifest_args_defaults(&mcli);
    const char *out = NULL;
    int threads = omp_get_max_threads(), window = 0, quiet = 0;
    double val_fraction = -1; /* -1: not given */
    char version[64];
    snprintf(version, sizeof version, "cxr-pack %s", CXR_VERSION_STRING);

    cxr_pack_options opt;
    memset(&opt, 0, sizeof opt);
    cxr_store_options_defaults(&opt.store); /* zstd level CXR_STORE_ZSTD_LEVEL unless --level */
    int opt_c, pack_only = 0; /* the first option given that only packing reads (--explore) */
    while ((opt_c = getopt_long(argc, argv, "o:hq", longopts, NULL)) != -1) {
        if (!pack_only && opt_c != O_STRICT && opt_c != 'q' && opt_c != PACK_OPT_MANIFEST &&
            opt_c != PACK_OPT_EXPLORE && opt_c != 'h' && opt_c != O_VERSION && opt_c != '?')
            pack_only = opt_c;
        switch (opt_c) {
        case 'o': out = optarg; break;
        case O_THREADS:
            if (cxr_parse_int(optarg, "--threads", 1, 1024, &threads))
                return cxr_option_error("cxr-pack");
            break;
        case O_SHARD:
            if (cxr_parse_int(optarg, "--shard", 1, 65536, &opt.store.shard))
                return cxr_option_error("cxr-pack");
            break;
        case O_LEVEL:
            if (cxr_parse_int(optarg, "--level", -7, 22, &opt.store.zstd_level))
                return cxr_option_error("cxr-pack");
            break;
        case O_SIZE:
            if (cxr_parse_int(optarg, "--size", 8, 4096, &opt.store.pp.size))
                return cxr_option_error("cxr-pack");
            break;
        case O_WINDOW:
            if (cxr_parse_int(optarg, "--window", 1, 4096, &window))
                return cxr_option_error("cxr-pack");
            break;
        case O_STRICT: opt.strict = 1; break;
        case 'q': quiet = 1; break;
        case O_DUP_REPORT: opt.duplicates_report = optarg; break;
        case O_DUP_DROP: opt.drop_duplicates = 1; break;
        case O_DUP_NONE: opt.no_hashes = 1; break;
        case O_VAL:
            if (cxr_parse_double(optarg, "--val-fraction", 0, 1, CXR_PARSE_OPEN_HI,
                                 &val_fraction)) /* 0: no val split */
                return cxr_option_error("cxr-pack");
            break;
        case 'h':
            cxr_stdout_hold();
            usage(stdout);
            return cxr_stdout_exit("cxr-pack");
        case O_VERSION: return cxr_version_exit("cxr-pack");
        case PACK_OPT_MANIFEST:
        case PACK_OPT_IMAGES:
        case PACK_OPT_EXPLORE:
        case PACK_OPT_TOP_CLASSES:
        case PACK_OPT_MIN_COUNT:
        case PACK_OPT_TEST_FRACTION:
        case PACK_OPT_CROP_RATIO:
        case PACK_OPT_NORMALIZE:
        case PACK_OPT_EQUALIZE:
        case PACK_OPT_CLAHE_CLIP:
        case PACK_OPT_CLASS_ORDER:
            if (pack_manifest_option(&mcli, opt_c, optarg) != CXR_OK) {
                cxr_print_error("cxr-pack", cxr_last_error());
                return 2;
            }
            break;
        default: return cxr_usage_error(USAGE);
        }
    }
    if (!mcli.manifest && (mcli.explore || mcli.images || mcli.top_set || mcli.min_set ||
                           mcli.test_set || mcli.order_set)) { /* they would do nothing */
        fprintf(stderr, "cxr-pack: %s needs --manifest FILE\n",
                mcli.explore    ? "--explore"
                : mcli.images   ? "--images"
                : mcli.top_set  ? "--top-classes"
                : mcli.min_set  ? "--min-count"
                : mcli.test_set ? "--test-fraction"
                                : "--class-order (a folder tree's classes are sorted by name)");
        return 2;
    }
    /* --explore reads the manifest once, so a pipe or standard input (-) will do; packing reads
     * it twice (its classes, then its rows) and needs a file */
    struct stat ms;
    const int piped =
        mcli.manifest &&
        (!strcmp(mcli.manifest, "-") ||
         (stat(mcli.manifest, &ms) == 0 && S_ISFIFO(ms.st_mode))); /* (a device: never ends) */
    if (mcli.manifest && !(mcli.explore && piped) &&
        (!strcmp(mcli.manifest, "-") ? cxr_set_error(CXR_E_ARG, "-: standard input")
                                     : cxr_input_check(mcli.manifest)) != CXR_OK) {
        fputs("cxr-pack: --manifest ", stderr); /* the message starts with the file's name */
        cxr_fputs_escaped(cxr_last_error(), stderr);
        fputs(piped ? ": packing reads the manifest twice and records its name: give the file "
                      "(--explore reads a pipe or standard input, -)\n"
                    : "\n",
              stderr);
        return 2;
    }
    if (mcli.manifest && mcli.explore && !strcmp(mcli.manifest, "-")) mcli.manifest = "/dev/stdin";
    if (mcli.explore && pack_only) { /* it would do nothing: refused rather than ignored */
        const char *name = "-o";
        for (const struct option *lo = longopts; lo->name; lo++)
            if (lo->val == pack_only && pack_only != 'o') name = lo->name;
        fprintf(stderr, "cxr-pack: --explore packs nothing: %s%s does not apply to it\n",
                pack_only == 'o' ? "" : "--", name);
        return 2;
    }
    if (mcli.manifest && mcli.explore) return explore_main(mcli.manifest, opt.strict);
    if (!cxr_threads_ok("cxr-pack", threads)) return 2;
    { /* the team OpenMP grants (OMP_THREAD_LIMIT may give fewer): said, and the window's default */
        int granted = threads;
#pragma omp parallel num_threads(threads)
#pragma omp single
        granted = omp_get_num_threads();
        threads = granted;
    }
    if (mcli.manifest && (optind != argc || !out)) {
        fprintf(stderr, "cxr-pack: %s\n",
                !out ? "missing -o STORE.h5" : "no SRC_DIR with --manifest");
        return 2;
    }
    if (pack_manifest_preprocess(&mcli, &opt.store.pp) != CXR_OK) {
        cxr_print_error("cxr-pack", cxr_last_error());
        return 2;
    }
    if (!mcli.manifest && (optind != argc - 1 || !out)) {
        fprintf(stderr, "cxr-pack: %s\n", !out ? "missing -o STORE.h5" : "expected one SRC_DIR");
        return cxr_usage_error(USAGE);
    }
    const char *src = mcli.manifest ? mcli.manifest : argv[optind];
    /* the output is not the manifest, a device, or a file inside the tree it packs */
    cxr_status ost =
        cxr_output_check("-o", out, &mcli.manifest, 1, mcli.manifest ? mcli.images : src);
    /* ... nor a trained model or another program's HDF5 file (a misplaced -o) */
    static const char *const store_format[] = { CXR_STORE_FORMAT };
    if (ost == CXR_OK) ost = cxr_output_format_check("-o", out, store_format, 1, "a store");
    if (ost == CXR_OK) ost = cxr_output_probe("-o", out);
    if (ost != CXR_OK) {
        cxr_print_error("cxr-pack", cxr_last_error());
        return cxr_exit_code(ost);
    }
    const char *dup_inputs[] = { mcli.manifest, out };
    if (opt.no_hashes && (opt.drop_duplicates || opt.duplicates_report)) {
        fprintf(stderr, "cxr-pack: --no-duplicate-check with --drop-duplicates or "
                        "--duplicates-report\n");
        return 2;
    }
    if (opt.duplicates_report &&
        ((ost = cxr_output_check("--duplicates-report", opt.duplicates_report, dup_inputs, 2,
                                 mcli.manifest ? mcli.images : src)) != CXR_OK ||
         (ost = cxr_output_not_ours("--duplicates-report", opt.duplicates_report,
                                    "a duplicates table")) != CXR_OK || /* not over a model */
         (ost = cxr_output_probe("--duplicates-report", opt.duplicates_report)) != CXR_OK)) {
        cxr_print_error("cxr-pack", cxr_last_error());
        return cxr_exit_code(ost);
    }
    if (opt.duplicates_report && cxr_same_output(opt.duplicates_report, out)) {
        fprintf(stderr,
                "cxr-pack: --duplicates-report %s and -o %s: the same file; give each its own\n",
                opt.duplicates_report, out);
        return 2;
    }
    /* CLAHE's tiles need 2 pixels a side: at 8 pixels every tile is one, and every image flat */
    if (opt.store.pp.equalize == CXR_EQUALIZE_CLAHE && opt.store.pp.size < 2 * CXR_CLAHE_TILES) {
        fprintf(stderr,
                "cxr-pack: --size %d: CLAHE's %dx%d tiles need at least %d pixels a side; give a "
                "larger --size or --equalize global|none\n",
                opt.store.pp.size, CXR_CLAHE_TILES, CXR_CLAHE_TILES, 2 * CXR_CLAHE_TILES);
        return 2;
    }
    /* one run per output, held until exit: a second pack to the same -o replaced the first's
     * store after it had said "wrote" (cxr_files.h) */
    if ((ost = cxr_output_lock("cxr-pack", "-o", out)) != CXR_OK ||
        (opt.duplicates_report && (ost = cxr_output_lock("cxr-pack", "--duplicates-report",
                                                         opt.duplicates_report)) != CXR_OK)) {
        cxr_print_error("cxr-pack", cxr_last_error());
        return cxr_exit_code(ost);
    }
    if (opt.store.pp.size % 8) /* after the refusals: "written all the same" holds */
        fprintf(stderr,
                "cxr-pack: warning: --size %d is not a multiple of 8, which cxr-train's "
                "network needs (%d or %d would do); the store is written all the same\n",
                opt.store.pp.size, opt.store.pp.size / 8 * 8 > 0 ? opt.store.pp.size / 8 * 8 : 8,
                opt.store.pp.size / 8 * 8 + 8);

    /* installed before the scan: a signal during it is seen when the pipeline starts */
    volatile sig_atomic_t *interrupted = cxr_signals_stop_on_interrupt();

    cxr_pack_plan plan;
    cxr_manifest_summary msum;
    /* the manifest options, --images DIR (a path under PATH_MAX, as a shell word) included */
    char mdesc[4 * 4096 + 1024] = "";
    cxr_status st = mcli.manifest ? pack_manifest_plan(&mcli, val_fraction, opt.strict, &plan,
                                                       &msum, mdesc, sizeof mdesc)
                                  : cxr_plan_from_tree(&plan, src);
    if (st == CXR_OK && val_fraction > 0 && !mcli.manifest) {
        st = cxr_plan_split_val_by_patient(&plan, val_fraction);
        if (st == CXR_OK) warn_val_split(&plan, val_fraction);
    }
    const char *tree = mcli.manifest ? mcli.images : src;
    if (st == CXR_OK) st = output_not_among_inputs("-o", out, tree, &plan);
    if (st == CXR_OK && opt.duplicates_report)
        st = output_not_among_inputs("--duplicates-report", opt.duplicates_report, tree, &plan);
    /* ... nor another of our outputs or an image (another data set's input): said after what
     * names an input, which an image here may be */
    if (st == CXR_OK) st = cxr_output_not_other("-o", out, "a store", 0);
    if (st == CXR_OK && opt.duplicates_report)
        st = cxr_output_not_other("--duplicates-report", opt.duplicates_report,
                                  "a duplicates table", CXR_OUTPUT_DUPS);
    if (st != CXR_OK) {
        cxr_print_error("cxr-pack", cxr_last_error());
        cxr_plan_free(&plan);
        return cxr_exit_code(st);
    }

    /* provenance: only what determines the content (see --help) */
    /* SRC and --images DIR are each under PATH_MAX, shell words here (a path with a space
     * replays as one word): never cut (checked below) */
    char cmd[2 * (4 * 4096 + 5) + 2048], qsrc[4 * 4096 + 5];
    int n = snprintf(cmd, sizeof cmd, "cxr-pack %s%s --shard %d --level %d --size %d%s%s",
                     mcli.manifest ? "--manifest " : "",
                     cxr_shell_word(qsrc, sizeof qsrc, src) ? qsrc : src, opt.store.shard,
                     opt.store.zstd_level, opt.store.pp.size, opt.strict ? " --strict" : "", mdesc);
    /* preprocessing options given explicitly (each value is also an attribute of its own) */
    if (mcli.crop_set && n > 0 && (size_t)n < sizeof cmd)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --crop-ratio %.17g", mcli.crop_ratio);
    if (mcli.norm_set && n > 0 && (size_t)n < sizeof cmd)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --normalize %s",
                      cxr_norm_name(mcli.normalize));
    /* --equalize always: its default changed (global, then clahe for folders), so the command
     * replays to the same store whichever version replays it */
    if (n > 0 && (size_t)n < sizeof cmd)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --equalize %s",
                      cxr_equalize_name(opt.store.pp.equalize));
    char clip[32];
    if (opt.store.pp.equalize == CXR_EQUALIZE_CLAHE && n > 0 && (size_t)n < sizeof cmd)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --clahe-clip %s",
                      cxr_format_double(clip, sizeof clip, opt.store.pp.clahe_clip));
    if (opt.drop_duplicates && n > 0 && (size_t)n < sizeof cmd)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --drop-duplicates");
    if (opt.no_hashes && n > 0 && (size_t)n < sizeof cmd)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --no-duplicate-check");
    char vf[32]; /* the shortest text that reads back as the same double (0.1, not 0.1000...1) */
    if (val_fraction > 0 && !mcli.manifest && n > 0 && (size_t)n < sizeof cmd)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --val-fraction %s",
                      cxr_format_double(vf, sizeof vf, val_fraction));
    if (n < 0 || (size_t)n >= sizeof cmd || strlen(mdesc) + 1 >= sizeof mdesc) {
        /* a recorded command cut short would no longer rebuild the store */
        fprintf(stderr, "cxr-pack: the command to record in the store is too long (paths of "
                        "over 4096 bytes?)\n");
        cxr_plan_free(&plan);
        return 2;
    }
    cxr_pack_attr attrs[] = { { "command_line", cmd } };

    ui_state ui = { .tty = isatty(2),
                    .quiet = quiet,
                    .plan = &plan,
                    .listed_skips = plan.n_skipped,
                    .last_draw = cxr_now_s(),
                    .every_s = cxr_progress_every_s() };
    opt.output = out;
    opt.threads = threads;
    opt.window = window;
    opt.store.source = src;
    opt.store.tool_version = version;
    opt.attrs = attrs;
    opt.n_attrs = 1;
    opt.interrupted = interrupted;
    opt.on_skip = ui_skip;
    opt.on_progress = ui_progress;
    opt.ctx = &ui;

    cxr_pack_summary sum;
    st = cxr_pack_run(&plan, &opt, &sum);
    if (ui.tty && !quiet) fprintf(stderr, "\r\033[K");
    print_unnamed(&ui, st == CXR_OK ? out : NULL);
    if (st != CXR_OK) {
        /* escaped as every other line here: the message may quote a file or class name */
        fputs("cxr-pack: ", stderr);
        cxr_fputs_escaped(st == CXR_E_INTERRUPTED ? "interrupted" : cxr_last_error(), stderr);
        fputs(st == CXR_E_INTERRUPTED ? "; nothing written to " : " (nothing written to ", stderr);
        cxr_fputs_escaped(out, stderr);
        fputs(st == CXR_E_INTERRUPTED ? "\n" : ")\n", stderr);
        cxr_plan_free(&plan);
        return cxr_exit_code(st);
    }

    if (sum.window < sum.window_wanted)
        fprintf(stderr,
                "cxr-pack: note: %d shard(s) a round instead of %d, for the memory free (the "
                "store is the same; a smaller --shard would allow more)\n",
                sum.window, sum.window_wanted);
    int64_t planned_train = 0;
    for (int sp = 0; sp < plan.n_splits; sp++)
        if (!strcmp(plan.splits[sp].name, "train")) planned_train = plan.splits[sp].n;
    warn_untrainable(out, val_fraction > 0 && !mcli.manifest, mcli.manifest != NULL, planned_train);
    if (sum.hashed && (!quiet || sum.dup_file.groups > 0 || sum.dup_pixels.groups > 0)) {
        /* (--quiet: only when there are some) */
        char line[1024];
        cxr_pack_dups_format(&sum, &plan, line, sizeof line);
        fprintf(stderr, "cxr-pack: duplicates: %s\n", line);
        /* copies across splits let test see train's images: where to look, what to do */
        /* (identical files have identical pixels); --drop-duplicates would keep one of the
         * labels, not the right one: the copies are to be mended by hand */
        if (sum.dup_pixels.labels > 0)
            fprintf(stderr,
                    "cxr-pack: warning: %lld group%s of identical images under different "
                    "classes: one label of each is wrong; move or remove the wrong copies (%s "
                    "names each copy's class)\n",
                    (long long)sum.dup_pixels.labels, sum.dup_pixels.labels == 1 ? "" : "s",
                    opt.duplicates_report ? "the report" : "--duplicates-report FILE");
        if ((sum.dup_file.across > 0 || sum.dup_pixels.across > 0) && !opt.drop_duplicates &&
            !opt.duplicates_report)
            fprintf(stderr, "cxr-pack: --duplicates-report FILE lists them; --drop-duplicates "
                            "keeps one copy of each (specs/store.md, Duplicates)\n");
    }
    struct stat sb;
    long long file_bytes = stat(out, &sb) == 0 ? (long long)sb.st_size : -1;
    fputs("cxr-pack: wrote ", stdout);
    cxr_fputs_escaped(out, stdout);
    printf(" (%lld bytes) from ", file_bytes);
    cxr_fputs_escaped(src, stdout);
    printf(" with %d thread%s\n", threads, threads == 1 ? "" : "s");
    fflush(stdout); /* the note after the line above, where both go to one pipe */
    cxr_tmpfile_note_leftovers("cxr-pack", out); /* a killed run's, said */
    printf("%-6s", "split");
    int nc = plan.n_classes < CXR_PACK_SUMMARY_CLASSES ? plan.n_classes : CXR_PACK_SUMMARY_CLASSES;
    /* the columns as wide as the longest name shown, 12 to 24 terminal columns (a wider name
     * is cut): counted in characters, not bytes, so names past 12 or of UTF-8 stay aligned */
    char esc[256];
    int width = 12, shown;
    for (int c = 0; c < nc; c++) {
        cxr_escape_cell(esc, sizeof esc, plan.class_names[c], 24, &shown);
        if (shown > width) width = shown;
    }
    for (int c = 0; c < nc; c++) {
        cxr_escape_cell(esc, sizeof esc, plan.class_names[c], width, &shown);
        printf(" %*s%s", width - shown, "", esc);
    }
    printf(" %*s\n", width, "total");
    cxr_store *written = NULL; /* the totals over every class, past the first columns */
    if (plan.n_classes > nc && cxr_store_open(&written, out) != CXR_OK) written = NULL;
    for (int s = 0; s < plan.n_splits; s++) {
        long long tot = 0;
        printf("%-6s", plan.splits[s].name);
        for (int c = 0; c < nc; c++) {
            printf(" %*lld", width, (long long)sum.images[s][c]);
            tot += sum.images[s][c];
        }
        cxr_split_info si;
        if (plan.n_classes > nc)
            tot = written && cxr_store_split(written, plan.splits[s].name, &si) == CXR_OK
                      ? (long long)si.n
                      : -1;
        printf(" %*lld\n", width, tot);
    }
    cxr_store_close(written);
    if (plan.n_classes > nc)
        printf("(the first %d of %d classes; the store's class_counts has them all)\n", nc,
               plan.n_classes);
    if (plan.n_classes == 2) { /* which class sensitivity, precision and the ROC are of */
        fputs("positive class (index 1, of cxr-eval's binary metrics): ", stdout);
        cxr_fputs_escaped(plan.class_names[1], stdout);
        const char *a = plan.class_names[0], *b = plan.class_names[1];
        if (mcli.manifest && mcli.opt.class_order == CXR_CLASS_ORDER_COUNT &&
            cxr_label_cmp(a, strlen(a), b, strlen(b)) > 0) {
            fputs(" (the fewer rows; --class-order name makes it ", stdout);
            cxr_fputs_escaped(a, stdout);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    double ratio = sum.stored_bytes ? (double)sum.raw_bytes / (double)sum.stored_bytes : 0;
    double secs = sum.seconds > 0 ? sum.seconds : 1e-9;
    printf("skipped %lld; raw float32 %llu bytes -> stored chunks %llu bytes, ratio %.2f\n",
           (long long)sum.skipped, (unsigned long long)sum.raw_bytes,
           (unsigned long long)sum.stored_bytes, ratio);
    printf("time %.3f s: %.1f img/s, %.2f MB/s of JPEG input (%llu bytes)\n", sum.seconds,
           (double)sum.packed / secs, (double)sum.input_bytes / 1e6 / secs,
           (unsigned long long)sum.input_bytes);
    if (mcli.manifest) {
        char line[512];
        pack_manifest_summary_format(&msum, line, sizeof line);
        printf("%s\n", line);
    }
    cxr_plan_free(&plan);
    if ((st = cxr_stdout_close()) != CXR_OK) { /* the store is written; the summary was not */
        cxr_print_error("cxr-pack", cxr_last_error());
        return cxr_exit_code(st);
    }
    return 0;
}
