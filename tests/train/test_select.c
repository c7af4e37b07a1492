/* test_select.c: model selection's rule (train/select.c, specs/model.md "Model selection"):
 * which value improves on the best so far for each metric, ties, NaN, the names, and the best
 * model's file name. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cxr_trainer.h"

/* The epoch (1-based) a run keeps when its epochs' metric values are v[0..n-1]: the trainer's
 * loop (trainer.c) reduced to the rule it applies after each epoch. */
static int kept_epoch(cxr_select_kind kind, const double *v, int n)
{
    double best = NAN;
    int epoch = 0;
    for (int i = 0; i < n; i++)
        if (cxr_select_improves(kind, v[i], best)) {
            best = v[i];
            epoch = i + 1;
        }
    return epoch;
}

#define CHECK(c)                                                   \
    do {                                                           \
        if (!(c)) {                                                \
            fprintf(stderr, "test_select:%d: %s\n", __LINE__, #c); \
            fails++;                                               \
        }                                                          \
    } while (0)

int main(void)
{
    int fails = 0;
    /* val_loss: lower wins; the lowest loss's epoch is kept, a tie keeps the earlier */
    const double loss[] = { 0.50, 0.40, 0.45, 0.30, 0.30, 0.35 };
    CHECK(kept_epoch(CXR_SELECT_VAL_LOSS, loss, 6) == 4);
    CHECK(cxr_select_improves(CXR_SELECT_VAL_LOSS, 0.29, 0.30));
    CHECK(!cxr_select_improves(CXR_SELECT_VAL_LOSS, 0.31, 0.30));
    /* the same values as AUC or balanced accuracy: higher wins */
    CHECK(kept_epoch(CXR_SELECT_VAL_AUC, loss, 6) == 1);
    const double auc[] = { 0.90, 0.95, 0.95, 0.94 };
    CHECK(kept_epoch(CXR_SELECT_VAL_AUC, auc, 4) == 2);
    CHECK(kept_epoch(CXR_SELECT_VAL_BALANCED_ACCURACY, auc, 4) == 2);
    CHECK(kept_epoch(CXR_SELECT_VAL_LOSS, auc, 4) == 1);
    /* NaN never improves; a first real value improves on no best (NaN) */
    const double nan_first[] = { NAN, 0.7, NAN, 0.6 };
    CHECK(kept_epoch(CXR_SELECT_VAL_LOSS, nan_first, 4) == 4);
    CHECK(kept_epoch(CXR_SELECT_VAL_AUC, nan_first, 4) == 2);
    CHECK(!cxr_select_improves(CXR_SELECT_VAL_AUC, NAN, 0.5));
    /* nor on no best: a first epoch without a value (diverged, or no val) is not kept as the
     * best (cli.select_stop sees it end to end, in a minute of training; this is the rule) */
    CHECK(!cxr_select_improves(CXR_SELECT_VAL_AUC, NAN, NAN));
    CHECK(!cxr_select_improves(CXR_SELECT_VAL_LOSS, NAN, NAN));
    CHECK(!cxr_select_improves(CXR_SELECT_VAL_BALANCED_ACCURACY, NAN, NAN));
    const double nan_all[] = { NAN, NAN, NAN };
    CHECK(kept_epoch(CXR_SELECT_VAL_AUC, nan_all, 3) == 0);
    /* none selects nothing */
    CHECK(kept_epoch(CXR_SELECT_NONE, auc, 4) == 0);
    /* names round trip; an unknown one is refused */
    for (int k = CXR_SELECT_NONE; k <= CXR_SELECT_VAL_BALANCED_ACCURACY; k++) {
        cxr_select_kind got = CXR_SELECT_NONE;
        CHECK(cxr_select_parse(cxr_select_name((cxr_select_kind)k), &got) == CXR_OK &&
              (int)got == k);
    }
    /* a kind past the names is "?", not the word after the table */
    CHECK(strcmp(cxr_select_name((cxr_select_kind)(CXR_SELECT_VAL_BALANCED_ACCURACY + 1)), "?") ==
          0);
    CHECK(strcmp(cxr_select_name((cxr_select_kind)-1), "?") == 0);
    cxr_select_kind got;
    CHECK(cxr_select_parse("val_accuracy", &got) != CXR_OK);
    CHECK(cxr_select_parse(NULL, &got) != CXR_OK);
    /* the best model's name: MODEL.h5 -> MODEL.best.h5, other names get .best.h5 appended */
    char buf[64];
    CHECK(cxr_train_best_path("runs/m.h5", buf, sizeof buf) == CXR_OK &&
          strcmp(buf, "runs/m.best.h5") == 0);
    CHECK(cxr_train_best_path("m.ckpt", buf, sizeof buf) == CXR_OK &&
          strcmp(buf, "m.ckpt.best.h5") == 0);
    CHECK(cxr_train_best_path("runs/m.h5", buf, 8) != CXR_OK);
    /* one byte short of the name and its NUL is refused, not cut to "runs/m.best.h" */
    const size_t need = strlen("runs/m.best.h5") + 1;
    CHECK(cxr_train_best_path("runs/m.h5", buf, need - 1) != CXR_OK);
    CHECK(cxr_train_best_path("runs/m.h5", buf, need) == CXR_OK && !strcmp(buf, "runs/m.best.h5"));
    /* the recipes as specs/model.md "Recipes" and issue 15 give them (the study's own is 26
     * epochs of batch 64 at a constant rate; standard trains 28 since long-plan.md); --help
     * prints each one's `about`, which must name its epochs */
    static const struct {
        const char *name, *schedule, *select, *augment;
        int epochs, batch, warmup;
        float lr, wd;
    } want[] = {
        { "standard", "cosine", "val_auc", "default", 28, 64, CXR_WARMUP_ONE_EPOCH, 3e-4f, 0.1f },
        { "study", "constant", "none", "none", 26, 64, 0, 1e-4f, 0 },
        { "landmarks", "constant", "none", "none", 26, 256, 0, 1e-4f, 0 },
        { "cosine", "cosine", "none", "none", 26, 64, 100, 1e-4f, 0 },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const cxr_train_recipe *r = cxr_train_recipe_find(want[i].name);
        CHECK(r != NULL);
        if (!r) continue;
        char epochs[32];
        snprintf(epochs, sizeof epochs, "%d epochs", want[i].epochs);
        CHECK(r->epochs == want[i].epochs && r->batch == want[i].batch && r->lr == want[i].lr &&
              r->warmup_steps == want[i].warmup && r->weight_decay == want[i].wd &&
              !strcmp(r->schedule, want[i].schedule) && !strcmp(r->select, want[i].select) &&
              !strcmp(r->augment ? r->augment : "none", want[i].augment));
        /* specs/model.md's table: no row smooths the labels, stops early or averages weights
         * (a label smoothing of 0.1 in standard passed every test before) */
        CHECK(r->label_smoothing == 0 && r->patience == 0 && r->average_from == 0);
        CHECK(strstr(r->about, epochs) != NULL || strstr(r->about, "study recipe") != NULL);
    }
    CHECK(cxr_train_recipe_find(NULL) == cxr_train_recipe_find("standard"));
    /* chest, the study row's old name, is that row; a name it begins, or one beginning it,
     * is no recipe (an alias matched on its first 4 letters passed every test) */
    CHECK(cxr_train_recipe_find("chest") == cxr_train_recipe_find("study"));
    CHECK(cxr_train_recipe_find("ches") == NULL && cxr_train_recipe_find("chestx") == NULL);
    /* --shuffle-window's words and counts, each written back as it was given ("auto" read as
     * the whole split passed every test: a short run takes the whole split either way) */
    static const struct {
        const char *in;
        int want;
    } win[] = { { "auto", 0 }, { "split", CXR_LOADER_WINDOW_SPLIT }, { "1", 1 }, { "4", 4 } };
    for (size_t i = 0; i < sizeof win / sizeof *win; i++) {
        int got = 77;
        char name[16];
        CHECK(cxr_shuffle_window_parse(win[i].in, &got) == CXR_OK && got == win[i].want);
        CHECK(!strcmp(cxr_shuffle_window_name(win[i].want, name, sizeof name), win[i].in));
    }
    const char *bad_win[] = { "0", "-1", "4x", "", " 4", "+4", "Auto", "splits" };
    for (size_t i = 0; i < sizeof bad_win / sizeof *bad_win; i++) {
        int got = 77;
        CHECK(cxr_shuffle_window_parse(bad_win[i], &got) == CXR_E_ARG && got == 77);
    }
    /* --shuffle-window takes any count up to INT_MAX, as its message says */
    int w = 0;
    CHECK(cxr_shuffle_window_parse("2147483647", &w) == CXR_OK && w == 2147483647);
    CHECK(cxr_shuffle_window_parse("2147483648", &w) != CXR_OK);
    /* a model named just ".h5" has no stem to put .best before */
    CHECK(cxr_train_best_path(".h5", buf, sizeof buf) == CXR_OK && strcmp(buf, ".h5.best.h5") == 0);
    if (fails)
        fprintf(stderr, "test_select: %d check(s) failed\n", fails);
    else
        printf("test_select: ok\n");
    return fails != 0;
}
