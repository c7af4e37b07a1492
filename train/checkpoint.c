/* checkpoint.c: HDF5 checkpoints behind cxr_checkpoint.h (one dataset per tensor for the
 * parameters and Adam's m and v, attributes for counters, recipe, model shape, preprocessing).
 */
#include "cxr_checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
static int put_attr(hid_t loc, const char *name, hid_t type, const void *v, hsize_t n)
{
    hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, type, v) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return ok;
}

static hid_t vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int put_str(hid_t loc, const char *name, const char *v)
{
    hid_t t = vlen_str_type();
    int ok = put_attr(loc, name, t, &v, 0);
    H5Tclose(t);
    return ok;
}

/* Read attribute `name` into v[n] when it holds exactly n elements (more would overflow v). */
static int get_attr(hid_t loc, const char *name, hid_t type, void *v, hssize_t n)
{
    if (H5Aexists(loc, name) <= 0) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    int ok = sp >= 0 && H5Sget_simple_extent_npoints(sp) == n && H5Aread(a, type, v) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return ok;
}

/* Read a string attribute (variable or fixed length) into buf. */
static int get_str(hid_t loc, const char *name, char *buf, size_t cap)
{
    if (H5Aexists(loc, name) <= 0) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t ft = H5Aget_type(a);
    int ok = 0;
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = vlen_str_type();
            char *s = NULL;
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(buf, cap, "%s", s);
                H5free_memory(s);
                ok = 1;
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            char *s = calloc(1, n + 1);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n + 1);
            if (s && H5Aread(a, mt, s) >= 0) {
                snprintf(buf, cap, "%s", s);
                ok = 1;
            }
            H5Tclose(mt);
            free(s);
        }
    }
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return ok;
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

/* ---------------------------------------------------------------- save */
cxr_status cxr_checkpoint_save(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    hid_t f = -1, g = -1, sp = -1, d = -1, st_t = -1;
    float *host = NULL;
    char tmp[4096];
    int tmp_made = 0;
    const cxr_model_config *c = cxr_model_get_config(m);
    size_t np = cxr_model_n_params(m);

    CXR_TRY(cxr_hdf5_init());
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        CXR_THROW(CXR_E_ARG, "checkpoint %s: path too long", path);
    host = malloc(np * sizeof *host);
    if (!host) CXR_THROW(CXR_E_NOMEM, "checkpoint %s: out of memory", path);

    f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) CXR_THROW_H5(CXR_E_IO, "cannot create the checkpoint's temporary file %s", tmp);
    tmp_made = 1;

    int32_t ver = CXR_CHECKPOINT_VERSION, epoch = meta->epoch, epochs = meta->epochs,
            batch = meta->batch, threads = meta->threads, ncls = c->n_classes, size = c->image_size,
            eq = meta->pp.equalize, max_side = meta->pp.max_side, pp_size = meta->pp.size;
    int64_t step = cxr_model_get_step(m);
    uint64_t seed = meta->seed;
    double lr = meta->adam.lr, b1 = meta->adam.beta1, b2 = meta->adam.beta2, eps = meta->adam.eps,
           kp = c->keep_prob, alpha = c->alpha, thr = meta->threshold, crop = meta->pp.crop_ratio;
    int32_t ch[4] = { c->channels[0], c->channels[1], c->channels[2], c->channels[3] };
    int32_t dn[2] = { c->dense[0], c->dense[1] };
    (void)pp_size;
    int ok = put_str(f, "format", CXR_CHECKPOINT_FORMAT) &&
             put_attr(f, "format_version", H5T_NATIVE_INT32, &ver, 0) &&
             put_str(f, "tool_version", meta->tool_version) && put_str(f, "store", meta->store) &&
             put_attr(f, "epoch", H5T_NATIVE_INT32, &epoch, 0) &&
             put_attr(f, "step", H5T_NATIVE_INT64, &step, 0) &&
             put_attr(f, "seed", H5T_NATIVE_UINT64, &seed, 0) && put_str(f, "rng", RNG_TEXT) &&
             put_attr(f, "epochs", H5T_NATIVE_INT32, &epochs, 0) &&
             put_attr(f, "batch", H5T_NATIVE_INT32, &batch, 0) &&
             put_attr(f, "threads", H5T_NATIVE_INT32, &threads, 0) &&
             put_attr(f, "lr", H5T_NATIVE_DOUBLE, &lr, 0) &&
             put_attr(f, "beta1", H5T_NATIVE_DOUBLE, &b1, 0) &&
             put_attr(f, "beta2", H5T_NATIVE_DOUBLE, &b2, 0) &&
             put_attr(f, "eps", H5T_NATIVE_DOUBLE, &eps, 0) &&
             put_attr(f, "keep_prob", H5T_NATIVE_DOUBLE, &kp, 0) &&
             put_attr(f, "alpha", H5T_NATIVE_DOUBLE, &alpha, 0) &&
             put_attr(f, "n_classes", H5T_NATIVE_INT32, &ncls, 0) &&
             put_attr(f, "image_size", H5T_NATIVE_INT32, &size, 0) &&
             put_attr(f, "channels", H5T_NATIVE_INT32, ch, 4) &&
             put_attr(f, "dense", H5T_NATIVE_INT32, dn, 2) &&
             put_attr(f, "threshold", H5T_NATIVE_DOUBLE, &thr, 0) &&
             put_attr(f, "equalize", H5T_NATIVE_INT32, &eq, 0) &&
             put_str(f, "normalize", cxr_norm_name(meta->pp.normalize)) &&
             put_attr(f, "crop_ratio", H5T_NATIVE_DOUBLE, &crop, 0) &&
             put_attr(f, "max_side", H5T_NATIVE_INT32, &max_side, 0);
    if (!ok) CXR_THROW_H5(CXR_E_HDF5, "cannot write the checkpoint's attributes");
    if (meta->pp.size != c->image_size)
        CXR_THROW(CXR_E_MISMATCH, "checkpoint %s: preprocessing size %d differs from model size %d",
                  path, meta->pp.size, c->image_size);

    /* class names */
    {
        hsize_t n = (hsize_t)meta->n_classes;
        if (meta->n_classes != c->n_classes || !meta->class_names)
            CXR_THROW(CXR_E_ARG, "checkpoint %s: %d class names for a %d-class model", path,
                      meta->n_classes, c->n_classes);
        st_t = vlen_str_type();
        sp = H5Screate_simple(1, &n, NULL);
        d = H5Dcreate2(f, "class_names", st_t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (d < 0 || H5Dwrite(d, st_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, meta->class_names) < 0)
            CXR_THROW_H5(CXR_E_HDF5, "cannot write the checkpoint's class_names");
        H5Dclose(d);
        d = -1;
        H5Sclose(sp);
        sp = -1;
    }

    for (int b = 0; b < 3; b++) {
        CXR_TRY(cxr_model_get_block(m, block_id[b], host));
        g = H5Gcreate2(f, block_group[b], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) CXR_THROW_H5(CXR_E_HDF5, "cannot create checkpoint group /%s", block_group[b]);
        for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
            const cxr_tensor_info *t = cxr_model_tensor(m, i);
            hsize_t dims[4];
            for (int k = 0; k < t->ndim; k++) dims[k] = (hsize_t)t->shape[k];
            sp = H5Screate_simple(t->ndim, dims, NULL);
            d = H5Dcreate2(g, t->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (d < 0 ||
                H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host + t->offset) < 0)
                CXR_THROW_H5(CXR_E_IO, "cannot write checkpoint dataset /%s/%s", block_group[b],
                             t->name);
            H5Dclose(d);
            d = -1;
            H5Sclose(sp);
            sp = -1;
        }
        H5Gclose(g);
        g = -1;
    }
    if (H5Fclose(f) < 0) {
        f = -1;
        CXR_THROW_H5(CXR_E_IO, "cannot close the checkpoint's temporary file %s", tmp);
    }
    f = -1;
    /* make the bytes durable before the rename makes them visible */
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(tmp, path) != 0)
        CXR_THROW(CXR_E_IO, "checkpoint %s: cannot rename %s into place: %s", path, tmp,
                  strerror(errno));
    tmp_made = 0;
bail:
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    if (g >= 0) H5Gclose(g);
    if (st_t >= 0) H5Tclose(st_t);
    if (f >= 0) H5Fclose(f);
    if (tmp_made) unlink(tmp);
    free(host);
    return st;
}

/* ---------------------------------------------------------------- read */
static cxr_status read_meta_open(hid_t f, const char *path, cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    hid_t d = -1, sp = -1, t = -1;
    char fmt[64] = "", norm[32] = "";
    int32_t ver = 0, epoch, epochs, batch, threads = 0, ncls, size, eq, max_side, ch[4], dn[2];
    int64_t step;
    uint64_t seed;
    double lr, b1, b2, eps, kp, alpha, thr = 0.5, crop;

    memset(meta, 0, sizeof *meta);
    if (!get_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, CXR_CHECKPOINT_FORMAT) != 0)
        return cxr_set_error(CXR_E_FORMAT,
                             "%s: not a cxr checkpoint (format attribute '%s', "
                             "expected '%s')",
                             path, fmt, CXR_CHECKPOINT_FORMAT);
    if (!get_attr(f, "format_version", H5T_NATIVE_INT32, &ver, 1))
        return cxr_set_error(CXR_E_FORMAT, "%s: missing attribute format_version", path);
    if (ver != CXR_CHECKPOINT_VERSION)
        return cxr_set_error(CXR_E_VERSION,
                             "%s: checkpoint format version %d, this program reads "
                             "version %d",
                             path, ver, CXR_CHECKPOINT_VERSION);
#define NEED(name, type, var, n)                                                                 \
    if (!get_attr(f, name, type, var, n))                                                        \
    CXR_THROW(CXR_E_FORMAT, "%s: checkpoint attribute '%s' is missing or not %d value(s)", path, \
              name, n)
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
    get_attr(f, "threads", H5T_NATIVE_INT32, &threads, 1);
    get_attr(f, "threshold", H5T_NATIVE_DOUBLE, &thr, 1);
    get_str(f, "store", meta->store, sizeof meta->store);
    get_str(f, "tool_version", meta->tool_version, sizeof meta->tool_version);
    if (!get_str(f, "normalize", norm, sizeof norm))
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint misses attribute 'normalize'", path);
    if (cxr_norm_parse(norm, &meta->pp.normalize) != CXR_OK)
        CXR_THROW(CXR_E_FORMAT, "%s: unknown normalize '%s'", path, norm);
    if (ncls < 2 || ncls > 4096 || size < 8)
        CXR_THROW(CXR_E_FORMAT, "%s: bad n_classes %d or image_size %d", path, ncls, size);

    cxr_model_config_defaults(&meta->model, ncls);
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

    /* class names */
    if (H5Lexists(f, "class_names", H5P_DEFAULT) <= 0)
        CXR_THROW(CXR_E_FORMAT, "%s: checkpoint misses dataset class_names", path);
    d = H5Dopen2(f, "class_names", H5P_DEFAULT);
    sp = d < 0 ? -1 : H5Dget_space(d);
    hsize_t n = 0;
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 ||
        H5Sget_simple_extent_dims(sp, &n, NULL) < 0 || n != (hsize_t)ncls)
        CXR_THROW(CXR_E_FORMAT, "%s: class_names does not hold %d names", path, ncls);
    meta->class_names = calloc((size_t)ncls, sizeof(char *));
    char **tmp = calloc((size_t)ncls, sizeof(char *));
    t = vlen_str_type();
    if (!meta->class_names || !tmp) {
        free(tmp);
        CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    }
    if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
        free(tmp);
        CXR_THROW(CXR_E_FORMAT, "%s: cannot read class_names", path);
    }
    meta->n_classes = ncls;
    for (int i = 0; i < ncls; i++) {
        meta->class_names[i] = strdup(tmp[i] ? tmp[i] : "");
        if (tmp[i]) H5free_memory(tmp[i]);
    }
    free(tmp);
bail:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (st != CXR_OK) cxr_checkpoint_meta_free(meta);
    return st;
}

static cxr_status open_ckpt(const char *path, hid_t *f)
{
    *f = -1;
    cxr_status st = cxr_hdf5_init();
    if (st != CXR_OK) return st;
    if (access(path, R_OK) != 0)
        return cxr_set_error(CXR_E_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: not an HDF5 file (not a cxr checkpoint)", path);
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0) return cxr_set_error(CXR_E_IO, "%s: cannot open checkpoint", path);
    return CXR_OK;
}

cxr_status cxr_checkpoint_read_meta(const char *path, cxr_checkpoint_meta *meta)
{
    hid_t f;
    memset(meta, 0, sizeof *meta);
    cxr_status st = open_ckpt(path, &f);
    if (st != CXR_OK) return st;
    st = read_meta_open(f, path, meta);
    H5Fclose(f);
    return st;
}

cxr_status cxr_checkpoint_load(const char *path, cxr_model *m, cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    hid_t f = -1, d = -1, sp = -1;
    cxr_checkpoint_meta local;
    float *blocks[3] = { NULL, NULL, NULL };
    const cxr_model_config *c = cxr_model_get_config(m);
    size_t np = cxr_model_n_params(m);
    memset(&local, 0, sizeof local);

    CXR_TRY(open_ckpt(path, &f));
    CXR_TRY(read_meta_open(f, path, &local));
    if (local.model.n_classes != c->n_classes || local.model.image_size != c->image_size)
        CXR_THROW(CXR_E_MISMATCH,
                  "checkpoint %s: %d classes on %dx%d images, model expects %d "
                  "classes on %dx%d",
                  path, local.model.n_classes, local.model.image_size, local.model.image_size,
                  c->n_classes, c->image_size, c->image_size);
    for (int b = 0; b < 3; b++) {
        blocks[b] = calloc(np, sizeof(float)); /* the padding between tensors stays 0 */
        if (!blocks[b]) CXR_THROW(CXR_E_NOMEM, "checkpoint %s: out of memory", path);
        for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
            const cxr_tensor_info *t = cxr_model_tensor(m, i);
            char name[128];
            snprintf(name, sizeof name, "%s/%s", block_group[b], t->name);
            if (H5Lexists(f, block_group[b], H5P_DEFAULT) <= 0 ||
                H5Lexists(f, name, H5P_DEFAULT) <= 0)
                CXR_THROW(CXR_E_FORMAT, "checkpoint %s: missing dataset /%s", path, name);
            d = H5Dopen2(f, name, H5P_DEFAULT);
            sp = d < 0 ? -1 : H5Dget_space(d);
            if (sp < 0) CXR_THROW(CXR_E_HDF5, "checkpoint %s: cannot open /%s", path, name);
            hsize_t dims[8], want[4];
            int nd = H5Sget_simple_extent_ndims(sp);
            if (nd < 0 || nd > 8)
                CXR_THROW(CXR_E_FORMAT, "checkpoint %s: /%s has %d dims", path, name, nd);
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
                CXR_THROW(CXR_E_MISMATCH, "checkpoint %s: layer %s has shape %s, model expects %s",
                          path, t->name, have_s, want_s);
            }
            if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, blocks[b] + t->offset) <
                0)
                CXR_THROW(CXR_E_HDF5, "checkpoint %s: cannot read /%s", path, name);
            H5Sclose(sp);
            sp = -1;
            H5Dclose(d);
            d = -1;
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
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    for (int b = 0; b < 3; b++) free(blocks[b]);
    cxr_checkpoint_meta_free(&local);
    return st;
}

cxr_status cxr_checkpoint_open_model(const char *path, cxr_backend *be, int batch_capacity,
                                     int threads, cxr_model **out, cxr_checkpoint_meta *meta)
{
    cxr_status st = CXR_OK;
    cxr_model *m = NULL;
    cxr_checkpoint_meta local;
    *out = NULL;
    CXR_TRY(cxr_checkpoint_read_meta(path, &local));
    cxr_model_config cfg = local.model;
    cfg.batch_capacity = batch_capacity > 0 ? batch_capacity : 1;
    st = cxr_model_config_check(&cfg);
    if (st != CXR_OK) {
        cxr_wrap_error(st, "checkpoint %s", path);
        goto bail;
    }
    CXR_TRY(cxr_model_create(&m, &cfg, be));
    CXR_TRY(cxr_model_set_threads(m, threads));
    CXR_TRY(cxr_checkpoint_load(path, m, NULL));
    *out = m;
    m = NULL;
    *meta = local;
    memset(&local, 0, sizeof local);
bail:
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
    return CXR_OK;
}
