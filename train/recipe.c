/* recipe.c: the training recipes the library knows (cxr_trainer.h), as data. The first entry
 * is the default. To add one, add a row; to add a setting, add a field to cxr_train_recipe, a
 * value in every row, and its use in trainer.c's resolve_recipe. specs/model.md "Recipes"
 * documents each row.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_trainer.h"

static const cxr_train_recipe recipes[] = {
    /* The default (issue 15): the study's network and batch with a warmup of one epoch (74
     * steps on the Kaggle set packed with --val-fraction 0.1: 4,694 training images at batch
     * 64; a fixed 74 left a small store's short run below the full rate throughout, e.g.
     * data/sample's 18 steps) and a cosine decay to 0, AdamW's weight decay, the best epoch kept by
     * val AUC. 28 epochs since three seeds passed the val rule of
     * tests/bench/results/accuracy/long-plan.md (14 before; a CPU run of about two hours on 2
     * cores, minutes on a GPU). Augmentation: cxr_augment.h's default (small affine +
     * brightness/contrast, no flip). Adam's peak rate 3e-4 (1e-4, the study's, before) since
     * three seeds passed the val rule of tests/bench/results/accuracy/lr256-seeds-plan.md.
     * specs/model.md "Recipes" gives the reasons. */
    { .name = "standard",
      .about = "28 epochs, lr 3e-4, warmup+cosine, AdamW 0.1, augment, val AUC",
      .epochs = 28,
      .batch = 64,
      .lr = 3e-4f,
      .schedule = "cosine",
      .warmup_steps = CXR_WARMUP_ONE_EPOCH,
      .weight_decay = 0.1f,
      .label_smoothing = 0,
      .select = "val_auc",
      .patience = 0,
      .augment = "default",
      .average_from = 0,
      .shuffle_window = 0 },
    /* The chest X-ray study (specs/model.md): batch 64, 26 epochs, constant rate, plain Adam,
     * the last epoch's model. The learning rate is not the study's 0.01, which diverges with
     * this network (specs/model.md "Learning rate"). The default until issue 15. */
    { .name = "study",
      .about = "the chest X-ray study: 26 epochs, constant lr 1e-4 (alias: chest)",
      .epochs = 26,
      .batch = 64,
      .lr = 1e-4f,
      .schedule = "constant",
      .warmup_steps = 0,
      .weight_decay = 0,
      .label_smoothing = 0,
      .select = "none",
      .patience = 0,
      .augment = "none",
      .average_from = 0,
      .shuffle_window = 0 },
    /* The landmark study: the study recipe with batch 256. */
    { .name = "landmarks",
      .about = "the landmark study: the study recipe with batch 256",
      .epochs = 26,
      .batch = 256,
      .lr = 1e-4f,
      .schedule = "constant",
      .warmup_steps = 0,
      .weight_decay = 0,
      .label_smoothing = 0,
      .select = "none",
      .patience = 0,
      .augment = "none",
      .average_from = 0,
      .shuffle_window = 0 },
    /* The study recipe with 100 steps of linear warmup and a cosine decay to 0 (specs/model.md
     * "Learning-rate schedule": Adam's first full-rate steps blow the logits up). */
    { .name = "cosine",
      .about = "the study recipe with 100 warmup steps and cosine decay",
      .epochs = 26,
      .batch = 64,
      .lr = 1e-4f,
      .schedule = "cosine",
      .warmup_steps = 100,
      .weight_decay = 0,
      .label_smoothing = 0,
      .select = "none",
      .patience = 0,
      .augment = "none",
      .average_from = 0,
      .shuffle_window = 0 },
};

const cxr_train_recipe *cxr_train_recipes(int *n)
{
    if (n) *n = (int)(sizeof recipes / sizeof recipes[0]);
    return recipes;
}

/* Names a recipe had before: "chest" was the study row's name until issue 15, kept so that
 * commands naming it still run (a checkpoint does not depend on the name: a resume compares
 * values). */
static const struct {
    const char *alias, *name;
} aliases[] = { { "chest", "study" } };

const cxr_train_recipe *cxr_train_recipe_find(const char *name)
{
    if (!name) return &recipes[0];
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].alias, name) == 0) name = aliases[i].name;
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++)
        if (strcmp(recipes[i].name, name) == 0) return &recipes[i];
    return NULL;
}

cxr_status cxr_shuffle_window_parse(const char *s, int *out)
{
    if (s && strcmp(s, "auto") == 0) return *out = 0, CXR_OK;
    if (s && strcmp(s, "split") == 0) return *out = CXR_LOADER_WINDOW_SPLIT, CXR_OK;
    char *end = NULL;
    const long v = s && *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : 0;
    if (!end || *end || v < 1 || v > INT_MAX)
        return cxr_set_error(
            CXR_E_ARG, "shuffle window '%s': auto, split or a number of shards from 1 to %d",
            s ? s : "", INT_MAX);
    *out = (int)v;
    return CXR_OK;
}

const char *cxr_shuffle_window_name(int window, char *buf, size_t cap)
{
    if (window == 0)
        snprintf(buf, cap, "auto");
    else if (window == CXR_LOADER_WINDOW_SPLIT)
        snprintf(buf, cap, "split");
    else
        snprintf(buf, cap, "%d", window);
    return buf;
}
