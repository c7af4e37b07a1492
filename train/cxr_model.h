/* cxr_model.h: the study's CNN (specs/model.md) as one handle: parameters, gradients, Adam
 * state and activations, on a backend (cxr_ops.h: CPU reference or GPU).
 *
 * Network for C classes on SxS single-channel images (S = 256 in the study):
 *   conv1 3x3 1->16, lrelu | conv2 16->32, lrelu, maxpool 2, dropout | conv3 32->64, lrelu,
 *   maxpool 2, dropout | conv4 64->128, lrelu, maxpool 2, dropout | dense1 -> 512, lrelu,
 *   dropout | dense2 -> 1024, lrelu, dropout | out -> C (logits), softmax.
 * dense1 reads pool4's map flattened (the study's) or, with head gap, its per-channel mean.
 * Loss: class-weighted softmax cross-entropy, sum_i w[y_i] CE_i / sum_i w[y_i], optionally
 * against label-smoothed targets (cxr_model_set_label_smoothing). Adam.
 *
 * Typical step (the trainer):
 *   cxr_model_forward(m, x, n, 1);
 *   cxr_model_loss_backward(m, labels, class_weights, n, &loss);
 *   cxr_model_step(m, &adam);
 * Evaluation: cxr_model_forward(m, x, n, 0); cxr_model_probs(m, probs, n).
 *
 * Threading: one thread drives a model at a time; the CPU backend parallelises inside ops.
 * Errors: functions return cxr_status with a message (cxr_last_error) naming the model call.
 */
#ifndef CXR_MODEL_H
#define CXR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_status.h"
#include "cxr_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CXR_MODEL_FORMAT  "cxr-model"
#define CXR_MODEL_VERSION 1

typedef struct {
    int n_classes;      /* C, from the store (>= 2) */
    int image_size;     /* S (default 256); must be a multiple of 8 (three 2x2 pools) */
    int channels[4];    /* conv1..conv4 output channels (default 16,32,64,128) */
    int dense[2];       /* dense1, dense2 widths (default 512,1024) */
    float alpha;        /* leaky ReLU slope for x < 0 (default 0.5) */
    float keep_prob;    /* dropout keep probability while training (default 0.75; 1 = off) */
    int batch_capacity; /* largest n passed to forward (default 64); sizes the activations */
    uint64_t seed;      /* parameter init and dropout masks (default 1) */
    int head;           /* what dense1 reads (cxr_model_head): the study's flattened map */
    int input_pool;     /* 1 (default): conv1 reads the image; k = 2, 4 or 8: its k x k means,
                           so the network runs on an (S/k) x (S/k) view (specs/model.md "Input
                           pool"); image_size must then be a multiple of 8k */
    float input_scale;  /* the network reads x * input_scale + input_shift of each pixel x of */
    float input_shift;  /* the image (defaults 1 and 0: x itself); cxr-train sets them so that
                           a store's pixel range becomes [-1, 1] (specs/model.md "Input scale") */
} cxr_model_config;

/* What dense1 reads of pool4's map (channels[3] x S'/8 x S'/8 after its dropout, S' = S /
 * input_pool):
 * CXR_HEAD_FLATTEN (the study's, the default) all of it in (c,h,w) order, channels[3]·(S/8)²
 * inputs; CXR_HEAD_GAP its global average per channel, channels[3] inputs (specs/model.md
 * "Head"). The backend must provide the global_avgpool ops for gap. */
typedef enum { CXR_HEAD_FLATTEN = 0, CXR_HEAD_GAP = 1 } cxr_model_head;
/* "flatten" or "gap" (checkpoints and cxr-train --head); NULL for another value. */
const char *cxr_model_head_name(int head);
/* The head called name into *head; CXR_E_ARG naming it otherwise. */
cxr_status cxr_model_head_parse(const char *name, int *head);

/* The study's defaults for n_classes classes. */
void cxr_model_config_defaults(cxr_model_config *c, int n_classes);
/* CXR_E_ARG with the reason if a field is out of range. */
cxr_status cxr_model_config_check(const cxr_model_config *c);
/* Sets input_scale and input_shift so that pixels in [lo, hi] reach the network in [-1, 1]
 * ([-1, 1] itself: 1 and 0 exactly). CXR_E_ARG unless lo < hi, both finite. */
cxr_status cxr_model_config_input_range(cxr_model_config *c, double lo, double hi);
/* 1 if the network reads the pixels unchanged (input_scale 1, input_shift 0). */
int cxr_model_config_input_plain(const cxr_model_config *c);

typedef struct {
    float lr;           /* default 0.01 (the study's; see specs/model.md on divergence) */
    float beta1;        /* 0.9 */
    float beta2;        /* 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* AdamW's decoupled decay (0: plain Adam, the default) */
} cxr_adam_params;
void cxr_adam_defaults(cxr_adam_params *p);

/* Parameter tensors, in block order; each weight is followed by its bias. Conv w (K,C,3,3),
 * dense w (OUT,IN), biases (K) / (OUT). */
typedef enum {
    CXR_TENSOR_CONV1_W,
    CXR_TENSOR_CONV1_B,
    CXR_TENSOR_CONV2_W,
    CXR_TENSOR_CONV2_B,
    CXR_TENSOR_CONV3_W,
    CXR_TENSOR_CONV3_B,
    CXR_TENSOR_CONV4_W,
    CXR_TENSOR_CONV4_B,
    CXR_TENSOR_DENSE1_W,
    CXR_TENSOR_DENSE1_B,
    CXR_TENSOR_DENSE2_W,
    CXR_TENSOR_DENSE2_B,
    CXR_TENSOR_OUT_W,
    CXR_TENSOR_OUT_B,
    CXR_MODEL_N_TENSORS /* 14 */
} cxr_tensor_id;
typedef struct {
    const char *name; /* e.g. "conv1.w" (a checkpoint's dataset name) */
    int ndim;         /* 1, 2 or 4 */
    int shape[4];
    size_t offset; /* in floats from the start of the block */
    size_t count;  /* elements */
} cxr_tensor_info;

/* The four equally laid-out blocks (one contiguous allocation each, backend memory). */
typedef enum {
    CXR_BLOCK_PARAMS = 0,
    CXR_BLOCK_GRADS = 1,
    CXR_BLOCK_ADAM_M = 2,
    CXR_BLOCK_ADAM_V = 3
} cxr_block;

typedef struct cxr_model cxr_model;

/* Create a model on `be` (borrowed: must outlive the model) and initialise its parameters
 * from cfg->seed (He/Kaiming-uniform for leaky ReLU, specs/model.md; biases 0; Adam state 0,
 * step 0). Allocates parameters, gradients, Adam m/v and activations for batch_capacity.
 * CXR_E_ARG for a bad config, CXR_E_NOMEM (or the backend's error) when allocation fails. */
cxr_status cxr_model_create(cxr_model **out, const cxr_model_config *cfg, cxr_backend *be);
/* The same for inference only: the parameter block (zero until cxr_model_set_block or a
 * loader fills it: cxr_checkpoint_open_model) and the forward's buffers, no gradients and no
 * Adam state, so about a quarter of the memory; cxr_model_loss_backward and cxr_model_step
 * refuse it (CXR_E_ARG), get/set_block refuse any block but CXR_BLOCK_PARAMS. */
cxr_status cxr_model_create_inference(cxr_model **out, const cxr_model_config *cfg,
                                      cxr_backend *be);
void cxr_model_destroy(cxr_model *m); /* NULL-safe */

const cxr_model_config *cxr_model_get_config(const cxr_model *m);
cxr_backend *cxr_model_backend(const cxr_model *m);
/* Re-initialise parameters from `seed` (also becomes the dropout seed); zeroes Adam, step 0. */
cxr_status cxr_model_init_params(cxr_model *m, uint64_t seed);
/* Worker threads of the backend's ops (CPU backend; <= 0: all cores). */
cxr_status cxr_model_set_threads(cxr_model *m, int n_threads);
/* Label smoothing eps in [0,1) of the training loss (cxr_ops.h softmax_xent): the target of an
 * image of class y is (1-eps) on y plus eps/C on every class. 0 (the default) is the plain
 * cross-entropy. CXR_E_ARG for eps outside [0,1). */
cxr_status cxr_model_set_label_smoothing(cxr_model *m, float eps);
float cxr_model_label_smoothing(const cxr_model *m);

/* Bytes of backend memory held for activations and scratch (for logs / the spec). */
size_t cxr_model_activation_bytes(const cxr_model *m);

/* ---- parameters and optimizer state ---- */
/* The tensors of a model of config c (names, shapes, offsets in a block), computed without
 * creating one: what a checkpoint reader checks a file against before it allocates anything.
 * c must pass cxr_model_config_check. Returns the floats per block (cxr_model_n_params). */
size_t cxr_model_layout(const cxr_model_config *c, cxr_tensor_info t[CXR_MODEL_N_TENSORS]);
size_t cxr_model_n_params(const cxr_model *m);                      /* floats per block */
const cxr_tensor_info *cxr_model_tensor(const cxr_model *m, int i); /* i < N_TENSORS, else NULL */
/* Backend pointer to a block (device memory on a GPU backend). Owned by the model. */
float *cxr_model_block(cxr_model *m, cxr_block which);
/* Copy a whole block to / from host memory (n_params floats). For checkpoints. */
cxr_status cxr_model_get_block(cxr_model *m, cxr_block which, float *host_dst);
cxr_status cxr_model_set_block(cxr_model *m, cxr_block which, const float *host_src);
/* Adam's step count t (number of cxr_model_step calls since init); set it when resuming. */
int64_t cxr_model_get_step(const cxr_model *m);
void cxr_model_set_step(cxr_model *m, int64_t t);

/* ---- one training step ---- */
/* Backend buffer for the next input batch, (batch_capacity, S, S) floats: a loader may write
 * there directly and pass x = NULL to cxr_model_forward. */
float *cxr_model_input(cxr_model *m);
/* Forward n <= batch_capacity images x (host memory, (n,S,S) floats; NULL: already in
 * cxr_model_input). training = 1 applies dropout with masks keyed by (seed, step t, layer,
 * element), so the same step from the same state gives the same result; 0: no dropout. */
cxr_status cxr_model_forward(cxr_model *m, const float *x, int n, int training);
/* After a forward of the same n: compute the weighted loss (sum_i w[y_i] CE_i / sum_i w[y_i],
 * CE_i against the smoothed target when label smoothing is set)
 * into *loss (may be NULL) and its gradients, which overwrite the gradient block (every
 * tensor is written, none accumulated).
 * labels: host (n) in [0,C) (CXR_E_MISMATCH naming the first bad one otherwise);
 * class_weights: host (C) >= 0 with a positive sum over the batch, or NULL for all 1. */
cxr_status cxr_model_loss_backward(cxr_model *m, const int32_t *labels, const float *class_weights,
                                   int n, float *loss);
/* The same with mixup (cxr_loader.h, "Mixup"; cxr_ops.h softmax_xent): image i's loss is mix[i]
 * times its label's plus 1 - mix[i] times labels2[i]'s, weighted by their classes' weights and
 * divided by the batch's sum of those weights. labels2 and mix: host (n), labels2 checked as
 * labels, mix in [0,1] (CXR_E_ARG otherwise); mix = NULL is cxr_model_loss_backward. */
cxr_status cxr_model_loss_backward_mixed(cxr_model *m, const int32_t *labels,
                                         const int32_t *labels2, const float *mix,
                                         const float *class_weights, int n, float *loss);
/* One Adam step over the whole parameter block; increments the step count t first. */
cxr_status cxr_model_step(cxr_model *m, const cxr_adam_params *p);
/* The loss of the last cxr_model_loss_backward into host *loss: lets a caller pass loss = NULL
 * there (no device-to-host wait) and read it after queueing more work (the GPU trainer queues
 * the next batch's copy first, so that copy overlaps this step's compute). */
cxr_status cxr_model_last_loss(cxr_model *m, float *loss);
/* Softmax probabilities of the last forward's n images into host probs (n, C). */
cxr_status cxr_model_probs(cxr_model *m, float *probs, int n);
/* Logits of the last forward into host (n, C) (for tests and predict). */
cxr_status cxr_model_logits(cxr_model *m, float *logits, int n);

/* ---- a step's results, read one step late ---- */
#define CXR_MODEL_RESULT_SLOTS 2
/* Queue copies of the last cxr_model_loss_backward's loss and of the softmax probabilities of
 * the last forward's n images into result slot `slot` (< CXR_MODEL_RESULT_SLOTS; host memory
 * the model owns, page-locked on a GPU) behind the work queued so far, and return without
 * waiting for the device (the CPU backend copies at once). A trainer queues step k's results,
 * then step k+1's work, and only then waits for step k's: the host never stalls the queue. */
cxr_status cxr_model_results_queue(cxr_model *m, int slot, int n);
/* Wait for the copies queued into `slot`; *loss receives the loss and *probs points at the
 * (n, C) probabilities, valid until the slot is queued again. */
cxr_status cxr_model_results_wait(cxr_model *m, int slot, float *loss, const float **probs);

#ifdef __cplusplus
}
#endif
#endif
