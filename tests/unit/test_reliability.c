/* test_reliability.c - readers against files that lie: dimensions whose
 * product overflows, datasets bigger than their file, names of 10 KB, a
 * packed weight with zero channels, NaN weights, damaged attribute messages
 * and datatypes (gn_h5_check_header). Each reader must fail with
 * one line naming the file and the object (or, for long names, just work).
 *
 * `test_reliability --write KIND OUT [SRC]` writes one such file for the bats
 * suites (tests/bats/reliability.bats), KIND one of:
 *   overflow   dataset file whose /x has dimensions 2^40 x 2^40 x 2^40 x 1
 *   huge       dataset file whose /x claims 2^30 x 1 x 28 x 28 floats (no data)
 *   longname   model whose tensors, node and parameters have 10 KB names
 *   zerochan   SRC (a packed model) with its first weight's shape[0] = 0
 *   badcode    SRC (a packed model) with one code out of range: its first
 *              8-bit weight relabelled 7-bit, one code 200 (prints its name)
 *   nan, inf   SRC (a model) with one weight NaN / +Inf
 *   nanx       SRC (a dataset) with one pixel NaN
 *   graphds    SRC (a model) with /graph a dataset, not a group
 * `test_reliability --time-check MODEL` times gn_h5_check_header (README). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gn_base.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_pack.h"

/* a dataset file whose /x is chunked with the given (never written) dims */
static int write_claim(const char *path, const hsize_t *dims)
{
    hid_t f;
    if (gn_h5_create(path, &f)) return 1;
    hsize_t chunk[4] = {1, 1, 1, 1};
    hid_t sp = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    hid_t ds = H5Dcreate2(f, "x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int one = 1, rc = ds < 0 || gn_h5_attr_str_w(f, "genie_kind", "dataset") ||
                      gn_h5_attr_ints_w(f, "genie_format", &one, 1);
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
    return rc;
}

/* x -> conv (name) -> gap -> linear -> y, every name `len` characters long */
static gn_graph *long_names(size_t len)
{
    char *nm[6];
    for (int i = 0; i < 6; i++) {
        nm[i] = malloc(len + 1);
        memset(nm[i], 'a' + i, len);
        nm[i][len] = 0;
        nm[i][0] = '/'; /* escaped in /params */
    }
    gn_graph *g = gn_graph_new();
    int wd[4] = {2, 1, 3, 3}, fd[2] = {10, 2};
    int w = gn_graph_add_param(g, nm[0], 4, wd, NULL), fw = gn_graph_add_param(g, nm[1], 2, fd, NULL);
    int x = gn_graph_tensor(g, nm[2]), c = gn_graph_tensor(g, nm[3]), p = gn_graph_tensor(g, nm[4]),
        y = gn_graph_tensor(g, nm[5]);
    gn_node *n = gn_graph_add_node(g, GN_OP_CONV, nm[3]);
    n->nin = 1, n->in[0] = x, n->out = c, n->p[GN_P_W] = w;
    n = gn_graph_add_node(g, GN_OP_GAP, nm[4]);
    n->nin = 1, n->in[0] = c, n->out = p;
    n = gn_graph_add_node(g, GN_OP_LINEAR, nm[5]);
    n->nin = 1, n->in[0] = p, n->out = y, n->p[GN_P_W] = fw;
    g->input = x, g->output = y;
    for (int i = 0; i < 6; i++) free(nm[i]);
    if (gn_graph_finalize(g, 1, 8, 8)) {
        fprintf(stderr, "test_reliability: %s\n", gn_err_msg());
        exit(1);
    }
    return g;
}

/* copies src to dst byte for byte */
static int copy(const char *src, const char *dst)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    int rc = !a || !b;
    char buf[65536];
    size_t k;
    while (!rc && (k = fread(buf, 1, sizeof buf, a)) > 0) rc = fwrite(buf, 1, k, b) != k;
    if (a) fclose(a);
    if (b && fclose(b)) rc = 1;
    return rc;
}

struct first_it { char name[4096]; };
static herr_t first_name(hid_t loc, const char *name, const H5L_info_t *info, void *arg)
{
    snprintf(((struct first_it *)arg)->name, 4096, "%s", name);
    return 1;
}

/* sets value 0 of the first dataset in group `grp` (or dataset grp itself) to v */
static int poison(const char *path, const char *grp, float v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return 1;
    char full[4200];
    H5O_info_t oi;
    H5Oget_info_by_name(f, grp, &oi, H5P_DEFAULT);
    if (oi.type == H5O_TYPE_GROUP) {
        hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
        struct first_it it = {""};
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, first_name, &it);
        H5Gclose(g);
        snprintf(full, sizeof full, "%s/%s", grp, it.name);
    } else snprintf(full, sizeof full, "%s", grp);
    hid_t ds = H5Dopen2(f, full, H5P_DEFAULT), sp = H5Dget_space(ds);
    hsize_t at[H5S_MAX_RANK] = {0}, one = 1;
    H5Sselect_elements(sp, H5S_SELECT_SET, 1, at);
    hid_t ms = H5Screate_simple(1, &one, NULL);
    int rc = H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, &v) < 0;
    H5Sclose(ms), H5Sclose(sp), H5Dclose(ds), H5Fclose(f);
    return rc;
}

/* SRC's first /qweights entry gets shape[0] = 0 */
static int zero_channels(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return 1;
    hid_t q = H5Gopen2(f, "qweights", H5P_DEFAULT);
    struct first_it it = {""};
    H5Literate(q, H5_INDEX_NAME, H5_ITER_INC, NULL, first_name, &it);
    hid_t w = H5Gopen2(q, it.name, H5P_DEFAULT);
    hid_t a = H5Aopen(w, "shape", H5P_DEFAULT), sp = H5Aget_space(a);
    int shape[4] = {0}, n = (int)H5Sget_simple_extent_npoints(sp);
    H5Aread(a, H5T_NATIVE_INT, shape);
    shape[0] = 0;
    int rc = H5Awrite(a, H5T_NATIVE_INT, shape) < 0 || n < 1;
    H5Sclose(sp), H5Aclose(a), H5Gclose(w), H5Gclose(q), H5Fclose(f);
    return rc;
}

/* SRC's first 8-bit /qweights entry relabelled 7-bit, its codes clamped to
 * 0..127 but one, code 0, set to 200 (out of range); prints the entry's name */
struct eight_it { char name[4096]; };
static herr_t first_eight(hid_t loc, const char *name, const H5L_info_t *info, void *arg)
{
    hid_t w = H5Gopen2(loc, name, H5P_DEFAULT);
    int bits = 0;
    gn_h5_attr_ints_r(w, "bits", &bits, 1, 0);
    H5Gclose(w);
    if (bits != 8) return 0;
    snprintf(((struct eight_it *)arg)->name, 4096, "%s", name);
    return 1;
}

static int bad_code(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return 1;
    hid_t q = H5Gopen2(f, "qweights", H5P_DEFAULT);
    struct eight_it it = {""};
    H5Literate(q, H5_INDEX_NAME, H5_ITER_INC, NULL, first_eight, &it);
    int rc = !*it.name, seven = 7;
    hid_t w = rc ? -1 : H5Gopen2(q, it.name, H5P_DEFAULT);
    hid_t ds = w < 0 ? -1 : H5Dopen2(w, "codes", H5P_DEFAULT), sp = ds < 0 ? -1 : H5Dget_space(ds);
    hssize_t n = sp < 0 ? 0 : H5Sget_simple_extent_npoints(sp);
    uint8_t *c = malloc(n > 0 ? (size_t)n : 1);
    rc = rc || n < 1 || H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) < 0;
    for (hssize_t i = 0; !rc && i < n; i++) c[i] = c[i] > 127 ? 127 : c[i];
    if (!rc) c[0] = 200;
    rc = rc || H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) < 0 ||
         gn_h5_attr_ints_w(w, "bits", &seven, 1);
    if (!rc) printf("%s\n", it.name);
    free(c);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    if (w >= 0) H5Gclose(w);
    H5Gclose(q), H5Fclose(f);
    return rc;
}

static int write_kind(const char *kind, const char *out, const char *src)
{
    gn_h5_quiet();
    if (!strcmp(kind, "overflow")) {
        hsize_t d[4] = {1ull << 40, 1ull << 40, 1ull << 40, 1};
        return write_claim(out, d);
    }
    if (!strcmp(kind, "huge")) {
        hsize_t d[4] = {1ull << 30, 1, 28, 28};
        return write_claim(out, d);
    }
    if (!strcmp(kind, "longname")) {
        gn_graph *g = long_names(10240);
        int rc = gn_model_save(out, g, NULL, NULL);
        gn_graph_free(g);
        return rc;
    }
    if (!src || copy(src, out)) return 1;
    if (!strcmp(kind, "zerochan")) return zero_channels(out);
    if (!strcmp(kind, "badcode")) return bad_code(out);
    if (!strcmp(kind, "nan")) return poison(out, "params", NAN);
    if (!strcmp(kind, "inf")) return poison(out, "params", INFINITY);
    if (!strcmp(kind, "nanx")) return poison(out, "x", NAN);
    if (!strcmp(kind, "graphds")) {
        hid_t f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT);
        hsize_t one = 1;
        hid_t sp = H5Screate_simple(1, &one, NULL), ds = -1;
        if (f >= 0 && H5Ldelete(f, "graph", H5P_DEFAULT) >= 0)
            ds = H5Dcreate2(f, "graph", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(sp);
        if (f >= 0) H5Fclose(f);
        return ds < 0;
    }
    return 2;
}

/* the reader failed with one line that starts "PATH: " and holds `needle` */
#define EXPECT_MSG(rc, path, needle) expect_msg(rc, path, needle, __LINE__)
static void expect_msg(int rc, const char *path, const char *needle, int line)
{
    const char *m = gn_err_msg();
    int ok = rc != 0 && !strncmp(m, path, strlen(path)) && m[strlen(path)] == ':' &&
             !strchr(m, '\n') && strstr(m, needle);
    CHECK(ok);
    if (!ok) fprintf(stderr, "  (line %d) rc %d, message \"%s\", wanted \"%s\"\n", line, rc, m, needle);
}

static void test_claims(const char *dir)
{
    char p[4096];
    gn_dataset d;
    snprintf(p, sizeof p, "%s/overflow.h5", dir);
    CHECK(write_kind("overflow", p, NULL) == 0);
    EXPECT_MSG(gn_dataset_load(p, &d), p, "x: dimensions 1099511627776 x 1099511627776");
    snprintf(p, sizeof p, "%s/huge.h5", dir);
    CHECK(write_kind("huge", p, NULL) == 0);
    EXPECT_MSG(gn_dataset_load(p, &d), p, "(truncated or damaged)");
    unlink(p);
}

static void test_long_names(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/longname.h5", dir);
    gn_graph *g = long_names(10240), *h = NULL;
    CHECK(gn_model_save(p, g, NULL, NULL) == 0);
    int rc = gn_model_load(p, &h);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "  %s\n", gn_err_msg());
    if (!rc) {
        CHECK(h->nn == 3 && h->np == 2);
        CHECK(!strcmp(h->t[h->input].name, g->t[g->input].name));
        CHECK(!strcmp(h->t[h->output].name, g->t[g->output].name));
        CHECK(!strcmp(h->params[0].name, g->params[0].name) || !strcmp(h->params[1].name, g->params[0].name));
        CHECK(strlen(h->nodes[0].name) == 10240);
    }
    gn_graph_free(g), gn_graph_free(h);
    unlink(p);
}

/* a model whose attributes are out of range is refused on reading */
static void test_attrs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/attrs.h5", dir);
    gn_graph *g = long_names(4);
    g->nodes[0].pt = -3;
    CHECK(gn_model_save(p, g, NULL, NULL) == 0);
    gn_graph *h = NULL;
    EXPECT_MSG(gn_model_load(p, &h), p, "pads -3,0,0,0 outside 0..65535");
    g->nodes[0].pt = 0, g->nodes[0].sh = 0;
    CHECK(gn_model_save(p, g, NULL, NULL) == 0);
    EXPECT_MSG(gn_model_load(p, &h), p, "stride 0x1 outside 1..65535");
    g->nodes[0].sh = 1, g->nodes[0].groups = 0;
    CHECK(gn_model_save(p, g, NULL, NULL) == 0);
    EXPECT_MSG(gn_model_load(p, &h), p, "groups 0 outside");
    gn_graph_free(g);
    unlink(p);
}

/* ---- object headers checked before libhdf5 decodes them ----------------- */

/* a file with root attributes genie_kind and a0..a(n-1) (3 ints each) and a
 * float dataset /x, in version-2 object headers when `latest` */
static void attr_file(const char *p, int latest, int n)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (latest) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    CHECK(f >= 0 && !gn_h5_attr_str_w(f, "genie_kind", "dataset"));
    for (int i = 0; i < n; i++) {
        char nm[16];
        int v[3] = {i, 7, 7};
        snprintf(nm, sizeof nm, "a%d", i);
        CHECK(!gn_h5_attr_ints_w(f, nm, v, 3));
    }
    size_t dims[1] = {4};
    float x[4] = {1, 2, 3, 4};
    CHECK(!gn_h5_write_f32(f, "x", 1, dims, x));
    H5Fclose(f);
    H5Pclose(fapl);
}

/* overwrites `len` bytes at offset `at` past the first "a0\0" of file p (a
 * version-1 attribute message: name at +0, datatype at +8, dataspace at
 * +24, its first dimension at +32), after checking they held `was` */
static int patch_a0(const char *p, long at, const void *was, const void *now, size_t len)
{
    FILE *fp = fopen(p, "r+b");
    static unsigned char b[1 << 16];
    size_t n = fp ? fread(b, 1, sizeof b, fp) : 0;
    unsigned char *q = memmem(b, n, "a0\0", 3);
    int ok = q && q + at + (long)len <= b + n && !memcmp(q + at, was, len);
    if (ok) fseek(fp, q + at - b, SEEK_SET), fwrite(now, 1, len, fp);
    if (fp) fclose(fp);
    return ok ? 0 : -1;
}

static void test_headers(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/hdr.h5", dir);
    int v[3];
    size_t dims[4];
    float *x = NULL;
    hid_t f;
    /* sound files, version-1 and version-2 headers: read as before */
    for (int latest = 0; latest < 2; latest++) {
        attr_file(p, latest, 3);
        char kind[64];
        CHECK(!gn_h5_open(p, &f));
        CHECK(!gn_h5_kind(f, kind, sizeof kind) && !strcmp(kind, "dataset"));
        CHECK(!gn_h5_attr_ints_r(f, "a2", v, 3, 0) && v[0] == 2 && v[2] == 7);
        CHECK(!gn_h5_read_f32(f, p, "x", 1, dims, &x) && x[3] == 4);
        free(x), x = NULL;
        H5Fclose(f);
    }
    /* 20 attributes in a version-2 header: dense storage, not checked: refused */
    attr_file(p, 1, 20);
    CHECK(!gn_h5_open(p, &f));
    char kind[64];
    EXPECT_MSG(gn_h5_kind(f, kind, sizeof kind), p, "attributes in dense or shared storage");
    H5Fclose(f);
    /* an attribute whose dataspace claims 1000 values in a message with room for 3 */
    attr_file(p, 0, 1);
    const unsigned char three[2] = {3, 0}, many[2] = {0xe8, 0x03};
    CHECK(!patch_a0(p, 32, three, many, 2));
    CHECK(!gn_h5_open(p, &f));
    EXPECT_MSG(gn_h5_kind(f, kind, sizeof kind), p, "damaged HDF5 object header (libhdf5 cannot read it)");
    H5Fclose(f);
    /* an int of 4 bytes claiming a precision of 23840 bits */
    attr_file(p, 0, 1);
    const unsigned char p32[2] = {32, 0}, pbig[2] = {0x20, 0x5d};
    CHECK(!patch_a0(p, 8 + 10, p32, pbig, 2));
    CHECK(!gn_h5_open(p, &f));
    EXPECT_MSG(gn_h5_kind(f, kind, sizeof kind), p, "damaged HDF5 object header");
    H5Fclose(f);
    /* an int claiming 2 GB per value (libhdf5 allocates a conversion buffer
     * of that size before reading) */
    attr_file(p, 0, 1);
    const unsigned char s4[4] = {4, 0, 0, 0}, s2g[4] = {0x0c, 0, 0, 0x7e};
    CHECK(!patch_a0(p, 8 + 4, s4, s2g, 4));
    CHECK(!gn_h5_open(p, &f));
    EXPECT_MSG(gn_h5_kind(f, kind, sizeof kind), p, "damaged HDF5 object header");
    H5Fclose(f);
    unlink(p);
}

/* `test_reliability --time-check FILE`: the cost of gn_h5_check_header, per
 * object of a model file and per gn_model_load (for README) */
static int nobj;
static hid_t objs[4096];
static herr_t add_obj(hid_t o, const char *name, const H5O_info_t *oi, void *d)
{
    if (nobj < 4096) objs[nobj++] = H5Oopen(o, name, H5P_DEFAULT);
    return 0;
}

static int time_check(const char *path)
{
    enum { REPS = 50 };
    double t0 = gn_now();
    for (int i = 0; i < REPS; i++) {
        gn_graph *g = NULL;
        if (gn_model_load(path, &g)) {
            fprintf(stderr, "test_reliability: %s\n", gn_err_msg());
            return 1;
        }
        gn_graph_free(g);
    }
    double t1 = gn_now();
    hid_t f;
    if (gn_h5_open(path, &f)) return 1;
    H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, add_obj, NULL, H5O_INFO_BASIC);
    double t2 = gn_now();
    int bad = 0;
    for (int i = 0; i < REPS; i++)
        for (int k = 0; k < nobj; k++) bad += gn_h5_check_header(objs[k]) != 0;
    double t3 = gn_now();
    printf("gn_model_load %.2f ms; %d objects, gn_h5_check_header %.1f us each (%.2f ms for all; %d refused)\n",
           (t1 - t0) / REPS * 1e3, nobj, (t3 - t2) / REPS / nobj * 1e6, (t3 - t2) / REPS * 1e3, bad);
    for (int k = 0; k < nobj; k++) H5Oclose(objs[k]);
    H5Fclose(f);
    return bad != 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--time-check")) return time_check(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "--write")) {
        int rc = write_kind(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
        if (rc) fprintf(stderr, "test_reliability: cannot write %s %s: %s\n", argv[2], argv[3], gn_err_msg());
        return rc ? 1 : 0;
    }
    gn_h5_quiet();
    char dir[] = "tests/tmp/reliabilityXXXXXX";
    if (!mkdtemp(dir)) {
        perror("test_reliability: mkdtemp");
        return 1;
    }
    test_claims(dir);
    test_long_names(dir);
    test_attrs(dir);
    test_headers(dir);
    rmdir(dir);
    return check_summary("test_reliability");
}
