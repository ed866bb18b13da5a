/* fuzz_h5.c - libFuzzer target for one genie HDF5 file kind, chosen at build
 * time with -DKIND_model, _dataset, _bnstats, _qmodel, _unit or _packed.
 * Each input is an HDF5 file image read from memory (gn_h5_set_image: the
 * readers' own code path, HDF5's error printing off). Beyond "no crash, no
 * leak", it checks that every HDF5 id the reader opened is closed and the
 * error contract: a failing reader leaves a one-line
 * message that starts with the file's name. The unit target applies the input
 * to the quantised model tests/fuzz/unit.qmodel.h5 (or $GENIE_FUZZ_QMODEL).
 * The same source builds with gcc into the replay driver (replay.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "gn_h5.h"
#include "gn_pack.h"
#include "gn_qmodel.h"
#include "gn_recon.h"
#include "gn_stats.h"

#define NAME "fuzz.h5"

/* a reader failed: its message must be one line naming the file */
static void check_msg(void)
{
    const char *m = gn_err_msg();
    if (strncmp(m, NAME ": ", strlen(NAME) + 2) || strchr(m, '\n')) {
        fprintf(stderr, "fuzz_h5: bad error message: \"%s\"\n", m);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gn_h5_quiet();
    gn_h5_set_image(NAME, data, size);
    int rc;
#if defined(KIND_model)
    gn_graph *g = NULL;
    if (!(rc = gn_model_load(NAME, &g))) gn_graph_free(g);
#elif defined(KIND_dataset)
    gn_dataset d;
    if (!(rc = gn_dataset_load(NAME, &d))) gn_dataset_free(&d);
#elif defined(KIND_bnstats)
    gn_bnstats s;
    if (!(rc = gn_bnstats_load(NAME, &s))) gn_bnstats_free(&s);
#elif defined(KIND_qmodel)
    gn_qmodel q;
    if (!(rc = gn_qmodel_load(NAME, &q))) gn_qmodel_free(&q);
#elif defined(KIND_packed)
    gn_graph *g = NULL;
    if (!(rc = gn_packed_load(NAME, &g))) gn_graph_free(g);
#elif defined(KIND_unit)
    static const char *qpath;
    if (!qpath) qpath = getenv("GENIE_FUZZ_QMODEL") ? getenv("GENIE_FUZZ_QMODEL")
                                                   : "tests/fuzz/unit.qmodel.h5";
    gn_qmodel q;
    if (gn_qmodel_load(qpath, &q)) {
        fprintf(stderr, "fuzz_h5: %s\n", gn_err_msg());
        abort();
    }
    rc = gn_unit_apply(NAME, &q, "");
    gn_qmodel_free(&q);
    /* a stage's unit file: the optimiser state (recon-block --resume) */
    hid_t f;
    if (!rc && !(rc = gn_h5_open(NAME, &f))) {
        gn_recon_state st;
        if (H5Lexists(f, "optim", H5P_DEFAULT) > 0 && !(rc = gn_recon_state_read(f, NAME, "optim", &st)))
            gn_recon_state_free(&st);
        H5Fclose(f);
    }
#else
#error "build with -DKIND_model, _dataset, _bnstats, _qmodel, _unit or _packed"
#endif
    if (rc) check_msg();
    gn_h5_set_image(NULL, NULL, 0);
    /* every id a reader opened is closed again, on every path */
    ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open != 0) {
        fprintf(stderr, "fuzz_h5: %zd HDF5 ids left open\n", open);
        abort();
    }
    return 0;
}
