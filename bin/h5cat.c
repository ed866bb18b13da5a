/* h5cat - joins genie dataset files along the sample axis: every root
 * dataset (/x, /y, /loss, /loss_iter, ...) is concatenated in the order
 * the files are given, after checking that the files agree on which
 * datasets they hold, their trailing shapes and types, and their
 * provenance: every root attribute must be equal, except `batches` (the
 * distill batch indices, concatenated; a batch may appear only once) and
 * the informational paths model_file, stats_file, data_file.
 * What it deliberately does not do: reorder, deduplicate or convert. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"

static void usage(void)
{
    printf("Usage: h5cat A.h5 B.h5 ... -o ALL.h5\n"
           "Join genie dataset files along the sample axis (the first axis of every root\n"
           "dataset: /x, /y, /loss, ...), checking that shapes and provenance agree: the\n"
           "same datasets with the same trailing shapes and types, and equal root\n"
           "attributes (same model hash, same settings) except `batches`, which is\n"
           "concatenated and must not repeat a batch, and the file-path attributes\n"
           "model_file, stats_file and data_file (the first file's are kept).\n\n"
           "  -o, --output FILE  the joined dataset ('-' for stdout)\n"
           "  -f, --force        join even when attributes differ (the first file's are\n"
           "                     kept); shapes must still agree\n"
           "  -h, --help         show this help\n      --version      print the version\n\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input or disagreeing files, 2 usage error.\n");
}

/* attributes that may differ between the parts of one job */
static int exempt(const char *name)
{
    return !strcmp(name, "batches") || !strcmp(name, "model_file") ||
           !strcmp(name, "stats_file") || !strcmp(name, "data_file");
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
static void attr_show(char *buf, size_t n, const unsigned char *v, size_t len, int is_str, hid_t loc,
                      const char *name)
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
    hid_t ftype;  /* file type of file 0's dataset */
    hid_t mtype;  /* native memory type */
    int rank;
    hsize_t dims[H5S_MAX_RANK]; /* dims[0] = total rows after all files */
    size_t row_bytes;
};

static int ds_shape(hid_t f, const char *path, const char *name, hid_t *type, int *rank,
                    hsize_t *dims)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return gn_err_set("%s: no dataset /%s", path, name);
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
        for (int i = 0; i < *rank; i++) over |= __builtin_mul_overflow(bytes, (size_t)dims[i], &bytes);
        if (over) rc = gn_err_set("%s: %s: dimensions %llu x ... are too large", path, name,
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

/* the joined file: the first part's attributes, then every dataset's rows
 * part after part */
struct join {
    const hid_t *f;
    char **paths;
    int nf;
    const struct names *ds;
    const struct dsinfo *di;
    int has_kind;       /* the first part names its kind; else "dataset" */
    const int *batches; /* the batch list, or NULL */
    int nbatch;
};

static int write_joined(hid_t fo, const void *arg)
{
    const struct join *j = arg;
    int rc = copy_attrs(j->f[0], fo);
    if (!rc && !j->has_kind) rc = gn_h5_attr_str_w(fo, "genie_kind", "dataset");
    if (!rc && j->batches && j->nbatch > 0) rc = gn_h5_attr_ints_w(fo, "batches", j->batches, j->nbatch);
    for (int k = 0; k < j->ds->n && !rc; k++) {
        const struct dsinfo *di = &j->di[k];
        size_t total = (size_t)di->dims[0] * di->row_bytes;
        unsigned char *buf = gn_xmalloc(total ? total : 1), *p = buf;
        for (int i = 0; i < j->nf && !rc; i++) {
            hid_t t;
            int rank;
            hsize_t dims[H5S_MAX_RANK];
            rc = ds_shape(j->f[i], j->paths[i], j->ds->v[k], &t, &rank, dims);
            if (rc) break;
            H5Tclose(t);
            if (dims[0] > 0) rc = read_rows(j->f[i], j->paths[i], j->ds->v[k], di->mtype, p);
            p += (size_t)dims[0] * di->row_bytes;
        }
        if (!rc) rc = write_ds(fo, j->ds->v[k], di, buf);
        free(buf);
    }
    return rc;
}

static int on_opt(void *ctx, int c, const char *arg)
{
    *(int *)ctx = 1; /* -f, --force: h5cat's only option of its own */
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {{"force", 0, 0, 'f'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int force = 0;
    gn_cli_spec cs = {.out = &out, .shortopts = "f", .longopts = lo, .opt = on_opt, .ctx = &force,
                      .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    int nf = argc - optind;
    if (nf < 1) return gn_usage_error("expected at least one input file");
    if (!out) return gn_usage_error("no output file given (-o)");
    const char *outs[] = {out};
    if ((st = gn_cli_check_io((const char *const *)argv + optind, nf, outs, 1)) >= 0) return st;
    char **paths = argv + optind;
    hid_t *f = gn_xcalloc((size_t)nf, sizeof(hid_t));
    for (int i = 0; i < nf; i++) f[i] = -1;
    struct names ds = {0};
    struct dsinfo *di = NULL;
    int *batches = NULL, nbatch = 0, have_batches = -1;
    char kind0[64] = "";
    int rc = 0;
    for (int i = 0; i < nf && !rc; i++) {
        if (gn_h5_open(paths[i], &f[i])) {
            rc = GN_EIO;
            break;
        }
        char kind[64];
        if ((rc = gn_h5_kind(f[i], kind, sizeof kind))) break;
        if (*kind && strcmp(kind, "dataset")) {
            rc = gn_err_set("%s: is a genie %s file, expected a dataset", paths[i], kind);
            break;
        }
        if (i == 0) snprintf(kind0, sizeof kind0, "%s", kind);
        struct names dsi = {0};
        struct link_it it = {&dsi, paths[i], 0};
        H5Literate(f[i], H5_INDEX_NAME, H5_ITER_INC, NULL, on_link, &it);
        if ((rc = it.rc)) {
            names_free(&dsi);
            break;
        }
        if (!names_has(&dsi, "x")) rc = gn_err_set("%s: not a dataset (no /x)", paths[i]);
        if (i == 0) {
            ds = dsi;
            di = gn_xcalloc((size_t)(ds.n ? ds.n : 1), sizeof *di);
            for (int k = 0; k < ds.n && !rc; k++) {
                rc = ds_shape(f[0], paths[0], ds.v[k], &di[k].ftype, &di[k].rank, di[k].dims);
                if (rc) break;
                di[k].mtype = H5Tget_native_type(di[k].ftype, H5T_DIR_ASCEND);
                di[k].row_bytes = H5Tget_size(di[k].mtype);
                for (int r = 1; r < di[k].rank; r++) di[k].row_bytes *= di[k].dims[r];
            }
        } else {
            for (int k = 0; k < dsi.n && !rc; k++)
                if (!names_has(&ds, dsi.v[k]))
                    rc = gn_err_set("%s has /%s, %s has not", paths[i], dsi.v[k], paths[0]);
            for (int k = 0; k < ds.n && !rc; k++) {
                if (!names_has(&dsi, ds.v[k])) {
                    rc = gn_err_set("%s has /%s, %s has not", paths[0], ds.v[k], paths[i]);
                    break;
                }
                hid_t t;
                int rank;
                hsize_t dims[H5S_MAX_RANK];
                if ((rc = ds_shape(f[i], paths[i], ds.v[k], &t, &rank, dims))) break;
                int same = rank == di[k].rank && H5Tget_class(t) == H5Tget_class(di[k].ftype);
                for (int r = 1; same && r < rank; r++) same = dims[r] == di[k].dims[r];
                H5Tclose(t);
                if (!same) {
                    char a[96] = "", b[96] = "";
                    for (int r = 1; r < di[k].rank; r++)
                        snprintf(a + strlen(a), sizeof a - strlen(a), "%s%llu", r > 1 ? "x" : "",
                                 (unsigned long long)di[k].dims[r]);
                    for (int r = 1; r < rank; r++)
                        snprintf(b + strlen(b), sizeof b - strlen(b), "%s%llu", r > 1 ? "x" : "",
                                 (unsigned long long)dims[r]);
                    rc = gn_err_set("%s: /%s holds samples of %s, %s of %s (or another type)",
                                    paths[i], ds.v[k], *b ? b : "scalars", paths[0], *a ? a : "scalars");
                    break;
                }
                di[k].dims[0] += dims[0];
            }
            names_free(&dsi);
            if (!rc && !force) rc = compare_attrs(f[0], paths[0], f[i], paths[i]);
        }
        /* batches: concatenated, each at most once */
        if (!rc) {
            htri_t hb = H5Aexists(f[i], "batches");
            if (have_batches < 0) have_batches = hb > 0;
            if ((hb > 0) != have_batches && !force) {
                rc = gn_err_set("%s %s a `batches` attribute, %s %s", paths[i],
                                hb > 0 ? "has" : "lacks", paths[0], have_batches ? "has" : "lacks");
            } else if (hb > 0 && have_batches) {
                hid_t a = H5Aopen(f[i], "batches", H5P_DEFAULT), sp = H5Aget_space(a);
                int k = (int)H5Sget_simple_extent_npoints(sp);
                H5Sclose(sp);
                H5Aclose(a);
                batches = realloc(batches, (size_t)(nbatch + k) * sizeof(int));
                GN_ASSERT(batches);
                if (k < 1 || gn_h5_attr_ints_r(f[i], "batches", batches + nbatch, k, 0)) {
                    gn_err_prefix("%s", paths[i]);
                    rc = GN_EIO;
                }
                for (int j = nbatch; j < nbatch + k && !rc; j++)
                    for (int q = 0; q < j; q++)
                        if (batches[q] == batches[j]) {
                            rc = gn_err_set("%s: batch %d is already in an earlier file: a "
                                            "batch may be joined once",
                                            paths[i], batches[j]);
                            break;
                        }
                nbatch += k;
            }
        }
    }
    /* all checks done: read, concatenate, write */
    if (!rc) {
        struct join jn = {f, paths, nf, &ds, di, *kind0 != 0, have_batches > 0 ? batches : NULL, nbatch};
        rc = gn_h5_save(out, write_joined, &jn);
    }
    for (int i = 0; i < nf; i++)
        if (f[i] >= 0) H5Fclose(f[i]);
    for (int k = 0; di && k < ds.n; k++) {
        if (di[k].ftype > 0) H5Tclose(di[k].ftype);
        if (di[k].mtype > 0) H5Tclose(di[k].mtype);
    }
    free(di);
    names_free(&ds);
    free(batches);
    free(f);
    return rc ? gn_fail() : 0;
}
