/* pack - hardens the rounding of a quantised model and stores integer
 * weights, steps and zero points: a packed model (genie-packed(5)). With
 * --qmodel, applies unit files to a quantised model and writes that instead:
 * the input of the next round of Jacobi-type reconstruction. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_pack.h"
#include "gn_sha256.h"

static void usage(void)
{
    printf("Usage: pack Q.h5 [UNIT.h5 ...] -o MODEL.int.h5\n"
           "       pack Q.h5 [UNIT.h5 ...] --qmodel -o Q2.h5\n"
           "Harden the rounding of a quantised model and write integer weight codes\n"
           "(2- and 4-bit codes packed into bytes), per-channel steps and zero points,\n"
           "activation steps, bit-widths and signedness. UNIT files (recon-block\n"
           "--independent, made from Q) replace their units' parameters first.\n\n"
           "  -o, --output FILE  the packed model ('-' for stdout)\n"
           "  --qmodel           write the quantised model with the units applied\n"
           "                     instead (genie-qmodel(5)): the next round's input\n"
           "  -q, --quiet        no summary\n"
           "  -h, --help, --version\n\n"
           "genie-eval runs packed models; their logits equal the quantised model's bit\n"
           "for bit.\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Each unit may come once: two files of the same unit (say of two rounds) are\n"
           "refused, naming both.\n"
           "Exit status: 0 ok, 1 bad input, 2 usage error.\n");
}

static int on_opt(void *ctx, int c, const char *arg)
{
    (void)arg;
    if (c == 'Q') *(int *)ctx = 1;
    return 0;
}

/* The unit index a unit file holds, or -1 when it is no readable unit file
 * (gn_unit_apply then says what is wrong with it). */
static int unit_of(const char *path)
{
    hid_t f;
    char kind[64];
    int range[3], k = -1;
    if (gn_h5_open(path, &f)) return -1;
    if (!gn_h5_kind(f, kind, sizeof kind) && !strcmp(kind, "unit") &&
        !gn_h5_attr_ints_r(f, "unit", range, 3, 0))
        k = range[0];
    H5Fclose(f);
    return k;
}

/* Each unit once: with two files of one unit the last would silently win.
 * Checked before anything is read for real; returns 0 or an exit status. */
static int units_once(char *const *units, int n)
{
    int *k = gn_xmalloc((size_t)(n ? n : 1) * sizeof *k), rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        k[i] = unit_of(units[i]);
        for (int j = 0; j < i && !rc && k[i] >= 0; j++)
            if (k[j] == k[i]) {
                if (!strcmp(units[j], units[i]))
                    gn_err_set("%s: given twice (unit %d)", units[i], k[i]);
                else
                    gn_err_set("%s, %s: both hold unit %d (give each unit once)", units[j],
                               units[i], k[i]);
                rc = gn_fail();
            }
    }
    free(k);
    return rc;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    const char *out = NULL;
    int quiet = 0, qmodel = 0;
    static const struct option lo[] = {{"qmodel", 0, 0, 'Q'}, {0, 0, 0, 0}};
    gn_cli_spec cs = {.out = &out, .quiet = &quiet, .longopts = lo, .opt = on_opt, .ctx = &qmodel,
                      .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    if (argc - optind < 1) return gn_usage_error("expected a quantised model");
    if (!out) return gn_usage_error("no output file given (-o)");
    const char *outs[] = {out};
    if ((st = gn_cli_check_io((const char *const *)argv + optind, argc - optind, outs, 1)) >= 0)
        return st;
    if ((st = units_once(argv + optind + 1, argc - optind - 1))) return st;
    gn_qmodel q;
    if (gn_qmodel_load(argv[optind], &q)) return gn_fail();
    char sha[65] = "";
    int rc = 0;
    if (argc - optind > 1 && gn_sha256_file(argv[optind], sha)) rc = 1;
    for (int i = optind + 1; i < argc && !rc; i++) rc = gn_unit_apply(argv[i], &q, sha);
    int done = 0;
    for (int k = 0; k < q.nunits; k++) done += q.done[k];
    if (!rc) rc = qmodel ? gn_qmodel_save(out, &q) : gn_packed_save(out, &q);
    if (!rc && !quiet) {
        fprintf(stderr, "%s: W%dA%d, %d of %d units reconstructed%s%s\n", gn_prog(), q.wbits, q.abits,
                done, q.nunits, done < q.nunits ? " (the others keep round-to-nearest)" : "",
                qmodel ? "; quantised model written" : "");
    }
    gn_qmodel_free(&q);
    return rc ? gn_fail() : 0;
}
