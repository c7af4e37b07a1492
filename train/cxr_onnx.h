/* cxr_onnx.h: the trained network as a standard ONNX model (specs/model.md "Deploy").
 *
 * The graph is the evaluation forward (no dropout), opset CXR_ONNX_OPSET of the default
 * domain, IR version CXR_ONNX_IR_VERSION:
 *
 *   image (N,1,S,S) float32
 *   [-> AveragePool(k x k, stride k): input_pool k > 1 only (cxr_model.h)]
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

/* Write model m (its parameters; meta: classes, preprocessing, threshold) as ONNX to `path`.
 * CXR_E_IO naming the file and the reason, CXR_E_NOMEM, or the model's download error;
 * nothing is left at `path` or a temporary on error. */
cxr_status cxr_onnx_write(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta);

#ifdef __cplusplus
}
#endif
#endif
