/* stats.c - BatchNorm targets, their file, and the same statistics
 * measured on real images (see gn_stats.h).
 * What it deliberately does not do: the distillation loss (distill.c), or
 * print anything. */
#include "gn_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "gn_moments.h"
#include "gn_run.h"
#include "gn_sha256.h"

int gn_bnstats_nodes(const gn_graph *g, int *idx, int max)
{
    int k = 0;
    for (int i = 0; i < g->nn; i++)
        if (g->nodes[i].op == GN_OP_BN) {
            if (k < max) idx[k] = i;
            k++;
        }
    return k;
}

/* allocates the per-layer arrays of s for nl layers */
static void alloc_layers(gn_bnstats *s, int nl)
{
    s->nl = nl;
    s->name = gn_xcalloc((size_t)nl, sizeof(char *));
    s->input = gn_xcalloc((size_t)nl, sizeof(char *));
    s->c = gn_xcalloc((size_t)nl, sizeof(int));
    s->off = gn_xcalloc((size_t)nl, sizeof(size_t));
}

int gn_bnstats_from_model(const gn_graph *g, const char *path, gn_bnstats *s)
{
    memset(s, 0, sizeof *s);
    int nl = gn_bnstats_nodes(g, NULL, 0);
    if (nl == 0) return gn_err_set("%s: model has no BatchNorm layer (Genie-D needs BatchNorm statistics)", path);
    int *idx = gn_xmalloc((size_t)nl * sizeof(int));
    gn_bnstats_nodes(g, idx, nl);
    for (int l = 0; l < nl; l++) {
        const gn_node *n = &g->nodes[idx[l]];
        if (n->p[GN_P_MEAN] < 0 || n->p[GN_P_VAR] < 0) {
            free(idx);
            return gn_err_set("%s: BatchNorm layer %s has no running statistics", path, n->name);
        }
    }
    alloc_layers(s, nl);
    for (int l = 0; l < nl; l++) {
        const gn_node *n = &g->nodes[idx[l]];
        s->name[l] = gn_xstrdup(n->name);
        s->input[l] = gn_xstrdup(g->t[n->in[0]].name);
        s->c[l] = g->t[n->in[0]].c;
        s->off[l] = s->total;
        s->total += (size_t)s->c[l];
    }
    s->mean = gn_xmalloc(s->total * sizeof(float));
    s->std = gn_xmalloc(s->total * sizeof(float));
    int rc = 0;
    for (int l = 0; l < nl && !rc; l++) {
        const gn_node *n = &g->nodes[idx[l]];
        const float *rm = g->params[n->p[GN_P_MEAN]].data, *rv = g->params[n->p[GN_P_VAR]].data;
        for (int c = 0; c < s->c[l]; c++) {
            if (!isfinite(rm[c]) || !isfinite(rv[c]) || rv[c] < 0) {
                rc = gn_err_set("%s: BatchNorm layer %s: running statistics of channel %d are "
                                "invalid (mean %g, var %g)",
                                path, n->name, c, rm[c], rv[c]);
                break;
            }
            s->mean[s->off[l] + c] = rm[c];
            /* the reference computes torch.sqrt(running_var + 1e-6) in float32 */
            s->std[s->off[l] + c] = sqrtf(rv[c] + (float)GN_BNSTATS_EPS);
        }
    }
    free(idx);
    if (rc) gn_bnstats_free(s);
    return rc;
}

void gn_bnstats_free(gn_bnstats *s)
{
    for (int l = 0; l < s->nl; l++) {
        free(s->name[l]);
        free(s->input[l]);
    }
    free(s->name);
    free(s->input);
    free(s->c);
    free(s->off);
    free(s->mean);
    free(s->std);
    free(s->real_mean);
    free(s->real_std);
    memset(s, 0, sizeof *s);
}

struct bnstats_args {
    const gn_bnstats *s;
    const char *model_file, *data_file;
};

static int write_bnstats(hid_t f, const void *arg)
{
    const struct bnstats_args *a = arg;
    const gn_bnstats *s = a->s;
    const char *model_file = a->model_file, *data_file = a->data_file;
    int version = GN_BNSTATS_FORMAT, rc = 0;
    float eps = (float)GN_BNSTATS_EPS;
    rc = gn_h5_attr_str_w(f, "genie_kind", "bnstats") ||
         gn_h5_attr_ints_w(f, "genie_format", &version, 1) ||
         gn_h5_attr_str_w(f, "model_sha256", s->model_sha) ||
         gn_h5_attr_str_w(f, "model_file", model_file ? model_file : "") ||
         gn_h5_attr_floats_w(f, "std_eps", &eps, 1) || gn_h5_attr_ints_w(f, "layers", &s->nl, 1);
    if (!rc && data_file) {
        int dn = (int)s->real_n;
        rc = gn_h5_attr_str_w(f, "data_file", data_file) || gn_h5_attr_ints_w(f, "data_n", &dn, 1);
    }
    hid_t gb = rc ? -1 : gn_h5_group(f, "bn");
    if (!rc && gb < 0) rc = gn_err_set("cannot create group /bn");
    for (int l = 0; l < s->nl && !rc; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%04d", l);
        hid_t gl = gn_h5_group(gb, nm);
        if (gl < 0) {
            rc = gn_err_set("cannot create group /bn/%s", nm);
            break;
        }
        size_t dim = (size_t)s->c[l];
        const size_t o = s->off[l];
        rc = gn_h5_attr_str_w(gl, "name", s->name[l]) ||
             gn_h5_attr_str_w(gl, "input", s->input[l]) ||
             gn_h5_attr_ints_w(gl, "channels", &s->c[l], 1) ||
             gn_h5_write_f32(gl, "mean", 1, &dim, s->mean + o) ||
             gn_h5_write_f32(gl, "std", 1, &dim, s->std + o) ||
             (s->real_mean && (gn_h5_write_f32(gl, "real_mean", 1, &dim, s->real_mean + o) ||
                               gn_h5_write_f32(gl, "real_std", 1, &dim, s->real_std + o)));
        H5Gclose(gl);
        if (rc) gn_err_prefix("/bn/%s", nm);
    }
    if (gb >= 0) H5Gclose(gb);
    return rc;
}

int gn_bnstats_save(const char *path, const gn_bnstats *s, const char *model_file,
                    const char *data_file)
{
    struct bnstats_args a = {s, model_file, data_file};
    return gn_h5_save(path, write_bnstats, &a);
}

int gn_bnstats_load(const char *path, gn_bnstats *s)
{
    memset(s, 0, sizeof *s);
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    char kind[64];
    int rc = gn_h5_kind(f, kind, sizeof kind), version = 0, nl = 0;
    char *sha = NULL;
    if (!rc && !*kind) rc = gn_err_set("%s: not a genie bnstats file (no genie_kind attribute)", path);
    else if (!rc && strcmp(kind, "bnstats"))
        rc = gn_err_set("%s: is a genie %s file, expected a bnstats file", path, kind);
    if (!rc && gn_h5_attr_ints_r(f, "genie_format", &version, 1, 0))
        gn_err_prefix("%s", path), rc = GN_EIO;
    if (!rc && version != GN_BNSTATS_FORMAT)
        rc = gn_err_set("%s: bnstats format version %d, this genie reads %d", path, version,
                        GN_BNSTATS_FORMAT);
    if (!rc && (gn_h5_attr_ints_r(f, "layers", &nl, 1, 0) ||
                gn_h5_attr_str_r(f, "model_sha256", &sha, 0)))
        gn_err_prefix("%s", path), rc = GN_EIO;
    if (!rc && (nl < 1 || nl > 1000000)) rc = gn_err_set("%s: layers = %d", path, nl);
    if (!rc) {
        snprintf(s->model_sha, sizeof s->model_sha, "%s", sha);
        int dn = 0;
        if (gn_h5_attr_ints_r(f, "data_n", &dn, 1, 1)) gn_err_prefix("%s", path), rc = GN_EIO;
        s->real_n = dn > 0 ? (size_t)dn : 0;
    }
    free(sha);
    if (!rc) alloc_layers(s, nl);
    float **mv = NULL, **sv = NULL, **rmv = NULL, **rsv = NULL;
    if (!rc) {
        mv = gn_xcalloc((size_t)nl, sizeof(float *));
        sv = gn_xcalloc((size_t)nl, sizeof(float *));
        rmv = gn_xcalloc((size_t)nl, sizeof(float *));
        rsv = gn_xcalloc((size_t)nl, sizeof(float *));
    }
    int have_real = 1;
    for (int l = 0; l < nl && !rc; l++) {
        char nm[64];
        snprintf(nm, sizeof nm, "bn/%04d", l);
        hid_t gl = H5Lexists(f, "bn", H5P_DEFAULT) > 0 && H5Lexists(f, nm, H5P_DEFAULT) > 0
                       ? H5Gopen2(f, nm, H5P_DEFAULT)
                       : -1;
        if (gl < 0) {
            rc = gn_err_set("%s: /%s missing (file says %d layers)", path, nm, nl);
            break;
        }
        size_t d1[4], d2[4];
        rc = gn_h5_attr_str_r(gl, "name", &s->name[l], 0) ||
             gn_h5_attr_str_r(gl, "input", &s->input[l], 0) ||
             gn_h5_attr_ints_r(gl, "channels", &s->c[l], 1, 0);
        if (rc) gn_err_prefix("%s: /%s", path, nm);
        if (!rc) {
            char p1[80], p2[80];
            snprintf(p1, sizeof p1, "/%s/mean", nm);
            snprintf(p2, sizeof p2, "/%s/std", nm);
            rc = gn_h5_read_f32(gl, path, "mean", 1, d1, &mv[l]) ||
                 gn_h5_read_f32(gl, path, "std", 1, d2, &sv[l]);
            if (!rc && (d1[0] != (size_t)s->c[l] || d2[0] != (size_t)s->c[l]))
                rc = gn_err_set("%s: /%s: %d channels but mean has %zu and std %zu values", path,
                                nm, s->c[l], d1[0], d2[0]);
            if (!rc && (gn_nonfinite(mv[l], d1[0]) < d1[0] || gn_nonfinite(sv[l], d2[0]) < d2[0]))
                rc = gn_err_code(GN_EINVAL, "%s: /%s: a non-finite mean or std (refused)", path, nm);
        }
        if (!rc && have_real && H5Lexists(gl, "real_mean", H5P_DEFAULT) > 0 &&
            H5Lexists(gl, "real_std", H5P_DEFAULT) > 0) {
            rc = gn_h5_read_f32(gl, path, "real_mean", 1, d1, &rmv[l]) ||
                 gn_h5_read_f32(gl, path, "real_std", 1, d2, &rsv[l]);
            if (!rc && (d1[0] != (size_t)s->c[l] || d2[0] != (size_t)s->c[l]))
                rc = gn_err_set("%s: /%s: real_mean/real_std do not have %d values", path, nm,
                                s->c[l]);
        } else {
            have_real = 0;
        }
        H5Gclose(gl);
        if (!rc) {
            s->off[l] = s->total;
            s->total += (size_t)s->c[l];
        }
    }
    H5Fclose(f);
    if (!rc) {
        s->mean = gn_xmalloc(s->total * sizeof(float));
        s->std = gn_xmalloc(s->total * sizeof(float));
        if (have_real) {
            s->real_mean = gn_xmalloc(s->total * sizeof(float));
            s->real_std = gn_xmalloc(s->total * sizeof(float));
        }
        for (int l = 0; l < nl; l++) {
            size_t o = s->off[l], c = (size_t)s->c[l];
            memcpy(s->mean + o, mv[l], c * sizeof(float));
            memcpy(s->std + o, sv[l], c * sizeof(float));
            if (have_real) {
                memcpy(s->real_mean + o, rmv[l], c * sizeof(float));
                memcpy(s->real_std + o, rsv[l], c * sizeof(float));
            }
        }
        if (!have_real) s->real_n = 0;
    }
    for (int l = 0; mv && l < nl; l++) free(mv[l]), free(sv[l]), free(rmv[l]), free(rsv[l]);
    free(mv), free(sv), free(rmv), free(rsv);
    if (rc) gn_bnstats_free(s);
    return rc;
}

int gn_bnstats_match(const gn_bnstats *s, const gn_graph *g, const char *spath,
                     const char *mpath)
{
    int nl = gn_bnstats_nodes(g, NULL, 0);
    if (nl != s->nl)
        return gn_err_set("%s holds %d BatchNorm layers, model %s has %d: statistics of another "
                          "model",
                          spath, s->nl, mpath, nl);
    int *idx = gn_xmalloc((size_t)(nl ? nl : 1) * sizeof(int));
    gn_bnstats_nodes(g, idx, nl);
    int rc = 0;
    for (int l = 0; l < nl && !rc; l++) {
        const gn_node *n = &g->nodes[idx[l]];
        int c = g->t[n->in[0]].c;
        if (strcmp(n->name, s->name[l]) || c != s->c[l])
            rc = gn_err_set("%s: BatchNorm layer %d is %s (%d channels), model %s has %s (%d "
                            "channels): statistics of another model",
                            spath, l, s->name[l], s->c[l], mpath, n->name, c);
    }
    free(idx);
    return rc;
}

void gn_bnstats_targets_hash(const gn_bnstats *s, char hex[65])
{
    /* float32 little-endian bytes, whatever the host order */
    gn_sha256_ctx c;
    gn_sha256_init(&c);
    const float *arr[2] = {s->mean, s->std};
    for (int a = 0; a < 2; a++)
        for (size_t i = 0; i < s->total; i++) {
            unsigned char b[4];
            uint32_t u;
            memcpy(&u, &arr[a][i], 4);
            for (int k = 0; k < 4; k++) b[k] = (unsigned char)(u >> (8 * k));
            gn_sha256_update(&c, b, 4);
        }
    unsigned char d[32];
    gn_sha256_final(&c, d);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) hex[2 * i] = digits[d[i] >> 4], hex[2 * i + 1] = digits[d[i] & 15];
    hex[64] = 0;
}

/* ---- measuring on real data --------------------------------------------- */

int gn_bnstats_measure(gn_bnstats *s, gn_graph *g, const float *x, size_t n, int batch,
                       void (*progress)(void *arg, size_t done, size_t n), void *arg)
{
    GN_ASSERT(batch >= 1);
    if (n < 1) return gn_err_set("no images to measure on");
    int nl = s->nl;
    int *idx = gn_xmalloc((size_t)nl * sizeof(int));
    GN_ASSERT(gn_bnstats_nodes(g, idx, nl) == nl);
    if ((size_t)batch > n) batch = (int)n;
    gn_run *r = gn_run_new(g, batch, 0);
    r->bn_train = 0;
    /* running (count, mean, M2) per channel, merged batch by batch */
    double *cnt = gn_xcalloc(s->total, sizeof(double)), *mu = gn_xcalloc(s->total, sizeof(double)),
           *q = gn_xcalloc(s->total, sizeof(double));
    size_t cmax = 1;
    for (int l = 0; l < nl; l++)
        if ((size_t)s->c[l] > cmax) cmax = (size_t)s->c[l];
    double *bm = gn_xmalloc(cmax * sizeof(double)), *bq = gn_xmalloc(cmax * sizeof(double));
    const size_t per = gn_tensor_size(g, g->input);
    for (size_t i = 0; i < n; i += (size_t)batch) {
        int b = (int)(n - i < (size_t)batch ? n - i : (size_t)batch);
        gn_run_forward(r, x + i * per, b);
        for (int l = 0; l < nl; l++) {
            const gn_tensorinfo *t = &g->t[g->nodes[idx[l]].in[0]];
            gn_chan_moments(bm, bq, r->val[g->nodes[idx[l]].in[0]], b, t->c, t->h * t->w);
            const double nb = (double)b * t->h * t->w;
            for (int c = 0; c < t->c; c++) {
                size_t k = s->off[l] + (size_t)c;
                const double na = cnt[k], nn = na + nb, d = bm[c] - mu[k];
                mu[k] += d * nb / nn;
                q[k] += bq[c] + d * d * na * nb / nn;
                cnt[k] = nn;
            }
        }
        if (progress) progress(arg, i + (size_t)b, n);
    }
    free(s->real_mean);
    free(s->real_std);
    s->real_mean = gn_xmalloc(s->total * sizeof(float));
    s->real_std = gn_xmalloc(s->total * sizeof(float));
    for (size_t k = 0; k < s->total; k++) {
        s->real_mean[k] = (float)mu[k];
        s->real_std[k] = cnt[k] > 1 ? (float)sqrt(q[k] / (cnt[k] - 1)) : 0.0f;
    }
    s->real_n = n;
    free(cnt), free(mu), free(q), free(bm), free(bq), free(idx);
    gn_run_free(r);
    return 0;
}
