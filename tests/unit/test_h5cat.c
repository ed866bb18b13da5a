/* test_h5cat.c - joining dataset files (gn_h5cat.h) without the program:
 * small datasets written here, joined, and read back value by value (/x,
 * /y, a rank-2 /loss, the batch list, the first file's attributes); and the
 * refusals, each with its exact message and no output left behind: an
 * attribute that differs or is missing, a batch given twice, samples of
 * another shape, a dataset only one file has, a file of another kind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_h5cat.h"

static char dir[] = "/tmp/test_h5cat.XXXXXX";

/* what a part carries besides /x and /y */
struct part {
    const char *seed;   /* string attribute "seed" (NULL: none) */
    int iters;          /* int attribute "iters" (0: none) */
    const int *batches; /* the batch list, nb entries (NULL: none) */
    int nb;
    const char *model_file; /* informational: may differ */
    int loss_rows;          /* rows of a (rows, 3) /loss; 0: no /loss */
    float loss0;            /* /loss[r][j] = loss0 + 3r + j */
};

static int write_extra(hid_t f, void *arg)
{
    const struct part *p = arg;
    int rc = 0;
    if (p->seed) rc = gn_h5_attr_str_w(f, "seed", p->seed);
    if (!rc && p->iters) rc = gn_h5_attr_ints_w(f, "iters", &p->iters, 1);
    if (!rc && p->batches) rc = gn_h5_attr_ints_w(f, "batches", p->batches, p->nb);
    if (!rc && p->model_file) rc = gn_h5_attr_str_w(f, "model_file", p->model_file);
    if (!rc && p->loss_rows) {
        float v[64];
        for (int i = 0; i < p->loss_rows * 3; i++) v[i] = p->loss0 + (float)i;
        size_t dims[2] = {(size_t)p->loss_rows, 3};
        rc = gn_h5_write_f32(f, "loss", 2, dims, v);
    }
    return rc;
}

/* writes DIR/name: n samples of c x h x w, x = x0 + index, y = y0 + sample;
 * returns the path (static storage, one per name slot) */
static const char *part_file(const char *name, size_t n, int c, int h, int w, float x0, int y0,
                             const struct part *p)
{
    static char paths[8][128];
    static int slot;
    char *path = paths[slot++ % 8];
    snprintf(path, 128, "%s/%s", dir, name);
    gn_dataset d = {
        n, c, h, w, malloc(n * (size_t)(c * h * w) * sizeof(float)), malloc(n * sizeof(int))};
    for (size_t i = 0; i < n * (size_t)(c * h * w); i++) d.x[i] = x0 + (float)i;
    for (size_t i = 0; i < n; i++) d.y[i] = y0 + (int)i;
    int rc = gn_dataset_save(path, &d, write_extra, (void *)p);
    if (rc) fprintf(stderr, "test_h5cat: %s\n", gn_err_msg());
    CHECK(rc == 0);
    gn_dataset_free(&d);
    return path;
}

static char out_path[160];

/* joins paths[0..n) into DIR/out.h5; 0 or the error code */
static int join(const char *const *paths, int n, int force)
{
    snprintf(out_path, sizeof out_path, "%s/out.h5", dir);
    unlink(out_path);
    return gn_h5cat_join(paths, n, force, out_path);
}

/* the refusal's message is exactly `want` (with the parts' paths in it) and
 * nothing was written */
static void check_refused(const char *const *paths, int n, const char *want)
{
    int rc = join(paths, n, 0);
    CHECK(rc != 0);
    if (strcmp(gn_err_msg(), want)) fprintf(stderr, "  got:  %s\n  want: %s\n", gn_err_msg(), want);
    CHECK(!strcmp(gn_err_msg(), want));
    CHECK(access(out_path, F_OK) != 0);
}

static void test_join(void)
{
    static const int b0[] = {2}, b1[] = {0, 5};
    struct part p0 = {"0", 2, b0, 1, "models/a.h5", 1, 100.0f};
    struct part p1 = {"0", 2, b1, 2, "elsewhere/a.h5", 2, 200.0f};
    const char *paths[2] = {part_file("j0.h5", 1, 2, 2, 3, 0.0f, 7, &p0),
                            part_file("j1.h5", 2, 2, 2, 3, 1000.0f, 0, &p1)};
    int rc = join(paths, 2, 0);
    if (rc) fprintf(stderr, "test_h5cat: %s\n", gn_err_msg());
    CHECK(rc == 0);
    gn_dataset d = {0};
    CHECK(gn_dataset_load(out_path, &d) == 0);
    CHECK(d.n == 3 && d.c == 2 && d.h == 2 && d.w == 3);
    if (d.n == 3 && d.x && d.y) {
        int ok = 1;
        for (int i = 0; i < 12; i++) ok &= d.x[i] == (float)i;                /* part 0's sample */
        for (int i = 0; i < 24; i++) ok &= d.x[12 + i] == 1000.0f + (float)i; /* part 1's two */
        CHECK(ok);
        CHECK(d.y[0] == 7 && d.y[1] == 0 && d.y[2] == 1);
    }
    gn_dataset_free(&d);
    hid_t f;
    CHECK(gn_h5_open(out_path, &f) == 0);
    size_t dims[4];
    float *loss = NULL;
    CHECK(gn_h5_read_f32(f, out_path, "loss", 2, dims, &loss) == 0);
    CHECK(dims[0] == 3 && dims[1] == 3);
    if (loss) {
        const float want[9] = {100, 101, 102, 200, 201, 202, 203, 204, 205};
        CHECK(!memcmp(loss, want, sizeof want));
    }
    free(loss);
    int b[3] = {-1, -1, -1}, it = 0;
    CHECK(gn_h5_attr_ints_r(f, "batches", b, 3, 0) == 0);
    CHECK(b[0] == 2 && b[1] == 0 && b[2] == 5);
    CHECK(gn_h5_attr_ints_r(f, "iters", &it, 1, 0) == 0 && it == 2);
    char *s = NULL, kind[32];
    CHECK(gn_h5_attr_str_r(f, "model_file", &s, 0) == 0 && s && !strcmp(s, "models/a.h5"));
    free(s);
    s = NULL;
    CHECK(gn_h5_attr_str_r(f, "seed", &s, 0) == 0 && s && !strcmp(s, "0"));
    free(s);
    CHECK(gn_h5_kind(f, kind, sizeof kind) == 0 && !strcmp(kind, "dataset"));
    H5Fclose(f);

    /* one file alone is itself */
    CHECK(join(paths, 1, 0) == 0);
    CHECK(gn_dataset_load(out_path, &d) == 0 && d.n == 1 && d.x && d.x[11] == 11.0f);
    gn_dataset_free(&d);

    /* the open/write pair the join is made of, driven by hand */
    gn_h5cat *c = NULL;
    CHECK(gn_h5cat_open(paths, 2, 0, &c) == 0 && c);
    snprintf(out_path, sizeof out_path, "%s/out2.h5", dir);
    CHECK(c && gn_h5_save(out_path, gn_h5cat_write, c) == 0);
    gn_h5cat_free(c);
    CHECK(gn_dataset_load(out_path, &d) == 0 && d.n == 3);
    gn_dataset_free(&d);
}

/* a file that says it is a model */
static int write_model_kind(hid_t f, const void *arg)
{
    (void)arg;
    return gn_h5_attr_str_w(f, "genie_kind", "model");
}

static void test_refusals(void)
{
    static const int b0[] = {0}, b1[] = {1}, b01[] = {1, 0};
    struct part p0 = {"0", 2, b0, 1, "m.h5", 1, 0};
    const char *a = part_file("a.h5", 1, 1, 2, 2, 0, 0, &p0);
    char want[512];

    /* an attribute of another value: both paths, the attribute, both values */
    struct part it3 = {"0", 3, b1, 1, "m.h5", 1, 0};
    const char *pair[2] = {a, part_file("iters3.h5", 1, 1, 2, 2, 0, 0, &it3)};
    snprintf(want, sizeof want, "%s and %s differ in iters (2 vs 3): not parts of one job", a,
             pair[1]);
    check_refused(pair, 2, want);
    struct part seed3 = {"3", 2, b1, 1, "m.h5", 1, 0};
    pair[1] = part_file("seed3.h5", 1, 1, 2, 2, 0, 0, &seed3);
    snprintf(want, sizeof want, "%s and %s differ in seed ('0' vs '3'): not parts of one job", a,
             pair[1]);
    check_refused(pair, 2, want);
    /* --force joins them, keeping the first file's */
    CHECK(join(pair, 2, 1) == 0);
    hid_t f;
    char *s = NULL;
    CHECK(gn_h5_open(out_path, &f) == 0);
    CHECK(gn_h5_attr_str_r(f, "seed", &s, 0) == 0 && s && !strcmp(s, "0"));
    free(s);
    H5Fclose(f);

    /* an attribute only one file has */
    struct part noiters = {"0", 0, b1, 1, "m.h5", 1, 0};
    pair[1] = part_file("noiters.h5", 1, 1, 2, 2, 0, 0, &noiters);
    snprintf(want, sizeof want, "%s has attribute iters, %s has not: files of different provenance",
             a, pair[1]);
    check_refused(pair, 2, want);

    /* a batch given twice, also inside a later file's list */
    pair[1] = a;
    snprintf(want, sizeof want,
             "%s: batch 0 is already in an earlier file: a batch may be joined once", a);
    check_refused(pair, 2, want);
    struct part p01 = {"0", 2, b01, 2, "m.h5", 1, 0};
    pair[1] = part_file("b01.h5", 1, 1, 2, 2, 0, 0, &p01);
    snprintf(want, sizeof want,
             "%s: batch 0 is already in an earlier file: a batch may be joined once", pair[1]);
    check_refused(pair, 2, want);
    /* --force does not let a batch repeat */
    CHECK(join(pair, 2, 1) != 0 && access(out_path, F_OK) != 0);

    /* samples of another shape */
    pair[1] = part_file("big.h5", 1, 1, 3, 3, 0, 0, &(struct part){"0", 2, b1, 1, "m.h5", 1, 0});
    snprintf(want, sizeof want, "%s: /x holds samples of 1x3x3, %s of 1x2x2 (or another type)",
             pair[1], a);
    check_refused(pair, 2, want);
    CHECK(join(pair, 2, 1) != 0); /* --force: shapes must still agree */
    /* a dataset only one file has */
    pair[1] = part_file("noloss.h5", 1, 1, 2, 2, 0, 0, &(struct part){"0", 2, b1, 1, "m.h5", 0, 0});
    snprintf(want, sizeof want, "%s has /loss, %s has not", a, pair[1]);
    check_refused(pair, 2, want);

    /* a file of another kind, and one that is not there */
    char model[160];
    snprintf(model, sizeof model, "%s/model.h5", dir);
    CHECK(gn_h5_save(model, write_model_kind, NULL) == 0);
    pair[1] = model;
    snprintf(want, sizeof want, "%s: is a genie model file, expected a dataset", model);
    check_refused(pair, 2, want);
    snprintf(model, sizeof model, "%s/nosuch.h5", dir);
    snprintf(want, sizeof want, "%s: No such file or directory", model);
    check_refused(pair, 2, want);
}

int main(void)
{
    gn_h5_quiet();
    if (!mkdtemp(dir)) {
        perror("test_h5cat: mkdtemp");
        return 1;
    }
    test_join();
    test_refusals();
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "test_h5cat: could not remove %s\n", dir);
    return check_summary("test_h5cat");
}
