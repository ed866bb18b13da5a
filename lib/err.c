/* err.c - the last-error buffer of lib/ (see gn_err.h). Not thread-safe by
 * design: genie programs report errors from the main thread only. */
#include "gn_err.h"

#include <stdarg.h>
#include <string.h>

static char msg[1024];

static void vset(const char *fmt, va_list ap) { vsnprintf(msg, sizeof msg, fmt, ap); }

int gn_err_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap);
    va_end(ap);
    return GN_EIO;
}

int gn_err_code(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap);
    va_end(ap);
    return code;
}

void gn_err_prefix(const char *fmt, ...)
{
    char old[sizeof msg], pre[512];
    va_list ap;
    memcpy(old, msg, sizeof msg);
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s: %s", pre, old);
}

const char *gn_err_msg(void) { return msg; }

void *gn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "genie: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

void *gn_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "genie: out of memory (%zu x %zu bytes)\n", count, size);
        abort();
    }
    return p;
}

char *gn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = gn_xmalloc(n);
    memcpy(p, s, n);
    return p;
}
