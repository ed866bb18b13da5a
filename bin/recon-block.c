/* recon-block - Genie-M on one reconstruction unit of a quantised model (or
 * on all of them in order). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_pack.h"
#include "gn_recon.h"
#include "gn_run.h"
#include "gn_sha256.h"

static void usage(void)
{
    printf("Usage: recon-block Q.h5 DATA.h5 (--unit K | --all) [options] -o OUT.h5\n"
           "Reconstruct unit K of a quantised model (made by calib) on the calibration\n"
           "images of DATA: Genie-M (genie-method(7)), with QDrop, soft rounding with a\n"
           "learned step over fixed floor integers, and an annealed rounding loss.\n\n"
           "  -u, --unit K       the unit to reconstruct (see calib --list-units Q.h5)\n"
           "      --all          every unit, in order (sequential Genie-M)\n"
           "      --independent  take the unit's input from Q as given (the calibrated\n"
           "                     model) and write only this unit's parameters (a unit\n"
           "                     file for pack), so units can run on any host at once\n"
           "      --upfront-steps  keep calib's activation steps instead of fitting the\n"
           "                     unit's steps at its turn (an ablation)\n"
           "      --refit-steps  fit the unit's activation steps again now, on its input\n"
           "                     through Q as it is, though Q says they were fitted\n"
           "      --fp-input     train the unit on the FP32 model's input to it (x~ = x)\n"
           "                     instead of the quantised model's\n"
           "      --tight-units  take a unit's input after its leading nodes without\n"
           "                     parameters (the classifier's pooling), as the authors'\n"
           "                     units do (an ablation)\n"
           "      --qdrop-per-consumer  a quantiser read by several layers of the unit\n"
           "                     (a block input and its shortcut) draws one QDrop mask\n"
           "                     per reader, as the authors' code does (an ablation)\n"
           "      --unfolded-steps M.h5  learn the weight steps in the scale before\n"
           "                     BatchNorm folding (factors from M.h5, the FP32 model\n"
           "                     calib read), as the authors' code does (an ablation)\n"
           "  -i, --iters N      iterations per unit (default 20000)\n"
           "      --stage s/S    run only stage s of S of the unit's schedule: its\n"
           "                     iterations (s-1)N/S .. sN/S, warm-up, beta and learning\n"
           "                     rates at the global iteration, starting from the\n"
           "                     unit's parameters in Q (a wavefront, genie-parallel(7));\n"
           "                     with --independent its unit file keeps the optimiser\n"
           "      --resume FILE  continue the optimiser that stage s-1's unit file FILE\n"
           "                     kept (same unit, N, S, seed, warm-up): S stages on unchanged\n"
           "                     inputs are the one run bit for bit\n"
           "      --warmup F     the fraction of the schedule with the rounding loss\n"
           "                     off before beta anneals 20 -> 2 (default 0.2, GENIE.md;\n"
           "                     later in a wavefront: genie-parallel(7))\n"
           "  -b, --batch N      samples per iteration (default N/32 of DATA's N samples,\n"
           "                     at least 1: the authors' choice)\n"
           "  -s, --seed S       random seed (default 0); unit K uses stream (S, K)\n"
           "      --early-stop[=F]  run the schedule (warm-up, beta 20 -> 2) over F x N\n"
           "                     iterations (default 0.45) at learning rates / F (a\n"
           "                     unit twice worse than its start at the warm-up's end\n"
           "                     reruns with its 8-bit weight steps' full rate), hold\n"
           "                     out the last n/16 samples, and stop a unit at the\n"
           "                     schedule's end unless its hard-rounded held-out\n"
           "                     error still falls; N (-i) is the cap (recon-block(1))\n"
           "      --no-qdrop     no QDrop (ablation)\n"
           "  -t, --threads N    OpenBLAS threads\n"
           "  -o, --output FILE  the quantised model (a unit file with --independent;\n"
           "                     '-' for stdout)\n"
           "  -q, --quiet        no progress\n"
           "  -h, --help, --version\n\n"
           "Sequential mode is exact Genie-M when units 0..K-1 of Q are reconstructed.\n"
           "A unit's activation steps are fitted at its turn (on the first 32 samples\n"
           "through Q as it is, the unit's weights soft), once; see recon-block(1).\n"
           "Each unit logs its reconstruction and rounding losses, beta and seconds on\n"
           "stderr. One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input, 2 usage error.\n");
}

struct progress_arg {
    gn_progress pr;
};

static int progress_due(void *arg, long it) { return gn_progress_due(&((struct progress_arg *)arg)->pr, it); }

static void progress_report(void *arg, int unit, long it, long total, double rec, double round,
                            double beta)
{
    struct progress_arg *p = arg;
    char status[160];
    snprintf(status, sizeof status, "rec %.4g round %.4g beta %.1f", rec, round, beta);
    gn_progress_update(&p->pr, it, status);
}

struct recon_opts {
    int unit, all, indep;
    int stage, nstages; /* --stage s/S; 0: the whole schedule */
    gn_recon_opts *o;
    const char *unfolded; /* --unfolded-steps */
    const char *resume;   /* --resume */
    int refit;            /* --refit-steps */
};

/* recon-block's own options (the shared ones are gn_cli_parse's) */
static int on_opt(void *ctx, int c, const char *arg)
{
    struct recon_opts *r = ctx;
    long iters;
    switch (c) {
    case 'u':
        if (gn_parse_int(arg, 0, 1 << 20, &r->unit)) return gn_usage_error("--unit: not a unit index: '%s'", arg);
        break;
    case 'A': r->all = 1; break;
    case 'I': r->indep = 1; break;
    case 'i':
        if (gn_parse_long(arg, 1, 100000000L, &iters)) return gn_usage_error("--iters: not a positive count: '%s'", arg);
        r->o->iters = iters;
        break;
    case 'D': r->o->qdrop = 0, r->o->input_drop = 0; break;
    case 'U': r->o->lazy_steps = 0; break;
    case 'P': r->refit = 1; break;
    case 'X': r->o->fp_input = 1; break;
    case 'W':
        if (gn_parse_float(arg, 0, 1, &r->o->warmup) || r->o->warmup >= 1)
            return gn_usage_error("--warmup: not a fraction in [0, 1): '%s'", arg);
        break;
    case 'E':
        r->o->early_stop = 1;
        if (arg && (gn_parse_float(arg, 1e-6, 1, &r->o->es_budget)))
            return gn_usage_error("--early-stop: not a fraction in (0, 1]: '%s'", arg);
        break;
    case 'T': r->o->tight_units = 1; break;
    case 'C': r->o->qdrop_per_consumer = 1; break;
    case 'F': r->unfolded = arg; break;
    case 'R': r->resume = arg; break;
    case 'G': {
        const char *sl = strchr(arg, '/');
        char a[32];
        if (!sl || (size_t)(sl - arg) >= sizeof a) return gn_usage_error("--stage: expected s/S, got '%s'", arg);
        memcpy(a, arg, (size_t)(sl - arg)), a[sl - arg] = 0;
        if (gn_parse_int(sl + 1, 1, 1 << 20, &r->nstages) || gn_parse_int(a, 1, r->nstages, &r->stage))
            return gn_usage_error("--stage: expected s/S with 1 <= s <= S, got '%s'", arg);
        break;
    }
    }
    return 0;
}

/* a stage's unit file: its stage s/S and the optimiser state (genie-unit(5)) */
struct stage_args {
    const gn_recon_state *st;
    int stage, nstages;
};

static int write_stage(hid_t f, const void *arg)
{
    const struct stage_args *a = arg;
    int s[2] = {a->stage, a->nstages};
    return gn_h5_attr_ints_w(f, "stage", s, 2) || gn_recon_state_write(f, "optim", a->st);
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {
        {"unit", 1, 0, 'u'}, {"all", 0, 0, 'A'}, {"independent", 0, 0, 'I'}, {"iters", 1, 0, 'i'},
        {"no-qdrop", 0, 0, 'D'}, {"upfront-steps", 0, 0, 'U'}, {"early-stop", 2, 0, 'E'},
        {"tight-units", 0, 0, 'T'}, {"qdrop-per-consumer", 0, 0, 'C'}, {"unfolded-steps", 1, 0, 'F'},
        {"stage", 1, 0, 'G'}, {"resume", 1, 0, 'R'}, {"refit-steps", 0, 0, 'P'}, {"fp-input", 0, 0, 'X'},
        {"warmup", 1, 0, 'W'}, {0, 0, 0, 0}};
    gn_recon_opts o;
    gn_recon_defaults(&o);
    struct recon_opts ro = {-1, 0, 0, 0, 0, &o, NULL, NULL, 0};
    int threads = 0, quiet = 0;
    o.batch = 0; /* N/32 once DATA is read */
    const char *out = NULL;
    gn_cli_spec cs = {.out = &out, .threads = &threads, .batch = &o.batch, .batch_max = 1 << 16,
                      .seed = &o.seed, .quiet = &quiet, .shortopts = "u:i:", .longopts = lo,
                      .opt = on_opt, .ctx = &ro, .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    int unit = ro.unit, all = ro.all, indep = ro.indep;
    if (argc - optind != 2) return gn_usage_error("expected Q and DATA files, got %d argument(s)", argc - optind);
    if (!out) return gn_usage_error("no output file given (-o)");
    if (all == (unit >= 0)) return gn_usage_error("give exactly one of --unit K and --all");
    if (all && indep) return gn_usage_error("--independent takes one --unit, not --all");
    if (o.early_stop && o.qdrop_per_consumer)
        return gn_usage_error("--qdrop-per-consumer does not go with --early-stop");
    if (ro.refit && !o.lazy_steps) return gn_usage_error("--refit-steps does not go with --upfront-steps");
    if (ro.stage && all) return gn_usage_error("--stage takes one --unit, not --all");
    if (ro.stage && o.early_stop) return gn_usage_error("--stage and --early-stop do not go together");
    if (ro.stage && ro.nstages > o.iters)
        return gn_usage_error("--stage %d/%d: more stages than the %ld iterations", ro.stage, ro.nstages, o.iters);
    if (ro.resume && !(ro.stage > 1 && indep))
        return gn_usage_error("--resume takes --independent and --stage s/S with s > 1");
    if (ro.stage) {
        /* stage s of S: iterations floor((s-1)N/S) .. floor(sN/S) */
        o.stage_from = (long)((long long)(ro.stage - 1) * o.iters / ro.nstages);
        o.stage_to = (long)((long long)ro.stage * o.iters / ro.nstages);
    }
    const char *qpath = argv[optind], *dpath = argv[optind + 1];
    const char *ins[] = {qpath, dpath, ro.unfolded ? ro.unfolded : ro.resume, ro.resume}, *outs[] = {out};
    if ((st = gn_cli_check_io(ins, 2 + !!ro.unfolded + !!ro.resume, outs, 1)) >= 0) return st;
    if (threads) gn_set_threads(threads);
    gn_qmodel q;
    gn_dataset d;
    if (gn_qmodel_load(qpath, &q)) return gn_fail();
    if (gn_dataset_load(dpath, &d)) {
        gn_qmodel_free(&q);
        return gn_fail();
    }
    int rc = 0;
    char qsha[65] = "";
    if (gn_dataset_check_input(&d, dpath, q.g, qpath))
        rc = 1;
    else if (unit >= q.nunits)
        rc = gn_err_set("%s: unit %d out of range: the model has units 0..%d", qpath, unit, q.nunits - 1);
    else if (o.early_stop && d.n < 2)
        rc = gn_err_set("%s: only %zu sample(s): --early-stop holds samples out and needs at least 2", dpath, d.n);
    else if (indep && gn_sha256_file(qpath, qsha))
        rc = 1;
    if (!rc) {
        hid_t fh;
        if (!gn_h5_open(dpath, &fh)) {
            char *ds = NULL;
            if (!gn_h5_attr_str_r(fh, "model_sha256", &ds, 1) && ds && *q.model_sha && strcmp(ds, q.model_sha))
                gn_warn("%s was distilled from another model than the one %s quantises", dpath, qpath);
            free(ds);
            H5Fclose(fh);
        }
    }
    float **scales = NULL;
    if (!rc && ro.unfolded) {
        char msha[65];
        gn_graph *fp = NULL;
        if (gn_model_load(ro.unfolded, &fp) || gn_sha256_file(ro.unfolded, msha))
            rc = 1;
        else if (*q.model_sha && strcmp(msha, q.model_sha))
            rc = gn_err_set("%s: not the FP32 model %s quantises (its SHA-256 differs)", ro.unfolded, qpath);
        else if (gn_recon_fold_scales(fp, q.g, &scales)) {
            char m[512];
            snprintf(m, sizeof m, "%s", gn_err_msg());
            rc = gn_err_set("%s: %s", ro.unfolded, m);
        }
        gn_graph_free(fp);
        o.wstep_scale = scales;
    }
    if (!rc && !all && !indep)
        for (int k = 0; k < unit; k++)
            if (!q.done[k]) {
                gn_warn("unit %d of %s is not reconstructed yet: unit %d's input is not exact Genie-M's", k, qpath, unit);
                break;
            }
    /* a Jacobi round after the first (every other unit reconstructed already)
     * is what genie-parallel(7) proposes at 2 bits: no warning then */
    int others_done = 1;
    for (int k = 0; k < q.nunits; k++)
        if (k != unit && !q.done[k]) others_done = 0;
    if (!rc && indep && !others_done && !ro.stage)
        for (int j = 0; j < q.g->nn; j++)
            if (q.g->nodes[j].wbits && q.g->nodes[j].wbits <= 2) {
                gn_warn("%s has %d-bit weights: independent reconstruction measured far below "
                        "sequential there (W2A4 on the bundled resnet20: 30.5%% against 93.4%%, "
                        "genie-parallel(7)); reconstruct sequentially, or in rounds "
                        "(recon-parallel.sh --rounds)",
                        qpath, q.g->nodes[j].wbits);
                break;
            }
    if (!o.batch) o.batch = gn_recon_batch(d.n);
    /* --resume: the previous stage's unit file, its optimiser state (/optim) */
    gn_recon_state prev = {0}, next = {0};
    if (!rc && ro.resume) {
        hid_t fh;
        int urange[3], sst[2];
        if (gn_h5_open(ro.resume, &fh)) rc = 1;
        else {
            char kind[64];
            if (gn_h5_kind(fh, kind, sizeof kind) || strcmp(kind, "unit"))
                rc = gn_err_set("%s: not a unit file (recon-block --stage)", ro.resume);
            else if (gn_h5_attr_ints_r(fh, "unit", urange, 3, 0))
                gn_err_prefix("%s", ro.resume), rc = 1;
            else if (urange[0] != unit || q.units[unit].first != urange[1] || q.units[unit].last != urange[2])
                rc = gn_err_set("%s: unit %d (nodes %d..%d), not unit %d (nodes %d..%d)", ro.resume, urange[0],
                                urange[1], urange[2], unit, q.units[unit].first, q.units[unit].last);
            else if (gn_recon_state_read(fh, ro.resume, "optim", &prev))
                rc = 1;
            else if (gn_h5_attr_ints_r(fh, "stage", sst, 2, 0))
                gn_err_prefix("%s", ro.resume), rc = 1;
            else if (sst[0] != ro.stage - 1 || sst[1] != ro.nstages || prev.iters != o.iters || prev.seed != o.seed)
                rc = gn_err_set("%s: stage %d/%d of %ld iterations, seed %llu: not stage %d/%d of %ld, seed %llu",
                                ro.resume, sst[0], sst[1], prev.iters, (unsigned long long)prev.seed,
                                ro.stage - 1, ro.nstages, o.iters, (unsigned long long)o.seed);
            H5Fclose(fh);
        }
        if (!rc) o.resume = &prev;
    }
    if (ro.stage && indep) o.save = &next;
    struct progress_arg pa;
    gn_recon_progress pg = {.due = progress_due, .report = progress_report, .arg = &pa};
    o.progress = quiet ? NULL : &pg;
    int first = all ? 0 : unit, last = all ? q.nunits : unit + 1;
    long total_its = 0;
    for (int k = first; k < last && !rc; k++) {
        gn_recon_log lg;
        char what[64];
        snprintf(what, sizeof what, "unit %d", k);
        if (ro.stage)
            snprintf(what, sizeof what, "unit %d stage %d/%d", k, ro.stage, ro.nstages);
        gn_progress_start(&pa.pr, what, o.iters, quiet);
        if (ro.refit) q.fitted[k] = 0;
        int refit = o.lazy_steps && !q.fitted[k];
        if (gn_recon_unit(&q, k, d.x, d.n, &o, &lg)) {
            if (ro.resume) gn_err_prefix("%s", ro.resume);
            rc = 1;
            break;
        }
        char desc[512], stage_note[96] = "";
        if (ro.stage)
            snprintf(stage_note, sizeof stage_note, ", stage %d/%d (iterations %ld..%ld of %ld)", ro.stage,
                     ro.nstages, o.stage_from + 1, o.stage_to, o.iters);
        gn_unit_describe(q.g, &q.units[k], desc, sizeof desc);
        gn_progress_end(&pa.pr);
        fprintf(stderr, "%s: unit %d (%s): rec %.5g -> %.5g (train %.5g -> %.5g), round %.4g, "
                "beta %.1f, undecided %ld/%ld, %.1f s, steps %s%s\n",
                gn_prog(), k, desc, lg.rec_before, lg.rec_after, lg.rec_first, lg.rec_last,
                lg.round_last, lg.beta_last, (long)lg.undecided, lg.nsoft, lg.seconds,
                refit ? "fitted now" : "kept", stage_note);
        if (o.early_stop)
            fprintf(stderr, "%s: unit %d %s %ld of %ld iterations (schedule over %ld): held-out error "
                    "average %.5g, best %.5g at iteration %ld, %d check%s every %ld without a 0.1%% fall "
                    "to stop, undecided %.2f%%, %ld samples held out\n",
                    gn_prog(), k, lg.stopped ? "stopped early after" : "ran all", lg.iters_run,
                    o.iters, lg.es_sched, lg.es_heldout, lg.es_best, lg.es_best_at, o.es_patience,
                    o.es_patience == 1 ? "" : "s", lg.es_every, 100.0 * lg.es_share, lg.nheld);
        if (o.early_stop && lg.guard_at)
            fprintf(stderr, "%s: unit %d: guard: held-out error %.5g at iteration %ld above its start %.5g: "
                    "restarted with the full rate on the 8-bit weight steps (%ld iterations run before)\n",
                    gn_prog(), k, lg.guard_err, lg.guard_at, lg.guard_start, lg.guard_at);
        total_its += lg.iters_run;
    }
    if (!rc && o.early_stop)
        fprintf(stderr, "%s: early stop: %ld reconstruction iterations in all (%ld without)\n",
                gn_prog(), total_its, (long)(last - first) * o.iters);
    struct stage_args sa = {&next, ro.stage, ro.nstages};
    if (!rc) rc = indep ? gn_unit_save_ex(out, &q, unit, qsha, o.save ? write_stage : NULL, &sa) : gn_qmodel_save(out, &q);
    gn_recon_state_free(&prev), gn_recon_state_free(&next);
    gn_recon_fold_scales_free(scales, q.g->nn);
    gn_qmodel_free(&q);
    gn_dataset_free(&d);
    gn_run_profile_print(stderr); /* GN_PROFILE */
    return rc ? gn_fail() : 0;
}
