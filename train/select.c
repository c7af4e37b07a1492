/* select.c: model selection on /val (cxr_trainer.h, specs/model.md "Model selection"): the
 * metrics' names, what counts as an improvement, and the best model's file name. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cxr_trainer.h"

static const char *const names[] = { "none", "val_auc", "val_loss", "val_balanced_accuracy" };
#define N_NAMES ((int)(sizeof names / sizeof names[0]))

const char *cxr_select_name(cxr_select_kind kind)
{
    return (unsigned)kind < (unsigned)N_NAMES ? names[kind] : "?";
}

cxr_status cxr_select_parse(const char *name, cxr_select_kind *kind)
{
    for (int i = 0; i < N_NAMES; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *kind = (cxr_select_kind)i;
            return CXR_OK;
        }
    return cxr_set_error(CXR_E_ARG,
                         "model selection: expected val_auc, val_loss, val_balanced_accuracy or "
                         "none, got '%s'",
                         name ? name : "(null)");
}

int cxr_select_improves(cxr_select_kind kind, double value, double best)
{
    if (kind == CXR_SELECT_NONE || isnan(value)) return 0;
    if (isnan(best)) return 1;
    return kind == CXR_SELECT_VAL_LOSS ? value < best : value > best; /* ties keep the earlier */
}

cxr_status cxr_train_best_path(const char *checkpoint, char *buf, size_t cap)
{
    size_t n = strlen(checkpoint);
    int stem = n > 3 && strcmp(checkpoint + n - 3, ".h5") == 0 ? (int)(n - 3) : (int)n;
    int w = snprintf(buf, cap, "%.*s.best.h5", stem, checkpoint);
    if (w < 0 || (size_t)w >= cap)
        return cxr_set_error(CXR_E_ARG, "%s: the best model's name is too long", checkpoint);
    return CXR_OK;
}
