/* gn_stats.h - BatchNorm statistics: the targets Genie-D matches (GENIE.md
 * section 1, "Targets"), their file (written by bnstats, read by distill),
 * and the same statistics measured on real images.
 *
 * For every BatchNorm node l of a model, in graph order: its name, the name
 * of the tensor entering it, its channel count C_l, the target mean
 * mu_l = running_mean and target std s_l = sqrt(running_var + 1e-6) (the
 * reference's 1e-6, not the layer's own eps). Channels of all layers are
 * concatenated in `mean`/`std`; layer l's start at off[l].
 *
 * File (genie_kind "bnstats", genie_format 1): root attributes model_sha256
 * (hex SHA-256 of the model file's bytes), model_file, std_eps, layers;
 * one group /bn/NNNN per layer (NNNN = 0000, 0001, ... in graph order) with
 * string attributes name and input, int attribute channels, float32
 * datasets mean [C] and std [C], and, when measured on real data,
 * real_mean [C] and real_std [C] (plain unbiased std, no eps) with root
 * attributes data_file and data_n.
 *
 * What this does not do: the distillation loss (gn_distill.h) or any
 * printing (bnstats prints). */
#ifndef GN_STATS_H
#define GN_STATS_H

#include <stddef.h>

#include "gn_graph.h"
#include "gn_h5.h"

#define GN_BNSTATS_FORMAT 1
#define GN_BNSTATS_EPS 1e-6 /* added to running_var before the square root */

typedef struct {
    int nl;           /* BatchNorm layers */
    char **name;      /* [nl] node names */
    char **input;     /* [nl] names of the tensors entering them */
    int *c;           /* [nl] channels */
    size_t *off;      /* [nl] first channel of layer l in mean/std */
    size_t total;     /* sum of c */
    float *mean, *std;           /* [total] targets */
    float *real_mean, *real_std; /* [total] measured on data, or NULL */
    size_t real_n;               /* images measured (0 = none) */
    char model_sha[65];          /* "" when unknown */
} gn_bnstats;

/* Fills s with the targets of every BatchNorm node of g (finalized).
 * Fails, leaving s empty, when g has no BatchNorm node ("model has no
 * BatchNorm layer") or one has no running statistics; `path` names the model
 * in messages. s->model_sha is left "". */
int gn_bnstats_from_model(const gn_graph *g, const char *path, gn_bnstats *s);
/* Writes s to `path` atomically (temporary name + rename); model_file is
 * recorded as given, data_file when not NULL. */
int gn_bnstats_save(const char *path, const gn_bnstats *s, const char *model_file,
                    const char *data_file);
/* Reads a bnstats file. Refuses other kinds and format versions. */
int gn_bnstats_load(const char *path, gn_bnstats *s);
void gn_bnstats_free(gn_bnstats *s);
/* 0 when s describes exactly the BatchNorm nodes of g (same count, order,
 * names and channels); otherwise an error naming the first difference,
 * with spath (stats) and mpath (model) in the message. */
int gn_bnstats_match(const gn_bnstats *s, const gn_graph *g, const char *spath,
                     const char *mpath);
/* Hex SHA-256 of the targets (mean then std, float32 little-endian bytes):
 * identifies what a distillation matched independently of file bytes. */
void gn_bnstats_targets_hash(const gn_bnstats *s, char hex[65]);
/* Indices of g's BatchNorm nodes in graph order, into idx (capacity max);
 * returns how many there are (may exceed max: then only max are written). */
int gn_bnstats_nodes(const gn_graph *g, int *idx, int max);

/* Measures, over all n images of x (n,C,H,W), the mean and unbiased std of
 * every BatchNorm input of g per channel (running the model in inference
 * mode, `batch` images at a time) into s->real_mean/real_std (allocated
 * here). s must come from g (gn_bnstats_match). progress(arg, done, n) is
 * called after each batch when not NULL. Returns 0 or an error. */
int gn_bnstats_measure(gn_bnstats *s, gn_graph *g, const float *x, size_t n, int batch,
                       void (*progress)(void *arg, size_t done, size_t n), void *arg);

#endif
