/* train_files.h: cxr-train's model files (train_files.c): checks, the default model name, the
 * one-run-per-model lock. Not part of libcxr: the tool's own policy. */
#ifndef CXR_TRAIN_FILES_H
#define CXR_TRAIN_FILES_H

#include "cxr_trainer.h"

/* The model's name without --checkpoint, reserved (the whole rule at its definition); NULL
 * with --no-checkpoint or when no free name is found. */
const char *train_default_checkpoint(const cxr_train_options *o, char *buf, size_t cap);

/* Lock MODEL and MODEL.best.h5 for this run until exit (cxr_output_lock): CXR_OK when held (or
 * no lock can be made), CXR_E_ARG naming the holder when another run holds one. */
cxr_status train_lock_model(const char *model);

/* Inputs that are regular files; outputs that are neither an input nor a device (cxr_files.h),
 * nor one another; the models' folders take a temporary. CXR_OK or the error (said by
 * cxr_last_error). */
cxr_status train_check_files(const cxr_train_options *o);

/* The lines (newlines, plus a last unterminated one) of the log a fresh run is about to
 * replace: 0 when path is absent, empty, not a regular file or unreadable. */
long long train_replaced_log_lines(const char *path);

#endif
