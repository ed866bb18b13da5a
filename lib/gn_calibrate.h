/* gn_calibrate.h - calib's method (GENIE.md sections 2 and 3): an FP32
 * model and calibration images become a round-to-nearest quantised model
 * (BatchNorm folded, quantisers inserted by genie's bit-width policy, every
 * activation step fitted up front, units found), plus where the
 * calibration data came from.
 * What this does not do: read the model or write the result (the programs
 * do), or fit steps at a unit's turn (gn_recon_fit_steps). */
#ifndef GN_CALIBRATE_H
#define GN_CALIBRATE_H

#include <stddef.h>

#include "gn_qmodel.h"

/* Samples the up-front step fit reads (GENIE.md: the first batch of 32). */
#define GN_ACT_INIT_SAMPLES 32

/* Fits every activation step of q's graph whose step is <= 0 (and its
 * signedness) by the clipping search on the first min(n, 32) samples of x
 * (n, C,H,W), all quantisers on, weights hard-rounded, except that nodes
 * [soft_first, soft_last) use soft rounding (pass 0, 0 for none); only
 * nodes [0, last) run. Steps already > 0 are kept. Never fails. */
void gn_fit_act_steps(gn_graph *qg, const float *x, size_t n, int soft_first, int soft_last,
                      int last);

/* Makes q from model (not changed) and the calibration images x (n, C,H,W,
 * n >= 1, already checked against the model's input): folds BatchNorm,
 * inserts quantisers by cfg, fits every activation step up front
 * (gn_fit_act_steps over the whole model, no soft nodes), finds the units.
 * Sets q's graph, units, done and fitted (all 0) and bits; leaves
 * model_sha and data_sha to the caller. *folded (may be NULL) receives
 * the number of BatchNorms folded. Returns 0, or an error with q freed. */
int gn_calibrate(const gn_graph *model, const float *x, size_t n, const gn_qconfig *cfg,
                 gn_qmodel *q, int *folded);

/* The model_sha256 attribute of a dataset file (the model its images were
 * distilled from) into sha (65 bytes): 1 when present, 0 when absent or
 * unreadable (real images carry none). */
int gn_data_source_sha(const char *path, char sha[65]);

#endif
