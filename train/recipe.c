/* recipe.c: the training recipes the library knows (cxr_trainer.h), as data. The first entry
 * is the default. To add one, add a row; to add a setting, add a field to cxr_train_recipe, a
 * value in every row, and its use in trainer.c's resolve_recipe.
 */
#include <string.h>

#include "cxr_trainer.h"

static const cxr_train_recipe recipes[] = {
    /* The chest X-ray study (specs/model.md): batch 64, 26 epochs. The learning rate is not the
     * study's 0.01, which diverges with this network (specs/model.md "Learning rate"). */
    { "chest", "the chest X-ray study: 26 epochs, batch 64, lr 0.0001", 26, 64, 1e-4f, "constant",
      0, "none" },
    /* The landmark study: the chest recipe with batch 256. */
    { "landmarks", "the landmark study: the chest recipe with batch 256", 26, 256, 1e-4f,
      "constant", 0, "none" },
    /* The chest recipe with 100 steps of linear warmup and a cosine decay to 0 (specs/model.md
     * "Learning-rate schedule": Adam's first full-rate steps blow the logits up). */
    { "cosine", "the chest recipe with 100 warmup steps and cosine decay", 26, 64, 1e-4f, "cosine",
      100, "none" },
};

const cxr_train_recipe *cxr_train_recipes(int *n)
{
    if (n) *n = (int)(sizeof recipes / sizeof recipes[0]);
    return recipes;
}

const cxr_train_recipe *cxr_train_recipe_find(const char *name)
{
    if (!name) return &recipes[0];
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++)
        if (strcmp(recipes[i].name, name) == 0) return &recipes[i];
    return NULL;
}
