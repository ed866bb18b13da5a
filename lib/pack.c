/* pack.c - packed models, unit files, and loading any model kind (see
 * gn_pack.h, gn_qmodel.h). */
#include "gn_pack.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gn_err.h"
#include "gn_quant.h"

static int per_byte(int bits) { return bits == 2 ? 4 : bits == 4 ? 2 : 1; }

size_t gn_packed_bytes(size_t n, int bits)
{
    size_t k = (size_t)per_byte(bits);
    return (n + k - 1) / k;
}

size_t gn_pack_codes(uint8_t *dst, const uint8_t *codes, size_t n, int bits)
{
    int k = per_byte(bits), w = 8 / k;
    size_t nb = gn_packed_bytes(n, bits);
    memset(dst, 0, nb);
    for (size_t i = 0; i < n; i++) dst[i / (size_t)k] |= (uint8_t)(codes[i] << (w * (int)(i % (size_t)k)));
    return nb;
}

void gn_unpack_codes(uint8_t *codes, const uint8_t *src, size_t n, int bits)
{
    int k = per_byte(bits), w = 8 / k;
    uint8_t mask = (uint8_t)(w == 8 ? 0xff : (1u << w) - 1);
    for (size_t i = 0; i < n; i++) codes[i] = (uint8_t)((src[i / (size_t)k] >> (w * (int)(i % (size_t)k))) & mask);
}

static void escape(char *dst, size_t len, const char *src)
{
    size_t k = 0;
    for (; *src && k + 4 < len; src++) {
        if (*src == '/' || *src == '%') k += (size_t)snprintf(dst + k, len - k, "%%%02X", (unsigned char)*src);
        else dst[k++] = *src;
    }
    dst[k] = 0;
}

static int write_u8(hid_t loc, const char *name, size_t n, const uint8_t *v)
{
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t dcpl = gn_h5_dcpl();
    hid_t ds = H5Dcreate2(loc, name, H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int rc = (ds < 0 || H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
                 ? gn_err_set("cannot write %s", name) : 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return rc;
}

static int write_packed(hid_t f, const void *arg)
{
    const gn_qmodel *q = arg;
    gn_graph *g = q->g;
    char *skip = gn_xcalloc((size_t)g->np + 1, 1);
    int *wb = gn_xcalloc((size_t)g->nn + 1, sizeof(int));
    for (int k = 0; k < g->nn; k++) {
        gn_node *n = &g->nodes[k];
        if (!n->wbits) continue;
        for (int s = GN_P_W; s <= GN_P_WFLOOR; s++)
            if (s != GN_P_B && n->p[s] >= 0) skip[n->p[s]] = 1;
    }
    /* the graph as deployed: quantised layers lose their quantiser slots and
     * read their weight from /qweights */
    int v = GN_PACKED_FORMAT, rc = 0;
    for (int k = 0; k < g->nn; k++) {
        wb[k] = g->nodes[k].wbits;
        g->nodes[k].wbits = 0;
    }
    /* node attributes carry no quantiser slots: temporarily hide them */
    int *hid = gn_xcalloc((size_t)g->nn * 4 + 1, sizeof(int));
    for (int k = 0; k < g->nn; k++)
        for (int s = 0; s < 4; s++) {
            hid[4 * k + s] = g->nodes[k].p[GN_P_WSTEP + s];
            if (wb[k]) g->nodes[k].p[GN_P_WSTEP + s] = -1;
        }
    rc = gn_h5_attr_str_w(f, "genie_kind", "packed") || gn_h5_attr_ints_w(f, "genie_format", &v, 1) ||
         gn_model_write_graph_ex(f, g, skip);
    int bits[3] = {q->wbits, q->abits, q->first_last};
    rc = rc || gn_h5_attr_ints_w(f, "bits", bits, 3) || gn_h5_attr_str_w(f, "model_sha256", q->model_sha);
    hid_t qw = rc ? -1 : gn_h5_group(f, "qweights");
    if (!rc && qw < 0) rc = gn_err_set("cannot create /qweights");
    for (int k = 0; k < g->nn && !rc; k++) {
        gn_node *n = &g->nodes[k];
        if (!wb[k]) continue;
        const gn_param *w = &g->params[n->p[GN_P_W]];
        const float *st = g->params[hid[4 * k + 0]].data, *zp = g->params[hid[4 * k + 1]].data;
        const float *vv = g->params[hid[4 * k + 2]].data, *fl = g->params[hid[4 * k + 3]].data;
        gn_wq_shape s = {.Cout = w->dims[0], .K = w->n / (size_t)w->dims[0], .bits = wb[k]};
        uint8_t *codes = gn_xmalloc(w->n), *packed = gn_xmalloc(gn_packed_bytes(w->n, wb[k]));
        gn_wquant_codes(codes, fl, vv, zp, &s);
        size_t nb = gn_pack_codes(packed, codes, w->n, wb[k]);
        char nm[1024];
        escape(nm, sizeof nm, w->name);
        hid_t gw = gn_h5_group(qw, nm);
        int *zi = gn_xmalloc((size_t)s.Cout * sizeof(int));
        for (int c = 0; c < s.Cout; c++) zi[c] = (int)zp[c];
        size_t co = (size_t)s.Cout;
        int shape[4] = {w->dims[0], w->dims[1], w->dims[2], w->dims[3]};
        rc = gw < 0 || gn_h5_attr_str_w(gw, "name", w->name) || gn_h5_attr_ints_w(gw, "bits", &wb[k], 1) ||
             gn_h5_attr_ints_w(gw, "shape", shape, w->ndim) || write_u8(gw, "codes", nb, packed) ||
             gn_h5_write_f32(gw, "step", 1, &co, st) || gn_h5_write_i32(gw, "zero_point", 1, &co, zi);
        if (rc && gw < 0) rc = gn_err_set("cannot create /qweights/%s", nm);
        if (gw >= 0) H5Gclose(gw);
        free(codes), free(packed), free(zi);
    }
    if (qw >= 0) H5Gclose(qw);
    for (int k = 0; k < g->nn; k++) {
        g->nodes[k].wbits = wb[k];
        for (int s = 0; s < 4; s++) g->nodes[k].p[GN_P_WSTEP + s] = hid[4 * k + s];
    }
    free(hid), free(skip), free(wb);
    return rc;
}

int gn_packed_save(const char *path, const gn_qmodel *q)
{
    return gn_h5_save(path, write_packed, q);
}

/* reads /qweights/GNAME of a packed file (see gn_pack.h) */
int gn_packed_weight_read(hid_t qw, const char *path, const char *gname, gn_packed_weight *pw)
{
    memset(pw, 0, sizeof *pw);
    for (int d = 0; d < 4; d++) pw->shape[d] = 1;
    hid_t gw = H5Gopen2(qw, gname, H5P_DEFAULT);
    uint8_t *packed = NULL;
    size_t dims[4], n = 1;
    int rc = 0, *shape = pw->shape;
    if (gw < 0) rc = gn_err_set("%s: /qweights/%s is not a group", path, gname);
    if (!rc && (gn_h5_attr_str_r(gw, "name", &pw->name, 0) || gn_h5_attr_ints_r(gw, "bits", &pw->bits, 1, 0)))
        gn_err_prefix("%s: /qweights/%s", path, gname), rc = 1;
    if (!rc) { /* (its header checked by the reads above) */
        hid_t a = H5Aopen(gw, "shape", H5P_DEFAULT);
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        pw->ndim = sp >= 0 ? (int)H5Sget_simple_extent_npoints(sp) : 0;
        if (sp >= 0) H5Sclose(sp);
        if (a >= 0) H5Aclose(a);
        if (pw->ndim < 1 || pw->ndim > 4 || gn_h5_attr_ints_r(gw, "shape", shape, pw->ndim, 0))
            rc = gn_err_set("%s: /qweights/%s: bad shape attribute", path, gname);
    }
    for (int d = 0; d < pw->ndim && !rc; d++)
        if (shape[d] < 1 || __builtin_mul_overflow(n, (size_t)shape[d], &n) || n > GN_MAX_PARAM)
            rc = gn_err_set("%s: /qweights/%s: shape dimension %d is %d (or too many values)", path, gname, d,
                            shape[d]);
    int bits = pw->bits;
    if (!rc && (bits < 2 || bits > 8)) rc = gn_err_set("%s: /qweights/%s: bits %d outside 2..8", path, gname, bits);
    if (!rc && (gn_h5_read_f32(gw, path, "step", 1, dims, &pw->step) ||
                (dims[0] != (size_t)shape[0] &&
                 gn_err_set("%s: /qweights/%s/step has %zu values for %d channels", path, gname, dims[0], shape[0])) ||
                gn_h5_read_i32(gw, path, "zero_point", 1, dims, &pw->zp) ||
                (dims[0] != (size_t)shape[0] &&
                 gn_err_set("%s: /qweights/%s/zero_point has %zu values for %d channels", path, gname, dims[0],
                            shape[0]))))
        rc = 1;
    if (!rc) {
        hid_t ds = H5Dopen2(gw, "codes", H5P_DEFAULT);
        hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
        size_t nb = sp >= 0 ? (size_t)H5Sget_simple_extent_npoints(sp) : 0;
        char obj[1100];
        snprintf(obj, sizeof obj, "/qweights/%s/codes", gname);
        if (ds < 0 || sp < 0 || nb != gn_packed_bytes(n, bits))
            rc = gn_err_set("%s: %s has %zu bytes, expected %zu", path, obj, nb, gn_packed_bytes(n, bits));
        else if (gn_h5_check_header(ds)) gn_err_prefix("%s: %s", path, obj), rc = 1;
        else if (gn_h5_check_size(ds, path, obj, nb)) rc = 1;
        else {
            packed = gn_xmalloc(nb);
            if (H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, packed) < 0)
                rc = gn_err_set("%s: cannot read %s", path, obj);
        }
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
    }
    if (!rc) {
        /* at widths stored one code to a byte (3, 5-8 bits) a byte can hold
         * more than the width: every code is checked */
        pw->n = n;
        pw->codes = gn_xmalloc(n);
        gn_unpack_codes(pw->codes, packed, n, bits);
        for (size_t i = 0; i < n && !rc; i++)
            if (pw->codes[i] >> bits)
                rc = gn_err_set("%s: /qweights/%s: code %u out of range for %d bits", path, gname,
                                pw->codes[i], bits);
        for (int c = 0; c < shape[0] && !rc; c++)
            if (!isfinite(pw->step[c]))
                rc = gn_err_set("%s: /qweights/%s/step[%d]: %g is not finite", path, gname, c, pw->step[c]);
    }
    if (gw >= 0) H5Gclose(gw);
    free(packed);
    if (rc) gn_packed_weight_free(pw);
    return rc ? GN_EIO : 0;
}

void gn_packed_weight_free(gn_packed_weight *pw)
{
    free(pw->name), free(pw->codes), free(pw->step), free(pw->zp);
    memset(pw, 0, sizeof *pw);
}

struct qw_it {
    const char *path;
    gn_graph *g;
    int rc;
};

/* reads /qweights/NAME and adds the dequantised weight as parameter NAME */
static herr_t read_qw(hid_t loc, const char *name, const H5L_info_t *info, void *arg)
{
    struct qw_it *it = arg;
    gn_packed_weight pw;
    int rc = gn_packed_weight_read(loc, it->path, name, &pw);
    if (!rc) {
        float *w = gn_xmalloc(pw.n * sizeof(float));
        size_t K = pw.n / (size_t)pw.shape[0];
        for (int c = 0; c < pw.shape[0]; c++) {
            float z = (float)pw.zp[c], d = pw.step[c];
            /* the same float operations as gn_wquant_forward's hard path */
            for (size_t i = (size_t)c * K; i < (size_t)(c + 1) * K; i++) w[i] = ((float)pw.codes[i] - z) * d;
        }
        if (gn_graph_add_param(it->g, pw.name, pw.ndim, pw.shape, w) < 0) gn_err_prefix("%s", it->path), rc = 1;
        free(w);
        gn_packed_weight_free(&pw);
    }
    it->rc = rc;
    return rc ? -1 : 0;
}

static int add_qweights(hid_t f, const char *path, gn_graph *g, void *arg)
{
    if (H5Lexists(f, "qweights", H5P_DEFAULT) <= 0) return gn_err_set("%s: no /qweights group", path);
    struct qw_it it = {path, g, 0};
    hid_t qw = H5Gopen2(f, "qweights", H5P_DEFAULT);
    H5Literate(qw, H5_INDEX_NAME, H5_ITER_INC, NULL, read_qw, &it);
    H5Gclose(qw);
    return it.rc;
}

int gn_packed_load(const char *path, gn_graph **out)
{
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    char kind[64];
    int v = 0, rc = gn_h5_kind(f, kind, sizeof kind);
    if (!rc && strcmp(kind, "packed")) rc = gn_err_set("%s: is not a packed model", path);
    if (!rc && gn_h5_attr_ints_r(f, "genie_format", &v, 1, 0)) gn_err_prefix("%s", path), rc = 1;
    if (!rc && v != GN_PACKED_FORMAT)
        rc = gn_err_set("%s: packed format version %d, this genie reads %d", path, v, GN_PACKED_FORMAT);
    if (!rc) rc = gn_model_read_graph_ex(f, path, add_qweights, NULL, out);
    H5Fclose(f);
    return rc;
}

int gn_model_load_any(const char *path, gn_graph **out, int *quantised)
{
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    char kind[64];
    int rc = gn_h5_kind(f, kind, sizeof kind);
    H5Fclose(f);
    if (rc) return rc;
    *quantised = 0;
    if (!strcmp(kind, "qmodel")) {
        gn_qmodel q;
        if (gn_qmodel_load(path, &q)) return GN_EIO;
        *out = q.g;
        q.g = NULL;
        gn_qmodel_free(&q);
        *quantised = 1;
        return 0;
    }
    if (!strcmp(kind, "packed")) {
        *quantised = 1;
        return gn_packed_load(path, out);
    }
    return gn_model_load(path, out);
}

/* ---- unit files ------------------------------------------------------------ */

struct unit_args {
    const gn_qmodel *q;
    int k;
    const char *sha;
    int (*extra)(hid_t, const void *);
    const void *arg;
};

static int write_unit(hid_t f, const void *arg)
{
    const struct unit_args *a = arg;
    const gn_qmodel *q = a->q;
    int k = a->k;
    const char *qmodel_sha = a->sha;
    const gn_unit *u = &q->units[k];
    int v = GN_UNIT_FORMAT, range[3] = {k, u->first, u->last};
    int rc = gn_h5_attr_str_w(f, "genie_kind", "unit") || gn_h5_attr_ints_w(f, "genie_format", &v, 1) ||
             gn_h5_attr_ints_w(f, "unit", range, 3) || gn_h5_attr_str_w(f, "qmodel_sha256", qmodel_sha);
    int idx[4096];
    int np = gn_unit_param_list(q->g, u, idx, 4096);
    hid_t g1 = rc ? -1 : gn_h5_group(f, "params"), g2 = rc ? -1 : gn_h5_group(f, "signed");
    if (!rc && (g1 < 0 || g2 < 0)) rc = gn_err_set("cannot create groups");
    if (g1 >= 0) H5Gclose(g1);
    if (g2 >= 0) H5Gclose(g2);
    for (int i = 0; i < np && !rc; i++) {
        const gn_param *p = &q->g->params[idx[i]];
        char nm[1024];
        escape(nm, sizeof nm, p->name);
        char full[1100];
        snprintf(full, sizeof full, "params/%s", nm);
        size_t dims[4];
        for (int d = 0; d < p->ndim; d++) dims[d] = (size_t)p->dims[d];
        rc = gn_h5_write_f32(f, full, p->ndim, dims, p->data);
        if (!rc) {
            hid_t ds = H5Dopen2(f, full, H5P_DEFAULT);
            rc = gn_h5_attr_str_w(ds, "name", p->name);
            H5Dclose(ds);
        }
    }
    /* signedness of the unit's activation quantisers */
    for (int j = u->first; j < u->last && !rc; j++)
        if (q->g->nodes[j].op == GN_OP_AQUANT) {
            char nm[1024], full[1100];
            escape(nm, sizeof nm, q->g->nodes[j].name);
            snprintf(full, sizeof full, "signed/%s", nm);
            size_t one = 1;
            rc = gn_h5_write_i32(f, full, 1, &one, &q->g->nodes[j].asigned);
        }
    if (!rc && a->extra) rc = a->extra(f, a->arg);
    return rc;
}

int gn_unit_save_ex(const char *path, const gn_qmodel *q, int k, const char *qmodel_sha,
                    int (*extra)(hid_t, const void *), const void *arg)
{
    struct unit_args a = {q, k, qmodel_sha, extra, arg};
    return gn_h5_save(path, write_unit, &a);
}

int gn_unit_save(const char *path, const gn_qmodel *q, int k, const char *qmodel_sha)
{
    return gn_unit_save_ex(path, q, k, qmodel_sha, NULL, NULL);
}

int gn_unit_apply(const char *path, gn_qmodel *q, const char *qmodel_sha)
{
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    char kind[64], *sha = NULL;
    int rc = gn_h5_kind(f, kind, sizeof kind), range[3], v = 0;
    if (!rc && strcmp(kind, "unit"))
        rc = gn_err_set("%s: is %s%s file, expected a unit file (recon-block --independent)", path,
                        *kind ? "a genie " : "not a genie", kind);
    if (!rc && (gn_h5_attr_ints_r(f, "genie_format", &v, 1, 0) || gn_h5_attr_ints_r(f, "unit", range, 3, 0) ||
                gn_h5_attr_str_r(f, "qmodel_sha256", &sha, 0)))
        gn_err_prefix("%s", path), rc = 1;
    if (!rc && v != GN_UNIT_FORMAT) rc = gn_err_set("%s: unit format version %d, this genie reads %d", path, v, GN_UNIT_FORMAT);
    if (!rc && (range[0] < 0 || range[0] >= q->nunits || q->units[range[0]].first != range[1] ||
                q->units[range[0]].last != range[2]))
        rc = gn_err_set("%s: unit %d (nodes %d..%d) does not match this quantised model", path, range[0],
                        range[1], range[2]);
    if (!rc && qmodel_sha && *qmodel_sha && strcmp(sha, qmodel_sha))
        rc = gn_err_set("%s: made from another calibrated model (SHA-256 %.12s..., expected %.12s...)", path,
                        sha, qmodel_sha);
    if (!rc) {
        const gn_unit *u = &q->units[range[0]];
        int idx[4096];
        int np = gn_unit_param_list(q->g, u, idx, 4096);
        for (int i = 0; i < np && !rc; i++) {
            gn_param *p = &q->g->params[idx[i]];
            char nm[1024], full[1100];
            escape(nm, sizeof nm, p->name);
            snprintf(full, sizeof full, "params/%s", nm);
            size_t dims[4];
            float *d = NULL;
            if (gn_h5_read_f32(f, path, full, 0, dims, &d)) rc = 1;
            else if (dims[0] * dims[1] * dims[2] * dims[3] != p->n)
                rc = gn_err_set("%s: %s has %zu values, the model's has %zu", path, full,
                                dims[0] * dims[1] * dims[2] * dims[3], p->n);
            else if (gn_nonfinite(d, p->n) < p->n)
                rc = gn_err_code(GN_EINVAL, "%s: %s: value %g (non-finite weights are refused)", path,
                                 full, d[gn_nonfinite(d, p->n)]);
            else memcpy(p->data, d, p->n * sizeof(float));
            free(d);
        }
        for (int j = u->first; j < u->last && !rc; j++)
            if (q->g->nodes[j].op == GN_OP_AQUANT) {
                char nm[1024], full[1100];
                escape(nm, sizeof nm, q->g->nodes[j].name);
                snprintf(full, sizeof full, "signed/%s", nm);
                size_t dims[4];
                int *s = NULL;
                if (gn_h5_read_i32(f, path, full, 1, dims, &s)) rc = 1;
                else q->g->nodes[j].asigned = s[0] != 0;
                free(s);
            }
        /* the unit's activation steps are the learned ones now: a later
         * reconstruction of the unit (a Jacobi round) keeps them */
        if (!rc) {
            q->done[range[0]] = 1;
            if (q->fitted) q->fitted[range[0]] = 1;
        }
    }
    free(sha);
    H5Fclose(f);
    return rc;
}
