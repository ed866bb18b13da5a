/* h5cat.c - joining genie dataset files along the sample axis (gn_h5cat.h):
 * the files are opened and checked first (datasets, trailing shapes and
 * types, provenance attributes, batches), then the joined file is written
 * from them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "gn_h5.h"
#include "gn_h5cat.h"

/* attributes that may differ between the parts of one job */
static int exempt(const char *name)
{
    return !strcmp(name, "batches") || !strcmp(name, "model_file") || !strcmp(name, "stats_file") ||
           !strcmp(name, "data_file");
}

/* ---- listing a file's root datasets and attributes ------------------------ */

struct names {
    char **v;
    int n, cap;
};

static void names_add(struct names *s, const char *name)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = realloc(s->v, (size_t)s->cap * sizeof(char *));
        GN_ASSERT(s->v);
    }
    s->v[s->n++] = gn_xstrdup(name);
}

static void names_free(struct names *s)
{
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int names_has(const struct names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name)) return 1;
    return 0;
}

struct link_it {
    struct names *ds;
    const char *path;
    int rc;
};

static herr_t on_link(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
    struct link_it *it = arg;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        it->rc = gn_err_set("%s: /%s unreadable", it->path, name);
        return -1;
    }
    H5I_type_t ty = H5Iget_type(o);
    H5Oclose(o);
    if (ty != H5I_DATASET) {
        it->rc = gn_err_set("%s: /%s is not a dataset (h5cat joins files of root datasets only)",
                            it->path, name);
        return -1;
    }
    names_add(it->ds, name);
    return 0;
}

static herr_t on_attr(hid_t loc, const char *name, const H5A_info_t *info, void *arg)
{
    names_add(arg, name);
    return 0;
}

/* ---- comparing attributes -------------------------------------------------- */

/* reads attribute `name` as raw bytes in its native type; strings come back
 * as a NUL-terminated copy (fixed or variable length alike) */
static int attr_bytes(hid_t loc, const char *name, unsigned char **out, size_t *len, int *is_str)
{
    *out = NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return gn_err_set("attribute %s unreadable", name);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = 0;
    *is_str = H5Tget_class(t) == H5T_STRING;
    if (*is_str) {
        H5Aclose(a);
        H5Tclose(t);
        H5Sclose(sp);
        char *s = NULL;
        if (gn_h5_attr_str_r(loc, name, &s, 0)) return GN_EIO;
        *out = (unsigned char *)s;
        *len = strlen(s);
        return 0;
    }
    hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    size_t sz = H5Tget_size(nt);
    if (nt < 0 || np < 0) rc = gn_err_set("attribute %s has an unreadable type", name);
    else {
        *len = (size_t)np * sz;
        *out = gn_xcalloc(*len + 1, 1);
        if (H5Aread(a, nt, *out) < 0) rc = gn_err_set("attribute %s unreadable", name);
        /* the class goes in front of the bytes so an int and a float of the
         * same bits do not compare equal */
    }
    if (!rc) {
        H5T_class_t c = H5Tget_class(t);
        unsigned char *tagged = gn_xmalloc(*len + 2);
        tagged[0] = (unsigned char)c;
        memcpy(tagged + 1, *out, *len);
        free(*out);
        *out = tagged;
        *len += 1;
    }
    if (nt >= 0) H5Tclose(nt);
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

/* a short printable rendering of an attribute value for messages */
static void attr_show(char *buf, size_t n, const unsigned char *v, size_t len, int is_str,
                      hid_t loc, const char *name)
{
    if (is_str) {
        snprintf(buf, n, "'%.60s%s'", (const char *)v, len > 60 ? "..." : "");
        return;
    }
    float f[8];
    int iv[8];
    if (!gn_h5_attr_floats_r(loc, name, f, 1, 0) && v[0] == H5T_FLOAT) snprintf(buf, n, "%g", f[0]);
    else if (!gn_h5_attr_ints_r(loc, name, iv, 1, 0)) snprintf(buf, n, "%d", iv[0]);
    else snprintf(buf, n, "(%zu bytes)", len - 1);
}

/* 0 when every non-exempt root attribute of f0 and f1 is present in both and
 * equal; otherwise an error naming the attribute and both values */
static int compare_attrs(hid_t f0, const char *p0, hid_t f1, const char *p1)
{
    struct names a0 = {0}, a1 = {0};
    H5Aiterate2(f0, H5_INDEX_NAME, H5_ITER_INC, NULL, on_attr, &a0);
    H5Aiterate2(f1, H5_INDEX_NAME, H5_ITER_INC, NULL, on_attr, &a1);
    int rc = 0;
    for (int i = 0; i < a0.n && !rc; i++)
        if (!exempt(a0.v[i]) && !names_has(&a1, a0.v[i]))
            rc = gn_err_set("%s has attribute %s, %s has not: files of different provenance", p0,
                            a0.v[i], p1);
    for (int i = 0; i < a1.n && !rc; i++)
        if (!exempt(a1.v[i]) && !names_has(&a0, a1.v[i]))
            rc = gn_err_set("%s has attribute %s, %s has not: files of different provenance", p1,
                            a1.v[i], p0);
    for (int i = 0; i < a0.n && !rc; i++) {
        if (exempt(a0.v[i])) continue;
        unsigned char *v0 = NULL, *v1 = NULL;
        size_t l0 = 0, l1 = 0;
        int s0 = 0, s1 = 0;
        if (attr_bytes(f0, a0.v[i], &v0, &l0, &s0)) {
            gn_err_prefix("%s", p0);
            rc = GN_EIO;
        } else if (attr_bytes(f1, a0.v[i], &v1, &l1, &s1)) {
            gn_err_prefix("%s", p1);
            rc = GN_EIO;
        } else if (s0 != s1 || l0 != l1 || memcmp(v0, v1, l0)) {
            char b0[128], b1[128];
            attr_show(b0, sizeof b0, v0, l0, s0, f0, a0.v[i]);
            attr_show(b1, sizeof b1, v1, l1, s1, f1, a0.v[i]);
            rc = gn_err_set("%s and %s differ in %s (%s vs %s): not parts of one job", p0, p1,
                            a0.v[i], b0, b1);
        }
        free(v0);
        free(v1);
    }
    names_free(&a0);
    names_free(&a1);
    return rc;
}

/* ---- datasets ------------------------------------------------------------- */

struct dsinfo {
    hid_t ftype; /* file type of file 0's dataset */
    hid_t mtype; /* native memory type */
    int rank;
    hsize_t dims[H5S_MAX_RANK]; /* dims[0] = total rows after all files */
    size_t row_bytes;
};

static int ds_shape(hid_t f, const char *path, const char *name, hid_t *type, int *rank,
                    hsize_t *dims)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return gn_err_set("%s: no dataset /%s", path, name);
    if (gn_h5_check_header(d)) {
        gn_err_prefix("%s: /%s", path, name);
        H5Dclose(d);
        return GN_EIO;
    }
    hid_t sp = H5Dget_space(d);
    *rank = H5Sget_simple_extent_ndims(sp);
    int rc = 0;
    *type = H5Dget_type(d);
    if (*rank < 1) rc = gn_err_set("%s: /%s is a scalar, not a list of samples", path, name);
    else if (*type < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) != *rank)
        rc = gn_err_set("%s: /%s: unreadable dataset header", path, name);
    else {
        /* what the header claims, checked before anything is allocated for it */
        size_t bytes = H5Tget_size(*type);
        int over = 0;
        for (int i = 0; i < *rank; i++)
            over |= __builtin_mul_overflow(bytes, (size_t)dims[i], &bytes);
        if (over)
            rc = gn_err_set("%s: %s: dimensions %llu x ... are too large", path, name,
                            (unsigned long long)dims[0]);
        else rc = gn_h5_check_size(d, path, name, bytes);
    }
    H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

static int read_rows(hid_t f, const char *path, const char *name, hid_t mtype, void *dst)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    int rc = (d < 0 || H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
                 ? gn_err_set("%s: cannot read /%s (truncated file?)", path, name)
                 : 0;
    if (d >= 0) H5Dclose(d);
    return rc;
}

static int write_ds(hid_t f, const char *name, const struct dsinfo *di, const void *buf)
{
    hid_t sp = H5Screate_simple(di->rank, di->dims, NULL);
    /* no modification time: joining the same parts twice gives the same bytes */
    hid_t dcpl = gn_h5_dcpl();
    hid_t d = H5Dcreate2(f, name, di->ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int rc = (d < 0 || H5Dwrite(d, di->mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
                 ? gn_err_set("cannot write /%s", name)
                 : 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return rc;
}

/* copies every root attribute of src to dst (except `batches`) */
static int copy_attrs(hid_t src, hid_t dst)
{
    struct names an = {0};
    H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, NULL, on_attr, &an);
    int rc = 0;
    for (int i = 0; i < an.n && !rc; i++) {
        if (!strcmp(an.v[i], "batches")) continue;
        hid_t a = H5Aopen(src, an.v[i], H5P_DEFAULT);
        hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
        if (H5Tget_class(t) == H5T_STRING) {
            char *s = NULL;
            rc = gn_h5_attr_str_r(src, an.v[i], &s, 0) || gn_h5_attr_str_w(dst, an.v[i], s);
            free(s);
        } else {
            hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
            size_t len = (size_t)H5Sget_simple_extent_npoints(sp) * H5Tget_size(nt);
            void *buf = gn_xcalloc(len ? len : 1, 1);
            hid_t b = -1;
            if (H5Aread(a, nt, buf) < 0 ||
                (b = H5Acreate2(dst, an.v[i], t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
                H5Awrite(b, nt, buf) < 0)
                rc = gn_err_set("cannot copy attribute %s", an.v[i]);
            if (b >= 0) H5Aclose(b);
            free(buf);
            H5Tclose(nt);
        }
        H5Tclose(t);
        H5Sclose(sp);
        H5Aclose(a);
    }
    names_free(&an);
    return rc;
}

/* ---- the join --------------------------------------------------------------- */

struct gn_h5cat {
    const char *const *paths;
    int nf;
    hid_t *f;
    struct names ds;   /* file 0's root datasets, in name order */
    struct dsinfo *di; /* one per dataset of ds */
    int *batches, nbatch;
    int have_batches; /* -1 before the first file, then whether it has them */
    char kind0[64];   /* the first file's genie_kind ("" when none) */
};

/* the datasets of file i agree with file 0's (names, rank, type class and
 * trailing dims); adds their rows to di[k].dims[0] */
static int check_datasets(gn_h5cat *c, int i, const struct names *dsi)
{
    const char *const *paths = c->paths;
    int rc = 0;
    for (int k = 0; k < dsi->n && !rc; k++)
        if (!names_has(&c->ds, dsi->v[k]))
            rc = gn_err_set("%s has /%s, %s has not", paths[i], dsi->v[k], paths[0]);
    for (int k = 0; k < c->ds.n && !rc; k++) {
        struct dsinfo *di = &c->di[k];
        if (!names_has(dsi, c->ds.v[k]))
            return gn_err_set("%s has /%s, %s has not", paths[0], c->ds.v[k], paths[i]);
        hid_t t;
        int rank;
        hsize_t dims[H5S_MAX_RANK];
        if ((rc = ds_shape(c->f[i], paths[i], c->ds.v[k], &t, &rank, dims))) return rc;
        int same = rank == di->rank && H5Tget_class(t) == H5Tget_class(di->ftype);
        for (int r = 1; same && r < rank; r++) same = dims[r] == di->dims[r];
        H5Tclose(t);
        if (!same) {
            char a[96] = "", b[96] = "";
            for (int r = 1; r < di->rank; r++)
                snprintf(a + strlen(a), sizeof a - strlen(a), "%s%llu", r > 1 ? "x" : "",
                         (unsigned long long)di->dims[r]);
            for (int r = 1; r < rank; r++)
                snprintf(b + strlen(b), sizeof b - strlen(b), "%s%llu", r > 1 ? "x" : "",
                         (unsigned long long)dims[r]);
            return gn_err_set("%s: /%s holds samples of %s, %s of %s (or another type)", paths[i],
                              c->ds.v[k], *b ? b : "scalars", paths[0], *a ? a : "scalars");
        }
        di->dims[0] += dims[0];
    }
    return rc;
}

/* file 0's datasets: shapes and types, the rows to come counted from here */
static int first_datasets(gn_h5cat *c)
{
    int rc = 0;
    c->di = gn_xcalloc((size_t)(c->ds.n ? c->ds.n : 1), sizeof *c->di);
    for (int k = 0; k < c->ds.n && !rc; k++) {
        struct dsinfo *di = &c->di[k];
        rc = ds_shape(c->f[0], c->paths[0], c->ds.v[k], &di->ftype, &di->rank, di->dims);
        if (rc) break;
        di->mtype = H5Tget_native_type(di->ftype, H5T_DIR_ASCEND);
        di->row_bytes = H5Tget_size(di->mtype);
        for (int r = 1; r < di->rank; r++) di->row_bytes *= di->dims[r];
    }
    return rc;
}

/* batches: concatenated, each at most once */
static int add_batches(gn_h5cat *c, int i, int force)
{
    const char *const *paths = c->paths;
    int rc = 0;
    htri_t hb = H5Aexists(c->f[i], "batches");
    if (c->have_batches < 0) c->have_batches = hb > 0;
    if ((hb > 0) != c->have_batches && !force)
        return gn_err_set("%s %s a `batches` attribute, %s %s", paths[i], hb > 0 ? "has" : "lacks",
                          paths[0], c->have_batches ? "has" : "lacks");
    if (!(hb > 0 && c->have_batches)) return 0;
    hid_t a = H5Aopen(c->f[i], "batches", H5P_DEFAULT), sp = H5Aget_space(a);
    int k = (int)H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Aclose(a);
    int nb = c->nbatch;
    if (k < 1) return gn_err_set("%s: attribute batches holds no batch index", paths[i]);
    c->batches = gn_xrealloc(c->batches, (size_t)(nb + k), sizeof(int));
    if (gn_h5_attr_ints_r(c->f[i], "batches", c->batches + nb, k, 0)) {
        gn_err_prefix("%s", paths[i]);
        return GN_EIO;
    }
    for (int j = nb; j < nb + k && !rc; j++)
        for (int q = 0; q < j; q++)
            if (c->batches[q] == c->batches[j]) {
                rc = gn_err_set("%s: batch %d is already in an earlier file: a batch may be joined "
                                "once",
                                paths[i], c->batches[j]);
                break;
            }
    c->nbatch = nb + k;
    return rc;
}

/* opens file i and checks it against file 0 */
static int add_file(gn_h5cat *c, int i, int force)
{
    const char *path = c->paths[i];
    if (gn_h5_open(path, &c->f[i])) return GN_EIO;
    char kind[64];
    int rc = gn_h5_kind(c->f[i], kind, sizeof kind);
    if (rc) return rc;
    if (*kind && strcmp(kind, "dataset"))
        return gn_err_set("%s: is a genie %s file, expected a dataset", path, kind);
    if (i == 0) snprintf(c->kind0, sizeof c->kind0, "%s", kind);
    struct names dsi = {0};
    struct link_it it = {&dsi, path, 0};
    H5Literate(c->f[i], H5_INDEX_NAME, H5_ITER_INC, NULL, on_link, &it);
    if ((rc = it.rc)) {
        names_free(&dsi);
        return rc;
    }
    if (!names_has(&dsi, "x")) rc = gn_err_set("%s: not a dataset (no /x)", path);
    if (i == 0) {
        c->ds = dsi;
        if (!rc) rc = first_datasets(c);
    } else {
        if (!rc) rc = check_datasets(c, i, &dsi);
        names_free(&dsi);
        if (!rc && !force) rc = compare_attrs(c->f[0], c->paths[0], c->f[i], path);
    }
    if (!rc) rc = add_batches(c, i, force);
    return rc;
}

int gn_h5cat_open(const char *const *paths, int n, int force, gn_h5cat **out)
{
    *out = NULL;
    if (n < 1) return gn_err_set("no files to join");
    gn_h5cat *c = gn_xcalloc(1, sizeof *c);
    c->paths = paths;
    c->nf = n;
    c->have_batches = -1;
    c->f = gn_xcalloc((size_t)n, sizeof(hid_t));
    for (int i = 0; i < n; i++) c->f[i] = -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = add_file(c, i, force);
    if (rc) {
        gn_h5cat_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* the joined file: the first part's attributes, then every dataset's rows
 * part after part */
int gn_h5cat_write(hid_t fo, const void *arg)
{
    const gn_h5cat *c = arg;
    int rc = copy_attrs(c->f[0], fo);
    if (!rc && !*c->kind0) rc = gn_h5_attr_str_w(fo, "genie_kind", "dataset");
    if (!rc && c->have_batches > 0 && c->nbatch > 0)
        rc = gn_h5_attr_ints_w(fo, "batches", c->batches, c->nbatch);
    for (int k = 0; k < c->ds.n && !rc; k++) {
        const struct dsinfo *di = &c->di[k];
        size_t total = (size_t)di->dims[0] * di->row_bytes;
        unsigned char *buf = gn_xmalloc(total ? total : 1), *p = buf;
        for (int i = 0; i < c->nf && !rc; i++) {
            hid_t t;
            int rank;
            hsize_t dims[H5S_MAX_RANK];
            rc = ds_shape(c->f[i], c->paths[i], c->ds.v[k], &t, &rank, dims);
            if (rc) break;
            H5Tclose(t);
            if (dims[0] > 0) rc = read_rows(c->f[i], c->paths[i], c->ds.v[k], di->mtype, p);
            p += (size_t)dims[0] * di->row_bytes;
        }
        if (!rc) rc = write_ds(fo, c->ds.v[k], di, buf);
        free(buf);
    }
    return rc;
}

void gn_h5cat_free(gn_h5cat *c)
{
    if (!c) return;
    for (int i = 0; i < c->nf; i++)
        if (c->f[i] >= 0) H5Fclose(c->f[i]);
    for (int k = 0; c->di && k < c->ds.n; k++) {
        if (c->di[k].ftype > 0) H5Tclose(c->di[k].ftype);
        if (c->di[k].mtype > 0) H5Tclose(c->di[k].mtype);
    }
    free(c->di);
    names_free(&c->ds);
    free(c->batches);
    free(c->f);
    free(c);
}

int gn_h5cat_join(const char *const *paths, int n, int force, const char *out)
{
    gn_h5cat *c;
    int rc = gn_h5cat_open(paths, n, force, &c);
    if (rc) return rc;
    rc = gn_h5_save(out, gn_h5cat_write, c);
    gn_h5cat_free(c);
    return rc;
}
