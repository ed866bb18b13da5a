/* gn_h5cat.h - joining genie dataset files along the sample axis (h5cat(1)):
 * every root dataset (/x, /y, /loss, /loss_iter, ...) is concatenated in
 * the order the files are given, after checking that the files agree on
 * which datasets they hold, their trailing shapes and type classes, and
 * their provenance: every root attribute equal in all files, except
 * `batches` (the distill batch indices: concatenated, a batch at most once)
 * and the informational paths model_file, stats_file, data_file (the first
 * file's are kept).
 * What this does not do: reorder, deduplicate or convert values, or look at
 * them. */
#ifndef GN_H5CAT_H
#define GN_H5CAT_H

#include <hdf5.h>

/* the files of one join, opened and checked (opaque) */
typedef struct gn_h5cat gn_h5cat;

/* Opens paths[0..n) (gn_h5_open: "-" is standard input) and makes every
 * check above; `force` skips the attribute checks (not the shapes, nor a
 * batch repeated). 0 and *out on success; else an error naming the file and
 * the dataset or attribute with both values, and *out NULL. paths must stay
 * valid until gn_h5cat_free. */
int gn_h5cat_open(const char *const *paths, int n, int force, gn_h5cat **out);
/* Writes the joined file into the open file fo: the first file's root
 * attributes (genie_kind "dataset" when it had none), the concatenated
 * `batches` when the files have them, then every dataset's rows file after
 * file. Its signature is gn_h5_save's writer: arg is a gn_h5cat. */
int gn_h5cat_write(hid_t fo, const void *arg);
void gn_h5cat_free(gn_h5cat *c);

/* gn_h5cat_open, then gn_h5_save(out, gn_h5cat_write) ("-" is standard
 * output): nothing is written when a check fails. */
int gn_h5cat_join(const char *const *paths, int n, int force, const char *out);

#endif
