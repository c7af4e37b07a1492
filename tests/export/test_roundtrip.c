/* test_roundtrip.c (export.roundtrip): the deployable model files without Python.
 *
 * Weights files: a small model's checkpoint and its float32 weights file give the same
 * parameters, logits and probabilities to the bit; the bfloat16 file holds each parameter
 * rounded to nearest even (checked against a rounding written differently here); the meta
 * (classes, threshold, preprocessing) comes across; resuming from a weights file and training
 * an inference-only model are refused.
 *
 * ONNX: the exported file is decoded here by a small protobuf reader (independent of the
 * writer), its structure checked (IR version, opset, op sequence, attributes, names, input and
 * output shapes, metadata) and its initializers compared byte for byte with the parameters;
 * then a naive interpreter of the decoded graph, following the ONNX operator definitions
 * (Conv, LeakyRelu, MaxPool, Flatten, Gemm, Softmax), computes the probabilities of random
 * images, which must match cxr_model_forward's within 1e-5.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_checkpoint.h"
#include "cxr_onnx.h"
#include "cxr_test.h"

enum { S = 16, N = 3 };

static void small_config(cxr_model_config *c)
{
    cxr_model_config_defaults(c, 2);
    c->image_size = S;
    c->channels[0] = 4;
    c->channels[1] = 6;
    c->channels[2] = 8;
    c->channels[3] = 5; /* 5 x 2 x 2 = 20 inputs to dense1: a wrong flatten order shows */
    c->dense[0] = 16;
    c->dense[1] = 8;
    c->batch_capacity = N;
    c->seed = 7;
}

static void fill_meta(cxr_checkpoint_meta *m, const cxr_model_config *c)
{
    static char n0[] = "NORMAL", n1[] = "PNEU\"MONIA"; /* a quote: JSON escaping */
    static char *names[2] = { n0, n1 };
    memset(m, 0, sizeof *m);
    m->model = *c;
    cxr_adam_defaults(&m->adam);
    m->adam.lr = 0.001f;
    m->epochs = 4;
    m->batch = N;
    m->threads = 2;
    m->epoch = 0; /* the model takes no step here: it has trained no epoch */
    m->step = 0;
    m->seed = 7;
    m->threshold = 0.4375;
    cxr_preprocess_defaults(&m->pp);
    m->pp.size = S;
    m->n_classes = 2;
    m->class_names = names;
    snprintf(m->store, sizeof m->store, "some/store.h5");
    snprintf(m->tool_version, sizeof m->tool_version, "test");
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uni(void) /* [-1, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

/* bfloat16 rounding, written unlike the library's: the two neighbours, the nearer one, ties to
 * the even one. */
static float bf16_round(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint32_t lo = u & 0xFFFF0000u, hi = lo + 0x10000u;
    float flo, fhi;
    memcpy(&flo, &lo, 4);
    memcpy(&fhi, &hi, 4);
    double dlo = fabs((double)v - flo), dhi = fabs((double)fhi - v);
    float r = dlo < dhi ? flo : dhi < dlo ? fhi : ((lo >> 16) & 1u) ? fhi : flo;
    return r;
}

static float *params_of(cxr_model *m)
{
    float *p = malloc(cxr_model_n_params(m) * sizeof *p);
    REQUIRE(p);
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_PARAMS, p));
    return p;
}

/* ------------------------------------------------------------------ protobuf reader */
typedef struct {
    const uint8_t *p, *end;
    int bad;
} rd;
typedef struct {
    int field, wt;
    uint64_t v;          /* varint */
    const uint8_t *data; /* length-delimited or fixed32 */
    size_t len;
} fld;

static uint64_t rd_varint(rd *r)
{
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (r->p >= r->end) break;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << s;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

/* The next field of r into *f: 1, or 0 at the end (or on damage: r->bad). */
static int rd_next(rd *r, fld *f)
{
    if (r->bad || r->p >= r->end) return 0;
    uint64_t k = rd_varint(r);
    f->field = (int)(k >> 3);
    f->wt = (int)(k & 7);
    f->data = NULL;
    f->len = 0;
    switch (f->wt) {
    case 0: f->v = rd_varint(r); break;
    case 2:
        f->len = (size_t)rd_varint(r);
        if (f->len > (size_t)(r->end - r->p)) r->bad = 1;
        f->data = r->p;
        if (!r->bad) r->p += f->len;
        break;
    case 5:
        if (r->end - r->p < 4) r->bad = 1;
        f->data = r->p;
        f->len = 4;
        if (!r->bad) r->p += 4;
        break;
    default: r->bad = 1;
    }
    return !r->bad;
}

static rd sub(const fld *f) { return (rd){ f->data, f->data + f->len, 0 }; }
static void copy_str(char *dst, size_t cap, const fld *f)
{
    snprintf(dst, cap, "%.*s", (int)f->len, (const char *)f->data);
}

/* ------------------------------------------------------------------ decoded model */
typedef struct {
    char name[32];
    int type;
    float f;
    int64_t i, ints[8];
    int n_ints;
} attr;
typedef struct {
    char op[32], name[32], in[3][32], out[32];
    int n_in, n_out;
    attr a[4];
    int n_attr;
} node;
typedef struct {
    char name[32];
    int64_t dims[4];
    int nd, dtype;
    const uint8_t *raw;
    size_t raw_len;
    int data_location; /* 1: EXTERNAL */
    char location[64]; /* external_data's entries */
    long long offset, length, n_entries;
} init;
typedef struct {
    char name[32];
    int nd;
    int64_t dims[4]; /* -1: symbolic */
    char param[8];
} vinfo;
typedef struct {
    int64_t ir, opset;
    int n_opset;
    char opset_domain[16];
    node nodes[32];
    int n_nodes;
    init inits[16];
    int n_inits;
    vinfo in, out;
    int n_in, n_out;
    char classes[256], preprocessing[256], threshold[256];
    char producer[32], producer_version[32], graph_name[32];
} onnx;

static void parse_vinfo(const fld *f, vinfo *v)
{
    rd r = sub(f), t, tt, sh, d;
    fld a = { 0 }, b = { 0 }, c = { 0 }, e = { 0 }, g = { 0 };
    memset(v, 0, sizeof *v);
    while (rd_next(&r, &a)) {
        if (a.field == 1) copy_str(v->name, sizeof v->name, &a);
        if (a.field != 2) continue;
        t = sub(&a); /* TypeProto */
        while (rd_next(&t, &b)) {
            if (b.field != 1) continue;
            tt = sub(&b); /* TypeProto.Tensor */
            while (rd_next(&tt, &c)) {
                if (c.field == 1) CHECK(c.v == 1); /* FLOAT */
                if (c.field != 2) continue;
                sh = sub(&c);
                while (rd_next(&sh, &e)) {
                    if (e.field != 1 || v->nd >= 4) continue;
                    d = sub(&e);
                    v->dims[v->nd] = -2;
                    while (rd_next(&d, &g)) {
                        if (g.field == 1) v->dims[v->nd] = (int64_t)g.v;
                        if (g.field == 2) v->dims[v->nd] = -1, copy_str(v->param, 8, &g);
                    }
                    v->nd++;
                }
            }
        }
    }
}

static void parse_node(const fld *f, node *n)
{
    rd r = sub(f), ar;
    fld a = { 0 }, b = { 0 };
    memset(n, 0, sizeof *n);
    while (rd_next(&r, &a)) {
        if (a.field == 1 && n->n_in < 3) copy_str(n->in[n->n_in++], 32, &a);
        if (a.field == 2) copy_str(n->out, 32, &a), n->n_out++;
        if (a.field == 3) copy_str(n->name, 32, &a);
        if (a.field == 4) copy_str(n->op, sizeof n->op, &a);
        if (a.field != 5 || n->n_attr >= 4) continue;
        attr *t = &n->a[n->n_attr++];
        ar = sub(&a);
        while (rd_next(&ar, &b)) {
            if (b.field == 1) copy_str(t->name, 32, &b);
            if (b.field == 2) memcpy(&t->f, b.data, 4);
            if (b.field == 3) t->i = (int64_t)b.v;
            if (b.field == 8 && t->n_ints < 8) t->ints[t->n_ints++] = (int64_t)b.v;
            if (b.field == 20) t->type = (int)b.v;
        }
    }
}

static int parse(const uint8_t *buf, size_t len, onnx *o)
{
    rd r = { buf, buf + len, 0 }, g, x;
    fld f = { 0 }, a = { 0 }, b = { 0 };
    memset(o, 0, sizeof *o);
    while (rd_next(&r, &f)) {
        if (f.field == 1) o->ir = (int64_t)f.v;
        if (f.field == 2) copy_str(o->producer, sizeof o->producer, &f);
        if (f.field == 3) copy_str(o->producer_version, sizeof o->producer_version, &f);
        if (f.field == 8) {
            o->n_opset++;
            x = sub(&f);
            while (rd_next(&x, &a)) {
                if (a.field == 1) copy_str(o->opset_domain, 16, &a);
                if (a.field == 2) o->opset = (int64_t)a.v;
            }
        }
        if (f.field == 14) {
            char k[32] = "", v[256] = "";
            x = sub(&f);
            while (rd_next(&x, &a)) {
                if (a.field == 1) copy_str(k, sizeof k, &a);
                if (a.field == 2) copy_str(v, sizeof v, &a);
            }
            if (!strcmp(k, "cxr.class_names")) snprintf(o->classes, sizeof o->classes, "%s", v);
            if (!strcmp(k, "cxr.preprocessing"))
                snprintf(o->preprocessing, sizeof o->preprocessing, "%s", v);
            if (!strcmp(k, "cxr.threshold")) snprintf(o->threshold, sizeof o->threshold, "%s", v);
        }
        if (f.field != 7) continue;
        g = sub(&f);
        while (rd_next(&g, &a)) {
            if (a.field == 1 && o->n_nodes < 32) parse_node(&a, &o->nodes[o->n_nodes++]);
            if (a.field == 2) copy_str(o->graph_name, sizeof o->graph_name, &a);
            if (a.field == 11) parse_vinfo(&a, &o->in), o->n_in++;
            if (a.field == 12) parse_vinfo(&a, &o->out), o->n_out++;
            if (a.field != 5 || o->n_inits >= 16) continue;
            init *t = &o->inits[o->n_inits++];
            memset(t, 0, sizeof *t);
            x = sub(&a);
            while (rd_next(&x, &b)) {
                if (b.field == 1 && t->nd < 4) t->dims[t->nd++] = (int64_t)b.v;
                if (b.field == 2) t->dtype = (int)b.v;
                if (b.field == 8) copy_str(t->name, 32, &b);
                if (b.field == 9) t->raw = b.data, t->raw_len = b.len;
                if (b.field == 14) t->data_location = (int)b.v;
                if (b.field != 13) continue;
                char k[16] = "", v[64] = ""; /* StringStringEntryProto */
                rd e = sub(&b);
                fld c = { 0 };
                while (rd_next(&e, &c)) {
                    if (c.field == 1) copy_str(k, sizeof k, &c);
                    if (c.field == 2) copy_str(v, sizeof v, &c);
                }
                t->n_entries++;
                if (!strcmp(k, "location")) snprintf(t->location, sizeof t->location, "%s", v);
                if (!strcmp(k, "offset")) t->offset = atoll(v);
                if (!strcmp(k, "length")) t->length = atoll(v);
            }
            if (x.bad) g.bad = 1;
        }
        if (g.bad) r.bad = 1;
    }
    return !r.bad;
}

static const attr *find_attr(const node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (!strcmp(n->a[i].name, name)) return &n->a[i];
    return NULL;
}
static const init *find_init(const onnx *o, const char *name)
{
    for (int i = 0; i < o->n_inits; i++)
        if (!strcmp(o->inits[i].name, name)) return &o->inits[i];
    return NULL;
}
static int ints_are(const attr *a, int n, const int64_t *v)
{
    if (!a || a->type != 7 || a->n_ints != n) return 0;
    for (int i = 0; i < n; i++)
        if (a->ints[i] != v[i]) return 0;
    return 1;
}

/* ------------------------------------------------------------------ naive interpreter */
typedef struct {
    char name[32];
    int nd;
    int64_t d[4];
    float *v;
} val;

static float *weights(const onnx *o, const char *name, size_t n)
{
    const init *t = find_init(o, name);
    REQUIRE(t && t->raw_len == n * 4);
    float *w = malloc(n * 4);
    memcpy(w, t->raw, n * 4);
    return w;
}

/* Run the decoded graph on x (N,1,S,S); probabilities (N,C) into probs. */
static void interpret(const onnx *o, const float *x, int n, float *probs, int C)
{
    val v = { "image", 4, { n, 1, S, S }, malloc((size_t)n * S * S * 4) };
    memcpy(v.v, x, (size_t)n * S * S * 4);
    struct {
        char name[32];
        float f;
    } consts[4]; /* Constant nodes' scalars (value_float), for Mul and Add */
    int n_consts = 0;
    for (int k = 0; k < o->n_nodes; k++) {
        const node *nd = &o->nodes[k];
        if (!strcmp(nd->op, "Constant")) { /* a scalar the chain's next ops read */
            const attr *vf = find_attr(nd, "value_float");
            REQUIRE(vf && vf->type == 1 && nd->n_in == 0 && n_consts < 4);
            snprintf(consts[n_consts].name, sizeof consts[0].name, "%s", nd->out);
            consts[n_consts++].f = vf->f;
            continue;
        }
        REQUIRE(!strcmp(nd->in[0], v.name));
        val y = { "", 0, { 0 }, NULL };
        snprintf(y.name, sizeof y.name, "%s", nd->out);
        if (!strcmp(nd->op, "Conv")) { /* NCHW, OIHW, pads 1: out = sum w * x(pad) + b */
            const init *wi = find_init(o, nd->in[1]);
            int64_t K = wi->dims[0], Ci = wi->dims[1], H = v.d[2], W = v.d[3];
            float *w = weights(o, nd->in[1], (size_t)(K * Ci * 9)), *b = weights(o, nd->in[2], K);
            y.nd = 4, y.d[0] = n, y.d[1] = K, y.d[2] = H, y.d[3] = W;
            y.v = calloc((size_t)(n * K * H * W), 4);
            for (int i = 0; i < n; i++)
                for (int64_t ko = 0; ko < K; ko++)
                    for (int64_t r = 0; r < H; r++)
                        for (int64_t c = 0; c < W; c++) {
                            double s = b[ko];
                            for (int64_t ci = 0; ci < Ci; ci++)
                                for (int dr = 0; dr < 3; dr++)
                                    for (int dc = 0; dc < 3; dc++) {
                                        int64_t rr = r + dr - 1, cc = c + dc - 1;
                                        if (rr < 0 || rr >= H || cc < 0 || cc >= W) continue;
                                        s += (double)w[((ko * Ci + ci) * 3 + dr) * 3 + dc] *
                                             v.v[((i * Ci + ci) * H + rr) * W + cc];
                                    }
                            y.v[((i * K + ko) * H + r) * W + c] = (float)s;
                        }
            free(w);
            free(b);
        } else if (!strcmp(nd->op, "LeakyRelu")) {
            float al = find_attr(nd, "alpha")->f;
            y.nd = v.nd;
            memcpy(y.d, v.d, sizeof y.d);
            size_t cnt = 1;
            for (int i = 0; i < v.nd; i++) cnt *= (size_t)v.d[i];
            y.v = malloc(cnt * 4);
            for (size_t i = 0; i < cnt; i++) y.v[i] = v.v[i] < 0 ? al * v.v[i] : v.v[i];
        } else if (!strcmp(nd->op, "MaxPool")) {
            int64_t Cc = v.d[1], H = v.d[2] / 2, W = v.d[3] / 2;
            y.nd = 4, y.d[0] = n, y.d[1] = Cc, y.d[2] = H, y.d[3] = W;
            y.v = malloc((size_t)(n * Cc * H * W) * 4);
            for (int64_t p = 0; p < n * Cc; p++)
                for (int64_t r = 0; r < H; r++)
                    for (int64_t c = 0; c < W; c++) {
                        const float *s = v.v + (p * v.d[2] + 2 * r) * v.d[3] + 2 * c;
                        float m = fmaxf(fmaxf(s[0], s[1]), fmaxf(s[v.d[3]], s[v.d[3] + 1]));
                        y.v[(p * H + r) * W + c] = m;
                    }
        } else if (!strcmp(nd->op, "AveragePool")) { /* k x k, stride k, no padding */
            const attr *ka = find_attr(nd, "kernel_shape"), *sa = find_attr(nd, "strides");
            REQUIRE(ka && ka->n_ints == 2 && ka->ints[0] == ka->ints[1]);
            REQUIRE(sa && sa->n_ints == 2 && sa->ints[0] == ka->ints[0] &&
                    sa->ints[1] == ka->ints[0]);
            int64_t kk = ka->ints[0], Cc = v.d[1], H = v.d[2] / kk, W = v.d[3] / kk;
            y.nd = 4, y.d[0] = n, y.d[1] = Cc, y.d[2] = H, y.d[3] = W;
            y.v = malloc((size_t)(n * Cc * H * W) * 4);
            for (int64_t p = 0; p < n * Cc; p++)
                for (int64_t r = 0; r < H; r++)
                    for (int64_t c = 0; c < W; c++) {
                        double s = 0;
                        for (int64_t a = 0; a < kk; a++)
                            for (int64_t e = 0; e < kk; e++)
                                s += v.v[(p * v.d[2] + r * kk + a) * v.d[3] + c * kk + e];
                        y.v[(p * H + r) * W + c] = (float)(s / (double)(kk * kk));
                    }
        } else if (!strcmp(nd->op, "GlobalAveragePool")) { /* (n,C,H,W) -> (n,C,1,1): means */
            int64_t Cc = v.d[1], HW = v.d[2] * v.d[3];
            y.nd = 4, y.d[0] = n, y.d[1] = Cc, y.d[2] = 1, y.d[3] = 1;
            y.v = malloc((size_t)(n * Cc) * 4);
            for (int64_t p = 0; p < n * Cc; p++) {
                double s = 0;
                for (int64_t j = 0; j < HW; j++) s += v.v[p * HW + j];
                y.v[p] = (float)(s / (double)HW);
            }
        } else if (!strcmp(nd->op, "Mul") || !strcmp(nd->op, "Add")) { /* x op scalar */
            const float *c = NULL;
            for (int i = 0; i < n_consts; i++)
                if (!strcmp(consts[i].name, nd->in[1])) c = &consts[i].f;
            REQUIRE(c && nd->n_in == 2);
            y.nd = v.nd;
            memcpy(y.d, v.d, sizeof y.d);
            size_t cnt = 1;
            for (int i = 0; i < v.nd; i++) cnt *= (size_t)v.d[i];
            y.v = malloc(cnt * 4);
            const int mul = nd->op[0] == 'M';
            for (size_t i = 0; i < cnt; i++) y.v[i] = mul ? v.v[i] * *c : v.v[i] + *c;
        } else if (!strcmp(nd->op, "Flatten")) { /* row-major: (c,h,w) */
            y.nd = 2, y.d[0] = n, y.d[1] = v.d[1] * v.d[2] * v.d[3];
            y.v = malloc((size_t)(y.d[0] * y.d[1]) * 4);
            memcpy(y.v, v.v, (size_t)(y.d[0] * y.d[1]) * 4);
        } else if (!strcmp(nd->op, "Gemm")) { /* transB: y = x @ W^T + b */
            const init *wi = find_init(o, nd->in[1]);
            int64_t O = wi->dims[0], I = wi->dims[1];
            REQUIRE(I == v.d[1]);
            float *w = weights(o, nd->in[1], (size_t)(O * I)), *b = weights(o, nd->in[2], O);
            y.nd = 2, y.d[0] = n, y.d[1] = O;
            y.v = malloc((size_t)(n * O) * 4);
            for (int i = 0; i < n; i++)
                for (int64_t j = 0; j < O; j++) {
                    double s = b[j];
                    for (int64_t q = 0; q < I; q++) s += (double)v.v[i * I + q] * w[j * I + q];
                    y.v[i * O + j] = (float)s;
                }
            free(w);
            free(b);
        } else if (!strcmp(nd->op, "Softmax")) {
            int64_t Cc = v.d[1];
            y.nd = 2, y.d[0] = n, y.d[1] = Cc;
            y.v = malloc((size_t)(n * Cc) * 4);
            for (int i = 0; i < n; i++) {
                double mx = v.v[i * Cc], z = 0;
                for (int64_t j = 1; j < Cc; j++) mx = fmax(mx, v.v[i * Cc + j]);
                for (int64_t j = 0; j < Cc; j++) z += exp(v.v[i * Cc + j] - mx);
                for (int64_t j = 0; j < Cc; j++)
                    y.v[i * Cc + j] = (float)(exp(v.v[i * Cc + j] - mx) / z);
            }
        } else {
            REQUIRE(!"unknown op");
        }
        free(v.v);
        v = y;
    }
    REQUIRE(!strcmp(v.name, "probabilities") && v.nd == 2 && v.d[1] == C);
    memcpy(probs, v.v, (size_t)n * C * 4);
    free(v.v);
}

/* The entries of folder dir, . and .. left out. */
static int n_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len ? *len : 1);
    REQUIRE(b && fread(b, 1, *len, f) == *len);
    fclose(f);
    return b;
}

/* A model of config vc exported to ONNX: the study's node list `ops` with `extra` inserted at
 * index `at`, and the interpreter's probabilities those of the model, within 1e-5. */
static void check_variant(cxr_backend *be, const cxr_model_config *vc, cxr_checkpoint_meta *meta,
                          const char *dir, const float *x, const char *const *ops, int n_ops,
                          int at, const char *const *extra, int n_extra)
{
    cxr_model *v;
    CHECK_OK(cxr_model_create(&v, vc, be));
    char path[112];
    snprintf(path, sizeof path, "%s/variant.onnx", dir);
    CHECK_OK(cxr_onnx_write(path, v, meta));
    size_t len;
    uint8_t *buf = slurp(path, &len);
    onnx o;
    REQUIRE(parse(buf, len, &o));
    CHECK(o.n_nodes == n_ops + n_extra);
    for (int k = 0; k < o.n_nodes && k < n_ops + n_extra; k++)
        CHECK(!strcmp(o.nodes[k].op, k < at             ? ops[k]
                                     : k < at + n_extra ? extra[k - at]
                                                        : ops[k - n_extra]));
    float pm[N * 2], pi[N * 2];
    CHECK_OK(cxr_model_forward(v, x, N, 0));
    CHECK_OK(cxr_model_probs(v, pm, N));
    interpret(&o, x, N, pi, 2);
    for (int i = 0; i < N * 2; i++) CHECK_CLOSE(pi[i], pm[i], 1e-5, 0);
    free(buf);
    unlink(path);
    cxr_model_destroy(v);
}

int main(void)
{
    char dir[] = "/tmp/cxr-export-test.XXXXXX", ck[96], w32[96], w16[96], ox[96];
    REQUIRE(mkdtemp(dir));
    snprintf(ck, sizeof ck, "%s/ck.h5", dir);
    snprintf(w32, sizeof w32, "%s/w32.h5", dir);
    snprintf(w16, sizeof w16, "%s/w16.h5", dir);
    snprintf(ox, sizeof ox, "%s/m.onnx", dir);

    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 2));
    cxr_model_config cfg;
    small_config(&cfg);
    cxr_model *a;
    CHECK_OK(cxr_model_create(&a, &cfg, be));
    /* non-zero biases too (the init leaves them 0): a bias in the wrong place shows */
    float *p = params_of(a);
    for (int t = CXR_TENSOR_CONV1_B; t < CXR_MODEL_N_TENSORS; t += 2) {
        const cxr_tensor_info *ti = cxr_model_tensor(a, t);
        for (size_t j = 0; j < ti->count; j++) p[ti->offset + j] = 0.3f * uni();
    }
    CHECK_OK(cxr_model_set_block(a, CXR_BLOCK_PARAMS, p));
    free(p);
    cxr_checkpoint_meta meta, got;
    fill_meta(&meta, &cfg);
    CHECK_OK(cxr_checkpoint_save(ck, a, &meta));
    CHECK_OK(cxr_checkpoint_save_weights(w32, a, &meta, 0));
    CHECK_OK(cxr_checkpoint_save_weights(w16, a, &meta, 1));

    /* meta */
    CHECK_OK(cxr_checkpoint_read_meta(w16, &got));
    CHECK(got.weights_only == 1 && got.bf16 == 1 && got.checksummed == 1);
    CHECK(got.n_classes == 2 && !strcmp(got.class_names[1], "PNEU\"MONIA"));
    CHECK(got.threshold == 0.4375 && got.pp.size == S && got.model.channels[3] == 5);
    cxr_checkpoint_meta_free(&got);
    CHECK_OK(cxr_checkpoint_read_meta(ck, &got));
    CHECK(got.weights_only == 0 && got.bf16 == 0);
    cxr_checkpoint_meta_free(&got);

    /* the three files' models */
    cxr_model *mc, *mw, *mh;
    CHECK_OK(cxr_checkpoint_open_model(ck, be, N, 2, &mc, &got));
    cxr_checkpoint_meta_free(&got);
    CHECK_OK(cxr_checkpoint_open_model(w32, be, N, 2, &mw, &got));
    CHECK(got.weights_only == 1 && got.bf16 == 0);
    cxr_checkpoint_meta_free(&got);
    CHECK_OK(cxr_checkpoint_open_model(w16, be, N, 2, &mh, &got));
    float *pa = params_of(a), *pc = params_of(mc), *pw = params_of(mw), *ph = params_of(mh);
    size_t np = cxr_model_n_params(a), bad16 = 0;
    CHECK(memcmp(pa, pc, np * 4) == 0);
    CHECK(memcmp(pa, pw, np * 4) == 0);
    for (size_t i = 0; i < np; i++)
        if (memcmp(&ph[i], &(float){ bf16_round(pa[i]) }, 4) != 0) bad16++;
    CHECK(bad16 == 0);
    if (bad16)
        fprintf(stderr, "%zu of %zu bf16 parameters are not rounded to nearest even\n", bad16, np);

    float x[N * S * S], prc[N * 2], prw[N * 2], prh[N * 2], lc[N * 2], lw[N * 2];
    for (int i = 0; i < N * S * S; i++) x[i] = uni();
    CHECK_OK(cxr_model_forward(mc, x, N, 0));
    CHECK_OK(cxr_model_probs(mc, prc, N));
    CHECK_OK(cxr_model_logits(mc, lc, N));
    CHECK_OK(cxr_model_forward(mw, x, N, 0));
    CHECK_OK(cxr_model_probs(mw, prw, N));
    CHECK_OK(cxr_model_logits(mw, lw, N));
    CHECK(memcmp(prc, prw, sizeof prc) == 0);
    CHECK(memcmp(lc, lw, sizeof lc) == 0);
    CHECK_OK(cxr_model_forward(mh, x, N, 0));
    CHECK_OK(cxr_model_probs(mh, prh, N));
    for (int i = 0; i < N * 2; i++) CHECK_CLOSE(prh[i], prc[i], 0.05, 0);

    /* an inference-only model cannot train; a weights file cannot be resumed from */
    int32_t labels[N] = { 0, 1, 0 };
    cxr_adam_params adam;
    cxr_adam_defaults(&adam);
    CHECK(cxr_model_loss_backward(mw, labels, NULL, N, NULL) == CXR_E_ARG);
    CHECK(cxr_model_step(mw, &adam) == CXR_E_ARG);
    CHECK(cxr_model_get_block(mw, CXR_BLOCK_ADAM_M, pw) == CXR_E_ARG);
    cxr_status st = cxr_checkpoint_load(w32, a, NULL);
    CHECK(st == CXR_E_FORMAT && strstr(cxr_last_error(), "weights-only") != NULL);
    CHECK(cxr_model_forward(a, x, N, 1) == CXR_OK &&
          cxr_model_loss_backward(a, labels, NULL, N, NULL) == CXR_OK); /* a still trains */

    /* ONNX; metadata of another model is refused, nothing written */
    got.n_classes++;
    CHECK(cxr_onnx_write(ox, mw, &got) == CXR_E_ARG);
    got.n_classes -= 2; /* fewer class names than the model's outputs, too */
    CHECK(cxr_onnx_write(ox, mw, &got) == CXR_E_ARG);
    got.n_classes++;
    got.pp.size *= 2;
    CHECK(cxr_onnx_write(ox, mw, &got) == CXR_E_MISMATCH);
    got.pp.size /= 2;
    CHECK(access(ox, F_OK) != 0);
    CHECK_OK(cxr_onnx_write(ox, mw, &got));
    size_t len;
    uint8_t *buf = slurp(ox, &len);
    onnx o;
    REQUIRE(parse(buf, len, &o));
    CHECK(o.ir == CXR_ONNX_IR_VERSION && o.n_opset == 1 && o.opset == CXR_ONNX_OPSET &&
          o.opset_domain[0] == 0);
    /* who wrote it (ModelProto producer_name, producer_version) and the graph's name */
    CHECK(!strcmp(o.producer, "cxr-export") && !strcmp(o.producer_version, CXR_VERSION_STRING));
    CHECK(!strcmp(o.graph_name, "cxr"));
    static const char *const ops[] = { "Conv",    "LeakyRelu", "Conv",      "LeakyRelu",
                                       "MaxPool", "Conv",      "LeakyRelu", "MaxPool",
                                       "Conv",    "LeakyRelu", "MaxPool",   "Flatten",
                                       "Gemm",    "LeakyRelu", "Gemm",      "LeakyRelu",
                                       "Gemm",    "Softmax" };
    const int n_ops = (int)(sizeof ops / sizeof ops[0]);
    CHECK(o.n_nodes == n_ops);
    static const int64_t k3[2] = { 3, 3 }, pad1[4] = { 1, 1, 1, 1 }, k2[2] = { 2, 2 },
                         one[2] = { 1, 1 };
    const char *prev = "image";
    int n_conv = 0, n_gemm = 0;
    for (int k = 0; k < o.n_nodes && k < n_ops; k++) {
        const node *nd = &o.nodes[k];
        CHECK(!strcmp(nd->op, ops[k]));
        CHECK(nd->n_out == 1 && nd->name[0]);
        CHECK(!strcmp(nd->in[0], prev));
        prev = nd->out;
        if (!strcmp(nd->op, "Conv")) {
            char w[24], b[24];
            snprintf(w, sizeof w, "conv%d.w", ++n_conv);
            snprintf(b, sizeof b, "conv%d.b", n_conv);
            CHECK(nd->n_in == 3 && !strcmp(nd->in[1], w) && !strcmp(nd->in[2], b));
            CHECK(ints_are(find_attr(nd, "kernel_shape"), 2, k3));
            CHECK(ints_are(find_attr(nd, "pads"), 4, pad1));
            CHECK(ints_are(find_attr(nd, "strides"), 2, one));
        } else if (!strcmp(nd->op, "LeakyRelu")) {
            const attr *al = find_attr(nd, "alpha");
            CHECK(al && al->type == 1 && al->f == cfg.alpha);
        } else if (!strcmp(nd->op, "MaxPool")) {
            CHECK(ints_are(find_attr(nd, "kernel_shape"), 2, k2));
            CHECK(ints_are(find_attr(nd, "strides"), 2, k2));
        } else if (!strcmp(nd->op, "Gemm")) {
            static const char *const dn[3] = { "dense1", "dense2", "out" };
            char w[24], b[24];
            snprintf(w, sizeof w, "%s.w", dn[n_gemm]);
            snprintf(b, sizeof b, "%s.b", dn[n_gemm++]);
            const attr *tb = find_attr(nd, "transB");
            CHECK(nd->n_in == 3 && !strcmp(nd->in[1], w) && !strcmp(nd->in[2], b));
            CHECK(tb && tb->type == 2 && tb->i == 1 && !find_attr(nd, "transA"));
        } else { /* Flatten, Softmax */
            const attr *ax = find_attr(nd, "axis");
            CHECK(ax && ax->type == 2 && ax->i == 1);
        }
    }
    CHECK(!strcmp(prev, "probabilities"));
    CHECK(o.n_in == 1 && !strcmp(o.in.name, "image") && o.in.nd == 4 && o.in.dims[0] == -1 &&
          !strcmp(o.in.param, "N") && o.in.dims[1] == 1 && o.in.dims[2] == S && o.in.dims[3] == S);
    CHECK(o.n_out == 1 && !strcmp(o.out.name, "probabilities") && o.out.nd == 2 &&
          o.out.dims[0] == -1 && o.out.dims[1] == 2);
    CHECK(!strcmp(o.classes, "[\"NORMAL\",\"PNEU\\\"MONIA\"]"));
    CHECK(!strcmp(o.threshold, "0.4375"));
    CHECK(strstr(o.preprocessing, "\"normalize\":\"minmax\"") &&
          strstr(o.preprocessing, "\"image_size\":16") &&
          strstr(o.preprocessing, "\"equalize\":true,\"equalization\":\"global\""));
    /* the clip limit for a CLAHE model only (specs/model.md: "clahe_clip for clahe"; written for
     * a global one too, it passed every test: a mutation round) */
    CHECK(!strstr(o.preprocessing, "clahe_clip"));
    CHECK(strstr(o.preprocessing, "\"crop_ratio\":") && strstr(o.preprocessing, "\"max_side\":"));
    /* a CLAHE model: its clip limit, and no boolean "equalize" (a reader of 0.1 exports must
     * fail on it, not equalize globally); a threshold that needs 17 digits keeps them all */
    {
        cxr_checkpoint_meta cm = got;
        cm.pp.equalize = CXR_EQUALIZE_CLAHE;
        cm.pp.clahe_clip = 2.5;
        cm.threshold = 0.1 + 0.2;
        CHECK_OK(cxr_onnx_write(ox, mw, &cm));
        size_t len2;
        uint8_t *buf2 = slurp(ox, &len2);
        onnx o2;
        REQUIRE(parse(buf2, len2, &o2));
        CHECK(!strcmp(o2.threshold, "0.30000000000000004"));
        CHECK(strstr(o2.preprocessing, "\"equalization\":\"clahe\",\"clahe_clip\":2.5") &&
              !strstr(o2.preprocessing, "\"equalize\""));
        free(buf2);
        CHECK_OK(cxr_onnx_write(ox, mw, &got)); /* the file the checks below read */
    }
    /* initializers: the parameters, byte for byte, in the model's layouts */
    CHECK(o.n_inits == CXR_MODEL_N_TENSORS);
    for (int t = 0; t < CXR_MODEL_N_TENSORS; t++) {
        const cxr_tensor_info *ti = cxr_model_tensor(a, t);
        const init *in = find_init(&o, ti->name);
        CHECK(in != NULL);
        if (!in) continue;
        CHECK(in->dtype == 1 && in->nd == ti->ndim);
        for (int k = 0; k < ti->ndim && k < in->nd; k++) CHECK(in->dims[k] == ti->shape[k]);
        CHECK(in->raw_len == ti->count * 4 && !memcmp(in->raw, pa + ti->offset, ti->count * 4));
    }
    /* the decoded graph computes the model's probabilities */
    float pi[N * 2];
    interpret(&o, x, N, pi, 2);
    for (int i = 0; i < N * 2; i++) CHECK_CLOSE(pi[i], prc[i], 1e-5, 0);
    printf("onnx %zu bytes, %d nodes; probabilities %.6f %.6f (interpreter) vs %.6f %.6f\n", len,
           o.n_nodes, pi[0], pi[1], prc[0], prc[1]);

    /* external data: the same graph, each initializer naming its bytes in ext.onnx.data
     * (location, offset a multiple of 4096, length), which hold the parameters to the byte;
     * the interpreter reading them there gives the same probabilities */
    {
        char ex[112], exd[120];
        snprintf(ex, sizeof ex, "%s/ext.onnx", dir);
        snprintf(exd, sizeof exd, "%s/ext.onnx.data", dir);
        int external = -1;
        CHECK_OK(cxr_onnx_write_as(ox, mw, &got, CXR_ONNX_INLINE, &external));
        size_t len3;
        uint8_t *buf3 = slurp(ox, &len3);
        CHECK(external == 0 && len3 == len && !memcmp(buf3, buf, len)); /* inline = auto here */
        free(buf3);
        CHECK_OK(cxr_onnx_write_as(ex, mw, &got, CXR_ONNX_EXTERNAL, &external));
        CHECK(external == 1);
        size_t lx, ld;
        uint8_t *bx = slurp(ex, &lx), *bd = slurp(exd, &ld);
        onnx oe;
        REQUIRE(parse(bx, lx, &oe));
        CHECK(oe.n_nodes == o.n_nodes && oe.n_inits == CXR_MODEL_N_TENSORS);
        size_t params = 0;
        long long end = 0;
        for (int t = 0; t < oe.n_inits; t++) {
            init *in = &oe.inits[t];
            const cxr_tensor_info *ti = cxr_model_tensor(a, t);
            params += ti->count * 4;
            CHECK(!strcmp(in->name, ti->name) && in->raw == NULL && in->data_location == 1);
            CHECK(in->n_entries == 3 && !strcmp(in->location, "ext.onnx.data"));
            CHECK(in->offset % 4096 == 0 && in->offset >= end); /* in order, apart */
            CHECK(in->length == (long long)ti->count * 4 &&
                  in->offset + in->length <= (long long)ld);
            end = in->offset + in->length;
            if (in->offset + in->length > (long long)ld) continue;
            CHECK(!memcmp(bd + in->offset, pa + ti->offset, ti->count * 4));
            in->raw = bd + in->offset, in->raw_len = (size_t)in->length;
        }
        CHECK((long long)ld == end);                          /* no tail after the last tensor */
        CHECK(lx + params > len && lx < len - params + 4096); /* the weights left the model */
        float pe[N * 2];
        interpret(&oe, x, N, pe, 2);
        for (int i = 0; i < N * 2; i++) CHECK(pe[i] == pi[i]);
        /* exported again over itself: the earlier weights file's second name, kept until the
         * new model is in place, is removed after it (left behind, it passed every test: a
         * mutation round) */
        const int entries = n_entries(dir);
        CHECK_OK(cxr_onnx_write_as(ex, mw, &got, CXR_ONNX_EXTERNAL, &external));
        CHECK(external == 1 && entries > 0 && n_entries(dir) == entries);
        free(bx), free(bd);
        unlink(ex), unlink(exd);
        /* past the message limit (CXR_ONNX_MAX_MESSAGE stands in for 2 GiB): the automatic
         * layout goes external, and says so beforehand; inline is refused, nothing written */
        char lim[32]; /* between the external model's size and the inline one's */
        snprintf(lim, sizeof lim, "%zu", (lx + len) / 2);
        setenv("CXR_ONNX_MAX_MESSAGE", lim, 1);
        int said = -1;
        CHECK_OK(cxr_onnx_goes_external(ex, mw, &got, CXR_ONNX_AUTO, &said));
        CHECK_OK(cxr_onnx_write_as(ex, mw, &got, CXR_ONNX_AUTO, &external));
        CHECK(said == 1 && external == 1 && access(exd, F_OK) == 0);
        CHECK(cxr_onnx_goes_external(ex, mw, &got, CXR_ONNX_INLINE, &said) == CXR_E_ARG);
        unlink(ex), unlink(exd);
        CHECK(cxr_onnx_write_as(ex, mw, &got, CXR_ONNX_INLINE, &external) == CXR_E_ARG);
        CHECK(access(ex, F_OK) != 0 && access(exd, F_OK) != 0);
        /* the limit is a size a message must stay under: an inline model of exactly the limit's
         * bytes (len) goes external, one of a byte less than the limit stays inline */
        snprintf(lim, sizeof lim, "%zu", len);
        setenv("CXR_ONNX_MAX_MESSAGE", lim, 1);
        external = -1;
        CHECK_OK(cxr_onnx_write_as(ex, mw, &got, CXR_ONNX_AUTO, &external));
        CHECK(external == 1 && access(exd, F_OK) == 0);
        unlink(ex), unlink(exd);
        snprintf(lim, sizeof lim, "%zu", len + 1);
        setenv("CXR_ONNX_MAX_MESSAGE", lim, 1);
        external = -1;
        CHECK_OK(cxr_onnx_write_as(ex, mw, &got, CXR_ONNX_AUTO, &external));
        CHECK(external == 0 && access(exd, F_OK) != 0);
        unlink(ex), unlink(exd);
        /* a value with trailing junk is no limit (the 2 GiB one): the export stays inline */
        snprintf(lim, sizeof lim, "%zux", (lx + len) / 2);
        setenv("CXR_ONNX_MAX_MESSAGE", lim, 1);
        external = -1;
        CHECK_OK(cxr_onnx_write_as(ex, mw, &got, CXR_ONNX_AUTO, &external));
        CHECK(external == 0 && access(exd, F_OK) != 0);
        unlink(ex), unlink(exd);
        unsetenv("CXR_ONNX_MAX_MESSAGE");
        CHECK_OK(cxr_onnx_goes_external(ex, mw, &got, CXR_ONNX_AUTO, &said));
        CHECK(said == 0);
    }

    /* the variants: each exports one more node where its op goes, and the interpreter gives the
     * model's probabilities (head gap: GlobalAveragePool after pool4; input_pool 2: AveragePool
     * before conv1; an input scale: its two constants, Mul and Add before conv1, after the
     * pool with both) */
    cxr_model_config gc = cfg, ipc = cfg, sc = cfg, psc = cfg;
    gc.head = CXR_HEAD_GAP;
    ipc.input_pool = 2;
    CHECK_OK(cxr_model_config_input_range(&sc, 0, 255));
    CHECK(sc.input_scale == (float)(2.0 / 255) && sc.input_shift == -1.0f);
    psc = sc;
    psc.input_pool = 2;
    static const char *const gap_op[] = { "GlobalAveragePool" };
    static const char *const pool_op[] = { "AveragePool" };
    static const char *const scale_ops[] = { "Constant", "Constant", "Mul", "Add" };
    static const char *const pool_scale_ops[] = { "AveragePool", "Constant", "Constant", "Mul",
                                                  "Add" };
    check_variant(be, &gc, &got, dir, x, ops, n_ops, 11, gap_op, 1);
    check_variant(be, &ipc, &got, dir, x, ops, n_ops, 0, pool_op, 1);
    float x255[N * S * S]; /* the same images as a [0, 255] store holds them */
    for (int i = 0; i < N * S * S; i++) x255[i] = (x[i] + 1.0f) * 127.5f;
    check_variant(be, &sc, &got, dir, x255, ops, n_ops, 0, scale_ops, 4);
    check_variant(be, &psc, &got, dir, x255, ops, n_ops, 0, pool_scale_ops, 5);
    /* conv2 of 32 channels, the default network's: its bias is 128 bytes, the first length whose
     * varint takes two bytes (varint_len counting one for exactly 128 wrote a file no reader
     * parses, and passed every test, whose tensors held no such length: a mutation round) */
    cxr_model_config wc = cfg;
    wc.channels[1] = 32;
    check_variant(be, &wc, &got, dir, x, ops, n_ops, 0, NULL, 0);

    /* nothing else left in the folder (no temporaries) */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 4", dir);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    free(buf);
    free(pa), free(pc), free(pw), free(ph);
    cxr_checkpoint_meta_free(&got);
    cxr_model_destroy(a), cxr_model_destroy(mc), cxr_model_destroy(mw), cxr_model_destroy(mh);
    cxr_backend_destroy(be);
    TEST_END();
}
