/* layout.c: the size, and each listed field's offset, size and kind, of the structs the Python
 * package declares with ctypes (python/cxr/_lib.py), as the C compiler lays them out: "struct
 * sizeof N" and "struct field offset:size:kind" lines, which test_layout.py compares with
 * ctypes' own (a field added to a C struct and not to its ctypes twin shifts the ones after it
 * or grows the struct: read as garbage, silently). A field added here is listed by hand. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cxr_augment.h"
#include "cxr_loader.h"
#include "cxr_store.h"

/* a field's kind: f float, i int, q int64_t, Q uint64_t, p a pointer (another type: "?") */
#define KIND(x)                                                                                    \
    _Generic((x), float: "f", int: "i", int64_t: "q", uint64_t: "Q", default: "?")
#define PTR_OR_KIND(T, f) (__builtin_classify_type(((T *)0)->f) == 5 ? "p" : KIND(((T *)0)->f))
#define SIZE(T, name) printf("%s sizeof %zu\n", name, sizeof(T))
#define FIELD(T, name, f)                                                                          \
    printf("%s %s %zu:%zu:%s\n", name, #f, offsetof(T, f), sizeof(((T *)0)->f), PTR_OR_KIND(T, f))

int main(void)
{
    SIZE(cxr_loader_options, "LoaderOptions");
    FIELD(cxr_loader_options, "LoaderOptions", batch);
    FIELD(cxr_loader_options, "LoaderOptions", shuffle);
    FIELD(cxr_loader_options, "LoaderOptions", seed);
    FIELD(cxr_loader_options, "LoaderOptions", window);
    FIELD(cxr_loader_options, "LoaderOptions", threads);
    FIELD(cxr_loader_options, "LoaderOptions", depth);
    FIELD(cxr_loader_options, "LoaderOptions", prefetch);
    FIELD(cxr_loader_options, "LoaderOptions", part);
    FIELD(cxr_loader_options, "LoaderOptions", parts);
    FIELD(cxr_loader_options, "LoaderOptions", augment);
    FIELD(cxr_loader_options, "LoaderOptions", mixup);

    SIZE(cxr_augment_params, "AugmentParams");
    FIELD(cxr_augment_params, "AugmentParams", rotate_deg);
    FIELD(cxr_augment_params, "AugmentParams", scale_min);
    FIELD(cxr_augment_params, "AugmentParams", scale_max);
    FIELD(cxr_augment_params, "AugmentParams", translate);
    FIELD(cxr_augment_params, "AugmentParams", brightness);
    FIELD(cxr_augment_params, "AugmentParams", contrast);
    FIELD(cxr_augment_params, "AugmentParams", hflip);
    FIELD(cxr_augment_params, "AugmentParams", aspect_min);
    FIELD(cxr_augment_params, "AugmentParams", aspect_max);
    FIELD(cxr_augment_params, "AugmentParams", detail_min);
    FIELD(cxr_augment_params, "AugmentParams", detail_max);
    FIELD(cxr_augment_params, "AugmentParams", border_min);
    FIELD(cxr_augment_params, "AugmentParams", border_max);
    FIELD(cxr_augment_params, "AugmentParams", erase_min);
    FIELD(cxr_augment_params, "AugmentParams", erase_max);
    FIELD(cxr_augment_params, "AugmentParams", erase_p);

    SIZE(cxr_batch, "BatchStruct");
    FIELD(cxr_batch, "BatchStruct", n);
    FIELD(cxr_batch, "BatchStruct", size);
    FIELD(cxr_batch, "BatchStruct", images);
    FIELD(cxr_batch, "BatchStruct", labels);
    FIELD(cxr_batch, "BatchStruct", indices);
    FIELD(cxr_batch, "BatchStruct", step);
    FIELD(cxr_batch, "BatchStruct", labels2);
    FIELD(cxr_batch, "BatchStruct", mix);

    SIZE(cxr_split_info, "SplitInfo");
    FIELD(cxr_split_info, "SplitInfo", n);
    FIELD(cxr_split_info, "SplitInfo", n_shards);
    FIELD(cxr_split_info, "SplitInfo", shard);
    FIELD(cxr_split_info, "SplitInfo", size);
    FIELD(cxr_split_info, "SplitInfo", labels);
    FIELD(cxr_split_info, "SplitInfo", class_counts);
    FIELD(cxr_split_info, "SplitInfo", chunk_offset);
    FIELD(cxr_split_info, "SplitInfo", chunk_size);
    return 0;
}
