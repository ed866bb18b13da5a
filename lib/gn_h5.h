/* gn_h5.h - genie's HDF5 files: models and datasets (formats in
 * man/man5/genie-model.5 and genie-dataset.5), plus the small helpers every
 * file kind shares. HDF5's own error printing is switched off; every failure
 * comes back as a code with a message naming the file, the object and the
 * value. Writers write to a temporary name and rename (gn_out.h). */
#ifndef GN_H5_H
#define GN_H5_H

#include <hdf5.h>
#include <stddef.h>

#include "gn_graph.h"

#define GN_MODEL_FORMAT 1
#define GN_DATASET_FORMAT 1

/* Silences HDF5's automatic error stack printing (idempotent). */
void gn_h5_quiet(void);

/* Creates group `name` in loc without modification times (so that the same
 * content gives the same bytes); returns its id or a negative value. */
hid_t gn_h5_group(hid_t loc, const char *name);
/* A dataset-creation property list without modification times (caller
 * closes it). */
hid_t gn_h5_dcpl(void);

/* Opens `path` read-only. Fails with "PATH: no such file", "PATH: not an
 * HDF5 file" etc. When `path` is the name given to gn_h5_set_image, opens
 * that memory image instead. "-" is standard input, read whole once
 * (gn_stream.h) and opened as a file image; every open of "-" shares it. */
int gn_h5_open(const char *path, hid_t *f);
/* Makes gn_h5_open(name) open the HDF5 file image buf[0..len) (read-only,
 * not copied: buf must stay valid while the file is open) instead of a file
 * of that name; every genie reader then reads from memory (the fuzz targets
 * in tests/fuzz do). name NULL forgets the image. */
void gn_h5_set_image(const char *name, const void *buf, size_t len);
/* Reads the root attribute genie_kind into buf ("" when absent); an error
 * names the file. */
int gn_h5_kind(hid_t f, char *buf, size_t len);
/* Creates (truncating) a new HDF5 file at `path` (a temporary name). */
int gn_h5_create(const char *path, hid_t *f);
/* Writes the HDF5 file `path` atomically (gn_out.h): creates it under a
 * temporary name, calls write(f, arg), closes it and renames it over `path`
 * only when all of that succeeded; otherwise removes it and returns the error
 * prefixed with `path`. Every genie file is saved through this. "-"
 * builds the file in memory (the core driver) and writes its image to
 * standard output only when all of that succeeded. */
int gn_h5_save(const char *path, int (*write)(hid_t f, const void *arg), const void *arg);

/* Checks the attribute and datatype messages of object loc (file, group or
 * dataset) in its header's bytes before libhdf5 decodes them: libhdf5 1.10.8
 * reads past a damaged one (h5.c). Every attribute and dataset reader here
 * calls it first; call it before any other H5A call or H5Dread on an outside
 * file's object. Error: "damaged HDF5 object header (libhdf5 cannot read
 * it)" (or "attributes in dense or shared storage, which genie does not
 * check"), for the caller to prefix with the file and object. */
int gn_h5_check_header(hid_t loc);

/* String / int / float attributes on an object (loc = file or group). */
int gn_h5_attr_str_w(hid_t loc, const char *name, const char *value);
/* Reads a string attribute (fixed or variable length); returns malloc'd copy
 * in *out, or NULL with no error when absent and `optional`. */
int gn_h5_attr_str_r(hid_t loc, const char *name, char **out, int optional);
int gn_h5_attr_ints_w(hid_t loc, const char *name, const int *v, int n);
/* Reads exactly n ints; absent -> error unless optional (then v untouched). */
int gn_h5_attr_ints_r(hid_t loc, const char *name, int *v, int n, int optional);
int gn_h5_attr_floats_w(hid_t loc, const char *name, const float *v, int n);
int gn_h5_attr_floats_r(hid_t loc, const char *name, float *v, int n, int optional);

/* Writes a float32 dataset `name` with `ndim` dims (chunked+compressed when
 * large is not done: plain contiguous). */
int gn_h5_write_f32(hid_t loc, const char *name, int ndim, const size_t *dims, const float *v);
int gn_h5_write_i32(hid_t loc, const char *name, int ndim, const size_t *dims, const int *v);
/* 0 when `bytes` (a size an object of the open file obj claims) could be in
 * that file: no more than 1024 times its size (room for compression). An
 * error "FILE: NAME: N bytes cannot be in a file of M bytes (truncated or
 * damaged)" otherwise: checked before allocating what a header claims. */
int gn_h5_check_size(hid_t obj, const char *file, const char *name, size_t bytes);
/* Reads a dataset of floating class into a malloc'd float array; checks the
 * rank is `ndim` (0 = any rank up to 4) and fills dims[0..3] (dims must hold
 * 4 entries; those past the rank are set to 1). `file` names the
 * file in messages. The dimensions are checked before anything is allocated:
 * no overflow, each fits an int, and gn_h5_check_size. */
int gn_h5_read_f32(hid_t loc, const char *file, const char *name, int ndim, size_t *dims,
                   float **out);
int gn_h5_read_i32(hid_t loc, const char *file, const char *name, int ndim, size_t *dims,
                   int **out);
/* Reads rows [first, first+count) of a dataset (first axis) into `out`
 * (float class), rank `ndim`; dims of the whole dataset known by caller. */
int gn_h5_read_f32_rows(hid_t loc, const char *file, const char *name, size_t first,
                        size_t count, float *out);

/* ---- models -------------------------------------------------------------- */
/* Writes graph g (finalized) to `path` atomically (temporary name, rename).
 * Extra root attributes are written by `extra(fid, arg)` when not NULL. */
int gn_model_save(const char *path, const gn_graph *g, int (*extra)(hid_t, void *), void *arg);
/* Reads a model file: kind must be "model"; finalizes the graph. */
int gn_model_load(const char *path, gn_graph **out);
/* Writes the graph's nodes and parameters into an open file (no kind attrs). */
int gn_model_write_graph(hid_t f, const gn_graph *g);
/* The same, leaving out parameter i wherever skip[i] is non-zero (skip may be
 * NULL). */
int gn_model_write_graph_ex(hid_t f, const gn_graph *g, const char *skip);
/* Reads graph from an open file; `path` for messages. */
int gn_model_read_graph(hid_t f, const char *path, gn_graph **out);
/* The same; hook(f, path, g, arg), when not NULL, runs after /params is read
 * and before the nodes, to add parameters stored elsewhere in the file. */
int gn_model_read_graph_ex(hid_t f, const char *path,
                           int (*hook)(hid_t, const char *, gn_graph *, void *), void *arg,
                           gn_graph **out);

/* ---- datasets ------------------------------------------------------------ */
typedef struct {
    size_t n;
    int c, h, w;
    float *x; /* (n,c,h,w) */
    int *y;   /* (n) or NULL when unlabelled */
} gn_dataset;

/* Reads /x (and /y when present). A file whose genie_kind names another kind
 * is refused; a file without genie_kind is accepted when it has /x. */
int gn_dataset_load(const char *path, gn_dataset *d);
/* Writes /x, /y (when d->y) and kind attributes atomically; extra as above. */
int gn_dataset_save(const char *path, const gn_dataset *d, int (*extra)(hid_t, void *),
                    void *arg);
void gn_dataset_free(gn_dataset *d);
/* The check every stage makes before feeding a dataset to a model: 0 when
 * /x's samples (C, H, W) are what g takes as input, else the error
 * "DPATH: /x holds CxHxW samples, model MPATH takes CxHxW" ("the model"
 * when mpath is NULL). */
int gn_dataset_check_input(const gn_dataset *d, const char *dpath, const gn_graph *g,
                           const char *mpath);

#endif
