/* cuda_loader.c: cxr_cuda.h in the core. With CUDA in the build, the CUDA half lives in the
 * module libcxr_cuda.so (runtime/cuda_module.h), opened here the first time a context is asked
 * for: a CPU-only run never maps cudart, cuBLAS or cuDNN, and the tools start on machines
 * without them. Without CUDA in the build, every entry point answers CXR_E_UNSUPPORTED "built
 * without CUDA", so callers compile the same in both builds.
 *
 * Loading (once per process), specs/gpu.md "The CUDA module":
 *  1. $CXR_CUDA_MODULE, when set, must name a readable file (else CXR_E_CUDA naming it);
 *  2. the NVIDIA driver: dlopen("libcuda.so.1"); without it CXR_E_NODEVICE "no NVIDIA GPU",
 *     and the module (with cuBLAS and cuDNN behind it) is never opened;
 *  3. the module: $CXR_CUDA_MODULE, else the first readable of: a cxr/ folder beside the
 *     shared library holding this code (libcxr.so installed in lib/), beside the executable
 *     (/proc/self/exe), <exe dir>/CXR_CUDA_MODULE_REL (the install layout, ../lib/cxr), and,
 *     only for a program or library inside the build tree (CXR_CUDA_BUILD_ROOT), that tree's
 *     copy (CXR_CUDA_MODULE_BUILD_DIR); dlopen failures name the path and dlerror's
 *     reason (e.g. "libcudnn.so.9: cannot open shared object file");
 *  4. its entry point and table, checked (ABI, table and struct sizes, and the boundary
 *     headers' fingerprint CXR_CUDA_BOUNDARY in its version): a stale module is refused, naming
 *     both builds' versions.
 * The outcome (table, or status and message) is kept and repeated to every later caller. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cuda_module.h"
#include "cxr_cuda.h"

#ifndef CXR_HAVE_CUDA
#define NO_CUDA(what)                                                                           \
    cxr_set_error(CXR_E_UNSUPPORTED, "%s: built without CUDA (reconfigure with -DCXR_CUDA=ON)", \
                  what)

const cxr_cuda_module *cxr_cuda_module_get(cxr_status *st)
{
    *st = NO_CUDA("cuda module");
    return NULL;
}
const cxr_cuda_module *cxr_cuda_module_loaded(void) { return NULL; }
const char *cxr_cuda_module_path(void) { return ""; }
#else
/* A call on a context or loader when no module is loaded: the caller passed a bad handle. */
#define NO_CUDA(what) \
    cxr_set_error(CXR_E_ARG, "%s: no CUDA context (the CUDA module is not loaded)", what)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const cxr_cuda_module *module;
static cxr_status load_status;
static char load_message[CXR_MSG_MAX], module_path[PATH_MAX];

static const cxr_cuda_core core = {
    .size = sizeof(cxr_cuda_core),
    .set_error = cxr_set_error,
    .wrap_error = cxr_wrap_error,
    .precision_name = cxr_precision_name,
    .augment_active = cxr_augment_active,
    .store_split = cxr_store_split,
    .loader_create = cxr_loader_create,
    .loader_destroy = cxr_loader_destroy,
    .loader_begin_epoch = cxr_loader_begin_epoch,
    .loader_next_batch = cxr_loader_next_batch,
    .loader_wait_seconds = cxr_loader_wait_seconds,
    .loader_n_images = cxr_loader_n_images,
    .loader_n_batches = cxr_loader_n_batches,
    .loader_epoch_order = cxr_loader_epoch_order,
};

/* The first candidate that is there but cannot be read: the module when no later one can be
 * read either (load() then names why), so that a readable copy further on still wins. */
static char unreadable[PATH_MAX];

/* dir + "/" + rel + "/" CXR_CUDA_MODULE_NAME into module_path when that file is readable (1);
 * else 0, the path added to tried (once), and kept in `unreadable` when it is there. */
static int try_candidate(const char *dir, const char *rel, char *tried, size_t cap)
{
    char p[PATH_MAX];
    int n = rel && *rel ? snprintf(p, sizeof p, "%s/%s/%s", dir, rel, CXR_CUDA_MODULE_NAME)
                        : snprintf(p, sizeof p, "%s/%s", dir, CXR_CUDA_MODULE_NAME);
    if (n < 0 || (size_t)n >= sizeof p) return 0;
    if (access(p, R_OK) == 0) {
        snprintf(module_path, sizeof module_path, "%s", p);
        return 1;
    }
    if (!unreadable[0] && access(p, F_OK) == 0) snprintf(unreadable, sizeof unreadable, "%s", p);
    size_t used = strlen(tried), len = strlen(p);
    for (const char *t = tried; (t = strstr(t, p)) != NULL; t += len) /* listed already */
        if ((t == tried || t[-1] == ' ') && (t[len] == ',' || t[len] == '\0')) return 0;
    snprintf(tried + used, cap - used, "%s%s", used ? ", " : "", p);
    return 0;
}

/* The module file whole, before dlopen maps it: dlopen maps each loadable segment at its file
 * offset, and touching a page past the end of a file cut short (a copy or install interrupted,
 * a full disk) is a SIGBUS inside dlopen, which would kill the program even under --device
 * auto. CXR_E_CUDA naming the file when it cannot be read, is no regular file, or a segment or
 * the program headers end past its size; a file that is no 64-bit ELF is left to dlopen, which
 * says so. */
static cxr_status check_whole(const char *path)
{
    /* O_NONBLOCK: a FIFO's open would wait for a writer for ever (and a stop signal restarts
     * it); anything but a regular file is refused */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return cxr_set_error(CXR_E_CUDA, "the CUDA module %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        const int e = errno;
        close(fd);
        return cxr_set_error(CXR_E_CUDA, "the CUDA module %s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cxr_set_error(CXR_E_CUDA, "the CUDA module %s: not a regular file", path);
    }
    /* need: the end of the program headers, then of every loadable segment's file bytes */
    Elf64_Ehdr eh;
    uint64_t need = 0;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
        eh.e_phentsize == sizeof(Elf64_Phdr)) {
        need = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
        for (int i = 0; i < eh.e_phnum && need <= (uint64_t)sb.st_size; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) !=
                (ssize_t)sizeof ph)
                break; /* (inside the size: a read error, left to dlopen) */
            /* (a segment of no file bytes maps none: zero-filled memory only) */
            if (ph.p_type == PT_LOAD && ph.p_filesz > 0 && ph.p_offset + ph.p_filesz > need)
                need = ph.p_offset + ph.p_filesz;
        }
    }
    close(fd);
    if (need <= (uint64_t)sb.st_size) return CXR_OK;
    return cxr_set_error(CXR_E_CUDA,
                         "the CUDA module %s is cut short: %lld bytes of the %llu its program "
                         "needs (an interrupted copy or install?); reinstall it",
                         path, (long long)sb.st_size, (unsigned long long)need);
}

/* The directory of path (cut at its last '/') into dir. */
static void dir_of(const char *path, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
}

/* 1 when path (resolved) lies inside dir (resolved): a program or library of that build tree. */
static int inside(const char *path, const char *dir)
{
    char rp[PATH_MAX], rd[PATH_MAX];
    if (!realpath(path, rp) || !realpath(dir, rd)) return 0;
    size_t n = strlen(rd);
    return strncmp(rp, rd, n) == 0 && rp[n] == '/';
}

/* Step 3 without $CXR_CUDA_MODULE: the first readable candidate into module_path. The library
 * holding this code comes first (under Python /proc/self/exe is the interpreter, whose folder
 * may hold another install's module); the build tree's copy only for programs and libraries of
 * that build tree (never for an installed program: that folder may be gone, or someone else's). */
static cxr_status find_module(void)
{
    char exe[PATH_MAX] = "", lib[PATH_MAX] = "", dir[PATH_MAX], tried[4 * PATH_MAX] = "";
    Dl_info info;
    struct link_map *lm = NULL;
    if (dladdr1((void *)cxr_cuda_module_get, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm &&
        lm->l_name && lm->l_name[0] && /* the main program's l_name is "" */
        realpath(lm->l_name, lib)) {
        dir_of(lib, dir, sizeof dir);
        if (try_candidate(dir, "cxr", tried, sizeof tried)) return CXR_OK;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        dir_of(exe, dir, sizeof dir);
        if (try_candidate(dir, NULL, tried, sizeof tried)) return CXR_OK;
        if (try_candidate(dir, CXR_CUDA_MODULE_REL, tried, sizeof tried)) return CXR_OK;
    } else {
        exe[0] = '\0';
    }
    if (((exe[0] && inside(exe, CXR_CUDA_BUILD_ROOT)) ||
         (lib[0] && inside(lib, CXR_CUDA_BUILD_ROOT))) &&
        try_candidate(CXR_CUDA_MODULE_BUILD_DIR, NULL, tried, sizeof tried))
        return CXR_OK;
    if (unreadable[0]) { /* there, but no candidate can be read: load() says why */
        snprintf(module_path, sizeof module_path, "%s", unreadable);
        return CXR_OK;
    }
    snprintf(module_path, sizeof module_path, "%s", CXR_CUDA_MODULE_NAME);
    return cxr_set_error(CXR_E_CUDA,
                         "the CUDA module %s is not installed (looked for %s; set "
                         "CXR_CUDA_MODULE to its path)",
                         CXR_CUDA_MODULE_NAME, tried);
}

/* Step 4: the table's version and sizes against this build's. */
static cxr_status check_table(const cxr_cuda_module *m)
{
    if (m && m->abi == CXR_CUDA_MODULE_ABI && m->size == sizeof(cxr_cuda_module) &&
        m->core_size == sizeof(cxr_cuda_core) &&
        m->loader_options_size == sizeof(cxr_loader_options) &&
        m->batch_size == sizeof(cxr_batch) && m->gpu_batch_size == sizeof(cxr_gpu_batch) &&
        m->split_info_size == sizeof(cxr_split_info) && m->version &&
        strcmp(m->version, CXR_VERSION_STRING "+" CXR_CUDA_BOUNDARY) == 0)
        return CXR_OK;
    return cxr_set_error(
        CXR_E_CUDA,
        "the CUDA module %s is stale: built as cxr %s with module ABI %u (table %u bytes), this "
        "program is cxr %s with ABI %u (table %zu bytes); rebuild or reinstall it with this "
        "program",
        module_path, m && m->abi == CXR_CUDA_MODULE_ABI && m->version ? m->version : "?",
        m ? m->abi : 0u, m ? m->size : 0u, CXR_VERSION_STRING "+" CXR_CUDA_BOUNDARY,
        CXR_CUDA_MODULE_ABI, sizeof(cxr_cuda_module));
}

static cxr_status load(void)
{
    const char *env = getenv("CXR_CUDA_MODULE");
    if (env && *env) {
        /* a name without '/' would make dlopen search the library path instead of the file
         * checked and named here */
        snprintf(module_path, sizeof module_path, "%s%s", strchr(env, '/') ? "" : "./", env);
        if (access(module_path, R_OK) != 0)
            return cxr_set_error(CXR_E_CUDA, "the CUDA module %s (CXR_CUDA_MODULE): %s", env,
                                 strerror(errno));
    }
    /* the driver first: without it, cuBLAS and cuDNN are never mapped. Kept open: the
     * module's cudart opens it again. */
    if (!dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL))
        return cxr_set_error(CXR_E_NODEVICE, "no NVIDIA GPU (no NVIDIA driver: %s)", dlerror());
    if (!(env && *env)) {
        cxr_status st = find_module();
        if (st != CXR_OK) return st;
    }
    cxr_status whole = check_whole(module_path);
    if (whole != CXR_OK) return whole;
    void *h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return cxr_set_error(CXR_E_CUDA, "the CUDA module %s cannot be loaded: %s", module_path,
                             dlerror());
    cxr_cuda_module_entry_fn *entry;
    *(void **)&entry = dlsym(h, CXR_CUDA_MODULE_ENTRY);
    if (!entry) {
        cxr_status st = cxr_set_error(CXR_E_CUDA,
                                      "%s is not a cxr CUDA module (no symbol %s); rebuild or "
                                      "reinstall it with this program",
                                      module_path, CXR_CUDA_MODULE_ENTRY);
        dlclose(h);
        return st;
    }
    const cxr_cuda_module *m = entry(CXR_CUDA_MODULE_ABI, &core);
    cxr_status st = check_table(m);
    if (st != CXR_OK) {
        dlclose(h);
        return st;
    }
    module = m; /* never closed: contexts may live until exit */
    return CXR_OK;
}

static void load_now(void)
{
    load_status = load();
    if (load_status != CXR_OK) snprintf(load_message, sizeof load_message, "%s", cxr_last_error());
}

const cxr_cuda_module *cxr_cuda_module_get(cxr_status *st)
{
    pthread_once(&load_once, load_now);
    *st = load_status;
    if (load_status != CXR_OK) cxr_set_error(load_status, "%s", load_message);
    return module;
}

const cxr_cuda_module *cxr_cuda_module_loaded(void)
{
    /* written once inside pthread_once before any caller can hold a context */
    return module;
}

const char *cxr_cuda_module_path(void) { return module_path; }
#endif

/* ---------------------------------------------------------------- cxr_cuda.h */
#define M cxr_cuda_module_loaded()

cxr_status cxr_cuda_ctx_create(cxr_cuda_ctx **out, int device)
{
    *out = NULL;
#ifdef CXR_HAVE_CUDA
    cxr_status st;
    const cxr_cuda_module *m = cxr_cuda_module_get(&st);
    if (!m) return st;
    return m->ctx_create(out, device);
#else
    (void)device;
    return NO_CUDA("cuda context");
#endif
}
void cxr_cuda_ctx_destroy(cxr_cuda_ctx *c)
{
    if (c && M) M->ctx_destroy(c);
}
void cxr_cuda_describe(const cxr_cuda_ctx *c, char *buf, size_t cap)
{
    if (c && M)
        M->describe(c, buf, cap);
    else if (cap)
        snprintf(buf, cap, "no CUDA");
}
int cxr_cuda_device(const cxr_cuda_ctx *c) { return c && M ? M->device(c) : -1; }
void cxr_cuda_pci_bus_id(const cxr_cuda_ctx *c, char *buf, size_t cap)
{
    if (c && M)
        M->pci_bus_id(c, buf, cap);
    else if (cap)
        buf[0] = '\0';
}
cxr_status cxr_cuda_mem_info(cxr_cuda_ctx *c, size_t *free_bytes, size_t *total_bytes)
{
    if (c && M) return M->mem_info(c, free_bytes, total_bytes);
    *free_bytes = *total_bytes = 0;
    return NO_CUDA("cuda mem info");
}
void cxr_cuda_set_precision(cxr_cuda_ctx *c, cxr_precision p)
{
    if (c && M) M->set_precision(c, p);
}
cxr_precision cxr_cuda_get_precision(const cxr_cuda_ctx *c)
{
    return c && M ? M->get_precision(c) : CXR_PRECISION_FP32;
}
cxr_status cxr_cuda_sync(cxr_cuda_ctx *c) { return c && M ? M->sync(c) : NO_CUDA("cuda sync"); }
cxr_status cxr_gpu_loader_create(cxr_gpu_loader **out, cxr_cuda_ctx *ctx, const cxr_store *store,
                                 const char *split, const cxr_loader_options *opt,
                                 cxr_resident_mode resident)
{
    *out = NULL;
    if (ctx && M) return M->gpu_loader_create(out, ctx, store, split, opt, resident);
    return NO_CUDA("gpu loader");
}
void cxr_gpu_loader_destroy(cxr_gpu_loader *g)
{
    if (g && M) M->gpu_loader_destroy(g);
}
int cxr_gpu_loader_is_resident(const cxr_gpu_loader *g)
{
    return g && M ? M->gpu_loader_is_resident(g) : 0;
}
int64_t cxr_gpu_loader_n_images(const cxr_gpu_loader *g)
{
    return g && M ? M->gpu_loader_n_images(g) : 0;
}
int64_t cxr_gpu_loader_n_batches(const cxr_gpu_loader *g)
{
    return g && M ? M->gpu_loader_n_batches(g) : 0;
}
size_t cxr_gpu_loader_device_bytes(const cxr_gpu_loader *g)
{
    return g && M ? M->gpu_loader_device_bytes(g) : 0;
}
cxr_status cxr_gpu_loader_begin_epoch(cxr_gpu_loader *g, int epoch)
{
    return g && M ? M->gpu_loader_begin_epoch(g, epoch) : NO_CUDA("gpu loader");
}
cxr_status cxr_gpu_loader_next(cxr_gpu_loader *g, float *dst, cxr_gpu_batch *b)
{
    if (g && M) return M->gpu_loader_next(g, dst, b);
    b->n = 0;
    return NO_CUDA("gpu loader");
}
double cxr_gpu_loader_wait_seconds(cxr_gpu_loader *g)
{
    return g && M ? M->gpu_loader_wait_seconds(g) : 0.0;
}
