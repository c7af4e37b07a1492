/* scan.c: build a pack plan from an image tree SRC/{train,val,test}/<class>/<file> (cxr_pack.h;
 * the val split carved from train is in val_split.c), and list folders of images for
 * cxr-predict by the same rules (cxr_images.h).
 *
 * Rules (also in cxr-pack --help and specs/store.md):
 *  - train/ and test/ are required, val/ is optional; classes are the sorted (bytewise) union of
 *    the class folder names of all splits, but a name whose folders hold no .jpg/.jpeg file
 *    (skipped: drop_empty_classes); files are taken in bytewise order of their names.
 *  - hidden entries (leading '.') and system files (Thumbs.db, desktop.ini) are ignored
 *    silently; symlinks are followed.
 *  - directly in a split folder, a regular file is skipped with the reason "not inside a class
 *    folder", any other entry that is not a folder (a dangling link, a FIFO) with "not a class
 *    folder: ...".
 *  - inside a class folder, every entry that is not a .jpg/.jpeg regular file (any case) is
 *    skipped with its reason: "not a .jpg/.jpeg file", a folder ("not searched"), a dangling
 *    link or a FIFO/socket/device ("cannot stat: ...", "not a regular file (a FIFO)").
 */
#define _GNU_SOURCE /* tdestroy */
#include "cxr_files.h"
#include "cxr_images.h"
#include "cxr_pack.h"

#include <dirent.h>
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int ignored_name(const char *name)
{
    return name[0] == '.' || strcasecmp(name, "Thumbs.db") == 0 ||
           strcasecmp(name, "desktop.ini") == 0;
}

static int is_jpeg_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Sorted list of the visible entry names of a directory. */
static cxr_status list_dir(const char *dir, char ***out, int *n_out)
{
    cxr_status st = CXR_OK;
    char **v = NULL;
    int n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d)
        CXR_THROW(cxr_open_status(errno), "%s: cannot open directory: %s%s", dir, strerror(errno),
                  cxr_open_note(errno));
    struct dirent *e;
    while ((errno = 0, e = readdir(d))) {
        if (ignored_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", dir);
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", dir);
        n++;
    }
    if (errno) CXR_THROW(CXR_E_IO, "%s: cannot read directory: %s", dir, strerror(errno));
    /* an empty folder is a list of none, not an absent one (an empty test/ made the store lack
     * its test split, and an empty val/ passed for none beside --val-fraction) */
    if (!v && !(v = malloc(sizeof *v))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", dir);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    v = NULL;
    n = 0;
bail:
    if (d) closedir(d);
    free_names(v, n);
    return st;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

/* 1 directory, 2 regular file (its size in *size if asked), 0 anything else (or gone), with
 * why in `why` when 0. */
static int kind_why(const char *path, char *why, size_t cap, uint64_t *size)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (why)
            snprintf(why, cap, "cannot stat: %s%s", strerror(errno),
                     errno == ENOENT ? " (a dangling symbolic link?)" : "");
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) return 1;
    if (S_ISREG(sb.st_mode)) {
        if (size) *size = (uint64_t)sb.st_size;
        return 2;
    }
    if (why)
        snprintf(why, cap, "not a regular file (%s)",
                 S_ISFIFO(sb.st_mode)   ? "a FIFO"
                 : S_ISSOCK(sb.st_mode) ? "a socket"
                                        : "a device");
    return 0;
}

static int kind_of(const char *path) { return kind_why(path, NULL, 0, NULL); }

static int find_class(char **names, int n, const char *name)
{
    char *const *hit = bsearch(&name, names, (size_t)n, sizeof *names, cmp_str);
    return hit ? (int)(hit - names) : -1;
}

/* Pass 1: list the split folders that exist (train/ and test/ must) into the scan, and give
 * the plan the sorted union of their class folder names. */
static cxr_status find_classes(cxr_pack_plan *plan, const char *root, char *split_dir[CXR_N_SPLITS],
                               char **entries[CXR_N_SPLITS], int n_entries[CXR_N_SPLITS])
{
    cxr_status st = CXR_OK;
    char **classes = NULL;
    int n_classes = 0, cap_classes = 0;
    for (int s = 0; s < CXR_N_SPLITS; s++) {
        if (!(split_dir[s] = join(root, cxr_split_names[s])))
            CXR_THROW(CXR_E_NOMEM, "out of memory");
        char why[256] = "a file";
        if (kind_why(split_dir[s], why, sizeof why, NULL) != 1) {
            /* absent: val/ is optional; there but no folder (a dangling or looping link, a
             * file), it is said, never dropped unseen (a val/ on a disk not mounted) */
            struct stat lb;
            const int absent = lstat(split_dir[s], &lb) != 0 && errno == ENOENT;
            if (s == 1 && absent) continue;
            if (absent)
                CXR_THROW(CXR_E_FORMAT,
                          "%s: missing folder (expected %s/{train,test}/<class>/*.jpg, val/ "
                          "optional)",
                          split_dir[s], root);
            CXR_THROW(CXR_E_FORMAT,
                      "%s: not a folder: %s (expected %s/{train,test}/<class>/*.jpg, val/ "
                      "optional)",
                      split_dir[s], why, root);
        }
        CXR_TRY(list_dir(split_dir[s], &entries[s], &n_entries[s]));
        for (int i = 0; i < n_entries[s]; i++) {
            char *p = join(split_dir[s], entries[s][i]);
            if (!p) CXR_THROW(CXR_E_NOMEM, "out of memory");
            int k = kind_of(p);
            free(p);
            if (k != 1) continue;
            int known = 0;
            for (int c = 0; c < n_classes && !known; c++)
                known = !strcmp(classes[c], entries[s][i]);
            if (known) continue;
            if (n_classes == CXR_MAX_CLASSES)
                CXR_THROW(CXR_E_FORMAT, "%s: more than %d class folders", root, CXR_MAX_CLASSES);
            if (n_classes == cap_classes) {
                cap_classes = cap_classes ? cap_classes * 2 : 8;
                char **nc = realloc(classes, (size_t)cap_classes * sizeof *nc);
                if (!nc) CXR_THROW(CXR_E_NOMEM, "out of memory");
                classes = nc;
            }
            if (!(classes[n_classes] = strdup(entries[s][i])))
                CXR_THROW(CXR_E_NOMEM, "out of memory");
            n_classes++;
        }
    }
    if (n_classes == 0) CXR_THROW(CXR_E_FORMAT, "%s: no class folders under train/ or test/", root);
    qsort(classes, (size_t)n_classes, sizeof *classes, cmp_str);
    plan->class_names = classes;
    plan->n_classes = n_classes;
    classes = NULL;
    n_classes = 0;
bail:
    free_names(classes, n_classes);
    return st;
}

/* Pass 2, one class folder `cdir` (named cname, class label) of split s: its files in name
 * order become items of sp, or skips with their reason. */
static cxr_status add_class_folder(cxr_pack_plan *plan, cxr_pack_split *sp, int s, const char *cdir,
                                   const char *cname, int label)
{
    cxr_status st = CXR_OK;
    char **files = NULL;
    int n_files = 0;
    char *fpath = NULL, *rel = NULL;
    CXR_TRY(list_dir(cdir, &files, &n_files));
    for (int f = 0; f < n_files; f++) {
        free(fpath);
        free(rel);
        rel = NULL;
        if (!(fpath = join(cdir, files[f]))) CXR_THROW(CXR_E_NOMEM, "out of memory");
        size_t lr = strlen(cxr_split_names[s]) + strlen(cname) + strlen(files[f]) + 3;
        if (!(rel = malloc(lr))) CXR_THROW(CXR_E_NOMEM, "out of memory");
        snprintf(rel, lr, "%s/%s/%s", cxr_split_names[s], cname, files[f]);
        /* what is neither a file nor usable is said, not silently dropped: a dangling link or a
         * FIFO named *.jpg was meant as an input (and a FIFO would block) */
        char why[160];
        uint64_t size = 0;
        int k = kind_why(fpath, why, sizeof why, &size);
        if (k == 1)
            CXR_TRY(cxr_plan_add_skip(plan, cxr_split_names[s], rel,
                                      "a folder inside a class folder (not searched)"));
        else if (k == 0)
            CXR_TRY(cxr_plan_add_skip(plan, cxr_split_names[s], rel, why));
        else if (!is_jpeg_name(files[f]))
            CXR_TRY(cxr_plan_add_skip(plan, cxr_split_names[s], rel, "not a .jpg/.jpeg file"));
        else
            CXR_TRY(cxr_plan_add_item(sp, fpath, rel, label, size));
    }
bail:
    free_names(files, n_files);
    free(fpath);
    free(rel);
    return st;
}

/* A class folder that holds no .jpg/.jpeg file in any split (an empty folder, one of notes) is
 * no class: left out of the classes, the labels after it renumbered, and recorded as a skip of
 * each split's folder of that name (a store whose class no image has was refused by cxr-train
 * after cxr-pack said "wrote"). Kept while no class has an image: the pack then says so. */
static cxr_status drop_empty_classes(cxr_pack_plan *plan, char *split_dir[CXR_N_SPLITS],
                                     char **entries[CXR_N_SPLITS],
                                     const int n_entries[CXR_N_SPLITS])
{
    cxr_status st = CXR_OK;
    const int nc = plan->n_classes;
    int64_t *count = calloc((size_t)nc, sizeof *count);
    int *to = malloc((size_t)nc * sizeof *to);
    char *rel = NULL, *dir = NULL;
    if (!count || !to) CXR_THROW(CXR_E_NOMEM, "out of memory");
    for (int k = 0; k < plan->n_splits; k++)
        for (int64_t i = 0; i < plan->splits[k].n; i++) count[plan->splits[k].items[i].label]++;
    int kept = 0;
    for (int c = 0; c < nc; c++) to[c] = count[c] > 0 ? kept++ : -1;
    if (kept == nc || kept == 0) goto bail;
    for (int c = 0; c < nc; c++) {
        if (to[c] >= 0) continue;
        for (int s = 0; s < CXR_N_SPLITS; s++) {
            if (!entries[s] || find_class(entries[s], n_entries[s], plan->class_names[c]) < 0)
                continue;
            free(dir);
            free(rel);
            rel = NULL;
            if (!(dir = join(split_dir[s], plan->class_names[c])) ||
                !(rel = join(cxr_split_names[s], plan->class_names[c])))
                CXR_THROW(CXR_E_NOMEM, "out of memory");
            if (kind_of(dir) != 1) continue; /* a file of that name: skipped already */
            CXR_TRY(cxr_plan_add_skip(plan, cxr_split_names[s], rel,
                                      "a class folder without a .jpg/.jpeg file in any split: "
                                      "no class of the store"));
        }
    }
    for (int k = 0; k < plan->n_splits; k++)
        for (int64_t i = 0; i < plan->splits[k].n; i++)
            plan->splits[k].items[i].label = to[plan->splits[k].items[i].label];
    for (int c = 0; c < nc; c++) {
        if (to[c] >= 0)
            plan->class_names[to[c]] = plan->class_names[c];
        else
            free(plan->class_names[c]);
    }
    plan->n_classes = kept;
bail:
    free(dir);
    free(rel);
    free(count);
    free(to);
    return st;
}

cxr_status cxr_plan_from_tree(cxr_pack_plan *plan, const char *root)
{
    cxr_status st = CXR_OK;
    char *split_dir[CXR_N_SPLITS] = { NULL, NULL, NULL };
    char **entries[CXR_N_SPLITS] = { NULL, NULL,
                                     NULL }; /* per split folder, sorted; NULL: absent */
    int n_entries[CXR_N_SPLITS] = { 0, 0, 0 };
    char *cdir = NULL, *rel = NULL;

    memset(plan, 0, sizeof *plan);
    struct stat rs;
    if (stat(root, &rs) != 0) /* ENOENT: a mistyped name (usage, exit 2); EACCES: exit 4 */
        CXR_THROW(errno == ENOENT || errno == ENOTDIR ? CXR_E_ARG : cxr_open_status(errno),
                  "%s: %s", root, strerror(errno));
    if (!S_ISDIR(rs.st_mode))
        CXR_THROW(CXR_E_ARG, "%s: not a directory (SRC_DIR is a folder of train/ and test/)", root);
    if (!(plan->source = strdup(root))) CXR_THROW(CXR_E_NOMEM, "out of memory");
    CXR_TRY(find_classes(plan, root, split_dir, entries, n_entries));

    /* pass 2: files per split, class folders in sorted order, files sorted */
    for (int s = 0; s < CXR_N_SPLITS; s++) {
        if (!entries[s]) continue;
        cxr_pack_split *sp = &plan->splits[plan->n_splits++];
        snprintf(sp->name, sizeof sp->name, "%s", cxr_split_names[s]);
        for (int i = 0; i < n_entries[s]; i++) {
            const char *ename = entries[s][i];
            free(cdir);
            if (!(cdir = join(split_dir[s], ename))) CXR_THROW(CXR_E_NOMEM, "out of memory");
            char why[192];
            int k = kind_why(cdir, why, sizeof why, NULL);
            int label = k == 1 ? find_class(plan->class_names, plan->n_classes, ename) : -1;
            if (k != 1 || label < 0) { /* said, never dropped unseen: a class could vanish */
                free(rel);
                if (!(rel = join(cxr_split_names[s], ename)))
                    CXR_THROW(CXR_E_NOMEM, "out of memory");
                char reason[256];
                if (k == 0)
                    snprintf(reason, sizeof reason, "not a class folder: %s", why);
                else
                    snprintf(reason, sizeof reason, "%s",
                             k == 2 ? "not inside a class folder"
                                    : "a class folder that appeared during the scan");
                CXR_TRY(cxr_plan_add_skip(plan, cxr_split_names[s], rel, reason));
                continue;
            }
            CXR_TRY(add_class_folder(plan, sp, s, cdir, ename, label));
        }
    }
    CXR_TRY(drop_empty_classes(plan, split_dir, entries, n_entries));
bail:
    for (int s = 0; s < CXR_N_SPLITS; s++) {
        free(split_dir[s]);
        free_names(entries[s], n_entries[s]);
    }
    free(cdir);
    free(rel);
    if (st != CXR_OK) cxr_plan_free(plan);
    return st;
}

/* ---- folders of images for cxr-predict (cxr_images.h), with the rules above ---- */

static cxr_status list_push(cxr_image_list *l, const char *path)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        char **v = realloc(l->paths, (size_t)cap * sizeof *v);
        if (!v) return cxr_set_error(CXR_E_NOMEM, "out of memory listing images");
        l->paths = v;
        l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(path)))
        return cxr_set_error(CXR_E_NOMEM, "out of memory listing images");
    l->n++;
    return CXR_OK;
}

/* A folder's identity, for the set of folders searched in a walk (libc's tsearch tree): a
 * folder reached again through another symbolic link is not searched twice (links from each
 * of 30 folders to the next, two each, would otherwise make 2^30 visits). An image's names are
 * each listed, as a file given twice is: a row per name. */
typedef struct {
    dev_t dev;
    ino_t ino;
} dir_id;

static int dir_id_cmp(const void *a, const void *b)
{
    const dir_id *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return (x->ino > y->ino) - (x->ino < y->ino);
}

/* 1 if the folder was in the set *root, 0 if it was added, -1 when out of memory. */
static int dir_seen(void **root, dev_t dev, ino_t ino)
{
    const dir_id key = { dev, ino };
    if (tfind(&key, root, dir_id_cmp)) return 1;
    dir_id *id = malloc(sizeof *id);
    if (!id) return -1;
    *id = key;
    if (!tsearch(id, root, dir_id_cmp)) {
        free(id);
        return -1;
    }
    return 0;
}

/* The folders from the walk's root down to the one being listed, to name symlink loops, and
 * every folder searched so far. */
typedef struct {
    dev_t dev[256];
    ino_t ino[256];
    int depth;
    void *seen; /* tsearch root of dir_id */
    cxr_image_skip_fn skip;
    void *ctx;
    int64_t *skipped;
} walk_state;

static void walk_skip(walk_state *w, const char *path, const char *reason)
{
    if (w->skipped) (*w->skipped)++;
    if (w->skip) w->skip(w->ctx, path, reason);
}

static cxr_status walk_dir(cxr_image_list *l, const char *dir, const struct stat *ds, walk_state *w)
{
    cxr_status st = CXR_OK;
    for (int i = 0; i < w->depth; i++)
        if (w->dev[i] == ds->st_dev && w->ino[i] == ds->st_ino) {
            walk_skip(w, dir, "folder loop (a symbolic link to a folder above it): not searched");
            return CXR_OK;
        }
    if (w->depth == (int)(sizeof w->dev / sizeof w->dev[0])) {
        walk_skip(w, dir, "more than 256 nested folders: not searched");
        return CXR_OK;
    }
    const int seen = dir_seen(&w->seen, ds->st_dev, ds->st_ino);
    if (seen < 0) return cxr_set_error(CXR_E_NOMEM, "out of memory listing images");
    if (seen) {
        walk_skip(w, dir,
                  "folder searched already (for an earlier path given, or through a symbolic "
                  "link): not searched twice");
        return CXR_OK;
    }
    char **names = NULL;
    int n = 0;
    cxr_status ls = list_dir(dir, &names, &n);
    if (ls == CXR_E_NOMEM) return ls;
    if (ls != CXR_OK) { /* the message is "DIR: reason" */
        const char *msg = cxr_last_error();
        size_t dl = strlen(dir);
        walk_skip(w, dir, strncmp(msg, dir, dl) == 0 && msg[dl] == ':' ? msg + dl + 2 : msg);
        return CXR_OK;
    }
    w->dev[w->depth] = ds->st_dev;
    w->ino[w->depth] = ds->st_ino;
    w->depth++;
    for (int i = 0; i < n && st == CXR_OK; i++) {
        char *path = join(dir, names[i]);
        struct stat sb;
        if (!path) {
            st = cxr_set_error(CXR_E_NOMEM, "out of memory listing images");
        } else if (stat(path, &sb) != 0) {
            char why[160];
            snprintf(why, sizeof why, "cannot stat: %s%s", strerror(errno),
                     errno == ENOENT ? " (a dangling symbolic link?)" : "");
            walk_skip(w, path, why);
        } else if (S_ISDIR(sb.st_mode)) {
            st = walk_dir(l, path, &sb, w);
        } else if (is_jpeg_name(names[i])) {
            char why[160];
            if (kind_why(path, why, sizeof why, NULL) == 2)
                st = list_push(l, path);
            else
                walk_skip(w, path, why);
        }
        free(path);
    }
    w->depth--;
    free_names(names, n);
    return st;
}

/* One path of cxr_image_list_add_paths, its folders added to w->seen. */
static cxr_status add_path(cxr_image_list *l, const char *path, walk_state *w)
{
    struct stat sb;
    if (stat(path, &sb) != 0) { /* said now: before the tool speaks of its device */
        char why[200];
        const int e = errno;
        snprintf(why, sizeof why, "cannot open: %s%s", strerror(e),
                 e == ENOENT && !strcmp(path, "-")
                     ? " (standard input is not read: give image files or folders)"
                     : "");
        walk_skip(w, path, why);
        return CXR_OK;
    }
    if (S_ISREG(sb.st_mode)) return list_push(l, path);
    if (!S_ISDIR(sb.st_mode)) { /* a FIFO would block the decoder: refused here, unopened */
        char why[160];
        kind_why(path, why, sizeof why, NULL);
        walk_skip(w, path, why);
        return CXR_OK;
    }
    /* "dir/" and "dir" list the same names: no doubled slash */
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    char *root = strndup(path, n);
    if (!root) return cxr_set_error(CXR_E_NOMEM, "out of memory listing images");
    cxr_status st = walk_dir(l, root, &sb, w);
    free(root);
    return st;
}

cxr_status cxr_image_list_add_paths(cxr_image_list *l, const char *const *paths, int n,
                                    cxr_image_skip_fn skip, void *ctx, int64_t *skipped)
{
    walk_state w = { .skip = skip, .ctx = ctx, .skipped = skipped };
    cxr_status st = CXR_OK;
    for (int i = 0; i < n && st == CXR_OK; i++) st = add_path(l, paths[i], &w);
    tdestroy(w.seen, free);
    return st;
}

cxr_status cxr_image_list_add(cxr_image_list *l, const char *path, cxr_image_skip_fn skip,
                              void *ctx, int64_t *skipped)
{
    return cxr_image_list_add_paths(l, &path, 1, skip, ctx, skipped);
}

void cxr_image_list_free(cxr_image_list *l)
{
    for (int64_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}
