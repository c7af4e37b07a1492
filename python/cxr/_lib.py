"""_lib.py: ctypes bindings to libcxr (the C library; see the public headers for each function's
contract). Finding the library, in order: $CXR_LIBRARY (a path); the folder `cmake --install`
wrote into _libdir.py beside this file; the installed layout <prefix>/lib/python3/dist-packages/cxr
-> <prefix>/lib*/libcxr.so*; a build tree beside the sources (<repo>/build); then the dynamic
loader's search (ldconfig, LD_LIBRARY_PATH)."""

import ctypes
import ctypes.util
import glob
import os

c_int, c_int64, c_uint64 = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64
c_char_p, c_void_p, c_double = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_double
P = ctypes.POINTER

# The C library's major.minor this package is written against (the struct layouts below).
# 0.2: cxr_augment_params grew aspect_min/aspect_max (28 -> 36 bytes), which a 0.1 library
# would read past; a library of another major.minor is refused rather than misread.
# 0.3: cxr_log_run_line (cxr_trainlog.h, not used here) grew the store's preprocessing; the
# structs this package reads are unchanged, but the library's major.minor moved with it.
# 0.4: cxr_preprocess_params grew clahe_clip (and cxr_log_run_line too); not read here either.
# 0.5: cxr_augment_params grew detail_min/detail_max (36 -> 44 bytes).
# 0.6: it grew border_min/border_max (44 -> 52 bytes), and cxr_checkpoint_meta.augment (not read
# here) 192 -> 256 bytes, as CXR_AUGMENT_SPEC_MAX.
# 0.7: cxr_chunk_decode takes the chunk's image count (not called here).
# 0.8: the softmax_xent op takes a label smoothing, cxr_checkpoint_meta and cxr_train_recipe
# grew one (none of them used here).
# 0.9: cxr_model_config (so cxr_checkpoint_meta) grew the head, cxr_train_recipe and its
# options a head name, cxr_log_run_line the head, cxr_eval_result a count of non-finite
# probabilities, the model config an input pool, the backend table three ops (none of them
# used here).
# 0.10: cxr_checkpoint_meta grew precision, average_from and average_count, cxr_train_recipe
# and its options average_from, cxr_log_epoch averaged, cxr_log_run_line average_from,
# cxr_ensemble_member averaged (none of them used here).
# 0.11: cxr_augment_params grew erase_min/erase_max/erase_p (52 -> 64 bytes), cxr_augment_xform
# the erased rectangle, CXR_AUGMENT_SPEC_MAX and cxr_checkpoint_meta.augment 256 -> 320 bytes.
# 0.12: cxr_loader_options.window takes CXR_LOADER_WINDOW_SPLIT (-1), cxr_train_recipe, its
# options, cxr_checkpoint_meta and cxr_log_run_line grew shuffle_window (the last none used
# here).
# 0.13: mixup: cxr_loader_options grew mixup, cxr_batch labels2 and mix (Loader(mixup=),
# Batch.labels2 and Batch.mix), the softmax_xent op takes them, cxr_train_recipe, its options,
# cxr_checkpoint_meta and cxr_log_run_line grew mixup (none of the last used here);
# cxr_loader_options_check (StoreDataset checks its options before any worker runs).
# 0.14: cxr_manifest_stats keeps every column (column_names and missing are allocated arrays;
# CXR_EXPLORE_MAX_COLUMNS, 64, is gone); cxr_backend grew max_tensor_elems and reserve,
# cxr_checkpoint_meta max_steps; cxr_bad_pixel_note (none of them used here).
# 0.15: cxr_checkpoint_meta.store 1024 -> 4096 bytes (an absolute store path was cut at 1023);
# cxr_model_layout, cxr_utf8_valid and cxr_trainlog_read_tail are new (none of them used here).
# 0.16: cxr_checkpoint_meta grew resume_unknown, cxr_train_io checkpoint_reserved;
# cxr_tmpfile_copy returns a status; cxr_json_add_number, cxr_json_number and cxr_log_close are
# new; cxr_log_open takes keep and created, cxr_monitor_create_kept is new (none of them used
# here).
# 0.17: cxr_model_config (so cxr_checkpoint_meta) grew input_scale and input_shift, the backend
# table the scale_shift op; cxr_model_config_input_range, _input_plain, cxr_norm_range and
# cxr_tmpfile_init are new (none of them used here).
# 0.18: cxr_manifest_options grew class_order; cxr_threshold_is_default,
# cxr_output_not_hdf5 and cxr_output_format_check are new (none of them used here).
# 0.19: cxr_log_put_line is new, cxr_train_callbacks grew on_ready, cxr_tmpfile held;
# cxr_signals_ignore_file_size is cxr_signals_ignore_write_signals (SIGPIPE too; for the tools
# only); cxr_sigmask_restore_taking_stop, cxr_output_not_log, cxr_output_lock (the tools' one
# run per output), cxr_store_content_of and cxr_store_content_diff are new; cxr_output_not_hdf5
# is cxr_output_not_ours (logs too); cxr_checkpoint_meta grew has_store_content and
# store_content; cxr_tmpfile_copy is gone (none of them used here).
# 0.20: cxr_store_content grew pixels and has_pixels (so cxr_checkpoint_meta grew);
# cxr_store_content_of takes a store it may read and returns a status;
# cxr_store_read_pixel_hashes is new (none of them used here).
# 0.20.1: cxr_stack_limit_ok and cxr_log_roc_next are new (additions: the ABI stays 0.20; not
# used here).
# 0.20.2: cxr_train_progress grew eval_split, eval_done, eval_n and eval_elapsed_s at its end
# (the library fills it and passes it to the caller's on_progress: an older caller reads the
# fields it knows, and is now also called after each evaluation batch with step == steps);
# cxr_signals_last_words is new (additions: the ABI stays 0.20; neither used here).
# 0.21: cxr_dup_counts grew labels (so cxr_pack_summary grew, which the caller allocates),
# cxr_pack_skip grew line, cxr_epoch_summary grew n_classes (none of them used here).
# 0.22: cxr_trainlog_tail grew train_images, eval_images, has_eval_split and eval_split (the
# caller allocates it); cxr_metrics_report's undefined ratios are NaN, not 0 (none used here).
# 0.23: cxr_train_run's auto training order is the whole split on a run of at most
# CXR_TRAIN_SHORT_RUN_EPOCHS epochs' steps (a behaviour change; no structure changed; not used
# here); Batch (this package) refuses its arrays once stale.
# 0.24: cxr_train_run refuses a resume whose --log's last run line has another recipe setting
# (lr, augment, ...), cxr_log_read skips a line past CXR_LOG_LINE_MAX bytes or
# CXR_LOG_LINE_VALUES_MAX values, cxr_plan_from_manifest orders ids by their FNV-1a hash mixed
# by splitmix64's finalizer (other splits than before) and skips a row whose label is past
# CXR_CLASS_NAME_MAX (cxr_manifest_summary grew long_label; behaviour changes; cxr_log_read_line,
# cxr_log_line_values and cxr_trainlog_recipe_differs are new, cxr_trainlog_tail grew tool and
# recipe_json; none used here).
ABI = "0.24"


class LoaderOptions(ctypes.Structure):
    """cxr_loader_options (runtime/cxr_loader.h)."""
    _fields_ = [("batch", c_int), ("shuffle", c_int), ("seed", c_uint64), ("window", c_int),
                ("threads", c_int), ("depth", c_int), ("prefetch", c_int), ("part", c_int),
                ("parts", c_int), ("augment", ctypes.c_void_p),  # NULL or P(AugmentParams)
                ("mixup", ctypes.c_float)]


class AugmentParams(ctypes.Structure):
    """cxr_augment_params (runtime/cxr_augment.h)."""
    _fields_ = [("rotate_deg", ctypes.c_float), ("scale_min", ctypes.c_float),
                ("scale_max", ctypes.c_float), ("translate", ctypes.c_float),
                ("brightness", ctypes.c_float), ("contrast", ctypes.c_float), ("hflip", c_int),
                ("aspect_min", ctypes.c_float), ("aspect_max", ctypes.c_float),
                ("detail_min", ctypes.c_float), ("detail_max", ctypes.c_float),
                ("border_min", ctypes.c_float), ("border_max", ctypes.c_float),
                ("erase_min", ctypes.c_float), ("erase_max", ctypes.c_float),
                ("erase_p", ctypes.c_float)]


class BatchStruct(ctypes.Structure):
    """cxr_batch (runtime/cxr_loader.h)."""
    _fields_ = [("n", c_int), ("size", c_int), ("images", P(ctypes.c_float)),
                ("labels", P(ctypes.c_int32)), ("indices", P(c_int64)), ("step", c_int64),
                ("labels2", P(ctypes.c_int32)), ("mix", P(ctypes.c_float))]


class SplitInfo(ctypes.Structure):
    """cxr_split_info (formats/cxr_store.h)."""
    _fields_ = [("n", c_int64), ("n_shards", c_int64), ("shard", c_int), ("size", c_int),
                ("labels", P(ctypes.c_int32)), ("class_counts", P(c_int64)),
                ("chunk_offset", P(c_uint64)), ("chunk_size", P(c_uint64))]


# name: (restype, argtypes)
_PROTOTYPES = {
    "cxr_version_string": (c_char_p, []),
    "cxr_last_error": (c_char_p, []),
    "cxr_status_name": (c_char_p, [c_int]),
    "cxr_store_open": (c_int, [P(c_void_p), c_char_p]),
    "cxr_store_close": (None, [c_void_p]),
    "cxr_store_n_classes": (c_int, [c_void_p]),
    "cxr_store_class_name": (c_char_p, [c_void_p, c_int]),
    "cxr_store_has_split": (c_int, [c_void_p, c_char_p]),
    "cxr_store_split": (c_int, [c_void_p, c_char_p, P(SplitInfo)]),
    "cxr_store_image_path": (c_char_p, [c_void_p, c_char_p, c_int64]),
    "cxr_store_read_image": (c_int, [c_void_p, c_char_p, c_int64, P(ctypes.c_float)]),
    "cxr_loader_options_defaults": (None, [P(LoaderOptions)]),
    "cxr_loader_options_check": (c_int, [P(LoaderOptions)]),
    "cxr_loader_create": (c_int, [P(c_void_p), c_void_p, c_char_p, P(LoaderOptions)]),
    "cxr_loader_destroy": (None, [c_void_p]),
    "cxr_loader_begin_epoch": (c_int, [c_void_p, c_int]),
    "cxr_loader_next_batch": (c_int, [c_void_p, P(BatchStruct)]),
    "cxr_loader_wait_seconds": (c_double, [c_void_p]),
    "cxr_loader_n_images": (c_int64, [c_void_p]),
    "cxr_loader_n_batches": (c_int64, [c_void_p]),
    "cxr_loader_n_shards": (c_int64, [c_void_p]),
    "cxr_loader_window": (c_int, [c_void_p]),
    "cxr_loader_epoch_order": (c_int, [c_void_p, c_int, P(c_int64)]),
    "cxr_loader_epoch_shards": (c_int, [c_void_p, c_int, P(c_int64)]),
    "cxr_augment_parse": (c_int, [c_char_p, P(AugmentParams)]),
    "cxr_augment_check_normal": (c_int, [c_char_p]),
    "cxr_augment_format": (None, [P(AugmentParams), c_char_p, ctypes.c_size_t]),
    "cxr_augment_image": (None, [P(AugmentParams), c_uint64, c_int, c_int64, P(ctypes.c_float),
                                 P(ctypes.c_float), c_int]),
}


def _candidates():
    env = os.environ.get("CXR_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from . import _libdir  # installed packages only
    except ImportError:
        _libdir = None
    if _libdir is not None:
        yield os.path.normpath(os.path.join(here, _libdir.LIBDIR, "libcxr.so." + ABI))
    prefix = os.path.normpath(os.path.join(here, "..", "..", "..", ".."))
    for pattern in ("lib/libcxr.so." + ABI, "lib*/libcxr.so." + ABI, "lib/*/libcxr.so." + ABI):
        yield from sorted(glob.glob(os.path.join(prefix, pattern)))
    tree = os.path.normpath(os.path.join(here, "..", "..", "build", "libcxr.so." + ABI))
    if os.path.exists(tree):
        yield tree
    found = ctypes.util.find_library("cxr")
    yield found or "libcxr.so." + ABI


def _load():
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)  # CDLL releases the GIL during calls
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        # the version first: an older library may lack a function bound below
        try:
            vs = lib.cxr_version_string
        except AttributeError as e:
            errors.append(f"{path}: not libcxr ({e})")
            continue
        vs.restype, vs.argtypes = ctypes.c_char_p, []
        version = vs().decode()
        if ".".join(version.split(".")[:2]) != ABI:
            errors.append(f"{path}: libcxr {version}, this package needs {ABI}.x")
            continue
        try:
            for name, (res, args) in _PROTOTYPES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = res, args
        except AttributeError as e:
            errors.append(f"{path}: libcxr {version} lacks a function: {e}")
            continue
        lib.path = path
        return lib
    raise OSError("cannot load libcxr (set CXR_LIBRARY to its path): " + "; ".join(errors))


lib = _load()
