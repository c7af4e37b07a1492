/* store_hdf5.c: HDF5 plumbing shared by the store writer and reader (store_internal.h),
 * cxr_hdf5_init, and the split names of cxr_store.h. Every HDF5 function here runs on the
 * single HDF5 thread. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "zstd_filter.h"

const char *const cxr_split_names[CXR_N_SPLITS] = { "train", "val", "test" };

int cxr_split_index(const char *s)
{
    for (int i = 0; s && i < CXR_N_SPLITS; i++)
        if (strcmp(s, cxr_split_names[i]) == 0) return i;
    return -1;
}

static pthread_once_t h5_once = PTHREAD_ONCE_INIT;
static herr_t h5_init_rc = -1;

static void h5_init_once(void)
{
    /* No exit-time cleanup: when an H5Fclose fails (flushing metadata to a full disk, say),
     * HDF5 1.10.8 leaves the file's ID registered over a file it has already torn down, and
     * its atexit handler (H5_term_library -> H5F__close_cb) then crashes the process after our
     * error message (seen: cxr-pack exits with SIGSEGV instead of 4 on ENOSPC and EFBIG). Every
     * file we open we close, so the handler has nothing else to do. Effective only before any
     * other HDF5 call, hence first here, and the tools reach HDF5 through this function. */
    H5dont_atexit();
    /* Library code never prints: HDF5's error stack is read back by cxr_hdf5_error instead. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5_init_rc = H5Zregister(&cxr_h5z_zstd_class);
}

cxr_status cxr_hdf5_init(void)
{
    pthread_once(&h5_once, h5_init_once);
    if (h5_init_rc < 0)
        return cxr_set_error(CXR_E_HDF5, "cannot register the zstd HDF5 filter (id %d)",
                             CXR_ZSTD_FILTER_ID);
    return CXR_OK;
}

cxr_status cxr_zstd_filter_register(void) { return cxr_hdf5_init(); }

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    /* Walking downward, the last entry seen is the innermost (most specific) one. */
    if (e && e->desc) snprintf((char *)data, 256, "%s", e->desc);
    return 0;
}

/* HDF5's file-driver messages run long ("file write failed: time = <date>\n, filename = ...,
 * errno = 28, error message = 'No space left on device', buf = 0x..., ..."): keep the part
 * before the first ':' and the quoted system message, "file write failed: No space left on
 * device". Other descriptions are kept as they are. */
static void tidy_h5_desc(char *d, size_t cap)
{
    const char *m = strstr(d, "error message = '");
    char *colon = strchr(d, ':');
    if (!m || !colon) return;
    m += strlen("error message = '");
    const char *end = strchr(m, '\'');
    int mlen = end ? (int)(end - m) : (int)strlen(m);
    char out[256];
    snprintf(out, sizeof out, "%.*s: %.*s", (int)(colon - d), d, mlen, m);
    snprintf(d, cap, "%s", out);
}

cxr_status cxr_hdf5_error(cxr_status code, const char *file, const char *fmt, ...)
{
    char msg[512], h5[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, h5);
    H5Eclear2(H5E_DEFAULT);
    tidy_h5_desc(h5, sizeof h5);
    if (h5[0]) return cxr_set_error(code, "%s: %s (HDF5: %s)", file, msg, h5);
    return cxr_set_error(code, "%s: %s", file, msg);
}

hid_t cxr_h5_vlstr_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static herr_t attr_put(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    herr_t rc = -1;
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    if (sp < 0) return -1;
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) goto done;
    a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    rc = H5Awrite(a, mtype, v);
done:
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

/* Length of the valid UTF-8 sequence at s (1-4 bytes), 0 if s does not start one: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        unsigned lo = s[0] == 0xE0 ? 0xA0 : 0x80, hi = s[0] == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        unsigned lo = s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

char *cxr_h5_utf8_escape(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t i = 0; u[i];) {
        int k = utf8_seq(u + i);
        i += k ? (size_t)k : 1;
        bad += !k;
    }
    if (!bad) return NULL;
    char *out = malloc(strlen(s) + 3 * bad + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; u[i];) {
        int k = utf8_seq(u + i);
        if (k) {
            memcpy(o, u + i, (size_t)k);
            o += k, i += (size_t)k;
        } else {
            o += sprintf(o, "\\x%02X", u[i]);
            i++;
        }
    }
    *o = 0;
    return out;
}

herr_t cxr_h5_attr_put_str(hid_t obj, const char *name, const char *value)
{
    hid_t t = cxr_h5_vlstr_type();
    if (t < 0) return -1;
    const char *v = value ? value : "";
    char *esc = cxr_h5_utf8_escape(v);
    if (esc) v = esc;
    herr_t rc = attr_put(obj, name, t, t, &v);
    free(esc);
    H5Tclose(t);
    return rc;
}

herr_t cxr_h5_attr_put_i32(hid_t obj, const char *name, int32_t value)
{
    return attr_put(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

herr_t cxr_h5_attr_put_f64(hid_t obj, const char *name, double value)
{
    return attr_put(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

/* Open a scalar (or single-element) attribute of the given class; -1/0/1 as documented. */
static int attr_open(hid_t obj, const char *name, H5T_class_t cls, hid_t *a_out)
{
    htri_t ex = H5Aexists(obj, name);
    if (ex <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return ex == 0 ? 0 : -1;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int ok = t >= 0 && sp >= 0 && H5Tget_class(t) == cls && H5Sget_simple_extent_npoints(sp) == 1;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (!ok) {
        H5Aclose(a);
        return -1;
    }
    *a_out = a;
    return 1;
}

int cxr_h5_attr_get_str(hid_t obj, const char *name, char **out)
{
    hid_t a = -1;
    int r = attr_open(obj, name, H5T_STRING, &a);
    if (r <= 0) return r;
    r = -1;
    hid_t ft = H5Aget_type(a), mt = -1;
    if (ft < 0) goto done;
    if (H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        mt = cxr_h5_vlstr_type();
        if (mt < 0 || H5Aread(a, mt, &v) < 0) goto done;
        *out = strdup(v ? v : "");
        H5free_memory(v);
    } else {
        size_t len = H5Tget_size(ft);
        mt = H5Tcopy(ft);
        char *v = calloc(len + 1, 1);
        if (!v || mt < 0 || H5Aread(a, mt, v) < 0) {
            free(v);
            goto done;
        }
        *out = v;
    }
    r = *out ? 1 : -1;
done:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return r;
}

int cxr_h5_attr_get_i64(hid_t obj, const char *name, int64_t *out)
{
    hid_t a = -1;
    int r = attr_open(obj, name, H5T_INTEGER, &a);
    if (r <= 0) return r;
    r = H5Aread(a, H5T_NATIVE_INT64, out) < 0 ? -1 : 1;
    H5Aclose(a);
    return r;
}

int cxr_h5_attr_get_f64(hid_t obj, const char *name, double *out)
{
    hid_t a = -1;
    int r = attr_open(obj, name, H5T_FLOAT, &a);
    if (r <= 0) return r;
    r = H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0 ? -1 : 1;
    H5Aclose(a);
    return r;
}

hid_t cxr_h5_dcpl_notime(void)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p >= 0 && H5Pset_obj_track_times(p, 0) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

herr_t cxr_h5_write_strings(hid_t loc, const char *name, const char *const *v, int64_t n,
                            hid_t dcpl)
{
    herr_t rc = -1;
    hsize_t dims[1] = { (hsize_t)n };
    hid_t t = cxr_h5_vlstr_type(), sp = H5Screate_simple(1, dims, NULL), d = -1, dxpl = -1;
    const char **tmp = NULL;
    char **esc = NULL; /* escaped copies of the strings that are not valid UTF-8 */
    if (t < 0 || sp < 0) goto done;
    d = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) goto done;
    if (n == 0) {
        rc = 0;
        goto done;
    }
    tmp = malloc((size_t)n * sizeof *tmp);
    esc = calloc((size_t)n, sizeof *esc);
    if (!tmp || !esc) goto done;
    for (int64_t i = 0; i < n; i++) {
        tmp[i] = v[i] ? v[i] : "";
        if ((esc[i] = cxr_h5_utf8_escape(tmp[i]))) tmp[i] = esc[i];
    }
    /* HDF5 converts the strings through a type-conversion and a background buffer of 1 MiB
     * each by default, calloc'ed per write: 2 MiB zeroed and ~512 page faults for a handful of
     * class names, on the writer's serial path. A buffer sized to the strings (a file vlen
     * string is 16 bytes; 32 leaves room) converts them in one strip, as the default does for
     * up to 64K strings, so the file is the same. */
    size_t conv = (size_t)n * 32;
    conv = conv < 4096 ? 4096 : conv > (1u << 20) ? (1u << 20) : conv;
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (dxpl < 0 || H5Pset_buffer(dxpl, conv, NULL, NULL) < 0) goto done;
    rc = H5Dwrite(d, t, H5S_ALL, H5S_ALL, dxpl, tmp);
done:
    if (dxpl >= 0) H5Pclose(dxpl);
    if (esc)
        for (int64_t i = 0; i < n; i++) free(esc[i]);
    free(esc);
    free(tmp);
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return rc;
}

int cxr_h5_exists(hid_t loc, const char *name)
{
    htri_t r = H5Lexists(loc, name, H5P_DEFAULT);
    if (r < 0) H5Eclear2(H5E_DEFAULT);
    return r > 0;
}
