/* gn_err.h - error reporting for lib/.
 *
 * lib/ never exits and never prints: a failing function records one line
 * (naming the file, the object inside it and the offending value) with
 * gn_err_set() and returns a non-zero code; the program prints it as
 * "NAME: message" and picks the exit status.
 *
 * The one way out of lib/ is GN_ASSERT: a broken invariant of the code itself
 * (a programmer error, never a property of an input file), reported as
 * "genie: internal error: FILE:LINE: CONDITION" and abort() so that a core
 * dump shows where. It stays on in every build. The gn_x* allocators use it
 * when the machine has no memory left for a size lib has already checked:
 * every size that comes from a file is checked against what the file holds
 * before it is allocated (gn_try_alloc for the large ones), so no input can
 * reach it. */
#ifndef GN_ERR_H
#define GN_ERR_H

#include <stdio.h>
#include <stdlib.h>

enum { GN_OK = 0, GN_EIO = 1, GN_EINVAL = 2, GN_ENOMEM = 3 };

/* Records the message for the last failure; returns GN_EIO so that
 * `return gn_err_set(...)` reads naturally. Overwrites any earlier message. */
int gn_err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like gn_err_set but returns `code`. */
int gn_err_code(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "prefix: " (adds context on the way up). */
void gn_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message (never NULL; "" if none). Valid until the next gn_err_*. */
const char *gn_err_msg(void);

#define GN_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "genie: internal error: %s:%d: %s\n", __FILE__,    \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* malloc/calloc/realloc whose failure is GN_ASSERT's (see above): for sizes
 * the code controls or has checked. count * size must not overflow (that is
 * asserted too). */
void *gn_xmalloc(size_t n);
void *gn_xcalloc(size_t count, size_t size);
void *gn_xrealloc(void *p, size_t count, size_t size);
/* malloc(count * size) for a size taken from an input: NULL with the error
 * "WHAT: cannot allocate N bytes" (or "... N x M values: too many") set when
 * the product overflows or memory is short. */
void *gn_try_alloc(size_t count, size_t size, const char *what);
char *gn_xstrdup(const char *s);
/* Makes the whole pages inside [p, p+n) resident now, their contents
 * unchanged: a buffer's first touch all at once, when it is made, instead
 * of in whatever pass first writes it. Memory this virtual machine has
 * given back to its host (a few seconds after it is freed) costs some
 * 1-2 s per GB to touch again, memory freed just before about 0.06: a job
 * that touches everything it holds at once reuses what the job before it
 * freed while that is still backed. A hint: failure leaves the pages to be
 * faulted in later. */
void gn_prefault(void *p, size_t n);

#endif
