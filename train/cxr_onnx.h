/* cxr_onnx.h: the trained network as a standard ONNX model (specs/model.md "Deploy").
 *
 * The graph is the evaluation forward (no dropout), opset CXR_ONNX_OPSET of the default
 * domain, IR version CXR_ONNX_IR_VERSION:
 *
 *   image (N,1,S,S) float32
 *   [-> AveragePool(k x k, stride k): input_pool k > 1 only (cxr_model.h)]
 *   [-> Mul(Constant a) -> Add(Constant b): an input scale (a, b) other than (1, 0) only]
 *   -> Conv(conv1.w, conv1.b, 3x3, pads 1) -> LeakyRelu(alpha)
 *   -> Conv(conv2) -> LeakyRelu -> MaxPool(2x2, stride 2)       (and so on for conv3, conv4)
 *   [-> GlobalAveragePool: head gap only (cxr_model.h)]
 *   -> Flatten(axis 1)  ((c,h,w) order, as our dense1 reads the pooled map)
 *   -> Gemm(dense1.w, dense1.b, transB 1) -> LeakyRelu -> Gemm(dense2) -> LeakyRelu
 *   -> Gemm(out) -> Softmax(axis 1) -> probabilities (N,C) float32
 *
 * N is symbolic ("N"). Weights are the model's float32 parameters in its own layouts (conv
 * OIHW, dense (OUT,IN)), stored as raw little-endian initializers under the checkpoint's
 * tensor names. The input is the preprocessed image exactly as a store holds it (decode, gray,
 * resize to S, histogram equalization, normalization: formats/cxr_preprocess.h); the file's
 * metadata_props say which (cxr.preprocessing), and give the class names (cxr.class_names) and
 * the binary decision threshold (cxr.threshold).
 *
 * The protobuf encoding is written here by hand (varints and length-delimited fields of the
 * few ONNX messages used; field numbers from onnx/onnx.proto, cited at each use), streamed to
 * a temporary file renamed into place when complete (common/cxr_tmpfile.h).
 * Weights of more than 2 GiB go to a file beside the model (cxr_onnx_layout).
 */
#ifndef CXR_ONNX_H
#define CXR_ONNX_H

#include "cxr_checkpoint.h"
#include "cxr_model.h"
#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CXR_ONNX_OPSET      13
#define CXR_ONNX_IR_VERSION 7 /* the IR version that introduced opset 13 (ONNX 1.8) */

/* Where the weights go. A protobuf message holds less than 2 GiB, so a model of an image side
 * from about 728 on cannot hold its weights inline: they go to "<path>.data" beside it, each
 * initializer naming its location (the file's base name), offset (a multiple of 4096) and
 * length there (ONNX "external data"; onnx.load and onnxruntime read it from the model's
 * folder). */
typedef enum {
    CXR_ONNX_AUTO = 0, /* inline when the model fits in 2 GiB, else external */
    CXR_ONNX_INLINE,   /* inline; CXR_E_ARG when over 2 GiB */
    CXR_ONNX_EXTERNAL  /* external at any size */
} cxr_onnx_layout;

/* Write model m (its parameters; meta: classes, preprocessing, threshold) as ONNX to `path`,
 * its weights as `layout` says; *external (may be NULL) = 1 when they went to "<path>.data".
 * Both files are written whole to temporaries first; the weights are renamed into place
 * before the model, so a model file never names weights that are not there. CXR_E_IO naming
 * the file and the reason, CXR_E_NOMEM, CXR_E_ARG (inline over 2 GiB; weights apart with a path
 * that is a symbolic link into another folder, whose readers would look for them beside the
 * link), or the model's download
 * error; on error nothing new is at `path` and no temporary is left (only a failed rename of
 * the model itself, after the weights', leaves the new "<path>.data" beside the old model). */
cxr_status cxr_onnx_write_as(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta,
                             cxr_onnx_layout layout, int *external);
/* Whether cxr_onnx_write_as(path, m, meta, layout) would put the weights apart (*external),
 * without writing anything; its errors but I/O. */
cxr_status cxr_onnx_goes_external(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta,
                                  cxr_onnx_layout layout, int *external);
/* The weights file of an export to `path` (*data, malloc'd): "<path>.data", or, when path is a
 * symbolic link, beside the file it resolves to, named after it (the model is written there;
 * CXR_E_IO for a link that does not resolve). */
cxr_status cxr_onnx_data_path(const char *path, char **data);
/* cxr_onnx_write_as with CXR_ONNX_AUTO. */
cxr_status cxr_onnx_write(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta);

#ifdef __cplusplus
}
#endif
#endif
