/* checkpoint.c: HDF5 checkpoints behind cxr_checkpoint.h (one dataset per tensor for the
 * parameters and Adam's m and v, attributes for counters, recipe, model shape, preprocessing),
 * written with the conventions of h5_internal.h: checksummed metadata, Fletcher32 over every
 * tensor, fixed-length strings. Version 1 (no checksums) is still read.
 */
#include "cxr_checkpoint.h"
#include "cxr_augment.h"
#include "cxr_loader.h"
#include "cxr_files.h"
#include "h5_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL /* header-only, as formats/pack_dups.c: nothing to link */
#include <xxhash.h>

/* the stored spec fits the longest cxr_augment_format writes */
_Static_assert(sizeof(((cxr_checkpoint_meta *)0)->augment) >= CXR_AUGMENT_SPEC_MAX,
               "cxr_checkpoint_meta.augment is shorter than CXR_AUGMENT_SPEC_MAX");

/* An HDF5 failure while writing the checkpoint at `path`: our message, then HDF5's reason. */
#define CXR_THROW_H5(code, ...)                         \
    do {                                                \
        st = cxr_hdf5_error((code), path, __VA_ARGS__); \
        goto bail;                                      \
    } while (0)

static const char *const block_group[3] = { "params", "adam_m", "adam_v" };
static const cxr_block block_id[3] = { CXR_BLOCK_PARAMS, CXR_BLOCK_ADAM_M, CXR_BLOCK_ADAM_V };

#define RNG_TEXT                                                                                \
    "all randomness derives from seed: init and dropout from train/rng.h keyed by (seed, Adam " \
    "step, layer); the epoch's image order from runtime/cxr_loader.h keyed by (seed, epoch)"

void cxr_checkpoint_meta_free(cxr_checkpoint_meta *meta)
{
    if (!meta) return;
    if (meta->class_names)
        for (int i = 0; i < meta->n_classes; i++) free(meta->class_names[i]);
    free(meta->class_names);
    meta->class_names = NULL;
    meta->n_classes = 0;
}

/* ---------------------------------------------------------------- attribute helpers */
/* A 1-D int32 attribute of n values (scalars go through cxr_h5_attr_put_*). */
static int put_i32_array(hid_t loc, const char *name, const int32_t *v, hsize_t n)
{
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, v) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return ok;
}

static int put_i64(hid_t loc, const char *name, int64_t v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return ok;
}

/* Read integer attribute a (file type ft) of n elements into v as `type` (a native integer of
 * 4 or 8 bytes), each value checked to fit: HDF5 itself would saturate (a seed of -5 read as
 * uint64 is 0, an epoch of 2^33 read as int32 is 2^31-1) and the file would be misread without
 * a word. 1, or -1 for a value out of range or a failed read. */
static int read_int_checked(hid_t a, hid_t ft, hid_t type, void *v, hssize_t n)
{
    const size_t size = H5Tget_size(type);
    const int to_signed = H5Tget_sign(type) == H5T_SGN_2,
              from_signed = H5Tget_sign(ft) != H5T_SGN_NONE;
    if ((size != 4 && size != 8) || n < 1 || n > 64) return -1;
    uint64_t raw[64]; /* the attributes read this way hold 1 to 4 values */
    if (H5Aread(a, from_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, raw) < 0) return -1;
    for (hssize_t i = 0; i < n; i++) {
        const uint64_t u = raw[i];
        const int64_t x = (int64_t)u;
        const int negative = from_signed && x < 0;
        const uint64_t hi = size == 8 ? (to_signed ? (uint64_t)INT64_MAX : UINT64_MAX)
                                      : (to_signed ? (uint64_t)INT32_MAX : UINT32_MAX);
        if (negative ? !to_signed || (size == 4 && x < INT32_MIN) : u > hi) return -1;
        if (size == 8)
            ((uint64_t *)v)[i] = u; /* two's complement: the same bits either way */
        else if (to_signed)
            ((int32_t *)v)[i] = (int32_t)x;
        else
            ((uint32_t *)v)[i] = (uint32_t)u;
    }
    return 1;
}

/* Read a numeric attribute of exactly n elements (1 for a scalar) as `type`: 1 read, 0 absent,
 * -1 damaged, of another shape or class, or an integer that does not fit `type` (HDF5's
 * reason, if any, left for cxr_hdf5_error). */
static int get_num(hid_t loc, const char *name, hid_t type, void *v, hssize_t n)
{
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0) return ex == 0 ? 0 : -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t want = H5Tget_class(type), have = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    int ok =
        sp >= 0 && H5Sget_simple_extent_npoints(sp) == n && have == want &&
        (want == H5T_INTEGER ? read_int_checked(a, ft, type, v, n) > 0 : H5Aread(a, type, v) >= 0);
    hid_t es = ok ? -1 : H5Eget_current_stack();
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    if (es >= 0) H5Eset_current_stack(es);
    return ok ? 1 : -1;
}

/* A string attribute into buf: fixed-length (version 2), or variable-length when legacy
 * (version 1 stored its strings in HDF5's global heap, which has no checksum: read only from
 * files that say they are version 1).
 * 1 read, 2 read but cut to cap - 1 bytes, 0 absent, -1 damaged or of another kind, -2 longer
 * than CXR_H5_STR_MAX (check_string_sizes refuses those first). */
static int get_str(hid_t loc, const char *name, char *buf, size_t cap, int legacy)
{
    char *v = NULL;
    int r = cxr_h5_attr_get_str(loc, name, &v);
    if (r == 1) {
        if ((size_t)snprintf(buf, cap, "%s", v) >= cap) r = 2;
        free(v);
    }
    if (r >= 0 || !legacy) return r;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = a >= 0 ? H5Aget_type(a) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    /* one string only: an array of them would be read over v and the stack beyond it. In the
     * file's own character set: HDF5 converts none to another */
    if (a >= 0 && ft >= 0 && sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 &&
        H5Tis_variable_str(ft) > 0 && H5Aread(a, ft, &v) >= 0 && v) {
        r = (size_t)snprintf(buf, cap, "%s", v) >= cap ? 2 : 1;
        H5free_memory(v);
    }
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    return r;
}

static void dims_text(char *buf, size_t cap, int nd, const hsize_t *d)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < nd && at < cap; i++)
        at +=
            (size_t)snprintf(buf + at, cap - at, "%s%llu", i ? "x" : "", (unsigned long long)d[i]);
    if (nd == 0) snprintf(buf, cap, "scalar");
}

/* ---------------------------------------------------------------- resume features */
/* The training features a checkpoint may use whose absence reads as "not used": a reader that
 * did not know one would resume the run without it and rewrite the file so (a 0.8 cxr-train
 * resumed a mixup run without mixup). The file names those it uses in resume_features; a reader
 * refuses to resume one it does not know (specs/model.md "Resume features"). A feature added
 * later joins this list, and the version that adds it is the first that can resume such a file.
 * Readers before 0.16 ignore the attribute. */
static const char *const resume_known[] = { "label_smoothing", "mixup", "average", "shuffle_window",
                                            "max_steps" };
enum { N_RESUME_KNOWN = sizeof resume_known / sizeof *resume_known };

/* The names of the features meta uses, comma-separated, into buf ("" none). */
static void resume_features(const cxr_checkpoint_meta *meta, char *buf, size_t cap)
{
    const int used[N_RESUME_KNOWN] = { meta->label_smoothing > 0, meta->mixup > 0,
                                       meta->has_run && meta->average_from > 0,
                                       meta->has_run && meta->shuffle_window != 0,
                                       meta->has_run && meta->max_steps > 0 };
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < N_RESUME_KNOWN; i++)
        if (used[i] && n < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "", resume_known[i]);
}

/* The first name in the comma-separated list that resume_known lacks, into out ("" none). */
static void resume_first_unknown(const char *list, char *out, size_t cap)
{
    out[0] = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        int known = len == 0;
        for (int i = 0; i < N_RESUME_KNOWN && !known; i++)
            known = strlen(resume_known[i]) == len && strncmp(resume_known[i], p, len) == 0;
        if (!known) {
            snprintf(out, cap, "%.*s", (int)len, p);
            return;
        }
        p += len + (p[len] == ',');
    }
}

/* ---------------------------------------------------------------- store content */
static const char *const content_split[3] = { "train", "val", "test" };

/* XXH3-64 of v's 8 little-endian bytes with `seed`: the same digest on any host. */
static uint64_t hash_u64(uint64_t v, uint64_t seed)
{
    unsigned char le[8];
    for (int b = 0; b < 8; b++) le[b] = (unsigned char)(v >> (8 * b));
    return XXH3_64bits_withSeed(le, sizeof le, seed);
}

cxr_status cxr_store_content_of(cxr_store *store, cxr_store_content *out)
{
    cxr_status bad = CXR_OK; /* the first pixel_hash that did not read; none read after it */
    for (int k = 0; k < 3; k++) {
        cxr_split_info info;
        uint64_t *pixel = NULL;
        out->n[k] = -1, out->set[k] = 0, out->order[k] = 0;
        out->pixels[k] = 0, out->has_pixels[k] = 0;
        if (!cxr_store_has_split(store, content_split[k]) ||
            cxr_store_split(store, content_split[k], &info) != CXR_OK)
            continue;
        if (bad == CXR_OK) bad = cxr_store_read_pixel_hashes(store, content_split[k], &pixel);
        out->n[k] = info.n;
        out->has_pixels[k] = pixel != NULL;
        for (int64_t i = 0; i < info.n; i++) {
            const char *p = cxr_store_image_path(store, content_split[k], i);
            const uint64_t h =
                XXH3_64bits_withSeed(p, strlen(p), (uint64_t)(int64_t)info.labels[i]);
            out->set[k] += h;
            out->order[k] = hash_u64(h, out->order[k]);
            if (pixel) out->pixels[k] += hash_u64(pixel[i], h);
        }
        free(pixel);
    }
    return bad;
}

/* The attribute's text: "train N SET ORDER; val none; test N SET ORDER". */
static void content_format(const cxr_store_content *c, char *buf, size_t cap)
{
    size_t at = 0;
    for (int k = 0; k < 3 && at < cap; k++) {
        if (c->n[k] < 0)
            at +=
                (size_t)snprintf(buf + at, cap - at, "%s%s none", k ? "; " : "", content_split[k]);
        else
            at += (size_t)snprintf(buf + at, cap - at, "%s%s %lld %016llx %016llx", k ? "; " : "",
                                   content_split[k], (long long)c->n[k],
                                   (unsigned long long)c->set[k], (unsigned long long)c->order[k]);
    }
}

/* The attribute store_pixels' text: "train PIXELS; val none; test PIXELS" ("none": the split is
 * absent, or was packed without pixel_hash). */
static void pixels_format(const cxr_store_content *c, char *buf, size_t cap)
{
    size_t at = 0;
    for (int k = 0; k < 3 && at < cap; k++)
        at +=
            (size_t)(c->has_pixels[k] ? snprintf(buf + at, cap - at, "%s%s %016llx", k ? "; " : "",
                                                 content_split[k], (unsigned long long)c->pixels[k])
                                      : snprintf(buf + at, cap - at, "%s%s none", k ? "; " : "",
                                                 content_split[k]));
}

/* pixels_format's text back into c's pixels; 0 when it is not that. */
static int pixels_parse(const char *s, cxr_store_content *c)
{
    for (int k = 0; k < 3; k++) {
        char name[8];
        int used = 0;
        unsigned long long v;
        if (k && strncmp(s, "; ", 2) != 0) return 0;
        if (k) s += 2;
        if (sscanf(s, "%7[a-z] none%n", name, &used) == 1 && used > 0 &&
            strcmp(name, content_split[k]) == 0) {
            c->pixels[k] = 0, c->has_pixels[k] = 0;
        } else if (sscanf(s, "%7[a-z] %16llx%n", name, &v, &used) == 2 &&
                   strcmp(name, content_split[k]) == 0) {
            c->pixels[k] = v, c->has_pixels[k] = 1;
        } else {
            return 0;
        }
        s += used;
    }
    return *s == 0;
}

/* content_format's text back; 0 when it is not that. */
static int content_parse(const char *s, cxr_store_content *c)
{
    for (int k = 0; k < 3; k++) {
        char name[8];
        int used = 0;
        long long n;
        unsigned long long set, order;
        if (k && strncmp(s, "; ", 2) != 0) return 0;
        if (k) s += 2;
        if (sscanf(s, "%7[a-z] none%n", name, &used) == 1 && used > 0 &&
            strcmp(name, content_split[k]) == 0) {
            c->n[k] = -1, c->set[k] = 0, c->order[k] = 0;
        } else if (sscanf(s, "%7[a-z] %lld %16llx %16llx%n", name, &n, &set, &order, &used) == 4 &&
                   strcmp(name, content_split[k]) == 0 && n >= 0) {
            c->n[k] = n, c->set[k] = set, c->order[k] = order;
        } else {
            return 0;
        }
        s += used;
    }
    return *s == 0;
}

/* Whether the train split of `whole` is the train and val splits of `parts` together: their
 * counts and sums add up, and so do the pixels' where all three have them. */
static int train_and_val_of(const cxr_store_content *whole, const cxr_store_content *parts)
{
    return parts->n[1] > 0 && whole->n[0] == parts->n[0] + parts->n[1] &&
           whole->set[0] == parts->set[0] + parts->set[1] &&
           !(whole->has_pixels[0] && parts->has_pixels[0] && parts->has_pixels[1] &&
             whole->pixels[0] != parts->pixels[0] + parts->pixels[1]);
}

int cxr_store_content_diff(const cxr_store_content *then, const cxr_store_content *now, char *buf,
                           size_t cap)
{
    int mask = 0;
    size_t at = 0;
    buf[0] = 0;
    /* a split carved out of train (cxr-pack --val-fraction) or merged into it: the sums add up */
    const int train_changed = then->set[0] != now->set[0] || then->n[0] != now->n[0];
    const int carved = train_changed && train_and_val_of(then, now);
    const int merged = train_changed && train_and_val_of(now, then);
    for (int k = 0; k < 3 && at < cap; k++) {
        const long long a = then->n[k] > 0 ? then->n[k] : 0, b = now->n[k] > 0 ? now->n[k] : 0;
        const char *sep = mask ? "; " : "", *name = content_split[k];
        char what[192];
        /* pixels[k] is order-free: other pixels under some image's name and label */
        const int pixels =
            then->has_pixels[k] && now->has_pixels[k] && then->pixels[k] != now->pixels[k];
        if (a == b &&
            (a == 0 || (then->set[k] == now->set[k] && then->order[k] == now->order[k] && !pixels)))
            continue; /* an empty split is as good as none (nothing trained or evaluated on) */
        mask |= 1 << k;
        if (a == 0 || b == 0 || a != b) {
            char na[32] = "none", nb[32] = "none";
            if (a) snprintf(na, sizeof na, "%lld images", a);
            if (b) snprintf(nb, sizeof nb, "%lld", b);
            snprintf(what, sizeof what, "%s then, %s now", na, nb);
        } else if (then->set[k] != now->set[k]) {
            snprintf(what, sizeof what, "%lld images then and now, but other images or labels", a);
        } else if (pixels) {
            snprintf(what, sizeof what,
                     "the same %lld images by name and label%s, but other pixels (files changed "
                     "under the same names, or another decoder)",
                     a, then->order[k] != now->order[k] ? " in another order" : "");
        } else {
            snprintf(what, sizeof what, "the same %lld images in another order", a);
            mask |= CXR_STORE_CONTENT_ORDER_ONLY(k);
        }
        at += (size_t)snprintf(buf + at, cap - at, "%s%s: %s%s", sep, name, what,
                               k == 1 && carved   ? " (carved from the images trained on)"
                               : k == 0 && merged ? " (val's images among them)"
                                                  : "");
    }
    return mask;
}

/* ---------------------------------------------------------------- save */
static cxr_status write_attrs(hid_t f, const char *path, cxr_model *m,
                              const cxr_checkpoint_meta *meta, int weights, int bf16, int averaged)
{
    const cxr_model_config *c = cxr_model_get_config(m);
    int32_t ch[4] = { c->channels[0], c->channels[1], c->channels[2], c->channels[3] };
    int32_t dn[2] = { c->dense[0], c->dense[1] };
    uint64_t seed = meta->seed;
    int64_t step = cxr_model_get_step(m);
    const int plain = cxr_model_config_input_plain(c);
    hid_t sp = H5Screate(H5S_SCALAR), a = -1, b = -1;
    int ok = sp >= 0;
    /* int64 and uint64 scalars: step, seed */
    if (ok) {
        a = H5Acreate2(f, "step", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        b = H5Acreate2(f, "seed", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && b >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &step) >= 0 &&
             H5Awrite(b, H5T_NATIVE_UINT64, &seed) >= 0;
    }
    if (a >= 0) H5Aclose(a);
    if (b >= 0) H5Aclose(b);
    if (sp >= 0) H5Sclose(sp);
    ok = ok &&
         cxr_h5_attr_put_str(f, "format", weights ? CXR_WEIGHTS_FORMAT : CXR_CHECKPOINT_FORMAT) >=
             0 &&
         (!weights || cxr_h5_attr_put_str(f, "params_dtype", bf16 ? "bfloat16" : "float32") >= 0) &&
         cxr_h5_attr_put_i32(f, "format_version",
                             plain ? CXR_CHECKPOINT_VERSION_PLAIN : CXR_CHECKPOINT_VERSION) >= 0 &&
         cxr_h5_attr_put_str(f, "tool_version", meta->tool_version) >= 0 &&
         cxr_h5_attr_put_str(f, "store", meta->store) >= 0 &&
         cxr_h5_attr_put_i32(f, "epoch", meta->epoch) >= 0 &&
         cxr_h5_attr_put_str(f, "rng", RNG_TEXT) >= 0 &&
         cxr_h5_attr_put_i32(f, "epochs", meta->epochs) >= 0 &&
         cxr_h5_attr_put_i32(f, "batch", meta->batch) >= 0 &&
         cxr_h5_attr_put_i32(f, "threads", meta->threads) >= 0 &&
         cxr_h5_attr_put_f64(f, "lr", meta->adam.lr) >= 0 &&
         cxr_h5_attr_put_f64(f, "beta1", meta->adam.beta1) >= 0 &&
         cxr_h5_attr_put_f64(f, "beta2", meta->adam.beta2) >= 0 &&
         cxr_h5_attr_put_f64(f, "eps", meta->adam.eps) >= 0 &&
         cxr_h5_attr_put_f64(f, "keep_prob", c->keep_prob) >= 0 &&
         cxr_h5_attr_put_f64(f, "alpha", c->alpha) >= 0 &&
         cxr_h5_attr_put_i32(f, "n_classes", c->n_classes) >= 0 &&
         cxr_h5_attr_put_i32(f, "image_size", c->image_size) >= 0 &&
         put_i32_array(f, "channels", ch, 4) && put_i32_array(f, "dense", dn, 2) &&
         cxr_h5_attr_put_f64(f, "threshold", meta->threshold) >= 0 &&
         cxr_h5_attr_put_str(f, "augment", meta->augment[0] ? meta->augment : "none") >= 0 &&
         cxr_h5_attr_put_i32(f, "equalize", meta->pp.equalize) >= 0 &&
         cxr_h5_attr_put_str(f, "normalize", cxr_norm_name(meta->pp.normalize)) >= 0 &&
         cxr_h5_attr_put_f64(f, "crop_ratio", meta->pp.crop_ratio) >= 0 &&
         cxr_h5_attr_put_i32(f, "max_side", meta->pp.max_side) >= 0 &&
         cxr_h5_attr_put_f64(f, "weight_decay", meta->adam.weight_decay) >= 0 &&
         cxr_h5_attr_put_f64(f, "label_smoothing", meta->label_smoothing) >= 0 &&
         cxr_h5_attr_put_f64(f, "mixup", meta->mixup) >= 0 &&
         cxr_h5_attr_put_str(f, "head", cxr_model_head_name(c->head)) >= 0 &&
         cxr_h5_attr_put_i32(f, "input_pool", c->input_pool) >= 0;
    if (ok && meta->pp.equalize == CXR_EQUALIZE_CLAHE)
        ok = cxr_h5_attr_put_f64(f, "clahe_clip", meta->pp.clahe_clip) >= 0;
    /* version 3's one addition: what a reader of versions 1 and 2 would ignore, computing
     * another function of the image with the same parameters */
    if (ok && !plain)
        ok = cxr_h5_attr_put_f64(f, "input_scale", c->input_scale) >= 0 &&
             cxr_h5_attr_put_f64(f, "input_shift", c->input_shift) >= 0;
    if (ok && meta->threshold_split[0])
        ok = cxr_h5_attr_put_str(f, "threshold_split", meta->threshold_split) >= 0;
    if (ok && meta->has_run)
        ok = cxr_h5_attr_put_str(f, "recipe", meta->recipe) >= 0 &&
             cxr_h5_attr_put_str(f, "schedule", meta->schedule) >= 0 &&
             put_i64(f, "warmup_steps", meta->warmup_steps) &&
             put_i64(f, "lr_step_every", meta->lr_step_every) &&
             cxr_h5_attr_put_f64(f, "lr_gamma", meta->lr_gamma) >= 0 &&
             cxr_h5_attr_put_str(f, "select", meta->select) >= 0 &&
             cxr_h5_attr_put_i32(f, "patience", meta->patience) >= 0 &&
             cxr_h5_attr_put_i32(f, "best_epoch", meta->best_epoch) >= 0 &&
             cxr_h5_attr_put_f64(f, "best_value", meta->best_value) >= 0 &&
             cxr_h5_attr_put_str(f, "stopped", meta->stopped) >= 0 &&
             cxr_h5_attr_put_i32(f, "average_from", meta->average_from) >= 0 &&
             cxr_h5_attr_put_i32(f, "shuffle_window", meta->shuffle_window) >= 0 &&
             cxr_h5_attr_put_i64(f, "max_steps", meta->max_steps) >= 0;
    if (ok && averaged) ok = cxr_h5_attr_put_i32(f, "average_count", meta->average_count) >= 0;
    char features[128];
    resume_features(meta, features, sizeof features);
    if (ok && features[0] && !weights)
        ok = cxr_h5_attr_put_str(f, "resume_features", features) >= 0;
    if (ok && meta->has_store_content) {
        char content[256];
        const cxr_store_content *c = &meta->store_content;
        content_format(c, content, sizeof content);
        ok = cxr_h5_attr_put_str(f, "store_content", content) >= 0;
        if (ok && (c->has_pixels[0] || c->has_pixels[1] || c->has_pixels[2])) {
            pixels_format(c, content, sizeof content);
            ok = cxr_h5_attr_put_str(f, "store_pixels", content) >= 0;
        }
    }
    if (ok && meta->precision[0]) /* unknown (a file read that had none): not invented */
        ok = cxr_h5_attr_put_str(f, "precision", meta->precision) >= 0;
    if (!ok) return cxr_hdf5_error(CXR_E_HDF5, path, "cannot write the checkpoint's attributes");
    return CXR_OK;
}

/* bfloat16 as an HDF5 float type (sign 15, exponent 7..14 biased 127, mantissa 0..6): h5dump
 * and h5py read it as numbers; our reader reads it unconverted and widens (bf16_widen). */
static hid_t bf16_type(void)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return -1;
    if (H5Tset_fields(t, 15, 7, 8, 0, 7) < 0 || H5Tset_precision(t, 16) < 0 ||
        H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 127) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* The bfloat16 of a float's bits u, rounded to nearest even. */
static uint16_t bf16_round(uint32_t u)
{
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/* n floats at buf -> n bfloat16 at the start of buf, in place (value i is read before its
 * bytes are overwritten), round to nearest even (the values are finite: checked on load).
 * Byte copies: the buffer is both types. */
static void bf16_narrow(void *buf, size_t n)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, p + 4 * i, 4);
        uint16_t h = bf16_round(u);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* n bfloat16 at the start of buf -> n floats, in place (from the last down). Exact. */
static void bf16_widen(void *buf, size_t n)
{
    unsigned char *p = buf;
    for (size_t i = n; i-- > 0;) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        uint32_t u = (uint32_t)h << 16;
        memcpy(p + 4 * i, &u, 4);
    }
}

/* What the loader refuses (read_tensor) is never written: a non-finite value (training that
 * diverged without a non-finite loss, e.g. a gradient that overflowed on the epoch's last
 * step), a negative second moment, or, written as bf16, a float beyond bfloat16's range
 * (3.3895e38: it would round to infinity). The earlier file stays in place. */
static cxr_status check_block(const char *path, const char *group, cxr_model *m, const float *v,
                              int second_moment, int bf16)
{
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
        const cxr_tensor_info *t = cxr_model_tensor(m, i);
        for (size_t k = 0; k < t->count; k++) {
            const float x = v[t->offset + k];
            if (!isfinite(x) || (second_moment && x < 0))
                return cxr_set_error(
                    CXR_E_INTERNAL,
                    "checkpoint %s: /%s/%s would hold %s %g at element %zu (training diverged: "
                    "try a smaller --lr); not written, %s",
                    path, group, t->name,
                    isfinite(x) ? "a negative second moment" : "a non-finite value", (double)x, k,
                    access(path, F_OK) == 0 ? "the earlier file is kept" : "and none was before");
            uint32_t u;
            memcpy(&u, &x, 4);
            if (bf16 && (bf16_round(u) & 0x7F80u) == 0x7F80u)
                return cxr_set_error(CXR_E_ARG,
                                     "%s: /%s/%s holds %g at element %zu, beyond bfloat16's range "
                                     "(it would round to infinity); write it in float32 (without "
                                     "--bf16)",
                                     path, group, t->name, (double)x, k);
        }
    }
    return CXR_OK;
}

/* A checkpoint (3 blocks: parameters, Adam m, v, and the weights' average when `average` is
 * not NULL) or a weights-only file (parameters alone, float32 or bf16). */
static cxr_status save_file(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta,
                            int weights, int bf16, const float *average)
{
    cxr_status st = CXR_OK;
    hid_t f = -1, g = -1, fapl = -1, fcpl = -1, gcpl = -1, ft = H5T_IEEE_F32LE,
          mt = H5T_NATIVE_FLOAT;
    cxr_tmpfile tf = { NULL, NULL, -1, -1 };
    float *host = NULL;
    const cxr_model_config *c = cxr_model_get_config(m);
    size_t np = cxr_model_n_params(m);

    if (meta->pp.size != c->image_size)
        CXR_THROW(CXR_E_MISMATCH, "checkpoint %s: preprocessing size %d differs from model size %d",
                  path, meta->pp.size, c->image_size);
    if (meta->n_classes != c->n_classes || !meta->class_names)
        CXR_THROW(CXR_E_ARG, "checkpoint %s: %d class names for a %d-class model", path,
                  meta->n_classes, c->n_classes);
    host = malloc(np * sizeof *host);
    if (!host) CXR_THROW(CXR_E_NOMEM, "checkpoint %s: out of memory", path);
    fapl = cxr_h5_fapl();
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    gcpl = H5Pcreate(H5P_GROUP_CREATE); /* no timestamps: the same model, the same bytes */
    if (fapl < 0 || fcpl < 0 || gcpl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0 ||
        H5Pset_obj_track_times(gcpl, 0) < 0)
        CXR_THROW_H5(CXR_E_HDF5, "checkpoint property lists");
    CXR_TRY(cxr_h5_create(&tf, path, fcpl, fapl, &f));
    /* a checkpoint has /average exactly when meta counts averaged epochs; a weights file's
     * parameters are the mean when it does */
    if (weights ? average != NULL : (average != NULL) != (meta->average_count > 0))
        CXR_THROW(CXR_E_ARG, "checkpoint %s: %s for an average of %d epochs from epoch %d", path,
                  average ? "a mean given" : "no mean given", meta->average_count,
                  meta->average_from);
    CXR_TRY(write_attrs(f, path, m, meta, weights, bf16, meta->average_count > 0));
    if (bf16 && (ft = mt = bf16_type()) < 0) CXR_THROW_H5(CXR_E_HDF5, "bfloat16 type");
    if (cxr_h5_write_strings(f, "class_names", (const char *const *)meta->class_names,
                             meta->n_classes) < 0)
        CXR_THROW_H5(CXR_E_HDF5, "cannot write the checkpoint's class_names");
    const int nb = weights ? 1 : average ? 4 : 3;
    for (int b = 0; b < nb; b++) {
        const char *group = b < 3 ? block_group[b] : "average";
        const float *v = b < 3 ? host : average;
        if (b < 3) CXR_TRY(cxr_model_get_block(m, block_id[b], host));
        CXR_TRY(check_block(path, group, m, v, b < 3 && block_id[b] == CXR_BLOCK_ADAM_V, bf16));
        if (bf16) bf16_narrow(host, np); /* in place: ahead of the reads (weights: b = 0) */
        g = H5Gcreate2(f, group, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        if (g < 0) CXR_THROW_H5(CXR_E_HDF5, "cannot create checkpoint group /%s", group);
        for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
            const cxr_tensor_info *t = cxr_model_tensor(m, i);
            hsize_t dims[4];
            for (int k = 0; k < t->ndim; k++) dims[k] = (hsize_t)t->shape[k];
            const void *src =
                bf16 ? (const void *)((uint16_t *)host + t->offset) : (const void *)(v + t->offset);
            if (cxr_h5_write_checked(g, t->name, ft, mt, t->ndim, dims, src) < 0)
                CXR_THROW_H5(CXR_E_IO, "cannot write dataset /%s/%s", group, t->name);
        }
        const herr_t rg = H5Gclose(g);
        g = -1;
        if (rg < 0) CXR_THROW_H5(CXR_E_IO, "cannot write group /%s", group);
    }
    herr_t rc = H5Fclose(f);
    f = -1;
    if (rc < 0) CXR_THROW_H5(CXR_E_IO, "cannot finish the file (its temporary is removed)");
    CXR_TRY(cxr_tmpfile_commit(&tf));
bail:
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (gcpl >= 0) H5Pclose(gcpl);
    if (bf16 && ft >= 0) H5Tclose(ft);
    cxr_tmpfile_discard(&tf); /* removes the temporary unless committed */
    free(host);
    return st;
}

cxr_status cxr_checkpoint_save(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta)
{
    return save_file(path, m, meta, 0, 0, NULL);
}

cxr_status cxr_checkpoint_save_averaged(const char *path, cxr_model *m,
                                        const cxr_checkpoint_meta *meta, const float *average)
{
    if (!average) return cxr_set_error(CXR_E_ARG, "checkpoint %s: no average to save", path);
    return save_file(path, m, meta, 0, 0, average);
}

cxr_status cxr_checkpoint_save_weights(const char *path, cxr_model *m,
                                       const cxr_checkpoint_meta *meta, int bf16)
{
    return save_file(path, m, meta, 1, bf16 != 0, NULL);
}

/* ---------------------------------------------------------------- read */
/* The attributes' values must make sense: a checksum protects against damage, not against
 * another writer's (or an edited file's) nonsense. */
static cxr_status check_meta(const char *path, const cxr_checkpoint_meta *m)
{
    const char *bad = NULL;
    double v = 0;
    if (m->epoch < 0)
        bad = "epoch", v = m->epoch;
    else if (m->epochs < 1)
        bad = "epochs", v = m->epochs;
    else if (m->epoch > m->epochs) /* a run writes epochs 1..epochs; a resume for more, its own */
        bad = "epoch", v = m->epoch;
    else if (m->step < m->epoch) /* every epoch takes a step at least */
        bad = "step", v = (double)m->step;
    else if (m->batch < 1 || m->batch > 65536)
        bad = "batch", v = m->batch;
    else if (!(m->adam.lr > 0) || !isfinite(m->adam.lr))
        bad = "lr", v = m->adam.lr;
    else if (!(m->adam.beta1 >= 0 && m->adam.beta1 < 1))
        bad = "beta1", v = m->adam.beta1;
    else if (!(m->adam.beta2 >= 0 && m->adam.beta2 < 1))
        bad = "beta2", v = m->adam.beta2;
    else if (!(m->adam.eps > 0) || !isfinite(m->adam.eps))
        bad = "eps", v = m->adam.eps;
    else if (!(m->threshold >= 0 && m->threshold <= 1))
        bad = "threshold", v = m->threshold;
    else if (!(m->adam.weight_decay >= 0) || !isfinite(m->adam.weight_decay))
        bad = "weight_decay", v = m->adam.weight_decay;
    else if (!(m->label_smoothing >= 0 && (float)m->label_smoothing < 1.0f)) /* used as float */
        bad = "label_smoothing", v = m->label_smoothing;
    else if (!(m->mixup >= 0 && (float)m->mixup <= CXR_LOADER_MIXUP_MAX)) /* used as float */
        bad = "mixup", v = m->mixup;
    else if (m->has_run && m->warmup_steps < 0)
        bad = "warmup_steps", v = (double)m->warmup_steps;
    else if (m->has_run && m->lr_step_every < 0)
        bad = "lr_step_every", v = (double)m->lr_step_every;
    else if (m->has_run && !(m->lr_gamma > 0 && m->lr_gamma <= 1))
        bad = "lr_gamma", v = m->lr_gamma;
    else if (m->has_run && m->patience < 0)
        bad = "patience", v = m->patience;
    else if (m->has_run && (m->best_epoch < 0 || m->best_epoch > m->epoch))
        bad = "best_epoch", v = m->best_epoch;
    else if (m->has_run && m->best_epoch > 0 && !isfinite(m->best_value)) /* none could beat it */
        bad = "best_value", v = m->best_value;
    else if (m->average_from < 0)
        bad = "average_from", v = m->average_from;
    else if (m->shuffle_window < CXR_LOADER_WINDOW_SPLIT)
        bad = "shuffle_window", v = m->shuffle_window;
    else if (m->max_steps < 0)
        bad = "max_steps", v = (double)m->max_steps;
    /* the mean holds the epochs from average_from to epoch, each once (a weights file's
     * /params is that mean; a checkpoint's is in /average) */
    else if (m->average_count != (m->average_from >= 1 && m->epoch >= m->average_from
                                      ? m->epoch - m->average_from + 1
                                      : 0))
        bad = "average_count", v = m->average_count;
    if (bad && !strcmp(bad, "step") && m->step >= 0)
        return cxr_set_error(CXR_E_FORMAT,
                             "%s: checkpoint attribute 'step': %lld, fewer than its %d epoch(s) "
                             "(each epoch takes a step at least)",
                             path, (long long)m->step, m->epoch);
    if (bad && !strcmp(bad, "epoch") && m->epoch >= 0) /* past its run's epochs */
        return cxr_set_error(CXR_E_FORMAT,
                             "%s: checkpoint attribute 'epoch': %d, past its run's %d epochs "
                             "('epochs')",
                             path, m->epoch, m->epochs);
    if (bad) return cxr_set_error(CXR_E_FORMAT, "%s: checkpoint attribute '%s': %g", path, bad, v);
    cxr_augment_params aug;
    if (cxr_augment_parse(m->augment, &aug) != CXR_OK)
        return cxr_wrap_error(CXR_E_FORMAT, "%s: checkpoint attribute 'augment'", path);
    cxr_model_config cfg = m->model;
    cfg.batch_capacity = 1;
    if (cxr_model_config_check(&cfg) != CXR_OK)
        return cxr_wrap_error(CXR_E_FORMAT, "%s: checkpoint attributes", path);
    if (cxr_preprocess_check(&m->pp) != CXR_OK)
        return cxr_wrap_error(CXR_E_FORMAT, "%s: checkpoint preprocessing attributes", path);
    for (int c = 0; c < m->n_classes; c++) {
        if (!m->class_names[c][0])
            return cxr_set_error(CXR_E_FORMAT, "%s: checkpoint class %d has an empty name", path,
                                 c);
        /* as the store's, which it copies (a version-1 file's are escaped on reading) */
        if (!cxr_utf8_valid(m->class_names[c])) {
            char esc[160];
            return cxr_set_error(CXR_E_FORMAT,
                                 "%s: checkpoint class %d's name '%s' is not valid UTF-8 "
                                 "(damaged or hand-made)",
                                 path, c, cxr_escape_name(esc, sizeof esc, m->class_names[c]));
        }
        for (int k = 0; k < c; k++)
            if (strcmp(m->class_names[k], m->class_names[c]) == 0)
                return cxr_set_error(CXR_E_FORMAT, "%s: checkpoint classes %d and %d are both '%s'",
                                     path, k, c, m->class_names[c]);
    }
    return CXR_OK;
}

static cxr_status read_class_names(hid_t f, const char *path, int ncls, int legacy,
                                   cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    hid_t d = -1, sp = -1, t = -1;
    char **v = NULL, *arena = NULL, **tmp = NULL;
    if (!cxr_h5_exists(f, "class_names"))
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint misses dataset class_names", path);
    d = H5Dopen2(f, "class_names", H5P_DEFAULT);
    if (d < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, path, "cannot open the checkpoint's class_names");
        goto bail;
    }
    meta->class_names = calloc((size_t)ncls, sizeof(char *));
    if (!meta->class_names) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    if (!legacy) {
        CXR_TRY(cxr_h5_read_strings(d, path, "class_names", ncls, &v, &arena));
    } else { /* version 1: variable-length strings */
        hsize_t n = 0;
        sp = H5Dget_space(d);
        if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 ||
            H5Sget_simple_extent_dims(sp, &n, NULL) < 0 || n != (hsize_t)ncls)
            CXR_THROW(CXR_E_FORMAT, "%s: class_names does not hold %d names", path, ncls);
        tmp = calloc((size_t)ncls, sizeof(char *));
        t = H5Dget_type(d);
        if (!tmp) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
        if (t < 0 || H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) <= 0)
            CXR_THROW(CXR_E_FORMAT, "%s: class_names are not strings", path);
        if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
            st = cxr_hdf5_error(CXR_E_FORMAT, path, "cannot read class_names");
            goto bail;
        }
    }
    meta->n_classes = ncls;
    for (int i = 0; i < ncls; i++) {
        const char *s = legacy ? (tmp[i] ? tmp[i] : "") : v[i];
        char *esc = NULL; /* version 1 stored names as they came, UTF-8 or not: escaped as now */
        if (legacy && cxr_h5_utf8_escape(s, &esc) < 0)
            CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
        meta->class_names[i] = esc ? esc : strdup(s);
        if (!meta->class_names[i]) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    }
bail:
    if (tmp) {
        for (int i = 0; i < ncls; i++) H5free_memory(tmp[i]);
        free(tmp);
    }
    free(v);
    free(arena);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* The digest attribute `name` (store_content, store_pixels) into *c by `parse`; *found 1 when
 * the file has it. CXR_E_FORMAT naming it when it is unreadable or not `shape`'s text. */
static cxr_status read_digests(hid_t f, const char *path, const char *name, const char *shape,
                               int (*parse)(const char *, cxr_store_content *),
                               cxr_store_content *c, int legacy, int *found)
{
    cxr_status st = CXR_OK;
    char text[256] = "";
    const int r = get_str(f, name, text, sizeof text, legacy);
    if (r < 0) CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute '%s' is unreadable", name);
    if (r == 2 || (r > 0 && !parse(text, c))) /* 2: longer than any such text */
        CXR_THROW(CXR_E_FORMAT,
                  "%s: checkpoint attribute '%s' is '%.80s', not \"%s; val ...; test ...\"", path,
                  name, text, shape);
    *found = r > 0;
bail:
    return st;
}

/* The string attributes read_meta_open reads: one longer than CXR_H5_STR_MAX is refused here,
 * by name and size, rather than said "unreadable" where it is read. */
static const char *const meta_strings[] = {
    "format",  "augment",         "threshold_split", "schedule",     "recipe",       "select",
    "stopped", "precision",       "store",           "tool_version", "params_dtype", "normalize",
    "head",    "resume_features", "store_content",   "store_pixels"
};

static cxr_status check_string_sizes(hid_t f, const char *path)
{
    for (size_t i = 0; i < sizeof meta_strings / sizeof *meta_strings; i++) {
        H5A_info_t info;
        if (H5Aexists(f, meta_strings[i]) <= 0 ||
            H5Aget_info_by_name(f, ".", meta_strings[i], &info, H5P_DEFAULT) < 0) {
            H5Eclear2(H5E_DEFAULT); /* absent or damaged: said where it is read */
            continue;
        }
        if (info.data_size > CXR_H5_STR_MAX)
            return cxr_set_error(CXR_E_FORMAT,
                                 "%s: checkpoint attribute '%s' holds %llu bytes, more than the "
                                 "%u a string attribute may",
                                 path, meta_strings[i], (unsigned long long)info.data_size,
                                 CXR_H5_STR_MAX);
    }
    return CXR_OK;
}

static cxr_status read_meta_open(hid_t f, const char *path, cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    char fmt[64] = "", norm[32] = "";
    int32_t ver = 0, epoch, epochs, batch, threads = 0, ncls, size, eq, max_side, ch[4], dn[2];
    int64_t step;
    uint64_t seed;
    double lr, b1, b2, eps, kp, alpha, thr = 0.5, crop, wd = 0, clip = CXR_CLAHE_CLIP;

    memset(meta, 0, sizeof *meta);
    int r = get_num(f, "format_version", H5T_NATIVE_INT32, &ver, 1);
    if (r < 0)
        return cxr_hdf5_error(CXR_E_FORMAT, path,
                              "checkpoint attribute 'format_version' is unreadable (damaged, not a "
                              "number, or out of range)");
    if (r == 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: not a cxr checkpoint (no format_version)", path);
    int legacy = ver == 1; /* read for compatibility: no checksums, variable-length strings */
    if ((st = check_string_sizes(f, path)) != CXR_OK) return st;
    if ((r = get_str(f, "format", fmt, sizeof fmt, legacy)) < 0)
        return cxr_hdf5_error(CXR_E_FORMAT, path,
                              "checkpoint attribute 'format' is unreadable (damaged, or not a "
                              "fixed-length string)");
    meta->weights_only = r && strcmp(fmt, CXR_WEIGHTS_FORMAT) == 0;
    if (!r || (strcmp(fmt, CXR_CHECKPOINT_FORMAT) != 0 && !meta->weights_only))
        return cxr_set_error(CXR_E_FORMAT,
                             "%s: not a cxr checkpoint (format attribute '%s', "
                             "expected '%s' or '%s')%s",
                             path, fmt, CXR_CHECKPOINT_FORMAT, CXR_WEIGHTS_FORMAT,
                             strcmp(fmt, CXR_STORE_FORMAT) == 0
                                 ? ": a store, not a model (give the model cxr-train wrote here)"
                                 : "");
    if (meta->weights_only) legacy = 0; /* weights files exist in versions 2 and 3 only */
    if (ver != CXR_CHECKPOINT_VERSION && ver != CXR_CHECKPOINT_VERSION_PLAIN && !legacy)
        return cxr_set_error(CXR_E_VERSION,
                             "%s: checkpoint format version %d, this program reads "
                             "versions 1 to %d",
                             path, ver, CXR_CHECKPOINT_VERSION);
#define NEED(name, type, var, n)                                                                  \
    if ((r = get_num(f, name, type, var, (n))) <= 0) {                                            \
        st = r ? cxr_hdf5_error(CXR_E_FORMAT, path,                                               \
                                "checkpoint attribute '%s' is unreadable (damaged, out of "       \
                                "range, or not %s)",                                              \
                                name, (n) > 1 ? "an array of " #n " numbers" : "a number")        \
               : cxr_set_error(CXR_E_FORMAT, "%s: checkpoint misses attribute '%s'", path, name); \
        goto bail;                                                                                \
    }
    NEED("epoch", H5T_NATIVE_INT32, &epoch, 1);
    NEED("step", H5T_NATIVE_INT64, &step, 1);
    NEED("seed", H5T_NATIVE_UINT64, &seed, 1);
    NEED("epochs", H5T_NATIVE_INT32, &epochs, 1);
    NEED("batch", H5T_NATIVE_INT32, &batch, 1);
    NEED("lr", H5T_NATIVE_DOUBLE, &lr, 1);
    NEED("beta1", H5T_NATIVE_DOUBLE, &b1, 1);
    NEED("beta2", H5T_NATIVE_DOUBLE, &b2, 1);
    NEED("eps", H5T_NATIVE_DOUBLE, &eps, 1);
    NEED("keep_prob", H5T_NATIVE_DOUBLE, &kp, 1);
    NEED("alpha", H5T_NATIVE_DOUBLE, &alpha, 1);
    NEED("n_classes", H5T_NATIVE_INT32, &ncls, 1);
    NEED("image_size", H5T_NATIVE_INT32, &size, 1);
    NEED("channels", H5T_NATIVE_INT32, ch, 4);
    NEED("dense", H5T_NATIVE_INT32, dn, 2);
    NEED("equalize", H5T_NATIVE_INT32, &eq, 1);
    NEED("crop_ratio", H5T_NATIVE_DOUBLE, &crop, 1);
    NEED("max_side", H5T_NATIVE_INT32, &max_side, 1);
#undef NEED
    /* optional (older checkpoints lack them), but not damaged */
    const int has_thr = get_num(f, "threshold", H5T_NATIVE_DOUBLE, &thr, 1);
    if (has_thr < 0) CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'threshold' is unreadable");
    if (get_num(f, "threads", H5T_NATIVE_INT32, &threads, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'threads' is unreadable");
    /* CLAHE checkpoints since 0.4 name their clip limit; one without it used CXR_CLAHE_CLIP */
    if (get_num(f, "clahe_clip", H5T_NATIVE_DOUBLE, &clip, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'clahe_clip' is unreadable");
    if ((r = get_str(f, "augment", meta->augment, sizeof meta->augment, legacy)) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'augment' is unreadable");
    if (r == 2) /* a cut spec could parse as another one */
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint attribute 'augment' is longer than %zu bytes", path,
                  sizeof meta->augment - 1);
    if (!meta->augment[0]) snprintf(meta->augment, sizeof meta->augment, "none");
    /* since 0.8; a file without it trained without label smoothing */
    if (get_num(f, "label_smoothing", H5T_NATIVE_DOUBLE, &meta->label_smoothing, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'label_smoothing' is unreadable");
    /* since 0.13; a file without it trained without mixup */
    if (get_num(f, "mixup", H5T_NATIVE_DOUBLE, &meta->mixup, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'mixup' is unreadable");
    if (get_num(f, "weight_decay", H5T_NATIVE_DOUBLE, &wd, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'weight_decay' is unreadable");
    if (get_str(f, "threshold_split", meta->threshold_split, sizeof meta->threshold_split, legacy) <
        0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'threshold_split' is unreadable");
    if (!has_thr) meta->threshold_split[0] = 0; /* where no threshold is, none was chosen */
    if ((r = get_str(f, "schedule", meta->schedule, sizeof meta->schedule, legacy)) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'schedule' is unreadable");
    if (r >= 1) { /* the run's definition: all of it */
        meta->has_run = 1;
        int32_t pat = 0, best = 0;
#define RUN_NUM(name, type, var)                                                                \
    if ((r = get_num(f, name, type, var, 1)) <= 0) {                                            \
        if (r < 0) CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute '%s' is unreadable", name); \
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint has 'schedule' but misses '%s'", path, name);   \
    }
#define RUN_STR(name, var)                                                                      \
    if ((r = get_str(f, name, var, sizeof var, legacy)) <= 0) {                                 \
        if (r < 0) CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute '%s' is unreadable", name); \
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint has 'schedule' but misses '%s'", path, name);   \
    }
        RUN_STR("recipe", meta->recipe);
        RUN_STR("select", meta->select);
        RUN_STR("stopped", meta->stopped);
        RUN_NUM("warmup_steps", H5T_NATIVE_INT64, &meta->warmup_steps);
        RUN_NUM("lr_step_every", H5T_NATIVE_INT64, &meta->lr_step_every);
        RUN_NUM("lr_gamma", H5T_NATIVE_DOUBLE, &meta->lr_gamma);
        RUN_NUM("patience", H5T_NATIVE_INT32, &pat);
        RUN_NUM("best_epoch", H5T_NATIVE_INT32, &best);
        RUN_NUM("best_value", H5T_NATIVE_DOUBLE, &meta->best_value);
#undef RUN_NUM
#undef RUN_STR
        meta->patience = pat;
        meta->best_epoch = best;
    }
    /* absent in files written before weight averaging: none; average_count with /average */
    int32_t afrom = 0, acount = 0;
    if (get_num(f, "average_from", H5T_NATIVE_INT32, &afrom, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'average_from' is unreadable");
    if (get_num(f, "average_count", H5T_NATIVE_INT32, &acount, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'average_count' is unreadable");
    meta->average_from = afrom;
    meta->average_count = acount;
    /* absent in files written before it: 0, the loader's window they were trained with */
    int32_t window = 0;
    if (get_num(f, "shuffle_window", H5T_NATIVE_INT32, &window, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'shuffle_window' is unreadable");
    meta->shuffle_window = window;
    meta->has_shuffle_window = H5Aexists(f, "shuffle_window") > 0;
    /* absent in files written before 0.14: 0, whatever the run had (a resume is then given it
     * again, or refused with the steps per epoch) */
    int64_t max_steps = 0;
    if (get_num(f, "max_steps", H5T_NATIVE_INT64, &max_steps, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'max_steps' is unreadable");
    meta->max_steps = max_steps;
    /* since 0.16: a newer cxr's training feature that this one does not know stops a resume */
    char *features = NULL;
    if (cxr_h5_attr_get_str(f, "resume_features", &features) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'resume_features' is unreadable");
    resume_first_unknown(features ? features : "", meta->resume_unknown,
                         sizeof meta->resume_unknown);
    free(features);
    /* informational (a resume compares it): a name this version does not know is kept */
    if (get_str(f, "precision", meta->precision, sizeof meta->precision, legacy) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'precision' is unreadable");
    if (get_str(f, "store", meta->store, sizeof meta->store, legacy) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'store' is unreadable");
    /* since 0.19; absent: a resume compares the store's path only */
    CXR_TRY(read_digests(f, path, "store_content", "train N SET ORDER", content_parse,
                         &meta->store_content, legacy, &meta->has_store_content));
    /* since 0.20; absent: the pixels are not compared. Read with store_content only: without
     * it (a file whose store_content was taken away) the digests identify nothing */
    if (meta->has_store_content)
        CXR_TRY(read_digests(f, path, "store_pixels", "train PIXELS", pixels_parse,
                             &meta->store_content, legacy, &r));
    if (get_str(f, "tool_version", meta->tool_version, sizeof meta->tool_version, legacy) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'tool_version' is unreadable");
    if (meta->weights_only) { /* parameters as float32 or bfloat16 */
        char dt[16] = "";
        if (get_str(f, "params_dtype", dt, sizeof dt, 0) <= 0 ||
            (strcmp(dt, "float32") != 0 && strcmp(dt, "bfloat16") != 0))
            CXR_THROW(CXR_E_FORMAT,
                      "%s: weights attribute 'params_dtype' '%s' is not float32 or "
                      "bfloat16",
                      path, dt);
        meta->bf16 = dt[0] == 'b';
    }
    if ((r = get_str(f, "normalize", norm, sizeof norm, legacy)) <= 0) {
        if (r < 0) CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'normalize' is unreadable");
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint misses attribute 'normalize'", path);
    }
    if (cxr_norm_parse(norm, &meta->pp.normalize) != CXR_OK)
        CXR_THROW(CXR_E_FORMAT, "%s: unknown normalize '%s'", path, norm);
    if (ncls < 2 || ncls > 4096 || size < 8)
        CXR_THROW(CXR_E_FORMAT, "%s: bad n_classes %d or image_size %d", path, ncls, size);

    cxr_model_config_defaults(&meta->model, ncls);
    /* since 0.9; a file without it has the study's flattened head */
    char head[16] = "flatten";
    if ((r = get_str(f, "head", head, sizeof head, legacy)) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'head' is unreadable");
    if (cxr_model_head_parse(head, &meta->model.head) != CXR_OK)
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint attribute 'head' is '%s', not flatten or gap", path,
                  head);
    /* since 0.9 too; a file without it reads the image itself (1) */
    int32_t ipool = 1;
    if (get_num(f, "input_pool", H5T_NATIVE_INT32, &ipool, 1) < 0)
        CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute 'input_pool' is unreadable");
    if (ipool != 1 && ipool != 2 && ipool != 4 && ipool != 8)
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint attribute 'input_pool' is %d, not 1, 2, 4 or 8",
                  path, (int)ipool);
    meta->model.input_pool = ipool;
    /* version 3: the input scale, required; before, the image itself */
    if (ver == CXR_CHECKPOINT_VERSION) {
        static const char *const io[2] = { "input_scale", "input_shift" };
        double v[2];
        for (int i = 0; i < 2; i++)
            if ((r = get_num(f, io[i], H5T_NATIVE_DOUBLE, &v[i], 1)) <= 0) {
                if (r < 0)
                    CXR_THROW_H5(CXR_E_FORMAT,
                                 "checkpoint attribute '%s' is unreadable (damaged, out of range, "
                                 "or not a number)",
                                 io[i]);
                CXR_THROW(CXR_E_FORMAT, "%s: checkpoint misses attribute '%s' (format version 3)",
                          path, io[i]);
            }
        cxr_model_config t; /* the bounds of cxr_model_config_check, on these two alone */
        cxr_model_config_defaults(&t, 2);
        t.input_scale = meta->model.input_scale = (float)v[0];
        t.input_shift = meta->model.input_shift = (float)v[1];
        if ((double)t.input_scale != v[0] || (double)t.input_shift != v[1] ||
            cxr_model_config_check(&t) != CXR_OK)
            CXR_THROW(CXR_E_FORMAT,
                      "%s: checkpoint attributes 'input_scale' %.17g and 'input_shift' %.17g are "
                      "not an input scale (float32 values, scale in [2^-20, 2^20], |shift| <= "
                      "2^20)",
                      path, v[0], v[1]);
    } else /* an older file holding a scale was edited: read unscaled, it is another model */
        for (int i = 0; i < 2; i++) {
            static const char *const io[2] = { "input_scale", "input_shift" };
            const htri_t has = H5Aexists(f, io[i]);
            if (has < 0)
                CXR_THROW_H5(CXR_E_FORMAT, "checkpoint attribute '%s' cannot be looked up", io[i]);
            if (has > 0)
                CXR_THROW(CXR_E_FORMAT,
                          "%s: checkpoint format version %d carries attribute '%s', which only "
                          "version %d files hold (the file was edited or damaged)",
                          path, (int)ver, io[i], CXR_CHECKPOINT_VERSION);
        }
    meta->model.image_size = size;
    for (int i = 0; i < 4; i++) meta->model.channels[i] = ch[i];
    meta->model.dense[0] = dn[0];
    meta->model.dense[1] = dn[1];
    meta->model.alpha = (float)alpha;
    meta->model.keep_prob = (float)kp;
    meta->model.batch_capacity = batch > 0 ? batch : 64;
    meta->model.seed = seed;
    meta->adam.lr = (float)lr;
    meta->adam.beta1 = (float)b1;
    meta->adam.beta2 = (float)b2;
    meta->adam.eps = (float)eps;
    meta->adam.weight_decay = (float)wd;
    meta->epochs = epochs;
    meta->batch = batch;
    meta->threads = threads;
    meta->epoch = epoch;
    meta->step = step;
    meta->seed = seed;
    meta->threshold = thr;
    cxr_norm normalize = meta->pp.normalize; /* parsed above */
    cxr_preprocess_defaults(&meta->pp);
    meta->pp.normalize = normalize;
    meta->pp.size = size;
    meta->pp.equalize = eq;
    meta->pp.crop_ratio = crop;
    meta->pp.max_side = max_side;
    meta->pp.clahe_clip = clip;
    meta->checksummed = !legacy;
    CXR_TRY(read_class_names(f, path, ncls, legacy, meta));
    CXR_TRY(check_meta(path, meta));
bail:
    if (st != CXR_OK) cxr_checkpoint_meta_free(meta);
    return st;
}

cxr_status cxr_checkpoint_read_meta(const char *path, cxr_checkpoint_meta *meta)
{
    hid_t f;
    memset(meta, 0, sizeof *meta);
    cxr_status st = cxr_h5_open(path, "checkpoint", &f);
    if (st != CXR_OK) return st;
    st = read_meta_open(f, path, meta);
    H5Fclose(f);
    return st;
}

/* The type of a stored tensor, for a message: "int32", "float64", "float32 big-endian"... */
static void type_text(hid_t ft, char *buf, size_t cap)
{
    const H5T_class_t cl = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    if (cl != H5T_FLOAT && cl != H5T_INTEGER) {
        snprintf(buf, cap, "non-numeric");
        return;
    }
    snprintf(buf, cap, "%s%zu%s",
             cl == H5T_FLOAT                   ? "float"
             : H5Tget_sign(ft) == H5T_SGN_NONE ? "uint"
                                               : "int",
             8 * H5Tget_size(ft), H5Tget_order(ft) == H5T_ORDER_BE ? " big-endian" : "");
}

/* Open /name of a checkpoint and check it against t: its shape, its element type (float32, or
 * with bf16 the bfloat16 of cxr-export --weights --bf16: another type would be converted by
 * HDF5 without a word) and, in a checksummed file, its Fletcher32 filter. *d: the open
 * dataset (the caller closes it), -1 on error. */
static cxr_status open_tensor(hid_t f, const char *path, const char *name, const cxr_tensor_info *t,
                              int checksummed, int bf16, hid_t *d)
{
    cxr_status st = CXR_OK;
    hid_t sp = -1, ft = -1, want_t = bf16 ? bf16_type() : H5T_IEEE_F32LE;
    hsize_t dims[8], want[4];
    int have;
    *d = -1;
    CXR_TRY(cxr_h5_require(f, name, path, &have));
    if (!have) CXR_THROW(CXR_E_FORMAT, "checkpoint %s: missing dataset /%s", path, name);
    *d = H5Dopen2(f, name, H5P_DEFAULT);
    sp = *d < 0 ? -1 : H5Dget_space(*d);
    if (sp < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, path, "checkpoint: cannot open /%s", name);
        goto bail;
    }
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd < 0 || nd > 8) CXR_THROW(CXR_E_FORMAT, "checkpoint %s: /%s has %d dims", path, name, nd);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    int same = nd == t->ndim;
    for (int k = 0; k < t->ndim; k++) {
        want[k] = (hsize_t)t->shape[k];
        if (same && dims[k] != want[k]) same = 0;
    }
    if (!same) {
        char have_s[96], want_s[96];
        dims_text(have_s, sizeof have_s, nd, dims);
        dims_text(want_s, sizeof want_s, t->ndim, want);
        CXR_THROW(CXR_E_MISMATCH, "checkpoint %s: layer %s has shape %s, model expects %s", path,
                  t->name, have_s, want_s);
    }
    ft = H5Dget_type(*d);
    if (want_t < 0 || ft < 0 || H5Tequal(ft, want_t) <= 0) {
        char have_s[48];
        type_text(ft, have_s, sizeof have_s);
        CXR_THROW(CXR_E_FORMAT, "checkpoint %s: /%s holds %s elements, expected %s", path, name,
                  have_s, bf16 ? "bfloat16 (params_dtype)" : "float32 (little-endian)");
    }
    if (checksummed && !cxr_h5_is_checked(*d))
        CXR_THROW(CXR_E_FORMAT, "checkpoint %s: /%s is stored without a checksum", path, name);
    if (!cxr_h5_is_complete(*d))
        CXR_THROW(CXR_E_FORMAT, "checkpoint %s: /%s " CXR_H5_INCOMPLETE, path, name);
bail:
    if (ft >= 0) H5Tclose(ft);
    if (bf16 && want_t >= 0) H5Tclose(want_t);
    if (sp >= 0) H5Sclose(sp);
    if (st != CXR_OK && *d >= 0) {
        H5Dclose(*d);
        *d = -1;
    }
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* Read /<block>/<tensor> into dst after checking it (open_tensor: shape, element type,
 * checksum filter) and that every value is finite (Adam's second moments also >= 0). bf16:
 * stored as bfloat16 (a weights file), widened exactly. */
static cxr_status read_tensor(hid_t f, const char *path, const char *name, const cxr_tensor_info *t,
                              int checksummed, int second_moment, int bf16, float *dst)
{
    cxr_status st = CXR_OK;
    hid_t d = -1, mt = bf16 ? bf16_type() : H5T_NATIVE_FLOAT;
    CXR_TRY(open_tensor(f, path, name, t, checksummed, bf16, &d));
    if (mt < 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, path, "checkpoint: cannot read /%s", name);
        goto bail;
    }
    size_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= (size_t)t->shape[k];
    if (bf16) bf16_widen(dst, n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]) || (second_moment && dst[i] < 0))
            CXR_THROW(CXR_E_FORMAT, "checkpoint %s: /%s holds %s %g at element %zu", path, name,
                      isfinite(dst[i]) ? "a negative second moment" : "a non-finite value",
                      (double)dst[i], i);
bail:
    if (d >= 0) H5Dclose(d);
    if (bf16 && mt >= 0) H5Tclose(mt);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* An /average group belongs to a checkpoint that counts averaged epochs: one beside a count
 * of 0 (or in a weights file) is an edited or damaged file, not silently ignored. */
static cxr_status check_average_group(hid_t f, const char *path, const cxr_checkpoint_meta *ck)
{
    if ((ck->average_count == 0 || ck->weights_only) && cxr_h5_exists(f, "average"))
        return cxr_set_error(CXR_E_FORMAT,
                             "checkpoint %s: has /average but %s (average_count %d): damaged or "
                             "edited",
                             path, ck->weights_only ? "is a weights file" : "averages no epoch",
                             ck->average_count);
    return CXR_OK;
}

cxr_status cxr_checkpoint_load(const char *path, cxr_model *m, cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    hid_t f = -1;
    cxr_checkpoint_meta local;
    float *blocks[3] = { NULL, NULL, NULL };
    const cxr_model_config *c = cxr_model_get_config(m);
    size_t np = cxr_model_n_params(m);
    memset(&local, 0, sizeof local);

    CXR_TRY(cxr_h5_open(path, "checkpoint", &f));
    CXR_TRY(read_meta_open(f, path, &local));
    if (local.weights_only)
        CXR_THROW(CXR_E_FORMAT,
                  "%s is a weights-only model file (format '%s', from cxr-export --weights): it "
                  "holds no Adam state, so training cannot resume from it; resume from the "
                  "checkpoint cxr-train wrote",
                  path, CXR_WEIGHTS_FORMAT);
    CXR_TRY(check_average_group(f, path, &local));
    if (local.model.n_classes != c->n_classes || local.model.image_size != c->image_size)
        CXR_THROW(CXR_E_MISMATCH,
                  "checkpoint %s: %d classes on %dx%d images, model expects %d "
                  "classes on %dx%d",
                  path, local.model.n_classes, local.model.image_size, local.model.image_size,
                  c->n_classes, c->image_size, c->image_size);
    /* a gap head's tensors have the same shapes at every input pool: compared here, not by
     * the shapes below */
    if (local.model.head != c->head || local.model.input_pool != c->input_pool)
        CXR_THROW(CXR_E_MISMATCH,
                  "checkpoint %s: head %s with input pool %d, the model has head %s with input "
                  "pool %d",
                  path, cxr_model_head_name(local.model.head), local.model.input_pool,
                  cxr_model_head_name(c->head), c->input_pool);
    if (local.model.input_scale != c->input_scale || local.model.input_shift != c->input_shift)
        CXR_THROW(CXR_E_MISMATCH,
                  "checkpoint %s: input scale %.9g and shift %.9g, the model has %.9g and %.9g",
                  path, local.model.input_scale, local.model.input_shift, c->input_scale,
                  c->input_shift);
    for (int b = 0; b < 3; b++) {
        blocks[b] = calloc(np, sizeof(float)); /* the padding between tensors stays 0 */
        if (!blocks[b]) CXR_THROW(CXR_E_NOMEM, "checkpoint %s: out of memory", path);
        for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
            const cxr_tensor_info *t = cxr_model_tensor(m, i);
            char name[128];
            snprintf(name, sizeof name, "%s/%s", block_group[b], t->name);
            CXR_TRY(read_tensor(f, path, name, t, local.checksummed,
                                block_id[b] == CXR_BLOCK_ADAM_V, 0, blocks[b] + t->offset));
        }
    }
    /* only now touch the model: a failed load leaves it as it was */
    for (int b = 0; b < 3; b++) CXR_TRY(cxr_model_set_block(m, block_id[b], blocks[b]));
    cxr_model_set_step(m, local.step);
    if (meta) {
        *meta = local;
        memset(&local, 0, sizeof local);
    }
bail:
    if (f >= 0) H5Fclose(f);
    for (int b = 0; b < 3; b++) free(blocks[b]);
    cxr_checkpoint_meta_free(&local);
    return st;
}

cxr_status cxr_checkpoint_load_average(const char *path, cxr_model *m, float *dst)
{
    cxr_status st = CXR_OK;
    hid_t f = -1;
    cxr_checkpoint_meta local;
    memset(&local, 0, sizeof local);
    CXR_TRY(cxr_h5_open(path, "checkpoint", &f));
    CXR_TRY(read_meta_open(f, path, &local));
    if (local.average_count < 1)
        CXR_THROW(CXR_E_FORMAT, "checkpoint %s holds no weight average (/average)", path);
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
        const cxr_tensor_info *t = cxr_model_tensor(m, i);
        char name[128];
        snprintf(name, sizeof name, "average/%s", t->name);
        CXR_TRY(read_tensor(f, path, name, t, local.checksummed, 0, 0, dst + t->offset));
    }
bail:
    if (f >= 0) H5Fclose(f);
    cxr_checkpoint_meta_free(&local);
    return st;
}

/* The weights of an open checkpoint or weights file (/params, or /average when it holds one)
 * into m's parameter block, a tensor at a time: straight into the block when it is host memory
 * (so the load holds no second copy), through one tensor-sized host buffer for a GPU backend. */
static cxr_status read_params(hid_t f, const char *path, cxr_model *m,
                              const cxr_checkpoint_meta *ck)
{
    cxr_status st = CXR_OK;
    cxr_backend *be = cxr_model_backend(m);
    float *block = cxr_model_block(m, CXR_BLOCK_PARAMS), *host = NULL;
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
        const cxr_tensor_info *t = cxr_model_tensor(m, i);
        char name[128];
        snprintf(name, sizeof name, "%s/%s",
                 ck->average_count > 0 && !ck->weights_only ? "average" : "params", t->name);
        float *dst = block + t->offset;
        if (be->on_device) {
            free(host);
            if (!(host = malloc(t->count * sizeof *host)))
                CXR_THROW(CXR_E_NOMEM, "checkpoint %s: out of memory", path);
            dst = host;
        }
        CXR_TRY(read_tensor(f, path, name, t, ck->checksummed, 0, ck->bf16, dst));
        if (be->on_device) CXR_TRY(be->upload(be->ctx, block + t->offset, host, t->count * 4));
    }
bail:
    free(host);
    return st;
}

cxr_status cxr_checkpoint_open_model(const char *path, cxr_backend *be, int batch_capacity,
                                     int threads, cxr_model **out, cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    cxr_model *m = NULL;
    cxr_checkpoint_meta local;
    hid_t f = -1;
    memset(&local, 0, sizeof local);
    *out = NULL;
    CXR_TRY(cxr_h5_open(path, "checkpoint", &f));
    CXR_TRY(read_meta_open(f, path, &local));
    cxr_model_config cfg = local.model;
    cfg.batch_capacity = batch_capacity > 0 ? batch_capacity : 1;
    st = cxr_model_config_check(&cfg);
    if (st != CXR_OK) {
        cxr_wrap_error(st, "checkpoint %s", path);
        goto bail;
    }
    /* every tensor the file holds is checked against the config (shape, type) before anything
     * is allocated for it: a config attribute edited to a large layer is refused here, not
     * after a model of that size was made. A checkpoint holds its Adam state (and, with a
     * mean, its training weights) too: not read here, but one that lacks a tensor is
     * incomplete (damaged or edited), and refused as cxr_checkpoint_load would */
    CXR_TRY(check_average_group(f, path, &local));
    cxr_tensor_info layout[CXR_MODEL_N_TENSORS];
    cxr_model_layout(&cfg, layout);
    const char *weights = local.average_count > 0 && !local.weights_only ? "average" : "params";
    for (int b = 0; b < 4; b++) {
        const char *group = b == 3 ? "average" : block_group[b];
        if (local.weights_only ? strcmp(group, "params") != 0 : b == 3 && local.average_count < 1)
            continue;
        for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
            char name[128];
            snprintf(name, sizeof name, "%s/%s", group, layout[i].name);
            hid_t d = -1;
            CXR_TRY(open_tensor(f, path, name, &layout[i], local.checksummed,
                                !strcmp(group, weights) && local.bf16, &d));
            H5Dclose(d);
        }
    }
    st = cxr_model_create_inference(&m, &cfg, be);
    if (st != CXR_OK) {
        cxr_wrap_error(st, "checkpoint %s", path);
        goto bail;
    }
    CXR_TRY(cxr_model_set_threads(m, threads));
    CXR_TRY(read_params(f, path, m, &local));
    cxr_model_set_step(m, local.step);
    *out = m;
    m = NULL;
    *meta = local;
    memset(&local, 0, sizeof local);
bail:
    if (f >= 0) H5Fclose(f);
    cxr_model_destroy(m);
    cxr_checkpoint_meta_free(&local);
    return st;
}

cxr_status cxr_checkpoint_check_store(const cxr_checkpoint_meta *meta, const char *path,
                                      const cxr_store *store)
{
    const char *sp = cxr_store_path(store);
    if (meta->n_classes != cxr_store_n_classes(store))
        return cxr_set_error(CXR_E_MISMATCH, "checkpoint %s has %d classes, store %s has %d", path,
                             meta->n_classes, sp, cxr_store_n_classes(store));
    for (int c = 0; c < meta->n_classes; c++)
        if (strcmp(meta->class_names[c], cxr_store_class_name(store, c)) != 0)
            return cxr_set_error(CXR_E_MISMATCH,
                                 "class %d is '%s' in checkpoint %s but '%s' in store %s", c,
                                 meta->class_names[c], path, cxr_store_class_name(store, c), sp);
    /* the same images preprocessed otherwise (e.g. cxr-pack --equalize clahe) are other inputs:
     * a model must not be evaluated or resumed on them; nor images of another size (checked
     * again where a split is read; here before any pass, e.g. of an ensemble's other members) */
    const cxr_preprocess_params *q = cxr_store_preprocess(store);
    if (q->size > 0 && meta->model.image_size != q->size)
        return cxr_set_error(CXR_E_MISMATCH,
                             "checkpoint %s takes %dx%d images, store %s holds %dx%d", path,
                             meta->model.image_size, meta->model.image_size, sp, q->size, q->size);
    char steps[256];
    if (!cxr_preprocess_same_steps(&meta->pp, q))
        return cxr_set_error(CXR_E_MISMATCH,
                             "checkpoint %s was trained on other preprocessing than store %s "
                             "holds (%s, the checkpoint's first); use it with a store packed "
                             "as its own was (cxr-pack's --equalize, --clahe-clip, --normalize, "
                             "--crop-ratio)",
                             path, sp,
                             cxr_preprocess_pair_label(&meta->pp, q, 0, steps, sizeof steps));
    return CXR_OK;
}

cxr_status cxr_checkpoint_resumable(const cxr_checkpoint_meta *meta, const char *path)
{
    if (meta->resume_unknown[0])
        return cxr_set_error(CXR_E_VERSION,
                             "--resume %s: written by %s, its run trains with '%s', which this "
                             "cxr (%s) does not know: resuming here would go on without it; "
                             "resume it with the cxr that wrote it or a later one (cxr-eval, "
                             "cxr-predict and cxr-export can use it as it is)",
                             path, meta->tool_version[0] ? meta->tool_version : "another cxr",
                             meta->resume_unknown, CXR_VERSION_STRING);
    if (!meta->weights_only) return CXR_OK;
    return cxr_set_error(CXR_E_FORMAT,
                         "--resume %s: a weights-only model file (cxr-export --weights) holds no "
                         "Adam state to resume from; give the checkpoint cxr-train wrote",
                         path);
}

const char *cxr_threshold_choose(const cxr_checkpoint_meta *meta, double *threshold)
{
    if (!isnan(*threshold)) return "--threshold";
    *threshold = meta->threshold;
    if (strcmp(meta->threshold_split, "val") == 0) return "chosen on val, stored in the model";
    if (meta->threshold != 0.5) return "stored in the model";
    return CXR_THRESHOLD_DEFAULT ": the model holds no threshold chosen on val";
}

void cxr_threshold_say(FILE *f, const char *tool, double threshold, const char *source)
{
    fprintf(f, "%s: threshold %.9g (%s)\n", tool, threshold, source);
}

int cxr_threshold_is_default(const char *source)
{
    return source && strncmp(source, CXR_THRESHOLD_DEFAULT, strlen(CXR_THRESHOLD_DEFAULT)) == 0;
}
