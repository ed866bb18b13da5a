/* calibrate.c - calib's method: folding, quantiser insertion, the up-front
 * activation-step fit and the units (see gn_calibrate.h).
 * What it deliberately does not do: print, or read and write model files. */
#include "gn_calibrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "gn_h5.h"
#include "gn_run.h"

void gn_fit_act_steps(gn_graph *qg, const float *x, size_t n, int soft_first, int soft_last,
                      int last)
{
    int nb = n < GN_ACT_INIT_SAMPLES ? (int)n : GN_ACT_INIT_SAMPLES;
    gn_run *r = gn_run_new_lean(qg, nb, 0); /* each value freed after its last reader */
    r->qmode = 1;
    r->act_init = 1;
    r->soft_first = soft_first, r->soft_last = soft_last;
    r->b = nb;
    memcpy(r->val[qg->input], x, (size_t)nb * gn_tensor_size(qg, qg->input) * sizeof(float));
    gn_run_forward_nodes(r, 0, last);
    gn_run_free(r);
}

int gn_calibrate(const gn_graph *model, const float *x, size_t n, const gn_qconfig *cfg,
                 gn_qmodel *q, int *folded)
{
    memset(q, 0, sizeof *q);
    if (n < 1) return gn_err_set("no calibration samples");
    gn_graph *f = NULL;
    if (gn_fold_bn(model, &f)) return GN_EIO;
    int rc = gn_quantize(f, cfg, &q->g);
    if (!rc) {
        gn_fit_act_steps(q->g, x, n, 0, 0, q->g->nn);
        q->wbits = cfg->wbits, q->abits = cfg->abits, q->first_last = cfg->first_last;
        rc = gn_find_units(q->g, &q->units, &q->nunits);
    }
    if (!rc) {
        q->done = gn_xcalloc((size_t)q->nunits + 1, sizeof(int));
        q->fitted = gn_xcalloc((size_t)q->nunits + 1, sizeof(int));
        if (folded) *folded = gn_graph_count_op(model, GN_OP_BN) - gn_graph_count_op(f, GN_OP_BN);
    }
    gn_graph_free(f);
    if (rc) gn_qmodel_free(q);
    return rc;
}

int gn_data_source_sha(const char *path, char sha[65])
{
    hid_t fh;
    *sha = 0;
    if (gn_h5_open(path, &fh)) return 0;
    char *ds = NULL;
    int found = !gn_h5_attr_str_r(fh, "model_sha256", &ds, 1) && ds;
    if (found) snprintf(sha, 65, "%s", ds);
    free(ds);
    H5Fclose(fh);
    return found;
}
