/* err.c - the last-error buffer of lib/ (see gn_err.h). Not thread-safe by
 * design: genie programs report errors from the main thread only. */
#include "gn_err.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* no memory left for a size the code has checked: GN_ASSERT's path (gn_err.h) */
static void no_memory(size_t count, size_t size)
{
    fprintf(stderr, "genie: out of memory (%zu x %zu bytes)\n", count, size);
    GN_ASSERT(!"memory for a checked size");
}

/* Asks the kernel to back a large block [p, p+n) with transparent huge
 * pages (where the system allows them on request, as Debian's default
 * "madvise" does). A full-size network's buffers are gigabytes that are
 * first touched 4 KiB at a time otherwise: on a virtual machine, one page
 * fault costs about 10 us, and ResNet-18 at 224x224 spent some 10 s of its
 * set-up in them. A hint only: the values are the same either way. */
static void *huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    enum { BIG = 8 << 20 };
    if (p && n >= BIG) {
        const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        const uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + n) & ~(pg - 1);
        if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE); /* failure: plain pages */
    }
#endif
    (void)n;
    return p;
}

void gn_prefault(void *p, size_t n)
{
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (!p || n < pg) return;
    const uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + n) & ~(pg - 1);
    if (e <= a) return;
#ifdef MADV_POPULATE_WRITE
    if (!madvise((void *)a, e - a, MADV_POPULATE_WRITE)) return; /* Linux 5.14 and later */
#endif
    /* one write per page, of the byte already there */
    for (uintptr_t q = a; q < e; q += pg) {
        volatile char *c = (volatile char *)q;
        *c = *c;
    }
}

void *gn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) no_memory(n, 1);
    return huge(p, n);
}

void *gn_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) no_memory(count, size);
    return huge(p, count * size);
}

void *gn_xrealloc(void *p, size_t count, size_t size)
{
    size_t n;
    GN_ASSERT(!__builtin_mul_overflow(count, size, &n));
    void *q = realloc(p, n ? n : 1);
    if (!q) no_memory(count, size);
    return q;
}

void *gn_try_alloc(size_t count, size_t size, const char *what)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n) || n > PTRDIFF_MAX) {
        gn_err_code(GN_ENOMEM, "%s: %zu x %zu bytes: too many", what, count, size);
        return NULL;
    }
    void *p = malloc(n ? n : 1);
    if (!p) gn_err_code(GN_ENOMEM, "%s: cannot allocate %zu bytes", what, n);
    return p;
}

char *gn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = gn_xmalloc(n);
    memcpy(p, s, n);
    return p;
}
