/* onnx.c: cxr_onnx_write (cxr_onnx.h). A minimal protobuf encoder (wire format: varint keys
 * field << 3 | wire type, varints of 7 bits per byte low first, length-delimited bytes and
 * messages, little-endian fixed32 floats) and the few ONNX messages the network needs. Field
 * numbers are those of onnx/onnx.proto (the public ONNX spec), noted at each use. The graph
 * head and the tensors' headers are built in memory; the weights (nearly all of the file) are
 * streamed from one host copy of the parameters, their lengths known in advance: into the
 * model file, or, past 2 GiB or when asked, into "<model>.data" beside it (external data).
 */
#include "cxr_onnx.h"
#include "c_locale.h"
#include "cxr_files.h"
#include "cxr_json.h"
#include "cxr_tmpfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx.c writes the host's floats as raw_data and fixed32, which ONNX stores little-endian"
#endif

/* ------------------------------------------------------------------ protobuf wire format */
enum { WT_VARINT = 0, WT_LEN = 2, WT_FIXED32 = 5 };

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int failed; /* out of memory: the buffer is incomplete */
} pb;

static void pb_free(pb *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void pb_raw(pb *b, const void *d, size_t n)
{
    if (b->failed || n == 0) return;
    if (b->len + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n) c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7) n++;
    return n;
}

static size_t varint_enc(uint8_t *t, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7) t[n++] = (uint8_t)(v | 0x80);
    t[n++] = (uint8_t)v;
    return n;
}

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t t[10];
    pb_raw(b, t, varint_enc(t, v));
}

static uint64_t key(int field, int wt) { return (uint64_t)field << 3 | (uint64_t)wt; }

static void pb_int(pb *b, int field, int64_t v) /* int32/int64 fields, v >= 0 here */
{
    pb_varint(b, key(field, WT_VARINT));
    pb_varint(b, (uint64_t)v);
}

static void pb_float(pb *b, int field, float v)
{
    pb_varint(b, key(field, WT_FIXED32));
    pb_raw(b, &v, 4);
}

static void pb_bytes(pb *b, int field, const void *d, size_t n)
{
    pb_varint(b, key(field, WT_LEN));
    pb_varint(b, n);
    pb_raw(b, d, n);
}

static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

/* Append the finished message `sub` as field `field` of b, and free sub. */
static void pb_msg(pb *b, int field, pb *sub)
{
    if (sub->failed) b->failed = 1;
    pb_bytes(b, field, sub->p, sub->len);
    pb_free(sub);
}

/* ------------------------------------------------------------------ ONNX messages */
/* NodeProto.attribute = 5; AttributeProto: name = 1, f = 2, i = 3, ints = 8, type = 20 with
 * AttributeType FLOAT = 1, INT = 2, INTS = 7. */
static void attr_ints(pb *node, const char *name, const int64_t *v, int n)
{
    pb a = { 0 };
    pb_str(&a, 1, name);
    for (int i = 0; i < n; i++) pb_int(&a, 8, v[i]);
    pb_int(&a, 20, 7);
    pb_msg(node, 5, &a);
}

static void attr_int(pb *node, const char *name, int64_t v)
{
    pb a = { 0 };
    pb_str(&a, 1, name);
    pb_int(&a, 3, v);
    pb_int(&a, 20, 2);
    pb_msg(node, 5, &a);
}

static void attr_float(pb *node, const char *name, float v)
{
    pb a = { 0 };
    pb_str(&a, 1, name);
    pb_float(&a, 2, v);
    pb_int(&a, 20, 1);
    pb_msg(node, 5, &a);
}

/* A NodeProto (input = 1, output = 2, name = 3, op_type = 4) with up to three inputs; the
 * caller adds attributes, then node_end appends it to the graph (GraphProto.node = 1). */
static void node_begin(pb *n, const char *op, const char *name, const char *in0, const char *in1,
                       const char *in2, const char *out)
{
    memset(n, 0, sizeof *n);
    const char *in[3] = { in0, in1, in2 };
    for (int i = 0; i < 3; i++)
        if (in[i]) pb_str(n, 1, in[i]);
    pb_str(n, 2, out);
    pb_str(n, 3, name);
    pb_str(n, 4, op);
}
static void node_end(pb *graph, pb *n) { pb_msg(graph, 1, n); }

/* A ValueInfoProto (name = 1, type = 2) of a float tensor as field `field` of the graph
 * (GraphProto.input = 11, output = 12). TypeProto.tensor_type = 1; TypeProto.Tensor:
 * elem_type = 1 (TensorProto.DataType FLOAT = 1), shape = 2; TensorShapeProto.dim = 1;
 * Dimension: dim_value = 1, dim_param = 2 (dims[k] < 0: the symbolic batch "N"). */
static void value_info(pb *graph, int field, const char *name, int nd, const int64_t *dims)
{
    pb shape = { 0 }, tensor = { 0 }, type = { 0 }, vi = { 0 };
    for (int k = 0; k < nd; k++) {
        pb d = { 0 };
        if (dims[k] < 0)
            pb_str(&d, 2, "N");
        else
            pb_int(&d, 1, dims[k]);
        pb_msg(&shape, 1, &d);
    }
    pb_int(&tensor, 1, 1);
    pb_msg(&tensor, 2, &shape);
    pb_msg(&type, 1, &tensor);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(graph, field, &vi);
}

/* StringStringEntryProto (key = 1, value = 2) as field `field` of msg: ModelProto's
 * metadata_props = 14, TensorProto's external_data = 13. */
static void string_entry(pb *msg, int field, const char *k, const char *v)
{
    pb e = { 0 };
    pb_str(&e, 1, k);
    pb_str(&e, 2, v);
    pb_msg(msg, field, &e);
}

static void meta_prop(pb *model, const char *k, const char *v) { string_entry(model, 14, k, v); }

#define INPUT_DOC                                                                               \
    "input 'image': float32 (N,1,S,S), the preprocessed image exactly as a cxr store holds it " \
    "(decode, gray BT.601, antialiased resize to S x S, the 256-bin histogram equalization "    \
    "cxr.preprocessing's equalization names (global, or clahe: 8x8 tiles, clip limit "          \
    "cxr.preprocessing's clahe_clip, 2 if absent), then its normalize: minmax = per image "     \
    "(x-min)/(max-min)*2-1, zscore255 in [0, 255], which the graph scales to [-1, 1] itself; "  \
    "see specs/store.md). output 'probabilities': float32 (N,C), softmax over the classes "     \
    "named in cxr.class_names, in that order. Evaluation graph: no dropout."

/* The graph's nodes, name, doc, input and output (GraphProto fields 1, 2, 10, 11, 12); the
 * initializers (field 5) are streamed by the caller. */
static void graph_head(pb *g, const cxr_model_config *c)
{
    static const int64_t k3[2] = { 3, 3 }, pad1[4] = { 1, 1, 1, 1 }, one[2] = { 1, 1 },
                         k2[2] = { 2, 2 };
    char x[32] = "image", conv[16], w[24], b[24], act[24], pool[16];
    pb n;
    if (c->input_pool > 1) { /* the network's view: the image's k x k means */
        const int64_t kk[2] = { c->input_pool, c->input_pool };
        node_begin(&n, "AveragePool", "input_pool", x, NULL, NULL, "input_pool");
        attr_ints(&n, "kernel_shape", kk, 2);
        attr_ints(&n, "strides", kk, 2);
        node_end(g, &n);
        snprintf(x, sizeof x, "input_pool");
    }
    if (!cxr_model_config_input_plain(c)) { /* the input scale, after the pool: x * a + b */
        node_begin(&n, "Constant", "input_scale.a", NULL, NULL, NULL, "input_scale.a");
        attr_float(&n, "value_float", c->input_scale);
        node_end(g, &n);
        node_begin(&n, "Constant", "input_scale.b", NULL, NULL, NULL, "input_scale.b");
        attr_float(&n, "value_float", c->input_shift);
        node_end(g, &n);
        node_begin(&n, "Mul", "input_scale.mul", x, "input_scale.a", NULL, "input_scale.mul");
        node_end(g, &n);
        node_begin(&n, "Add", "input_scale", "input_scale.mul", "input_scale.b", NULL,
                   "input_scale");
        node_end(g, &n);
        snprintf(x, sizeof x, "input_scale");
    }
    for (int i = 0; i < 4; i++) {
        snprintf(conv, sizeof conv, "conv%d", i + 1);
        snprintf(w, sizeof w, "%s.w", conv);
        snprintf(b, sizeof b, "%s.b", conv);
        snprintf(act, sizeof act, "%s.act", conv);
        node_begin(&n, "Conv", conv, x, w, b, conv); /* OIHW weights, 'same' padding */
        attr_ints(&n, "kernel_shape", k3, 2);
        attr_ints(&n, "pads", pad1, 4);
        attr_ints(&n, "strides", one, 2);
        node_end(g, &n);
        node_begin(&n, "LeakyRelu", act, conv, NULL, NULL, act);
        attr_float(&n, "alpha", c->alpha);
        node_end(g, &n);
        snprintf(x, sizeof x, "%s", act);
        if (i == 0) continue; /* conv2..conv4 are pooled (dropout: training only) */
        snprintf(pool, sizeof pool, "pool%d", i + 1);
        node_begin(&n, "MaxPool", pool, x, NULL, NULL, pool);
        attr_ints(&n, "kernel_shape", k2, 2);
        attr_ints(&n, "strides", k2, 2);
        node_end(g, &n);
        snprintf(x, sizeof x, "%s", pool);
    }
    if (c->head == CXR_HEAD_GAP) { /* (N,K,S/8,S/8) -> (N,K,1,1): each channel's mean */
        node_begin(&n, "GlobalAveragePool", "gap", x, NULL, NULL, "gap");
        node_end(g, &n);
        snprintf(x, sizeof x, "gap");
    }
    /* (N,K,S/8,S/8) -> (N, K*S/8*S/8) in (c,h,w) order: dense1's (OUT,IN) columns; after the
     * average pool (N,K,1,1) -> (N,K) */
    node_begin(&n, "Flatten", "flatten", x, NULL, NULL, "flat");
    attr_int(&n, "axis", 1);
    node_end(g, &n);
    snprintf(x, sizeof x, "flat");
    static const char *const dense[3] = { "dense1", "dense2", "out" };
    for (int i = 0; i < 3; i++) {
        snprintf(w, sizeof w, "%s.w", dense[i]);
        snprintf(b, sizeof b, "%s.b", dense[i]);
        snprintf(act, sizeof act, "%s.act", dense[i]);
        node_begin(&n, "Gemm", dense[i], x, w, b, dense[i]); /* in @ W^T + b */
        attr_int(&n, "transB", 1);
        node_end(g, &n);
        if (i == 2) break; /* the logits */
        node_begin(&n, "LeakyRelu", act, dense[i], NULL, NULL, act);
        attr_float(&n, "alpha", c->alpha);
        node_end(g, &n);
        snprintf(x, sizeof x, "%s", act);
    }
    node_begin(&n, "Softmax", "softmax", "out", NULL, NULL, "probabilities");
    attr_int(&n, "axis", 1);
    node_end(g, &n);
    pb_str(g, 2, "cxr");
    pb_str(g, 10, INPUT_DOC);
    const int64_t in_dims[4] = { -1, 1, c->image_size, c->image_size };
    const int64_t out_dims[2] = { -1, c->n_classes };
    value_info(g, 11, "image", 4, in_dims);
    value_info(g, 12, "probabilities", 2, out_dims);
}

/* The model's metadata_props: class names, preprocessing, threshold (JSON values). */
static void model_props(pb *mh, const cxr_checkpoint_meta *meta)
{
    cJSON *names = cJSON_CreateArray(), *pp = cJSON_CreateObject();
    char *s1 = NULL, *s2 = NULL, thr[40];
    for (int i = 0; names && i < meta->n_classes; i++)
        cxr_json_append_text(names, meta->class_names[i]);
    if (pp) {
        cJSON_AddNumberToObject(pp, "image_size", meta->pp.size);
        /* "equalization" names the kind: global, clahe or none. The boolean "equalize" of 0.1
         * exports is written for global and none only, so that a reader of 0.1 fails on a
         * CLAHE model (a missing key) instead of equalizing it globally. */
        if (meta->pp.equalize != CXR_EQUALIZE_CLAHE)
            cJSON_AddBoolToObject(pp, "equalize", meta->pp.equalize == CXR_EQUALIZE_GLOBAL);
        const char *eq = cxr_equalize_name(meta->pp.equalize);
        cJSON_AddStringToObject(pp, "equalization", eq ? eq : "unknown");
        if (meta->pp.equalize == CXR_EQUALIZE_CLAHE)
            cJSON_AddNumberToObject(pp, "clahe_clip", meta->pp.clahe_clip);
        cJSON_AddStringToObject(pp, "normalize", cxr_norm_name(meta->pp.normalize));
        cJSON_AddNumberToObject(pp, "crop_ratio", meta->pp.crop_ratio);
        cJSON_AddNumberToObject(pp, "max_side", meta->pp.max_side);
    }
    s1 = names ? cJSON_PrintUnformatted(names) : NULL;
    s2 = pp ? cJSON_PrintUnformatted(pp) : NULL;
    if (!s1 || !s2) mh->failed = 1;
    snprintf(thr, sizeof thr, "%.17g", meta->threshold);
    meta_prop(mh, "cxr.class_names", s1 ? s1 : "");
    meta_prop(mh, "cxr.preprocessing", s2 ? s2 : "");
    meta_prop(mh, "cxr.threshold", thr);
    cJSON_free(s1);
    cJSON_free(s2);
    cJSON_Delete(names);
    cJSON_Delete(pp);
}

/* External data's offsets are multiples of this (onnx.proto: "SHOULD be multiples 4096 (page
 * size) to enable mmap support"). */
#define DATA_ALIGN 4096u

/* The weights file of an external-data export: the tensors' float32 bytes at data_off[i],
 * zeros between them, streamed to df. 1 when every write succeeded. */
static int write_data(FILE *df, const cxr_model *m, const float *host, const uint64_t *data_off)
{
    static const uint8_t zeros[DATA_ALIGN];
    uint64_t at = 0;
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
        const cxr_tensor_info *t = cxr_model_tensor(m, i);
        const size_t pad = (size_t)(data_off[i] - at), nb = t->count * sizeof(float);
        if (fwrite(zeros, 1, pad, df) != pad || fwrite(host + t->offset, 1, nb, df) != nb) return 0;
        at = data_off[i] + nb;
    }
    return 1;
}

/* The graph's length, and init_len[i], each initializer's length with its header th[i]: the
 * data inline (raw_data) when location is NULL; else in the file `location` (relative to the
 * model's folder): each header gets TensorProto external_data = 13 (location, offset, length)
 * and data_location = 14 (EXTERNAL = 1) instead, data_off[i] each tensor's offset there, a
 * multiple of DATA_ALIGN. */
static uint64_t graph_len_of(const cxr_model *m, pb *gh, pb *th, size_t *init_len,
                             uint64_t *data_off, const char *location)
{
    uint64_t graph_len = gh->len, at = 0;
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
        const size_t nb = cxr_model_tensor(m, i)->count * sizeof(float);
        if (location) {
            char num[24];
            data_off[i] = at = (at + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
            string_entry(&th[i], 13, "location", location);
            snprintf(num, sizeof num, "%llu", (unsigned long long)at);
            string_entry(&th[i], 13, "offset", num);
            snprintf(num, sizeof num, "%zu", nb);
            string_entry(&th[i], 13, "length", num);
            pb_int(&th[i], 14, 1);
            at += nb;
            init_len[i] = th[i].len;
        } else {
            init_len[i] = th[i].len + varint_len(key(9, WT_LEN)) + varint_len(nb) + nb;
        }
        if (th[i].failed) gh->failed = 1;
        graph_len += varint_len(key(5, WT_LEN)) + varint_len(init_len[i]) + init_len[i];
    }
    return graph_len;
}

/* The most bytes a protobuf message may hold: under 2 GiB. CXR_ONNX_MAX_MESSAGE=N (bytes, a
 * test knob: export.cli) sets a smaller limit, so that a small model takes the paths of a
 * large one. */
static uint64_t max_message(void)
{
    const char *e = getenv("CXR_ONNX_MAX_MESSAGE");
    char *end;
    unsigned long long v = e ? strtoull(e, &end, 10) : 0;
    return e && *e && !*end && v > 0 && v < (1ull << 31) ? v : 1ull << 31;
}

/* The messages of an export, all but the weights: the model's head (up to the graph's key),
 * the graph's head, each initializer's header and length, and where the weights go. */
typedef struct {
    pb gh, mh, th[CXR_MODEL_N_TENSORS];
    size_t init_len[CXR_MODEL_N_TENSORS];
    uint64_t data_off[CXR_MODEL_N_TENSORS];
    uint64_t graph_len;
    int ext;
} onnx_msgs;

static void msgs_free(onnx_msgs *o)
{
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) pb_free(&o->th[i]);
    pb_free(&o->gh);
    pb_free(&o->mh);
}

/* Build o for model m, meta, layout; *data: the weights file's path (malloc'd,
 * cxr_onnx_data_path), named in the messages when o->ext says they go there. */
static cxr_status msgs_build(onnx_msgs *o, char **data, const char *path, cxr_model *m,
                             const cxr_checkpoint_meta *meta, cxr_onnx_layout layout)
{
    const cxr_model_config *c = cxr_model_get_config(m);
    memset(o, 0, sizeof *o);
    cxr_status st = cxr_onnx_data_path(path, data);
    if (st != CXR_OK) return st;
    /* the metadata must describe this model (cxr_checkpoint_save's rule) */
    if (meta->pp.size != c->image_size)
        return cxr_set_error(CXR_E_MISMATCH,
                             "onnx %s: preprocessing size %d differs from model size %d", path,
                             meta->pp.size, c->image_size);
    if (meta->n_classes != c->n_classes || !meta->class_names)
        return cxr_set_error(CXR_E_ARG, "onnx %s: %d class names for a %d-class model", path,
                             meta->n_classes, c->n_classes);
    graph_head(&o->gh, c);
    /* ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6,
     * graph = 7, opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2; the default
     * domain ""), metadata_props = 14; the graph's key and length are appended below */
    pb_int(&o->mh, 1, CXR_ONNX_IR_VERSION);
    pb_str(&o->mh, 2, "cxr-export");
    pb_str(&o->mh, 3, CXR_VERSION_STRING);
    pb_str(&o->mh, 6, "cxr chest X-ray CNN (specs/model.md), evaluation graph");
    pb opset = { 0 };
    pb_str(&opset, 1, "");
    pb_int(&opset, 2, CXR_ONNX_OPSET);
    pb_msg(&o->mh, 8, &opset);
    model_props(&o->mh, meta);
    /* initializers: TensorProto dims = 1, data_type = 2 (FLOAT = 1), name = 8, raw_data = 9
     * (little-endian); each is GraphProto.initializer = 5 */
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
        const cxr_tensor_info *t = cxr_model_tensor(m, i);
        for (int k = 0; k < t->ndim; k++) pb_int(&o->th[i], 1, t->shape[k]);
        pb_int(&o->th[i], 2, 1);
        pb_str(&o->th[i], 8, t->name);
    }
    /* inline, the whole model must stay under the 2 GiB a protobuf message may hold: from an
     * image side of about 728 on, dense1 alone is over it */
    o->graph_len = graph_len_of(m, &o->gh, o->th, o->init_len, NULL, NULL);
    const uint64_t inline_total =
        o->mh.len + varint_len(key(7, WT_LEN)) + varint_len(o->graph_len) + o->graph_len;
    const uint64_t limit = max_message();
    o->ext = layout == CXR_ONNX_EXTERNAL || (layout == CXR_ONNX_AUTO && inline_total >= limit);
    if (o->ext && !cxr_same_folder(path, *data))
        return cxr_set_error(CXR_E_ARG,
                             "%s: a symbolic link into another folder: its weights would go to %s, "
                             "but ONNX readers opening the link look for them in the link's "
                             "folder; export to the file the link names instead",
                             path, *data);
    if (o->ext) {
        const char *base = strrchr(*data, '/');
        o->graph_len =
            graph_len_of(m, &o->gh, o->th, o->init_len, o->data_off, base ? base + 1 : *data);
    }
    pb_varint(&o->mh, key(7, WT_LEN));
    pb_varint(&o->mh, o->graph_len);
    if (o->mh.failed || o->gh.failed)
        return cxr_set_error(CXR_E_NOMEM, "onnx %s: out of memory", path);
    /* protobuf parsers refuse a message of 2 GiB or more */
    const uint64_t total = o->mh.len + o->graph_len;
    if (total >= limit)
        return cxr_set_error(
            CXR_E_ARG,
            "onnx %s: the model would be %.2f GiB, over the 2 GiB a protobuf message may hold "
            "(image side %d: dense1 has %zu weights); export with the weights in a file beside "
            "it (cxr-export --external-data), or use the weights file (cxr-export --weights)",
            path, (double)total / (1u << 30), c->image_size,
            cxr_model_tensor(m, CXR_TENSOR_DENSE1_W)->count);
    return CXR_OK;
}

cxr_status cxr_onnx_data_path(const char *path, char **data)
{
    char *real = NULL;
    *data = NULL;
    cxr_status st = cxr_tmpfile_resolve(path, &real);
    if (st != CXR_OK) return st;
    const char *p = real ? real : path;
    if ((*data = malloc(strlen(p) + 6))) sprintf(*data, "%s.data", p);
    free(real);
    return *data ? CXR_OK : cxr_set_error(CXR_E_NOMEM, "onnx %s: out of memory", path);
}

cxr_status cxr_onnx_goes_external(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta,
                                  cxr_onnx_layout layout, int *external)
{
    onnx_msgs o;
    char *data = NULL; /* the weights file's name is in the messages whose size decides */
    const locale_t before = cxr_c_locale_enter();
    const cxr_status st = msgs_build(&o, &data, path, m, meta, layout);
    cxr_c_locale_leave(before);
    if (st == CXR_OK) *external = o.ext;
    msgs_free(&o);
    free(data);
    return st;
}

static cxr_status onnx_write(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta,
                             cxr_onnx_layout layout, int *external)
{
    cxr_status st = CXR_OK;
    onnx_msgs o;
    float *host = NULL;
    FILE *f = NULL, *df = NULL;
    cxr_tmpfile tf = { NULL, NULL, -1, -1 }, dtf = { NULL, NULL, -1, -1 };
    char *data_path = NULL;
    memset(&o, 0, sizeof o);

    /* data_path: "<path>.data" beside the file path is (a symbolic link resolved: the model is
     * written there) */
    char *keep = NULL; /* the earlier weights file's second name, while the model is renamed */
    CXR_TRY(msgs_build(&o, &data_path, path, m, meta, layout));
    if (!(host = malloc(cxr_model_n_params(m) * sizeof *host)))
        CXR_THROW(CXR_E_NOMEM, "onnx %s: out of memory", path);
    CXR_TRY(cxr_model_get_block(m, CXR_BLOCK_PARAMS, host));

    /* both files whole in their temporaries before either is renamed: the weights first, so
     * that a model file never names weights that are not there yet */
    if (o.ext) {
        CXR_TRY(cxr_tmpfile_create(&dtf, data_path, 1));
        if (!(df = cxr_tmpfile_stream(&dtf, "wb"))) {
            st = CXR_E_IO;
            goto bail;
        }
        if (!write_data(df, m, host, o.data_off))
            CXR_THROW(CXR_E_IO, "%s: write failed: %s", dtf.target, strerror(errno));
    }
    CXR_TRY(cxr_tmpfile_create(&tf, path, 1));
    if (!(f = cxr_tmpfile_stream(&tf, "wb"))) {
        st = CXR_E_IO;
        goto bail;
    }
    int ok =
        fwrite(o.mh.p, 1, o.mh.len, f) == o.mh.len && fwrite(o.gh.p, 1, o.gh.len, f) == o.gh.len;
    for (int i = 0; ok && i < CXR_MODEL_N_TENSORS; i++) {
        const cxr_tensor_info *t = cxr_model_tensor(m, i);
        uint8_t hdr[40];
        size_t nb = t->count * sizeof(float), h = 0;
        h += varint_enc(hdr + h, key(5, WT_LEN));
        h += varint_enc(hdr + h, o.init_len[i]);
        ok = fwrite(hdr, 1, h, f) == h && fwrite(o.th[i].p, 1, o.th[i].len, f) == o.th[i].len;
        if (o.ext) continue;
        h = varint_enc(hdr, key(9, WT_LEN));
        h += varint_enc(hdr + h, nb);
        ok = ok && fwrite(hdr, 1, h, f) == h && fwrite(host + t->offset, 1, nb, f) == nb;
    }
    if (!ok) CXR_THROW(CXR_E_IO, "%s: write failed: %s", tf.target, strerror(errno));
    if (o.ext) {
        /* the model's bytes written (stdio holds them until a flush) and synced before the
         * weights are renamed: a full disk fails the model with nothing renamed yet */
        if (fflush(f) != 0) CXR_THROW(CXR_E_IO, "%s: write failed: %s", tf.target, strerror(errno));
        CXR_TRY(cxr_tmpfile_sync(&tf));
        /* the weights file an earlier export left is kept (a second name, as a temporary of
         * its own would be named) until the model is in place, and put back when the model's
         * rename fails: an error never leaves an old model with new weights. A kill between
         * the two renames still can (two files are not replaced at once); the kept one is then
         * swept as a stale temporary by a later export. */
        keep = cxr_tmpfile_link(dtf.target);
        CXR_TRY(cxr_tmpfile_commit_stream(&dtf, &df));
    }
    st = cxr_tmpfile_commit_stream(&tf, &f);
    if (st != CXR_OK && keep) {
        if (rename(keep, dtf.target) == 0)
            cxr_wrap_error(st,
                           "%s: the model was not replaced, and %s is the earlier weights file "
                           "again",
                           path, dtf.target);
        else /* the only copy left of the earlier weights: kept, and named */
            cxr_wrap_error(st,
                           "%s: the model was not replaced; the earlier weights file is %s (it "
                           "could not be put back at %s)",
                           path, keep, dtf.target);
        free(keep);
        keep = NULL;
    }
    if (st != CXR_OK) goto bail;
    if (external) *external = o.ext;
bail:
    if (keep) unlink(keep);
    free(keep);
    if (f) fclose(f);
    if (df) fclose(df);
    cxr_tmpfile_discard(&tf); /* removes the temporary unless committed */
    cxr_tmpfile_discard(&dtf);
    free(data_path);
    msgs_free(&o);
    free(host);
    return st;
}

cxr_status cxr_onnx_write_as(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta,
                             cxr_onnx_layout layout, int *external)
{
    /* the metadata's numbers (cxr.threshold) with a '.' whatever the host's locale */
    const locale_t before = cxr_c_locale_enter();
    const cxr_status st = onnx_write(path, m, meta, layout, external);
    cxr_c_locale_leave(before);
    return st;
}

cxr_status cxr_onnx_write(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta)
{
    return cxr_onnx_write_as(path, m, meta, CXR_ONNX_AUTO, NULL);
}
