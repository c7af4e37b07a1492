/* init_loss.c: the eval-mode loss of freshly initialised networks (seeds 1-3, no step taken)
 * over a store's split: whether the logits start of order 1 (specs/model.md "Initialisation").
 * Not a ctest (a forward over a real split is slow on CPU). Usage: init_loss STORE.h5 [split] */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include "cxr_model.h"
#include "cxr_trainer.h"
#include "cxr_store.h"
#include "cxr_metrics.h"
#include "cxr_ops.h"
int main(int argc, char **argv)
{
    cxr_store *s;
    cxr_backend *be;
    cxr_model *m;
    cxr_metrics *mt;
    cxr_model_config c;
    if (argc < 2) {
        fprintf(stderr, "usage: init_loss STORE.h5 [split]\n");
        return 2;
    }
    if (cxr_store_open(&s, argv[1])) {
        fprintf(stderr, "%s\n", cxr_last_error());
        return 1;
    }
    const char *split = argc > 2 ? argv[2] : "train";
    for (int seed = 1; seed <= 3; seed++) {
        cxr_model_config_defaults(&c, cxr_store_n_classes(s));
        double lo, hi; /* the input scale cxr-train gives a model of this store */
        cxr_norm_range(cxr_store_preprocess(s)->normalize, &lo, &hi);
        if (cxr_model_config_input_range(&c, lo, hi)) return 1;
        c.batch_capacity = 32;
        c.seed = seed;
        cxr_backend_cpu_create(&be, 2);
        if (cxr_model_create(&m, &c, be)) {
            fprintf(stderr, "%s\n", cxr_last_error());
            return 1;
        }
        cxr_metrics_create(&mt, c.n_classes);
        cxr_eval_result r;
        if (cxr_evaluate(m, s, split, 32, 2, 0, NULL, NULL, mt, &r)) {
            fprintf(stderr, "%s\n", cxr_last_error());
            return 1;
        }
        printf("seed %d: eval-mode loss at init on %s: %.4f (ln 2 = %.4f)\n", seed, split, r.loss,
               log(2.0));
        cxr_metrics_destroy(mt);
        cxr_model_destroy(m);
    }
    cxr_store_close(s);
    return 0;
}
