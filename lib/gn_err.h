/* gn_err.h - error reporting for lib/.
 *
 * lib/ never exits and never prints: a failing function records one line
 * (naming the file, the object inside it and the offending value) with
 * gn_err_set() and returns a non-zero code; the program prints it as
 * "NAME: message" and picks the exit status. GN_ASSERT is for programmer
 * errors only and stays on in every build. */
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

/* malloc/calloc that abort on failure (memory exhaustion is not an input
 * error we can report usefully). Sizes are element counts times size. */
void *gn_xmalloc(size_t n);
void *gn_xcalloc(size_t count, size_t size);
char *gn_xstrdup(const char *s);

#endif
