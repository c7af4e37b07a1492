/* model.c: the study's CNN graph (specs/model.md), written once for every backend: which ops
 * run in which order on which buffers. All buffers live in the backend's memory and every op
 * goes through the cxr_backend table (cxr_ops.h), so the CPU reference and a GPU backend share
 * this file.
 *
 * Memory: activations are kept once per layer, with the activation, dropout and pooling done in
 * place where their backward allows it (leaky ReLU's backward reads its output; pooling keeps
 * a one-byte argmax; dropout recomputes its mask from the counter RNG). Activation gradients
 * use two ping-pong buffers, since each is dead once the layer below has consumed it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_backend_cpu.h"
#include "cxr_model.h"
#include "rng.h"

enum { L_POOL2 = 1, L_POOL3 = 2, L_POOL4 = 3, L_DENSE1 = 4, L_DENSE2 = 5 }; /* dropout layer ids */

struct cxr_model {
    cxr_model_config cfg;
    cxr_backend *be;
    cxr_tensor_info tensors[CXR_MODEL_N_TENSORS];
    size_t n_params;
    float *block[4];
    int64_t t;     /* Adam steps done */
    uint64_t seed; /* dropout seed */
    int last_n, last_training;
    float smoothing; /* label smoothing of the loss (cxr_model_set_label_smoothing; 0: none) */
    size_t act_bytes;
    /* activations, (B = batch_capacity) */
    float *x;                        /* (B,1,S0,S0): the input, S0 = image_size */
    float *xp;                       /* what conv1 reads when it is not x: the input pool's
                                        k x k means and/or the input scale's x * scale + shift,
                                        (B,1,S,S) with S = S0/k the size the layers run at;
                                        NULL when conv1 reads x */
    float *a1, *a2;                  /* (B,c0,S,S), (B,c1,S,S) */
    float *p2;                       /* (B,c1,S/2,S/2) */
    float *a3, *p3;                  /* (B,c2,S/2,S/2), (B,c2,S/4,S/4) */
    float *a4, *p4;                  /* (B,c3,S/4,S/4), (B,c3,S/8,S/8) */
    uint8_t *i2, *i3, *i4;           /* pooling argmax, shapes of p2, p3, p4 */
    float *g, *dg;                   /* head gap: pool4's channel means and their gradient,
                                        (B,c3); NULL with the flatten head */
    float *h1, *h2;                  /* (B,d0), (B,d1) */
    float *logits, *probs, *dlogits; /* (B,C) */
    float *loss;                     /* (1) */
    int32_t *labels;                 /* (3B): labels, mixup's labels2, mix (floats): the
                                        three ranges start at 0, B and 2B */
    float *cw;                       /* (C) */
    float *gA, *gB;                  /* activation-gradient ping-pong buffers */
    int fused_fwd, fused_bwd;        /* backend slots conv3x3_lrelu_pool_forward and
                                        maxpool2_lrelu_backward, each used when present; with
                                        both, a2, a3, a4 are never stored */
    size_t gA_n, gB_n;               /* their sizes in floats */
    /* Host buffers; with the backend's asynchronous copies (async) from be->host_alloc, and
     * fences 0..1 = result slots, 2..3 = label buffers. */
    int async;
    float *res[CXR_MODEL_RESULT_SLOTS]; /* loss, then (B,C) probabilities */
    int32_t *lab_host[2];               /* labels (as labels above) staged for their upload,
                                           used in turn */
    int lab_next;
    float *cw_host; /* (C) the class weights last uploaded into cw */
    int cw_set;
};

void cxr_model_config_defaults(cxr_model_config *c, int n_classes)
{
    memset(c, 0, sizeof *c);
    c->n_classes = n_classes;
    c->image_size = 256;
    c->channels[0] = 16;
    c->channels[1] = 32;
    c->channels[2] = 64;
    c->channels[3] = 128;
    c->dense[0] = 512;
    c->dense[1] = 1024;
    c->alpha = 0.5f;
    c->keep_prob = 0.75f;
    c->batch_capacity = 64;
    c->seed = 1;
    c->input_pool = 1;
    c->input_scale = 1.0f;
    c->input_shift = 0.0f;
}

cxr_status cxr_model_config_input_range(cxr_model_config *c, double lo, double hi)
{
    if (!(isfinite(lo) && isfinite(hi) && lo < hi))
        return cxr_set_error(CXR_E_ARG, "model config: input range [%g, %g] is not an interval", lo,
                             hi);
    c->input_scale = (float)(2.0 / (hi - lo));
    c->input_shift = (float)(-(hi + lo) / (hi - lo));
    return CXR_OK;
}

int cxr_model_config_input_plain(const cxr_model_config *c)
{
    return c->input_scale == 1.0f && c->input_shift == 0.0f;
}

cxr_status cxr_model_config_check(const cxr_model_config *c)
{
    if (c->n_classes < 2 || c->n_classes > 4096)
        return cxr_set_error(CXR_E_ARG, "model config: n_classes %d not in [2,4096]", c->n_classes);
    if (c->image_size < 8 || c->image_size % 8 || c->image_size > 4096)
        return cxr_set_error(CXR_E_ARG,
                             "model config: image_size %d is not a multiple of 8 in [8,4096]",
                             c->image_size);
    for (int i = 0; i < 4; i++)
        if (c->channels[i] < 1 || c->channels[i] > 4096)
            return cxr_set_error(CXR_E_ARG, "model config: channels[%d] = %d", i, c->channels[i]);
    for (int i = 0; i < 2; i++)
        if (c->dense[i] < 1 || c->dense[i] > 65536)
            return cxr_set_error(CXR_E_ARG, "model config: dense[%d] = %d", i, c->dense[i]);
    if (!(c->alpha > 0.0f && c->alpha <= 1.0f))
        return cxr_set_error(CXR_E_ARG, "model config: leaky alpha %g not in (0,1]", c->alpha);
    if (!(c->keep_prob > 0.0f && c->keep_prob <= 1.0f))
        return cxr_set_error(CXR_E_ARG, "model config: keep_prob %g not in (0,1]", c->keep_prob);
    if (c->batch_capacity < 1 || c->batch_capacity > 65536)
        return cxr_set_error(CXR_E_ARG, "model config: batch_capacity %d", c->batch_capacity);
    if (!cxr_model_head_name(c->head))
        return cxr_set_error(CXR_E_ARG, "model config: head %d (0 flatten, 1 gap)", c->head);
    const int k = c->input_pool;
    if (k != 1 && k != 2 && k != 4 && k != 8)
        return cxr_set_error(CXR_E_ARG, "model config: input_pool %d is not 1, 2, 4 or 8", k);
    if (c->image_size % (8 * k))
        return cxr_set_error(CXR_E_ARG,
                             "model config: image_size %d is not a multiple of 8 x input_pool %d",
                             c->image_size, k);
    /* a scale that maps a range of width >= 2^-20 .. 2^20 onto [-1, 1], a shift that keeps it
     * near there: anything else is no pixel range, but a damaged file or a caller's slip */
    const float a = c->input_scale, b = fabsf(c->input_shift);
    if (!(a >= 0x1p-20f && a <= 0x1p20f) || !(b <= 0x1p20f))
        return cxr_set_error(CXR_E_ARG,
                             "model config: input scale %g and shift %g (scale in [2^-20, 2^20], "
                             "|shift| <= 2^20)",
                             c->input_scale, c->input_shift);
    return CXR_OK;
}

/* The side the layers run at: the image's, or its input pool's view. */
static int net_size(const cxr_model_config *c)
{
    return c->image_size / (c->input_pool > 1 ? c->input_pool : 1);
}

const char *cxr_model_head_name(int head)
{
    return head == CXR_HEAD_FLATTEN ? "flatten" : head == CXR_HEAD_GAP ? "gap" : NULL;
}

cxr_status cxr_model_head_parse(const char *name, int *head)
{
    if (name && !strcmp(name, "flatten"))
        *head = CXR_HEAD_FLATTEN;
    else if (name && !strcmp(name, "gap"))
        *head = CXR_HEAD_GAP;
    else
        return cxr_set_error(CXR_E_ARG, "head '%s': not flatten or gap", name ? name : "(null)");
    return CXR_OK;
}

/* dense1's inputs: pool4's map flattened, or its channels' means (head gap) */
static int dense1_in(const cxr_model_config *c)
{
    const int S8 = net_size(c) / 8;
    return c->head == CXR_HEAD_GAP ? c->channels[3] : c->channels[3] * S8 * S8;
}

void cxr_adam_defaults(cxr_adam_params *p)
{
    p->lr = 0.01f;
    p->beta1 = 0.9f;
    p->beta2 = 0.999f;
    p->eps = 1e-8f;
    p->weight_decay = 0.0f;
}

static const char *const tensor_names[CXR_MODEL_N_TENSORS] = {
    [CXR_TENSOR_CONV1_W] = "conv1.w",   [CXR_TENSOR_CONV1_B] = "conv1.b",
    [CXR_TENSOR_CONV2_W] = "conv2.w",   [CXR_TENSOR_CONV2_B] = "conv2.b",
    [CXR_TENSOR_CONV3_W] = "conv3.w",   [CXR_TENSOR_CONV3_B] = "conv3.b",
    [CXR_TENSOR_CONV4_W] = "conv4.w",   [CXR_TENSOR_CONV4_B] = "conv4.b",
    [CXR_TENSOR_DENSE1_W] = "dense1.w", [CXR_TENSOR_DENSE1_B] = "dense1.b",
    [CXR_TENSOR_DENSE2_W] = "dense2.w", [CXR_TENSOR_DENSE2_B] = "dense2.b",
    [CXR_TENSOR_OUT_W] = "out.w",       [CXR_TENSOR_OUT_B] = "out.b",
};

size_t cxr_model_layout(const cxr_model_config *c, cxr_tensor_info t[CXR_MODEL_N_TENSORS])
{
    int cin = 1;
    size_t off = 0;
    int k = CXR_TENSOR_CONV1_W; /* conv1..conv4, then dense1, dense2, out: weight, bias each */
    memset(t, 0, CXR_MODEL_N_TENSORS * sizeof *t);
    for (int i = 0; i < 4; i++) {
        cxr_tensor_info *w = &t[k++], *b = &t[k++];
        w->ndim = 4;
        w->shape[0] = c->channels[i];
        w->shape[1] = cin;
        w->shape[2] = w->shape[3] = 3;
        w->count = (size_t)c->channels[i] * cin * 9;
        b->ndim = 1;
        b->shape[0] = c->channels[i];
        b->count = (size_t)c->channels[i];
        cin = c->channels[i];
    }
    int in = dense1_in(c);
    const int outs[3] = { c->dense[0], c->dense[1], c->n_classes };
    for (int i = 0; i < 3; i++) {
        cxr_tensor_info *w = &t[k++], *b = &t[k++];
        w->ndim = 2;
        w->shape[0] = outs[i];
        w->shape[1] = in;
        w->count = (size_t)outs[i] * in;
        b->ndim = 1;
        b->shape[0] = outs[i];
        b->count = (size_t)outs[i];
        in = outs[i];
    }
    for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
        t[i].name = tensor_names[i];
        /* keep every tensor 16-float (64-byte) aligned inside the block */
        t[i].offset = off;
        off += (t[i].count + 15) / 16 * 16;
    }
    return off;
}

/* Tensor t of a block, of the parameters, of the gradients. */
static float *T(cxr_model *m, cxr_block b, cxr_tensor_id t)
{
    return m->block[b] + m->tensors[t].offset;
}
static float *param(cxr_model *m, cxr_tensor_id t) { return T(m, CXR_BLOCK_PARAMS, t); }
static float *grad(cxr_model *m, cxr_tensor_id t) { return T(m, CXR_BLOCK_GRADS, t); }

static cxr_status balloc(cxr_model *m, void **p, size_t bytes)
{
    cxr_status st = m->be->alloc(m->be->ctx, p, bytes);
    if (st == CXR_OK) m->act_bytes += bytes;
    return st;
}

/* train = 0: the parameter block alone, no gradients, Adam state or gradient buffers. */
static cxr_status create(cxr_model **out, const cxr_model_config *cfg, cxr_backend *be, int train)
{
    cxr_status st = CXR_OK;
    *out = NULL;
    CXR_TRY(cxr_model_config_check(cfg));
    cxr_model *m = calloc(1, sizeof *m);
    if (!m) return cxr_set_error(CXR_E_NOMEM, "model: out of memory");
    m->cfg = *cfg;
    m->be = be;
    m->fused_fwd = be->conv3x3_lrelu_pool_forward != NULL;
    m->fused_bwd = be->maxpool2_lrelu_backward != NULL;
    if (cfg->head == CXR_HEAD_GAP &&
        (!be->global_avgpool_forward || !be->global_avgpool_backward)) {
        st = cxr_set_error(CXR_E_UNSUPPORTED,
                           "model create: head gap needs a global average pool, which the %s "
                           "backend does not have (head flatten runs everywhere)",
                           be->name);
        free(m);
        return st;
    }
    if (cfg->input_pool > 1 && !be->avgpool_forward) {
        st = cxr_set_error(CXR_E_UNSUPPORTED,
                           "model create: input_pool %d needs an average pool, which the %s "
                           "backend does not have",
                           cfg->input_pool, be->name);
        free(m);
        return st;
    }
    if (!cxr_model_config_input_plain(cfg) && !be->scale_shift) {
        st = cxr_set_error(CXR_E_UNSUPPORTED,
                           "model create: an input scale (%g, %g) needs a scale op, which the %s "
                           "backend does not have",
                           cfg->input_scale, cfg->input_shift, be->name);
        free(m);
        return st;
    }
    m->n_params = cxr_model_layout(&m->cfg, m->tensors);
    const size_t B = (size_t)cfg->batch_capacity, S0 = (size_t)cfg->image_size,
                 S = (size_t)net_size(cfg);
    const size_t *c = NULL;
    size_t ch[4];
    for (int i = 0; i < 4; i++) ch[i] = (size_t)cfg->channels[i];
    c = ch;
    const size_t n_a1 = B * c[0] * S * S, n_a2 = B * c[1] * S * S, n_p2 = n_a2 / 4;
    const size_t n_a3 = B * c[2] * (S / 2) * (S / 2), n_p3 = n_a3 / 4;
    const size_t n_a4 = B * c[3] * (S / 4) * (S / 4), n_p4 = n_a4 / 4;
    const size_t n_h1 = B * (size_t)cfg->dense[0], n_h2 = B * (size_t)cfg->dense[1];
    const size_t n_cls = B * (size_t)cfg->n_classes;
    if (be->max_tensor_elems) { /* what cuDNN sees: conv1's input (the input pool's view) and
                                  * each conv's output */
        size_t most = B * S * S;
        const size_t outs[4] = { n_a1, n_a2, n_a3, n_a4 };
        for (int i = 0; i < 4; i++) most = outs[i] > most ? outs[i] : most;
        const size_t one = most / B; /* of one image */
        if (one > be->max_tensor_elems) {
            st = cxr_set_error(CXR_E_ARG,
                               "image size %d: one image's largest activation would hold %zu "
                               "elements, more than the %s backend's %zu per tensor: use a "
                               "smaller image size, an input pool or fewer channels",
                               cfg->image_size, one, be->name, be->max_tensor_elems);
            goto fail;
        }
        if (most > be->max_tensor_elems) {
            st = cxr_set_error(CXR_E_ARG,
                               "batch %d: a batch's largest activation would hold %zu elements, "
                               "more than the %s backend's %zu per tensor; at most %zu images "
                               "per batch at image size %d",
                               cfg->batch_capacity, most, be->name, be->max_tensor_elems,
                               be->max_tensor_elems / one, cfg->image_size);
            goto fail;
        }
    }
    for (int b = 0; b < (train ? 4 : 1); b++) {
        st = be->alloc(be->ctx, (void **)&m->block[b], m->n_params * sizeof(float));
        if (st) goto fail;
    }
    struct {
        void **p;
        size_t bytes;
    } plan[] = {
        { (void **)&m->x, B * S0 * S0 * 4 },
        { (void **)&m->a1, n_a1 * 4 },
        { (void **)&m->a2, n_a2 * 4 },
        { (void **)&m->p2, n_p2 * 4 },
        { (void **)&m->i2, n_p2 },
        { (void **)&m->a3, n_a3 * 4 },
        { (void **)&m->p3, n_p3 * 4 },
        { (void **)&m->i3, n_p3 },
        { (void **)&m->a4, n_a4 * 4 },
        { (void **)&m->p4, n_p4 * 4 },
        { (void **)&m->i4, n_p4 },
        { (void **)&m->h1, n_h1 * 4 },
        { (void **)&m->h2, n_h2 * 4 },
        { (void **)&m->logits, n_cls * 4 },
        { (void **)&m->probs, n_cls * 4 },
        { (void **)&m->dlogits, n_cls * 4 },
        { (void **)&m->loss, 4 },
        { (void **)&m->labels, 3 * B * 4 },
        { (void **)&m->cw, (size_t)cfg->n_classes * 4 },
    };
    if ((cfg->input_pool > 1 || !cxr_model_config_input_plain(cfg)) &&
        (st = balloc(m, (void **)&m->xp, B * S * S * 4)))
        goto fail;
    if (cfg->head == CXR_HEAD_GAP && ((st = balloc(m, (void **)&m->g, B * c[3] * 4)) ||
                                      (train && (st = balloc(m, (void **)&m->dg, B * c[3] * 4)))))
        goto fail;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        /* the fused path pools straight from the conv tile: no full-size a2, a3, a4 */
        if (m->fused_fwd && m->fused_bwd &&
            (plan[i].p == (void **)&m->a2 || plan[i].p == (void **)&m->a3 ||
             plan[i].p == (void **)&m->a4))
            continue;
        st = balloc(m, plan[i].p, plan[i].bytes);
        if (st) goto fail;
    }
    /* ping-pong: gA holds dh2, dp4, dp3, dp2, da1; gB holds dh1, da4, da3, da2 */
    size_t ga = n_h2, gb = n_h1;
    const size_t la[] = { n_p4, n_p3, n_p2, n_a1 }, lb[] = { n_a4, n_a3, n_a2 };
    for (int i = 0; i < 4; i++) ga = la[i] > ga ? la[i] : ga;
    for (int i = 0; i < 3; i++) gb = lb[i] > gb ? lb[i] : gb;
    m->gA_n = ga;
    m->gB_n = gb;
    if (train &&
        ((st = balloc(m, (void **)&m->gA, ga * 4)) || (st = balloc(m, (void **)&m->gB, gb * 4))))
        goto fail;
    m->async =
        be->host_alloc && be->host_free && be->download_async && be->fence_mark && be->fence_wait;
    void **hb[CXR_MODEL_RESULT_SLOTS + 2];
    size_t hbytes[CXR_MODEL_RESULT_SLOTS + 2];
    for (int i = 0; i < CXR_MODEL_RESULT_SLOTS; i++)
        hb[i] = (void **)&m->res[i], hbytes[i] = (1 + n_cls) * sizeof(float);
    for (int i = 0; i < 2; i++)
        hb[CXR_MODEL_RESULT_SLOTS + i] = (void **)&m->lab_host[i],
                                    hbytes[CXR_MODEL_RESULT_SLOTS + i] = 3 * B * 4;
    for (int i = 0; i < CXR_MODEL_RESULT_SLOTS + 2; i++) {
        if (m->async) {
            if ((st = be->host_alloc(be->ctx, hb[i], hbytes[i]))) goto fail;
        } else if (!(*hb[i] = calloc(1, hbytes[i]))) {
            st = cxr_set_error(CXR_E_NOMEM, "model: out of memory");
            goto fail;
        }
    }
    if (!(m->cw_host = calloc((size_t)cfg->n_classes, sizeof(float)))) {
        st = cxr_set_error(CXR_E_NOMEM, "model: out of memory");
        goto fail;
    }
    if (be->reserve) { /* the fused path's full-size map of conv2..conv4 (a2..a4 skipped above) */
        size_t map = 0;
        if (m->fused_fwd && m->fused_bwd) {
            map = n_a2 > n_a3 ? n_a2 : n_a3;
            map = (n_a4 > map ? n_a4 : map) * sizeof(float);
        }
        be->reserve(be->ctx, map);
    }
    if (train && (st = cxr_model_init_params(m, cfg->seed))) goto fail;
    m->seed = cfg->seed;
    *out = m;
    return CXR_OK;
fail:
    cxr_wrap_error(st, "model create (%zu parameters, batch %d)", m->n_params, cfg->batch_capacity);
    cxr_model_destroy(m);
bail:
    return st;
}

cxr_status cxr_model_create(cxr_model **out, const cxr_model_config *cfg, cxr_backend *be)
{
    return create(out, cfg, be, 1);
}

cxr_status cxr_model_create_inference(cxr_model **out, const cxr_model_config *cfg, cxr_backend *be)
{
    return create(out, cfg, be, 0);
}

void cxr_model_destroy(cxr_model *m)
{
    if (!m) return;
    cxr_backend *be = m->be;
    for (int b = 0; b < 4; b++) be->free(be->ctx, m->block[b]);
    void *bufs[] = { m->x,    m->a1,     m->a2, m->p2, m->i2, m->a3,     m->p3,    m->i3,
                     m->a4,   m->p4,     m->i4, m->h1, m->h2, m->logits, m->probs, m->dlogits,
                     m->loss, m->labels, m->cw, m->gA, m->gB, m->g,      m->dg,    m->xp };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be->ctx, bufs[i]);
    void *hb[] = { m->res[0], m->res[1], m->lab_host[0], m->lab_host[1] };
    for (size_t i = 0; i < sizeof hb / sizeof hb[0]; i++) {
        if (m->async)
            be->host_free(be->ctx, hb[i]);
        else
            free(hb[i]);
    }
    free(m->cw_host);
    free(m);
}

const cxr_model_config *cxr_model_get_config(const cxr_model *m) { return &m->cfg; }
cxr_backend *cxr_model_backend(const cxr_model *m) { return m->be; }
size_t cxr_model_activation_bytes(const cxr_model *m) { return m->act_bytes; }
size_t cxr_model_n_params(const cxr_model *m) { return m->n_params; }
const cxr_tensor_info *cxr_model_tensor(const cxr_model *m, int i)
{
    return i >= 0 && i < CXR_MODEL_N_TENSORS ? &m->tensors[i] : NULL;
}
float *cxr_model_block(cxr_model *m, cxr_block which)
{
    return (unsigned)which < 4 ? m->block[which] : NULL;
}
int64_t cxr_model_get_step(const cxr_model *m) { return m->t; }
void cxr_model_set_step(cxr_model *m, int64_t t) { m->t = t; }
float *cxr_model_input(cxr_model *m) { return m->x; }

cxr_status cxr_model_set_threads(cxr_model *m, int n_threads)
{
    return m->be->set_threads(m->be->ctx, n_threads);
}

cxr_status cxr_model_set_label_smoothing(cxr_model *m, float eps)
{
    if (!(eps >= 0.0f && eps < 1.0f))
        return cxr_set_error(CXR_E_ARG, "model: label smoothing %g not in [0,1)", eps);
    m->smoothing = eps;
    return CXR_OK;
}
float cxr_model_label_smoothing(const cxr_model *m) { return m->smoothing; }

cxr_status cxr_model_get_block(cxr_model *m, cxr_block which, float *host_dst)
{
    if ((unsigned)which >= 4 || !m->block[which])
        return cxr_set_error(CXR_E_ARG, "model get_block: bad block %d", which);
    return m->be->download(m->be->ctx, host_dst, m->block[which], m->n_params * sizeof(float));
}

cxr_status cxr_model_set_block(cxr_model *m, cxr_block which, const float *host_src)
{
    if ((unsigned)which >= 4 || !m->block[which])
        return cxr_set_error(CXR_E_ARG, "model set_block: bad block %d", which);
    return m->be->upload(m->be->ctx, m->block[which], host_src, m->n_params * sizeof(float));
}

cxr_status cxr_model_init_params(cxr_model *m, uint64_t seed)
{
    cxr_status st = CXR_OK;
    float *h = calloc(m->n_params, sizeof(float));
    if (!h)
        return cxr_set_error(CXR_E_NOMEM, "model init: out of memory (%zu floats)", m->n_params);
    const float a = m->cfg.alpha;
    const float gain_lrelu = sqrtf(2.0f / (1.0f + a * a));
    for (int i = CXR_TENSOR_CONV1_W; i < CXR_MODEL_N_TENSORS; i += 2) { /* the weights */
        const cxr_tensor_info *w = &m->tensors[i];
        const size_t fan_in = w->count / (size_t)w->shape[0];
        /* Kaiming-uniform: U(-b, b), b = gain * sqrt(3 / fan_in); the output layer, which no
         * activation follows, uses gain 1 (LeCun-uniform). Biases stay 0. */
        const float gain = i == CXR_TENSOR_OUT_W ? 1.0f : gain_lrelu;
        const float bound = gain * sqrtf(3.0f / (float)fan_in);
        const uint64_t key = cxr_rng_key(seed, CXR_RNG_INIT_STREAM, (uint64_t)i);
        float *dst = h + w->offset;
        for (size_t j = 0; j < w->count; j++)
            dst[j] = (2.0f * cxr_rng_uniform(key, j) - 1.0f) * bound;
    }
    CXR_TRY(cxr_model_set_block(m, CXR_BLOCK_PARAMS, h));
    for (int b = 1; b < 4; b++)
        if (m->block[b]) CXR_TRY(m->be->zero(m->be->ctx, m->block[b], m->n_params * sizeof(float)));
    m->seed = seed;
    m->t = 0;
bail:
    free(h);
    return st;
}

/* ------------------------------------------------------------------ forward / backward */
#define OP(call)                                               \
    do {                                                       \
        st = (call);                                           \
        if (st != CXR_OK) {                                    \
            cxr_wrap_error(st, "model %s (%s)", where, #call); \
            goto bail;                                         \
        }                                                      \
    } while (0)

static uint64_t drop_key(const cxr_model *m, int layer)
{
    return cxr_rng_key(m->seed, (uint64_t)m->t, (uint64_t)layer);
}

/* Forward of the 3x3 conv whose weight is tensor w (its bias the next one) on in (n,C,H,H),
 * leaky ReLU, 2x2 max pool into pooled (n,K,H/2,H/2) with argmax idx, then, when drop_layer is
 * not 0, that layer's dropout on pooled. The backend's fused slot when it has one (act, the
 * full-size activation, is then written only when the backward needs it: no fused backward
 * slot), else the three ops with act (n,K,H,H) in between.
 */
static cxr_status conv_pool_fwd(cxr_model *m, float *pooled, uint8_t *idx, float *act,
                                const float *in, cxr_tensor_id w, int n, int C, int K, int H,
                                int drop_layer)
{
    cxr_status st = CXR_OK;
    const char *where = "forward";
    cxr_backend *be = m->be;
    const float al = m->cfg.alpha;
    float *wt = param(m, w), *bias = param(m, w + 1);
    if (m->fused_fwd) {
        OP(be->conv3x3_lrelu_pool_forward(be->ctx, m->fused_bwd ? NULL : act, pooled, idx, in, wt,
                                          bias, al, n, C, K, H, H));
    } else {
        OP(be->conv3x3_forward(be->ctx, act, in, wt, bias, n, C, K, H, H));
        OP(be->leaky_relu_forward(be->ctx, act, act, al, (size_t)n * K * H * H));
        OP(be->maxpool2_forward(be->ctx, pooled, idx, act, n, K, H, H));
    }
    if (drop_layer)
        OP(be->dropout_apply(be->ctx, pooled, drop_key(m, drop_layer), m->cfg.keep_prob,
                             (size_t)n * K * (H / 2) * (H / 2)));
bail:
    return st;
}

cxr_status cxr_model_forward(cxr_model *m, const float *x, int n, int training)
{
    cxr_status st = CXR_OK;
    const char *where = "forward";
    cxr_backend *be = m->be;
    void *ctx = be->ctx;
    const cxr_model_config *c = &m->cfg;
    const int S0 = c->image_size, S = net_size(c), S2 = S / 2, S4 = S / 4, S8 = S / 8;
    const int *ch = c->channels;
    const float al = c->alpha, kp = c->keep_prob;
    const int drop = training && kp < 1.0f;
    cxr_backend_cpu_set_inference(be, !training); /* the dense sums' order (cxr_backend_cpu.h) */
    if (n < 1 || n > c->batch_capacity)
        return cxr_set_error(CXR_E_ARG, "model forward: n = %d not in [1,%d]", n,
                             c->batch_capacity);
    if (x) OP(be->upload(ctx, m->x, x, (size_t)n * S0 * S0 * sizeof(float)));
    const float *xin = m->x; /* what conv1 reads: the image, or its input pool's view */
    if (c->input_pool > 1) {
        OP(be->avgpool_forward(ctx, m->xp, m->x, n, 1, S0, S0, c->input_pool));
        xin = m->xp;
    }
    if (!cxr_model_config_input_plain(c)) { /* after the pool: the mean of scaled is scaled */
        OP(be->scale_shift(ctx, m->xp, xin, c->input_scale, c->input_shift,
                           (size_t)n * (size_t)S * (size_t)S));
        xin = m->xp;
    }
    const size_t N = (size_t)n;
    /* conv1 + leaky ReLU (no pool), then conv2..conv4 each + leaky ReLU + pool + dropout */
    if (m->fused_fwd) {
        OP(be->conv3x3_lrelu_pool_forward(ctx, m->a1, NULL, NULL, xin, param(m, CXR_TENSOR_CONV1_W),
                                          param(m, CXR_TENSOR_CONV1_B), al, n, 1, ch[0], S, S));
    } else {
        OP(be->conv3x3_forward(ctx, m->a1, xin, param(m, CXR_TENSOR_CONV1_W),
                               param(m, CXR_TENSOR_CONV1_B), n, 1, ch[0], S, S));
        OP(be->leaky_relu_forward(ctx, m->a1, m->a1, al, N * ch[0] * S * S));
    }
    OP(conv_pool_fwd(m, m->p2, m->i2, m->a2, m->a1, CXR_TENSOR_CONV2_W, n, ch[0], ch[1], S,
                     drop ? L_POOL2 : 0));
    OP(conv_pool_fwd(m, m->p3, m->i3, m->a3, m->p2, CXR_TENSOR_CONV3_W, n, ch[1], ch[2], S2,
                     drop ? L_POOL3 : 0));
    OP(conv_pool_fwd(m, m->p4, m->i4, m->a4, m->p3, CXR_TENSOR_CONV4_W, n, ch[2], ch[3], S4,
                     drop ? L_POOL4 : 0));
    const int d0 = c->dense[0], d1 = c->dense[1], C = c->n_classes;
    const float *head = m->p4;
    if (c->head == CXR_HEAD_GAP) {
        OP(be->global_avgpool_forward(ctx, m->g, m->p4, n, ch[3], S8 * S8));
        head = m->g;
    }
    OP(be->dense_forward(ctx, m->h1, head, param(m, CXR_TENSOR_DENSE1_W),
                         param(m, CXR_TENSOR_DENSE1_B), n, dense1_in(c), d0));
    OP(be->leaky_relu_forward(ctx, m->h1, m->h1, al, N * d0));
    if (drop) OP(be->dropout_apply(ctx, m->h1, drop_key(m, L_DENSE1), kp, N * d0));
    OP(be->dense_forward(ctx, m->h2, m->h1, param(m, CXR_TENSOR_DENSE2_W),
                         param(m, CXR_TENSOR_DENSE2_B), n, d0, d1));
    OP(be->leaky_relu_forward(ctx, m->h2, m->h2, al, N * d1));
    if (drop) OP(be->dropout_apply(ctx, m->h2, drop_key(m, L_DENSE2), kp, N * d1));
    OP(be->dense_forward(ctx, m->logits, m->h2, param(m, CXR_TENSOR_OUT_W),
                         param(m, CXR_TENSOR_OUT_B), n, d1, C));
    m->last_n = n;
    m->last_training = drop;
bail:
    return st;
}

/* Backward through a 2x2 max pool and the leaky ReLU before it: din (n,C,H,H) from dout
 * (n,C,H/2,H/2), written whole. The backend's fused slot when it has one (it needs only the
 * pooled output), else pool backward + leaky ReLU backward on the stored activation. */
static cxr_status pool_lrelu_back(cxr_model *m, float *din, const float *dout, const uint8_t *idx,
                                  const float *pooled, const float *act, int n, int C, int H)
{
    cxr_status st = CXR_OK;
    const char *where = "backward";
    cxr_backend *be = m->be;
    const float al = m->cfg.alpha;
    if (m->fused_bwd) {
        OP(be->maxpool2_lrelu_backward(be->ctx, din, dout, idx, pooled, al, n, C, H, H));
    } else {
        size_t na = (size_t)n * C * H * H;
        OP(be->maxpool2_backward(be->ctx, din, dout, idx, n, C, H, H));
        OP(be->leaky_relu_backward(be->ctx, din, act, al, na));
    }
bail:
    return st;
}

/* Backward of the 3x3 conv whose weight is tensor w (its bias the next one), input in
 * (n,C,H,H), output gradient dout (n,K,H,H): din, dW and db written; then, when
 * drop_layer is not 0, the dropout mask of that layer (the one that produced `in`) applied to
 * din. */
static cxr_status conv_back_drop(cxr_model *m, float *din, cxr_tensor_id w, const float *dout,
                                 const float *in, int n, int C, int K, int H, int drop_layer)
{
    cxr_status st = CXR_OK;
    const char *where = "backward";
    cxr_backend *be = m->be;
    size_t nin = (size_t)n * C * H * H;
    OP(be->conv3x3_backward(be->ctx, din, grad(m, w), grad(m, w + 1), dout, in, param(m, w), n, C,
                            K, H, H));
    if (drop_layer)
        OP(be->dropout_apply(be->ctx, din, drop_key(m, drop_layer), m->cfg.keep_prob, nin));
bail:
    return st;
}

/* The batch's labels and the class weights into backend memory without a wait on the queue:
 * labels go through the two page-locked buffers in turn (fence 2 + j follows the upload from
 * buffer j, and the buffer is rewritten only once it has passed, a step later); the weights
 * only when they changed (from pageable memory: rarely). */
static cxr_status upload_labels_weights(cxr_model *m, const int32_t *labels, const int32_t *labels2,
                                        const float *mix, const float *class_weights, int n)
{
    cxr_status st = CXR_OK;
    const char *where = "backward";
    cxr_backend *be = m->be;
    const size_t B = (size_t)m->cfg.batch_capacity;
    const size_t lb = (size_t)n * sizeof(int32_t), wb = (size_t)m->cfg.n_classes * sizeof(float);
    /* labels, then with mixup labels2 at B and mix at 2B, staged in one host buffer */
    int32_t *h = m->lab_host[m->lab_next];
    if (m->async) OP(be->fence_wait(be->ctx, 2 + m->lab_next));
    memcpy(h, labels, lb);
    if (mix) {
        memcpy(h + B, labels2, lb);
        memcpy(h + 2 * B, mix, lb);
    }
    OP(be->upload(be->ctx, m->labels, h, mix ? 2 * B * 4 + lb : lb));
    if (m->async) {
        OP(be->fence_mark(be->ctx, 2 + m->lab_next));
        m->lab_next ^= 1;
    }
    if (class_weights && (!m->cw_set || memcmp(m->cw_host, class_weights, wb) != 0)) {
        OP(be->upload(be->ctx, m->cw, class_weights, wb));
        memcpy(m->cw_host, class_weights, wb);
        m->cw_set = 1;
    }
bail:
    return st;
}

cxr_status cxr_model_loss_backward(cxr_model *m, const int32_t *labels, const float *class_weights,
                                   int n, float *loss)
{
    return cxr_model_loss_backward_mixed(m, labels, NULL, NULL, class_weights, n, loss);
}

cxr_status cxr_model_loss_backward_mixed(cxr_model *m, const int32_t *labels,
                                         const int32_t *labels2, const float *mix,
                                         const float *class_weights, int n, float *loss)
{
    cxr_status st = CXR_OK;
    const char *where = "backward";
    cxr_backend *be = m->be;
    void *ctx = be->ctx;
    const cxr_model_config *c = &m->cfg;
    const int S = net_size(c), S2 = S / 2, S4 = S / 4, S8 = S / 8;
    const int *ch = c->channels;
    const float al = c->alpha, kp = c->keep_prob;
    const int C = c->n_classes, d0 = c->dense[0], d1 = c->dense[1];
    if (n != m->last_n || !m->gA)
        return cxr_set_error(CXR_E_ARG, "model backward: n = %d but the last forward had %d%s", n,
                             m->last_n, m->gA ? "" : " (or an inference-only model)");
    if (mix && !labels2) return cxr_set_error(CXR_E_ARG, "model backward: mix without labels2");
    double wsum = 0.0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < (mix ? 2 : 1); k++) {
            const int32_t y = k ? labels2[i] : labels[i];
            if (y < 0 || y >= C)
                return cxr_set_error(CXR_E_MISMATCH,
                                     "model backward: %s %d of image %d not in [0,%d)",
                                     k ? "partner's label" : "label", y, i, C);
            const float w = class_weights ? class_weights[y] : 1.0f;
            if (!(w >= 0.0f))
                return cxr_set_error(CXR_E_ARG, "model backward: class weight %g of class %d", w,
                                     y);
        }
        if (mix && !(mix[i] >= 0.0f && mix[i] <= 1.0f))
            return cxr_set_error(CXR_E_ARG, "model backward: mix %g of image %d not in [0,1]",
                                 mix[i], i);
        double a = class_weights ? class_weights[labels[i]] : 1.0, b = 0.0;
        if (mix) cxr_mix_weights(mix[i], labels[i], labels2[i], class_weights, &a, &b);
        wsum += a + b; /* b is 0 without mixup: a + 0.0 is a */
    }
    if (!(wsum > 0.0))
        return cxr_set_error(CXR_E_ARG, "model backward: the batch's class weights sum to 0");
    const int drop = m->last_training;
    const size_t N = (size_t)n;
    OP(upload_labels_weights(m, labels, labels2, mix, class_weights, n));
    /* every backward op writes its gradients (cxr_ops.h): no zeroing of the gradient block (258 MiB
     * in the study) or of the activation gradients; each tensor is written once a step */
    const size_t B = (size_t)c->batch_capacity;
    OP(be->softmax_xent(ctx, m->loss, m->dlogits, m->probs, m->logits, m->labels,
                        mix ? m->labels + B : NULL, mix ? (const float *)(m->labels + 2 * B) : NULL,
                        class_weights ? m->cw : NULL, m->smoothing, n, C));
    float *gA = m->gA, *gB = m->gB;
    /* out layer -> dh2 (gA) */
    OP(be->dense_backward(ctx, gA, grad(m, CXR_TENSOR_OUT_W), grad(m, CXR_TENSOR_OUT_B), m->dlogits,
                          m->h2, param(m, CXR_TENSOR_OUT_W), n, d1, C));
    if (drop) OP(be->dropout_apply(ctx, gA, drop_key(m, L_DENSE2), kp, N * d1));
    OP(be->leaky_relu_backward(ctx, gA, m->h2, al, N * d1));
    /* dense2 -> dh1 (gB) */
    OP(be->dense_backward(ctx, gB, grad(m, CXR_TENSOR_DENSE2_W), grad(m, CXR_TENSOR_DENSE2_B), gA,
                          m->h1, param(m, CXR_TENSOR_DENSE2_W), n, d0, d1));
    if (drop) OP(be->dropout_apply(ctx, gB, drop_key(m, L_DENSE1), kp, N * d0));
    OP(be->leaky_relu_backward(ctx, gB, m->h1, al, N * d0));
    /* dense1 -> dp4 (gA); with head gap dense1 -> dg, then the average's backward -> dp4 */
    size_t np4 = N * ch[3] * S8 * S8;
    if (c->head == CXR_HEAD_GAP) {
        OP(be->dense_backward(ctx, m->dg, grad(m, CXR_TENSOR_DENSE1_W),
                              grad(m, CXR_TENSOR_DENSE1_B), gB, m->g, param(m, CXR_TENSOR_DENSE1_W),
                              n, ch[3], d0));
        OP(be->global_avgpool_backward(ctx, gA, m->dg, n, ch[3], S8 * S8));
    } else {
        OP(be->dense_backward(ctx, gA, grad(m, CXR_TENSOR_DENSE1_W), grad(m, CXR_TENSOR_DENSE1_B),
                              gB, m->p4, param(m, CXR_TENSOR_DENSE1_W), n, dense1_in(c), d0));
    }
    if (drop) OP(be->dropout_apply(ctx, gA, drop_key(m, L_POOL4), kp, np4));
    /* pool4 -> da4 (gB), conv4 -> dp3 (gA), pool3 -> da3, conv3 -> dp2, pool2 -> da2 */
    OP(pool_lrelu_back(m, gB, gA, m->i4, m->p4, m->a4, n, ch[3], S4));
    OP(conv_back_drop(m, gA, CXR_TENSOR_CONV4_W, gB, m->p3, n, ch[2], ch[3], S4,
                      drop ? L_POOL3 : 0));
    OP(pool_lrelu_back(m, gB, gA, m->i3, m->p3, m->a3, n, ch[2], S2));
    OP(conv_back_drop(m, gA, CXR_TENSOR_CONV3_W, gB, m->p2, n, ch[1], ch[2], S2,
                      drop ? L_POOL2 : 0));
    OP(pool_lrelu_back(m, gB, gA, m->i2, m->p2, m->a2, n, ch[1], S));
    /* conv2 -> da1 (gA), through conv1's leaky ReLU */
    OP(conv_back_drop(m, gA, CXR_TENSOR_CONV2_W, gB, m->a1, n, ch[0], ch[1], S, 0));
    OP(be->leaky_relu_backward(ctx, gA, m->a1, al, N * ch[0] * S * S));
    /* conv1: weights only */
    OP(be->conv3x3_backward(ctx, NULL, grad(m, CXR_TENSOR_CONV1_W), grad(m, CXR_TENSOR_CONV1_B), gA,
                            m->xp ? m->xp : m->x, param(m, CXR_TENSOR_CONV1_W), n, 1, ch[0], S, S));
    if (loss) OP(be->download(ctx, loss, m->loss, sizeof(float)));
bail:
    return st;
}

cxr_status cxr_model_step(cxr_model *m, const cxr_adam_params *p)
{
    cxr_status st = CXR_OK;
    const char *where = "adam step";
    if (!m->block[CXR_BLOCK_ADAM_M])
        return cxr_set_error(CXR_E_ARG, "model adam step: an inference-only model");
    m->t++;
    OP(m->be->adam_step(m->be->ctx, m->block[CXR_BLOCK_PARAMS], m->block[CXR_BLOCK_ADAM_M],
                        m->block[CXR_BLOCK_ADAM_V], m->block[CXR_BLOCK_GRADS], m->n_params, p->lr,
                        p->beta1, p->beta2, p->eps, p->weight_decay, m->t));
bail:
    return st;
}

cxr_status cxr_model_last_loss(cxr_model *m, float *loss)
{
    cxr_status st = CXR_OK;
    const char *where = "last loss";
    OP(m->be->download(m->be->ctx, loss, m->loss, sizeof(float)));
bail:
    return st;
}

cxr_status cxr_model_probs(cxr_model *m, float *probs, int n)
{
    cxr_status st = CXR_OK;
    const char *where = "probs";
    if (n < 1 || n > m->last_n)
        return cxr_set_error(CXR_E_ARG, "model probs: n = %d but the last forward had %d", n,
                             m->last_n);
    const int C = m->cfg.n_classes;
    OP(m->be->softmax_forward(m->be->ctx, m->probs, m->logits, n, C));
    OP(m->be->download(m->be->ctx, probs, m->probs, (size_t)n * C * sizeof(float)));
bail:
    return st;
}

cxr_status cxr_model_logits(cxr_model *m, float *logits, int n)
{
    cxr_status st = CXR_OK;
    const char *where = "logits";
    if (n < 1 || n > m->last_n)
        return cxr_set_error(CXR_E_ARG, "model logits: n = %d but the last forward had %d", n,
                             m->last_n);
    OP(m->be->download(m->be->ctx, logits, m->logits,
                       (size_t)n * m->cfg.n_classes * sizeof(float)));
bail:
    return st;
}

cxr_status cxr_model_results_queue(cxr_model *m, int slot, int n)
{
    cxr_status st = CXR_OK;
    const char *where = "results";
    cxr_backend *be = m->be;
    if (slot < 0 || slot >= CXR_MODEL_RESULT_SLOTS || n < 1 || n > m->last_n)
        return cxr_set_error(CXR_E_ARG, "model results: slot %d, n = %d (last forward: %d)", slot,
                             n, m->last_n);
    const int C = m->cfg.n_classes;
    float *h = m->res[slot];
    const size_t pb = (size_t)n * C * sizeof(float);
    OP(be->softmax_forward(be->ctx, m->probs, m->logits, n, C));
    if (m->async) {
        OP(be->download_async(be->ctx, h, m->loss, sizeof(float)));
        OP(be->download_async(be->ctx, h + 1, m->probs, pb));
        OP(be->fence_mark(be->ctx, slot));
    } else {
        OP(be->download(be->ctx, h, m->loss, sizeof(float)));
        OP(be->download(be->ctx, h + 1, m->probs, pb));
    }
bail:
    return st;
}

cxr_status cxr_model_results_wait(cxr_model *m, int slot, float *loss, const float **probs)
{
    cxr_status st = CXR_OK;
    const char *where = "results wait";
    if (slot < 0 || slot >= CXR_MODEL_RESULT_SLOTS)
        return cxr_set_error(CXR_E_ARG, "model results: slot %d", slot);
    if (m->async) OP(m->be->fence_wait(m->be->ctx, slot));
    *loss = m->res[slot][0];
    *probs = m->res[slot] + 1;
bail:
    return st;
}
