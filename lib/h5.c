/* h5.c - HDF5 helpers, model files and dataset files (see gn_h5.h).
 * What this does not do: quantised-model or statistics files (their own
 * modules build on the helpers here). */
#include "gn_h5.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gn_err.h"
#include "gn_out.h"
#include "gn_stream.h"

void gn_h5_quiet(void)
{
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* The message for a file that is not HDF5: an ONNX model (by its name, or by
 * the protobuf bytes ModelProto begins with: field 1, ir_version, a small
 * varint, then another field) gets told how to import it. */
static int onnx_bytes(const unsigned char *b, size_t n)
{
    return n >= 3 && b[0] == 0x08 && b[1] >= 1 && b[1] <= 30 && (b[2] & 7) == 2 && b[2] >> 3 >= 2 &&
           b[2] >> 3 <= 20;
}

static int not_hdf5(const char *path)
{
    unsigned char b[3] = {0};
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(b, 1, sizeof b, fp) : 0;
    if (fp) fclose(fp);
    size_t len = strlen(path);
    int onnx = (len > 5 && !strcasecmp(path + len - 5, ".onnx")) || onnx_bytes(b, n);
    if (onnx) return gn_err_set("%s: this is an ONNX model: import it with onnx2h5 first", path);
    return gn_err_set("%s: not an HDF5 file (or truncated)", path);
}

/* the memory image gn_h5_open serves instead of a file (gn_h5_set_image) */
static struct {
    const char *name;
    const void *buf;
    size_t len;
} image;

void gn_h5_set_image(const char *name, const void *buf, size_t len)
{
    image.name = name, image.buf = buf, image.len = len;
}

/* The file-image callbacks of a read-only image that HDF5 must neither copy
 * nor free: every "allocation" is the one buffer of standard input, copies
 * onto itself are no-ops, and it never grows (H5LTopen_file_image does the
 * same, but leaks its user data in HDF5 1.10). */
static const void *stdin_buf;
static size_t stdin_len;

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *ud)
{
    return size <= stdin_len ? (void *)stdin_buf : NULL;
}

static void *img_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                        void *ud)
{
    return dest == src && dest == stdin_buf ? dest : NULL;
}

static void *img_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *ud) { return NULL; }
static herr_t img_free(void *ptr, H5FD_file_image_op_t op, void *ud) { return 0; }
static void *img_udata_copy(void *ud) { return ud; }
static herr_t img_udata_free(void *ud) { return 0; }

/* "-": standard input, read whole once and opened as a read-only file image
 * (not copied: every open of "-" shares the one buffer) */
static int open_stdin(hid_t *f)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    const void *buf;
    size_t n;
    if (gn_stdin_image(&buf, &n)) return GN_EIO;
    if (onnx_bytes(buf, n))
        return gn_err_set("-: this is an ONNX model: import it with onnx2h5 first");
    if (n < sizeof sig || memcmp(buf, sig, sizeof sig))
        return gn_err_set("-: standard input is not an HDF5 file (%zu bytes)", n);
    stdin_buf = buf, stdin_len = n;
    H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
                                      img_udata_copy, img_udata_free, NULL};
    static int opens; /* a name of its own for each open, as the core driver wants */
    char name[64];
    snprintf(name, sizeof name, "standard input %d", opens++);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), id = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) >= 0 &&
        H5Pset_file_image_callbacks(fapl, &cb) >= 0 && H5Pset_file_image(fapl, (void *)buf, n) >= 0)
        id = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (id < 0)
        return gn_err_set("-: standard input is truncated or damaged (%zu bytes of HDF5)", n);
    *f = id;
    return 0;
}

int gn_h5_open(const char *path, hid_t *f)
{
    gn_h5_quiet();
    if (image.name && !strcmp(path, image.name)) {
        /* the core driver over a copy of the image: what H5LTopen_file_image
         * does, without the 72 bytes that leaks per read-only open in HDF5
         * 1.10 (LeakSanitizer, under the fuzzer) */
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), id = -1;
        if (fapl >= 0 && image.len >= 8 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
            H5Pset_file_image(fapl, (void *)image.buf, image.len) >= 0)
            id = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (fapl >= 0) H5Pclose(fapl);
        if (id < 0) return gn_err_set("%s: not an HDF5 file (or truncated)", path);
        *f = id;
        return 0;
    }
    if (gn_is_stdio(path)) return open_stdin(f);
    /* programs refuse empty names as usage errors (gn_cli_check_io); this is
     * for the rest, where stat would say ": No such file or directory" */
    if (!*path) return gn_err_set("empty file name");
    struct stat st;
    if (stat(path, &st)) return gn_err_set("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return gn_err_set("%s: is a directory", path);
    if (access(path, R_OK)) return gn_err_set("%s: %s", path, strerror(errno));
    htri_t ok = H5Fis_hdf5(path);
    if (ok <= 0) return not_hdf5(path);
    hid_t id = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id < 0) return gn_err_set("%s: cannot open as HDF5 (truncated or damaged?)", path);
    *f = id;
    return 0;
}

hid_t gn_h5_group(hid_t loc, const char *name)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

hid_t gn_h5_dcpl(void)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(p, 0);
    return p;
}

int gn_h5_create(const char *path, hid_t *f)
{
    gn_h5_quiet();
    hid_t id = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) return gn_err_set("%s: cannot create: %s", path, strerror(errno));
    *f = id;
    return 0;
}

/* "-": the file is built in memory (the core driver, no backing store) and
 * written to standard output only when complete */
static int save_stdout(int (*write)(hid_t f, const void *arg), const void *arg)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, (size_t)1 << 20, 0);
    hid_t f = H5Fcreate("standard output", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) return gn_err_set("-: cannot create an HDF5 file image in memory");
    int rc = write(f, arg);
    void *img = NULL;
    ssize_t n = 0;
    if (!rc && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) rc = gn_err_set("cannot flush");
    if (!rc && (n = H5Fget_file_image(f, NULL, 0)) <= 0) rc = gn_err_set("cannot size the image");
    if (!rc) {
        img = gn_xmalloc((size_t)n);
        if (H5Fget_file_image(f, img, (size_t)n) != n) rc = gn_err_set("cannot copy the image");
    }
    if (H5Fclose(f) < 0 && !rc) rc = gn_err_set("cannot close");
    if (rc) gn_err_prefix("-");
    else rc = gn_stdout_write(img, (size_t)n);
    free(img);
    return rc;
}

int gn_h5_save(const char *path, int (*write)(hid_t f, const void *arg), const void *arg)
{
    gn_h5_quiet();
    if (gn_is_stdio(path)) return save_stdout(write, arg);
    const char *tmp = gn_out_begin(path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        int e = errno;
        gn_out_abort();
        return gn_err_set("%s: cannot create: %s", path, strerror(e));
    }
    int rc = write(f, arg);
    if (H5Fclose(f) < 0 && !rc) rc = gn_err_set("cannot close");
    if (rc) {
        gn_err_prefix("%s", path);
        gn_out_abort();
        return rc;
    }
    return gn_out_commit();
}

/* ---- checking attribute messages before libhdf5 decodes them --------------
 * libhdf5 1.10.8 decodes an attribute message (H5O_attr_decode) without
 * checking that the name, datatype, dataspace and data it announces fit in
 * the message: it copies npoints x type-size bytes from wherever the data
 * starts, so a damaged message reads past its buffer (heap overflow or
 * SEGV, found by fuzzing). Every call that looks at an object's attributes
 * (H5Aexists, H5Aopen, H5Aiterate2, H5Aopen_by_idx) decodes them all, so no
 * other call avoids it; only H5Oget_info does not. gn_h5_check_header reads
 * the object header's bytes itself (through the file driver's handle: the
 * file descriptor, or the memory image) and checks every attribute message
 * of it before any of those calls; and the datatype messages of datasets,
 * whose conversion reads as many bits as the type's precision claims. */

typedef struct {
    const unsigned char *mem; /* the core driver's image, or NULL: fd */
    int fd;
    haddr_t base, eof;        /* file offsets */
    unsigned sa, ss;          /* sizeof offsets, sizeof lengths */
} raw_file;

static int raw_read(const raw_file *r, haddr_t addr, unsigned char *buf, size_t n)
{
    if (r->base > r->eof || addr > r->eof - r->base || n > r->eof - r->base - addr) return -1;
    if (r->mem) memcpy(buf, r->mem + r->base + addr, n);
    else if (pread(r->fd, buf, n, (off_t)(r->base + addr)) != (ssize_t)n) return -1;
    return 0;
}

static uint64_t le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* an atomic datatype message t[0..len): its bits lie inside its bytes
 * (libhdf5 1.10.8 converts an integer or float of 4 bytes whose precision
 * claims 23840 bits by reading 2980 bytes past it) */
static int dtype_ok(const unsigned char *t, size_t len)
{
    if (len < 8) return 0;
    unsigned c = t[0] & 15;
    uint64_t bits = le(t + 4, 4) * 8;
    /* an integer or float wider than 32 bytes (HDF5's widest are 16) is
     * damaged: libhdf5 allocates a conversion buffer of that size, 2 GB for
     * one fuzz input, before reading anything */
    if ((c == 0 || c == 1 || c == 4) && (bits < 8 || bits > 32 * 8)) return 0;
    if (c == 0 || c == 4) { /* fixed-point, bitfield: offset, precision */
        if (len < 12) return 0;
        uint64_t off = le(t + 8, 2), prec = le(t + 10, 2);
        return prec >= 1 && off + prec <= bits;
    }
    if (c == 1) { /* floating point: and the sign, exponent and mantissa in it */
        if (len < 20) return 0;
        uint64_t off = le(t + 8, 2), prec = le(t + 10, 2);
        return prec >= 1 && off + prec <= bits && t[2] < prec && (uint64_t)t[12] + t[13] <= prec &&
               (uint64_t)t[14] + t[15] <= prec;
    }
    return c <= 10;
}

/* one attribute message p[0..size): does what it announces fit in it? (1
 * yes, 0 no, -1 its datatype or dataspace is shared: not checked) */
static int attr_msg_ok(const unsigned char *p, size_t size, const raw_file *r)
{
    if (size < 8 || p[0] < 1 || p[0] > 3) return 0;
    unsigned v = p[0];
    if (v >= 2 && p[1]) return -1; /* a shared datatype or dataspace: elsewhere */
    size_t len[3] = {le(p + 2, 2), le(p + 4, 2), le(p + 6, 2)}, at[3];
    size_t o = v == 3 ? 9 : 8;
    for (int i = 0; i < 3; i++) {
        at[i] = o;
        size_t l = v == 1 ? (len[i] + 7) & ~(size_t)7 : len[i];
        if (l > size - o) return 0;
        o += l;
    }
    /* the name ends at its announced length (libhdf5 strdup's it) */
    if (!len[0] || memchr(p + at[0], 0, len[0]) != p + at[0] + len[0] - 1) return 0;
    /* the datatype: class and size (a variable-length one takes its size on
     * disk, a length, a heap address and an index) */
    const unsigned char *t = p + at[1];
    if (!dtype_ok(t, len[1])) return 0;
    uint64_t tsize = le(t + 4, 4);
    if ((t[0] & 15) == 9 && tsize < 8u + r->sa) tsize = 8u + r->sa;
    /* the dataspace: version 1 (8-byte header) or 2 (4 bytes, with a type) */
    const unsigned char *s = p + at[2];
    if (len[2] < 4 || (s[0] != 1 && s[0] != 2) || s[1] > 32) return 0;
    size_t h = s[0] == 1 ? 8 : 4, rank = s[1];
    if (h + rank * r->ss * ((s[2] & 1) ? 2 : 1) > len[2]) return 0;
    uint64_t n = 1;
    if (s[0] == 2 && s[3] == 2) n = 0; /* the null dataspace */
    for (size_t i = 0; i < rank && n; i++)
        if (__builtin_mul_overflow(n, le(s + h + i * r->ss, r->ss), &n)) return 0;
    return !n || tsize <= (size - o) / n;
}

/* checks the object header at addr: 0 ok, 1 damaged, 2 attributes libhdf5
 * keeps elsewhere (dense storage, shared messages: not checked, refused) */
static int header_ok(const raw_file *r, haddr_t addr)
{
    enum { MAXCHUNK = 64 };
    haddr_t ca[MAXCHUNK];
    uint64_t cl[MAXCHUNK];
    int nc = 0, v2, track;
    unsigned char pre[32];
    if (raw_read(r, addr, pre, 16)) return 1;
    if (pre[0] == 1) { /* version 1: 16-byte prefix, then the first chunk */
        v2 = track = 0;
        ca[0] = addr + 16, cl[0] = le(pre + 8, 4), nc = 1;
    } else if (!memcmp(pre, "OHDR", 4) && pre[4] == 2) {
        unsigned fl = pre[5], o = 6 + ((fl & 0x20) ? 16 : 0) + ((fl & 0x10) ? 4 : 0);
        unsigned w = 1u << (fl & 3);
        if (raw_read(r, addr, pre, o + w)) return 1;
        v2 = 1, track = (fl & 0x04) != 0;
        ca[0] = addr + o + w, cl[0] = le(pre + o, w), nc = 1;
    } else return 1;
    int rc = 0;
    for (int c = 0; c < nc && !rc; c++) {
        uint64_t len = cl[c];
        haddr_t a = ca[c];
        if (c && v2) { /* "OCHK", the messages, a checksum */
            if (len < 8) return 1;
            a += 4, len -= 8;
        }
        if (len > (64u << 20)) return 1;
        unsigned char *b = gn_xmalloc(len ? len : 1);
        if (raw_read(r, a, b, len)) rc = 1;
        size_t mh = v2 ? (track ? 6 : 4) : 8;
        for (size_t o = 0; !rc && o + mh <= len;) {
            int k;
            unsigned type = v2 ? b[o] : (unsigned)le(b + o, 2);
            size_t size = le(b + o + (v2 ? 1 : 2), 2);
            unsigned mf = b[o + (v2 ? 3 : 4)];
            const unsigned char *p = b + o + mh;
            if (size > len - o - mh) rc = 1;
            else if (type == 0x0c && (mf & 2)) rc = 2;
            else if (type == 0x0c && (k = attr_msg_ok(p, size, r)) != 1) rc = k ? 2 : 1;
            else if (type == 0x03 && !(mf & 2) && !dtype_ok(p, size)) rc = 1; /* a dataset's */
            else if (type == 0x15 && size >= 2 + r->sa) { /* attribute info */
                size_t q = 2 + ((p[1] & 1) ? 2 : 0);
                if (q + r->sa > size) rc = 1;
                else if (le(p + q, r->sa) != (r->sa == 8 ? UINT64_MAX : (UINT64_C(1) << 8 * r->sa) - 1))
                    rc = 2; /* a fractal heap of attributes (dense storage) */
            } else if (type == 0x10) { /* continuation */
                if (size < r->sa + r->ss) rc = 1;
                else if (nc == MAXCHUNK) rc = 1;
                else ca[nc] = le(p, r->sa), cl[nc++] = le(p + r->sa, r->ss);
            }
            o += mh + size;
        }
        free(b);
    }
    return rc;
}

/* how to read file f's bytes: 1 checked (r filled), 0 a driver not checked,
 * -1 unknown */
static int raw_open(hid_t loc, raw_file *r)
{
    hid_t f = H5Iget_file_id(loc), fapl = -1, fcpl = -1;
    void *h = NULL;
    hsize_t ub = 0, eof = 0;
    size_t sa = 0, ss = 0;
    int rc = -1;
    if (f >= 0 && (fapl = H5Fget_access_plist(f)) >= 0 && (fcpl = H5Fget_create_plist(f)) >= 0 &&
        H5Pget_sizes(fcpl, &sa, &ss) >= 0 && H5Pget_userblock(fcpl, &ub) >= 0 &&
        H5Fget_filesize(f, &eof) >= 0 && sa >= 2 && sa <= 8 && ss >= 2 && ss <= 8 &&
        H5Fget_vfd_handle(f, H5P_DEFAULT, &h) >= 0 && h) {
        hid_t drv = H5Pget_driver(fapl);
        *r = (raw_file){NULL, -1, ub, eof, (unsigned)sa, (unsigned)ss};
        if (drv == H5FD_CORE) r->mem = *(const unsigned char **)h, rc = r->mem ? 1 : -1;
        else if (drv == H5FD_SEC2) r->fd = *(int *)h, rc = 1;
        else rc = 0;
    }
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f >= 0) H5Fclose(f);
    return rc;
}

int gn_h5_check_header(hid_t loc)
{
    /* the file last asked about and the last object found sound in it (a
     * reader reads several attributes of one object in a row; file numbers
     * are not reused within a process) */
    static unsigned long file;
    static int how = -1;
    static raw_file r;
    static haddr_t last = HADDR_UNDEF;
    H5O_info_t oi;
    int rc = 1;
    if (H5Oget_info2(loc, &oi, H5O_INFO_BASIC) >= 0) {
        if (oi.fileno != file || how < 0) file = oi.fileno, how = raw_open(loc, &r), last = HADDR_UNDEF;
        if (how == 0 || (how > 0 && oi.addr == last)) rc = 0;
        else if (how > 0 && !(rc = header_ok(&r, oi.addr))) last = oi.addr;
    }
    if (!rc) return 0;
    if (rc == 2) return gn_err_set("attributes in dense or shared storage, which genie does not check");
    return gn_err_set("damaged HDF5 object header (libhdf5 cannot read it)");
}

int gn_h5_kind(hid_t f, char *buf, size_t len)
{
    char *s = NULL;
    buf[0] = 0;
    if (gn_h5_attr_str_r(f, "genie_kind", &s, 1)) {
        /* the file's name, as its reader was given it ("-" for standard input) */
        ssize_t n = H5Fget_name(f, NULL, 0);
        char *name = gn_xcalloc(n > 0 ? (size_t)n + 1 : 2, 1);
        if (n > 0) H5Fget_name(f, name, (size_t)n + 1);
        gn_err_prefix("%s", !strncmp(name, "standard input ", 15) ? "-" : name);
        free(name);
        return GN_EIO;
    }
    if (s) snprintf(buf, len, "%s", s);
    free(s);
    return 0;
}

int gn_h5_attr_str_w(hid_t loc, const char *name, const char *value)
{
    int rc = 0;
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, value) < 0) rc = gn_err_set("cannot write attribute %s", name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int gn_h5_attr_str_r(hid_t loc, const char *name, char **out, int optional)
{
    *out = NULL;
    if (gn_h5_check_header(loc)) return GN_EIO;
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0) return optional ? 0 : gn_err_set("attribute %s missing", name);
    int rc = 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    if (a < 0 || t < 0 || H5Tget_class(t) != H5T_STRING) {
        rc = gn_err_set("attribute %s is not a string", name);
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        char *v = NULL;
        if (H5Aread(a, mt, &v) < 0 || !v) rc = gn_err_set("attribute %s unreadable", name);
        else {
            *out = gn_xstrdup(v);
            H5free_memory(v);
        }
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(t);
        char *v = gn_xcalloc(sz + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz);
        if (H5Aread(a, mt, v) < 0) {
            free(v);
            rc = gn_err_set("attribute %s unreadable", name);
        } else *out = v;
        H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return rc;
}

static int attr_num_w(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v, int n)
{
    hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a < 0 || H5Awrite(a, mtype, v) < 0) ? gn_err_set("cannot write attribute %s", name) : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

static int attr_num_r(hid_t loc, const char *name, hid_t mtype, void *v, int n, int optional)
{
    if (gn_h5_check_header(loc)) return GN_EIO;
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0) return optional ? 0 : gn_err_set("attribute %s missing", name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    int rc = 0;
    if (a < 0 || sp < 0) rc = gn_err_set("attribute %s unreadable", name);
    else if (H5Sget_simple_extent_npoints(sp) != n)
        rc = gn_err_set("attribute %s has %lld values, expected %d", name,
                        (long long)H5Sget_simple_extent_npoints(sp), n);
    else if (H5Aread(a, mtype, v) < 0) rc = gn_err_set("attribute %s has the wrong type", name);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return rc;
}

int gn_h5_attr_ints_w(hid_t loc, const char *name, const int *v, int n)
{
    return attr_num_w(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, v, n);
}
int gn_h5_attr_ints_r(hid_t loc, const char *name, int *v, int n, int optional)
{
    return attr_num_r(loc, name, H5T_NATIVE_INT, v, n, optional);
}
int gn_h5_attr_floats_w(hid_t loc, const char *name, const float *v, int n)
{
    return attr_num_w(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, v, n);
}
int gn_h5_attr_floats_r(hid_t loc, const char *name, float *v, int n, int optional)
{
    return attr_num_r(loc, name, H5T_NATIVE_FLOAT, v, n, optional);
}

static int write_ds(hid_t loc, const char *name, int ndim, const size_t *dims, hid_t ftype,
                    hid_t mtype, const void *v)
{
    hsize_t d[8];
    for (int i = 0; i < ndim; i++) d[i] = dims[i];
    hid_t sp = H5Screate_simple(ndim, d, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = gn_h5_dcpl();
    hid_t ds = H5Dcreate2(loc, name, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int rc = (ds < 0 || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
                 ? gn_err_set("cannot write dataset %s", name)
                 : 0;
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(lcpl);
    H5Sclose(sp);
    return rc;
}

int gn_h5_write_f32(hid_t loc, const char *name, int ndim, const size_t *dims, const float *v)
{
    return write_ds(loc, name, ndim, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, v);
}
int gn_h5_write_i32(hid_t loc, const char *name, int ndim, const size_t *dims, const int *v)
{
    return write_ds(loc, name, ndim, dims, H5T_STD_I32LE, H5T_NATIVE_INT, v);
}

int gn_h5_check_size(hid_t obj, const char *file, const char *name, size_t bytes)
{
    hid_t fid = H5Iget_file_id(obj);
    hsize_t fsize = 0;
    int ok = fid >= 0 && H5Fget_filesize(fid, &fsize) >= 0;
    if (fid >= 0) H5Fclose(fid);
    if (!ok) return gn_err_set("%s: %s: cannot tell the file's size", file, name);
    if (bytes / 1024 > fsize)
        return gn_err_set("%s: %s: %zu bytes cannot be in a file of %llu bytes (truncated or "
                          "damaged)",
                          file, name, bytes, (unsigned long long)fsize);
    return 0;
}

/* opens dataset `name`, checks class and rank, fills dims; *count is the
 * element count, checked: the product of the dimensions does not overflow,
 * each fits an int, and count * size bytes is no more than the file could
 * hold (1024 times its size, room for compression), so a damaged header
 * cannot make the reader allocate what the file does not have */
static int open_ds(hid_t loc, const char *file, const char *name, H5T_class_t cls, int ndim,
                   size_t size, size_t *dims, hid_t *ds_out, size_t *count)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return gn_err_set("%s: no dataset %s", file, name);
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return gn_err_set("%s: %s is not a dataset", file, name);
    if (gn_h5_check_header(ds)) {
        gn_err_prefix("%s: %s", file, name);
        H5Dclose(ds);
        return GN_EIO;
    }
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t d[H5S_MAX_RANK];
    int rc = 0;
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t < 0 || sp < 0)
        rc = gn_err_set("%s: %s: unreadable dataset header", file, name);
    else if (c != cls)
        rc = gn_err_set("%s: %s has type class %d, expected %s", file, name, (int)c,
                        cls == H5T_FLOAT ? "float" : "integer");
    else if (rank < 1 || rank > 4 || (ndim && rank != ndim))
        rc = gn_err_set("%s: %s has rank %d, expected %d", file, name, rank, ndim);
    else if (H5Sget_simple_extent_dims(sp, d, NULL) != rank)
        rc = gn_err_set("%s: %s: unreadable dimensions", file, name);
    else {
        size_t n = 1, bytes = 0;
        int over = 0;
        for (int i = 0; i < rank; i++) {
            over |= d[i] > INT_MAX || __builtin_mul_overflow(n, (size_t)d[i], &n);
            dims[i] = d[i];
        }
        over |= __builtin_mul_overflow(n, size, &bytes);
        for (int i = rank; i < 4; i++) dims[i] = 1;
        if (over) {
            char s[128] = "";
            for (int i = 0, o = 0; i < rank && o < (int)sizeof s; i++)
                o += snprintf(s + o, sizeof s - (size_t)o, "%s%llu", i ? " x " : "",
                              (unsigned long long)d[i]);
            rc = gn_err_set("%s: %s: dimensions %s are too large", file, name, s);
        } else rc = gn_h5_check_size(ds, file, name, bytes);
        *count = n;
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (rc) H5Dclose(ds);
    else *ds_out = ds;
    return rc;
}

/* reads a whole dataset of class `cls` as `mtype` (elements of `size` bytes) */
static int read_ds(hid_t loc, const char *file, const char *name, int ndim, size_t *dims,
                   H5T_class_t cls, hid_t mtype, size_t size, void **out)
{
    hid_t ds;
    size_t n;
    if (open_ds(loc, file, name, cls, ndim, size, dims, &ds, &n)) return GN_EIO;
    void *v = gn_try_alloc(n, size, name);
    if (!v) {
        gn_err_prefix("%s", file);
        H5Dclose(ds);
        return GN_ENOMEM;
    }
    int rc = 0;
    if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        rc = gn_err_set("%s: cannot read %s (truncated file?)", file, name);
        free(v);
    } else *out = v;
    H5Dclose(ds);
    return rc;
}

int gn_h5_read_f32(hid_t loc, const char *file, const char *name, int ndim, size_t *dims,
                   float **out)
{
    return read_ds(loc, file, name, ndim, dims, H5T_FLOAT, H5T_NATIVE_FLOAT, sizeof(float),
                   (void **)out);
}

int gn_h5_read_i32(hid_t loc, const char *file, const char *name, int ndim, size_t *dims,
                   int **out)
{
    return read_ds(loc, file, name, ndim, dims, H5T_INTEGER, H5T_NATIVE_INT, sizeof(int),
                   (void **)out);
}

int gn_h5_read_f32_rows(hid_t loc, const char *file, const char *name, size_t first,
                        size_t count, float *out)
{
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return gn_err_set("%s: no dataset %s", file, name);
    if (gn_h5_check_header(ds)) {
        gn_err_prefix("%s: %s", file, name);
        H5Dclose(ds);
        return GN_EIO;
    }
    hid_t sp = H5Dget_space(ds);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t d[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0};
    int rc = 0;
    if (rank < 1 || H5Sget_simple_extent_dims(sp, d, NULL) != rank)
        rc = gn_err_set("%s: %s: unreadable dimensions", file, name);
    else if (first + count > d[0]) rc = gn_err_set("%s: %s has %llu rows, asked for %zu..%zu", file, name,
                                              (unsigned long long)d[0], first, first + count);
    else {
        start[0] = first;
        d[0] = count;
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, d, NULL);
        hid_t ms = H5Screate_simple(rank, d, NULL);
        if (H5Dread(ds, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, out) < 0)
            rc = gn_err_set("%s: cannot read %s", file, name);
        else {
            size_t per = 1, k;
            for (int i = 1; i < rank; i++) per *= d[i];
            if ((k = gn_nonfinite(out, count * per)) < count * per)
                rc = gn_err_code(GN_EINVAL, "%s: %s: value %g in row %zu (non-finite inputs are refused)",
                                 file, name, out[k], first + k / per);
        }
        H5Sclose(ms);
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}

/* ---- models ------------------------------------------------------------- */

/* parameter names may hold '/', which HDF5 takes as a path separator */
static void escape_name(char *dst, size_t len, const char *src)
{
    size_t k = 0;
    for (; *src && k + 4 <= len; src++) {
        if (*src == '/' || *src == '%') k += (size_t)snprintf(dst + k, len - k, "%%%02X", (unsigned char)*src);
        else dst[k++] = *src;
    }
    dst[k] = 0;
}

/* the n strings joined by '\n' (malloc'd): names have no length limit */
static char *join_lines(const char *const *s, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(s[i]) + 1;
    char *b = gn_xmalloc(len), *o = b;
    *o = 0;
    for (int i = 0; i < n; i++) o = stpcpy(stpcpy(o, i ? "\n" : ""), s[i]);
    return b;
}

int gn_model_write_graph(hid_t f, const gn_graph *g) { return gn_model_write_graph_ex(f, g, NULL); }

int gn_model_write_graph_ex(hid_t f, const gn_graph *g, const char *skip)
{
    int rc = 0;
    hid_t gg = gn_h5_group(f, "graph");
    hid_t gp = gn_h5_group(f, "params");
    if (gg < 0 || gp < 0) rc = gn_err_set("cannot create groups");
    int shape[3] = {g->t[g->input].c, g->t[g->input].h, g->t[g->input].w};
    rc = rc || gn_h5_attr_ints_w(f, "input_shape", shape, 3) ||
         gn_h5_attr_str_w(f, "input_name", g->t[g->input].name) ||
         gn_h5_attr_str_w(f, "output_name", g->t[g->output].name);
    for (int k = 0; k < g->nn && !rc; k++) {
        const gn_node *n = &g->nodes[k];
        char nm[32], *buf;
        snprintf(nm, sizeof nm, "%04d", k);
        hid_t ng = gn_h5_group(gg, nm);
        if (ng < 0) {
            rc = gn_err_set("cannot create graph/%s", nm);
            break;
        }
        rc = gn_h5_attr_str_w(ng, "op", gn_op_name(n->op)) || gn_h5_attr_str_w(ng, "name", n->name);
        const char *f[GN_NSLOT];
        for (int j = 0; j < n->nin; j++) f[j] = g->t[n->in[j]].name;
        buf = join_lines(f, n->nin);
        rc = rc || gn_h5_attr_str_w(ng, "inputs", buf) ||
             gn_h5_attr_str_w(ng, "output", g->t[n->out].name);
        free(buf);
        for (int s = 0; s < GN_NSLOT; s++) f[s] = n->p[s] >= 0 ? g->params[n->p[s]].name : "";
        buf = join_lines(f, GN_NSLOT);
        rc = rc || gn_h5_attr_str_w(ng, "params", buf);
        free(buf);
        int ints[13] = {n->kh, n->kw, n->sh, n->sw, n->pt, n->pl, n->pb, n->pr, n->groups,
                        n->count_include_pad, n->rc, n->rh, n->rw};
        float fl[5] = {n->eps, n->momentum, n->lo, n->hi, n->slope};
        rc = rc || gn_h5_attr_ints_w(ng, "kernel", ints, 2) ||
             gn_h5_attr_ints_w(ng, "stride", ints + 2, 2) ||
             gn_h5_attr_ints_w(ng, "pads", ints + 4, 4) ||
             gn_h5_attr_ints_w(ng, "groups", ints + 8, 1) ||
             gn_h5_attr_ints_w(ng, "count_include_pad", ints + 9, 1) ||
             gn_h5_attr_ints_w(ng, "reshape", ints + 10, 3) ||
             gn_h5_attr_floats_w(ng, "eps", fl, 1) ||
             gn_h5_attr_floats_w(ng, "momentum", fl + 1, 1) ||
             gn_h5_attr_floats_w(ng, "clip", fl + 2, 2) ||
             gn_h5_attr_floats_w(ng, "slope", fl + 4, 1);
        int qa[3] = {n->wbits, n->abits, n->asigned};
        if (!rc && (n->wbits || n->op == GN_OP_AQUANT)) rc = gn_h5_attr_ints_w(ng, "quant", qa, 3);
        /* attributes of the later operators, only on the nodes that have them */
        int sl[2] = {n->c0, n->cn}, one = 1;
        float ab[2] = {n->alpha, n->beta};
        if (!rc && n->ceil_mode) rc = gn_h5_attr_ints_w(ng, "ceil_mode", &one, 1);
        if (!rc && n->op == GN_OP_SLICE) rc = gn_h5_attr_ints_w(ng, "slice", sl, 2);
        if (!rc && n->op == GN_OP_HSIGMOID) rc = gn_h5_attr_floats_w(ng, "alpha_beta", ab, 2);
        H5Gclose(ng);
    }
    for (int i = 0; i < g->np && !rc; i++) {
        if (skip && skip[i]) continue;
        const gn_param *p = &g->params[i];
        size_t dims[4], len = 3 * strlen(p->name) + 1;
        char *nm = gn_xmalloc(len);
        for (int d = 0; d < p->ndim; d++) dims[d] = (size_t)p->dims[d];
        escape_name(nm, len, p->name);
        rc = gn_h5_write_f32(gp, nm, p->ndim, dims, p->data);
        if (!rc) {
            hid_t ds = H5Dopen2(gp, nm, H5P_DEFAULT);
            rc = gn_h5_attr_str_w(ds, "name", p->name);
            H5Dclose(ds);
        }
        free(nm);
    }
    if (gg >= 0) H5Gclose(gg);
    if (gp >= 0) H5Gclose(gp);
    return rc;
}

/* splits s at '\n' into up to max fields (in place); returns the count */
static int split_lines(char *s, char **f, int max)
{
    int n = 0;
    if (!*s) return 0;
    f[n++] = s;
    for (char *c = s; *c; c++)
        if (*c == '\n') {
            *c = 0;
            if (n < max) f[n++] = c + 1;
        }
    return n;
}

struct param_it {
    gn_graph *g;
    const char *path;
    int rc;
};

static herr_t read_param(hid_t loc, const char *name, const H5L_info_t *info, void *arg)
{
    struct param_it *it = arg;
    size_t dims[4];
    float *v = NULL;
    char *pname = NULL;
    char full[1100];
    snprintf(full, sizeof full, "params/%s", name);
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) {
        it->rc = gn_err_set("%s: %s is not a dataset", it->path, full);
        return -1;
    }
    hid_t sp = H5Dget_space(ds);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    int rc = gn_h5_attr_str_r(ds, "name", &pname, 1); /* checks the header first */
    if (rc) gn_err_prefix("%s: %s", it->path, full);
    H5Dclose(ds);
    if (rc || gn_h5_read_f32(loc, it->path, name, 0, dims, &v)) {
        free(pname);
        it->rc = GN_EIO;
        return -1;
    }
    int idims[4]; /* open_ds checked each fits an int */
    for (int i = 0; i < 4; i++) idims[i] = (int)dims[i];
    if (gn_graph_add_param(it->g, pname ? pname : name, rank, idims, v) < 0) {
        gn_err_prefix("%s", it->path);
        it->rc = GN_EIO;
    }
    free(v);
    free(pname);
    return it->rc ? -1 : 0;
}

int gn_model_read_graph(hid_t f, const char *path, gn_graph **out)
{
    return gn_model_read_graph_ex(f, path, NULL, NULL, out);
}

int gn_model_read_graph_ex(hid_t f, const char *path,
                           int (*hook)(hid_t, const char *, gn_graph *, void *), void *arg,
                           gn_graph **out)
{
    gn_graph *g = gn_graph_new();
    int rc = 0, shape[3];
    char *in_name = NULL, *out_name = NULL;
    if (gn_h5_attr_ints_r(f, "input_shape", shape, 3, 0) ||
        gn_h5_attr_str_r(f, "input_name", &in_name, 0) ||
        gn_h5_attr_str_r(f, "output_name", &out_name, 0)) {
        gn_err_prefix("%s", path);
        free(in_name), free(out_name);
        gn_graph_free(g);
        return GN_EIO;
    }
    if (H5Lexists(f, "params", H5P_DEFAULT) <= 0 || H5Lexists(f, "graph", H5P_DEFAULT) <= 0) {
        rc = gn_err_set("%s: no /graph or /params group", path);
        goto done;
    }
    struct param_it it = {g, path, 0};
    hid_t gp = H5Gopen2(f, "params", H5P_DEFAULT);
    if (gp < 0) {
        rc = gn_err_set("%s: /params is not a group", path);
        goto done;
    }
    herr_t e = H5Literate(gp, H5_INDEX_NAME, H5_ITER_INC, NULL, read_param, &it);
    H5Gclose(gp);
    if ((rc = it.rc)) goto done;
    if (e < 0) {
        rc = gn_err_set("%s: /params: cannot list its datasets", path);
        goto done;
    }
    if (hook && (rc = hook(f, path, g, arg))) goto done;
    g->input = gn_graph_tensor(g, in_name);
    hid_t gg = H5Gopen2(f, "graph", H5P_DEFAULT);
    H5G_info_t gi;
    if (gg < 0 || H5Gget_info(gg, &gi) < 0) {
        rc = gn_err_set("%s: /graph is not a group", path);
        if (gg >= 0) H5Gclose(gg);
        goto done;
    }
    for (hsize_t k = 0; k < gi.nlinks && !rc; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%04d", (int)k);
        hid_t ng = H5Gopen2(gg, nm, H5P_DEFAULT);
        if (ng < 0) {
            rc = gn_err_set("%s: graph/%s missing (or not a group)", path, nm);
            break;
        }
        char *op = NULL, *name = NULL, *ins = NULL, *outn = NULL, *ps = NULL;
        rc = gn_h5_attr_str_r(ng, "op", &op, 0) || gn_h5_attr_str_r(ng, "name", &name, 0) ||
             gn_h5_attr_str_r(ng, "inputs", &ins, 0) || gn_h5_attr_str_r(ng, "output", &outn, 0) ||
             gn_h5_attr_str_r(ng, "params", &ps, 0);
        int kind = rc ? -1 : gn_op_from_name(op);
        if (!rc && kind < 0) rc = gn_err_set("unknown operator '%s'", op);
        if (!rc) {
            gn_node *n = gn_graph_add_node(g, (gn_opkind)kind, name);
            char *f2[GN_NSLOT + 1];
            char *fin[GN_MAXIN + 1];
            n->nin = split_lines(ins, fin, GN_MAXIN);
            for (int j = 0; j < n->nin; j++) {
                int t = gn_graph_tensor(g, fin[j]);
                g->nodes[g->nn - 1].in[j] = t;
            }
            n = &g->nodes[g->nn - 1];
            n->out = gn_graph_tensor(g, outn);
            n = &g->nodes[g->nn - 1];
            int np = split_lines(ps, f2, GN_NSLOT);
            for (int s = 0; s < np && !rc; s++)
                if (*f2[s] && (n->p[s] = gn_graph_find_param(g, f2[s])) < 0)
                    rc = gn_err_set("node %s: parameter %s not in /params", name, f2[s]);
            int ints[13] = {0};
            float fl[5] = {0};
            ints[0] = n->kh, ints[1] = n->kw, ints[2] = n->sh, ints[3] = n->sw, ints[8] = n->groups;
            fl[0] = n->eps, fl[1] = n->momentum, fl[2] = n->lo, fl[3] = n->hi, fl[4] = n->slope;
            rc = rc || gn_h5_attr_ints_r(ng, "kernel", ints, 2, 1) ||
                 gn_h5_attr_ints_r(ng, "stride", ints + 2, 2, 1) ||
                 gn_h5_attr_ints_r(ng, "pads", ints + 4, 4, 1) ||
                 gn_h5_attr_ints_r(ng, "groups", ints + 8, 1, 1) ||
                 gn_h5_attr_ints_r(ng, "count_include_pad", ints + 9, 1, 1) ||
                 gn_h5_attr_ints_r(ng, "reshape", ints + 10, 3, 1) ||
                 gn_h5_attr_floats_r(ng, "eps", fl, 1, 1) ||
                 gn_h5_attr_floats_r(ng, "momentum", fl + 1, 1, 1) ||
                 gn_h5_attr_floats_r(ng, "clip", fl + 2, 2, 1) ||
                 gn_h5_attr_floats_r(ng, "slope", fl + 4, 1, 1);
            int qa[3] = {0, 0, 0};
            rc = rc || gn_h5_attr_ints_r(ng, "quant", qa, 3, 1);
            int cm = 0, sl[2] = {0, 0};
            float ab[2] = {0, 0};
            rc = rc || gn_h5_attr_ints_r(ng, "ceil_mode", &cm, 1, 1) ||
                 gn_h5_attr_ints_r(ng, "slice", sl, 2, 1) ||
                 gn_h5_attr_floats_r(ng, "alpha_beta", ab, 2, 1);
            n->ceil_mode = cm != 0, n->c0 = sl[0], n->cn = sl[1], n->alpha = ab[0], n->beta = ab[1];
            n->wbits = qa[0], n->abits = qa[1], n->asigned = qa[2];
            n->kh = ints[0], n->kw = ints[1], n->sh = ints[2], n->sw = ints[3];
            n->pt = ints[4], n->pl = ints[5], n->pb = ints[6], n->pr = ints[7];
            n->groups = ints[8], n->count_include_pad = ints[9];
            n->rc = ints[10], n->rh = ints[11], n->rw = ints[12];
            n->eps = fl[0], n->momentum = fl[1], n->lo = fl[2], n->hi = fl[3], n->slope = fl[4];
        }
        if (rc) gn_err_prefix("%s: graph/%s", path, nm);
        free(op), free(name), free(ins), free(outn), free(ps);
        H5Gclose(ng);
    }
    H5Gclose(gg);
    if (rc) goto done;
    g->output = gn_graph_find_tensor(g, out_name);
    if (g->output < 0) {
        rc = gn_err_set("%s: output tensor %s is not produced by any node", path, out_name);
        goto done;
    }
    if ((rc = gn_graph_finalize(g, shape[0], shape[1], shape[2]))) gn_err_prefix("%s", path);
    else if ((rc = gn_graph_check_finite(g))) gn_err_prefix("%s", path);
done:
    free(in_name);
    free(out_name);
    if (rc) gn_graph_free(g);
    else *out = g;
    return rc;
}

/* checks the root kind attribute; kind "" accepted only when allow_none */
static int expect_kind(hid_t f, const char *path, const char *want)
{
    char kind[64];
    int version = 0;
    if (gn_h5_kind(f, kind, sizeof kind)) return GN_EIO;
    if (!*kind) return gn_err_set("%s: not a genie %s file (no genie_kind attribute)", path, want);
    if (strcmp(kind, want))
        return gn_err_set("%s: is a genie %s file, expected a %s file", path, kind, want);
    if (gn_h5_attr_ints_r(f, "genie_format", &version, 1, 0)) {
        gn_err_prefix("%s", path);
        return GN_EIO;
    }
    if (version != GN_MODEL_FORMAT)
        return gn_err_set("%s: %s format version %d, this genie reads %d", path, want, version,
                          GN_MODEL_FORMAT);
    return 0;
}

int gn_model_load(const char *path, gn_graph **out)
{
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    int rc = expect_kind(f, path, "model") || gn_model_read_graph(f, path, out);
    H5Fclose(f);
    return rc;
}

static int write_kind(hid_t f, const char *kind, int version)
{
    return gn_h5_attr_str_w(f, "genie_kind", kind) ||
           gn_h5_attr_ints_w(f, "genie_format", &version, 1);
}

struct save_args {
    const void *obj;
    int (*extra)(hid_t, void *);
    void *arg;
};

static int write_model(hid_t f, const void *arg)
{
    const struct save_args *a = arg;
    return write_kind(f, "model", GN_MODEL_FORMAT) || gn_model_write_graph(f, a->obj) ||
           (a->extra && a->extra(f, a->arg));
}

int gn_model_save(const char *path, const gn_graph *g, int (*extra)(hid_t, void *), void *arg)
{
    struct save_args a = {g, extra, arg};
    return gn_h5_save(path, write_model, &a);
}

/* ---- datasets ----------------------------------------------------------- */

int gn_dataset_load(const char *path, gn_dataset *d)
{
    hid_t f;
    memset(d, 0, sizeof *d);
    if (gn_h5_open(path, &f)) return GN_EIO;
    char kind[64];
    int rc = gn_h5_kind(f, kind, sizeof kind);
    if (!rc && *kind && strcmp(kind, "dataset"))
        rc = gn_err_set("%s: is a genie %s file, expected a dataset", path, kind);
    if (!rc && !*kind && H5Lexists(f, "x", H5P_DEFAULT) <= 0)
        rc = gn_err_set("%s: not a dataset (no /x)", path);
    size_t dims[4], ydims[4];
    if (!rc) rc = gn_h5_read_f32(f, path, "x", 4, dims, &d->x);
    if (!rc) {
        d->n = dims[0], d->c = (int)dims[1], d->h = (int)dims[2], d->w = (int)dims[3];
        size_t per = dims[1] * dims[2] * dims[3], k = gn_nonfinite(d->x, d->n * per);
        if (k < d->n * per)
            rc = gn_err_code(GN_EINVAL, "%s: x: value %g in image %zu (non-finite inputs are refused)",
                             path, d->x[k], k / per);
    }
    if (!rc) {
        if (H5Lexists(f, "y", H5P_DEFAULT) > 0) {
            rc = gn_h5_read_i32(f, path, "y", 1, ydims, &d->y);
            if (!rc && ydims[0] != d->n)
                rc = gn_err_set("%s: /y has %zu labels for %zu images", path, ydims[0], d->n);
        }
    }
    H5Fclose(f);
    if (rc) gn_dataset_free(d);
    return rc;
}

static int write_dataset(hid_t f, const void *arg)
{
    const struct save_args *a = arg;
    const gn_dataset *d = a->obj;
    size_t dims[4] = {d->n, (size_t)d->c, (size_t)d->h, (size_t)d->w};
    return write_kind(f, "dataset", GN_DATASET_FORMAT) || gn_h5_write_f32(f, "x", 4, dims, d->x) ||
           (d->y && gn_h5_write_i32(f, "y", 1, dims, d->y)) || (a->extra && a->extra(f, a->arg));
}

int gn_dataset_save(const char *path, const gn_dataset *d, int (*extra)(hid_t, void *), void *arg)
{
    struct save_args a = {d, extra, arg};
    return gn_h5_save(path, write_dataset, &a);
}

void gn_dataset_free(gn_dataset *d)
{
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

int gn_dataset_check_input(const gn_dataset *d, const char *dpath, const gn_graph *g,
                           const char *mpath)
{
    const gn_tensorinfo *in = &g->t[g->input];
    if (d->c == in->c && d->h == in->h && d->w == in->w) return 0;
    return gn_err_code(GN_EINVAL, "%s: /x holds %dx%dx%d samples, %s%s takes %dx%dx%d", dpath,
                       d->c, d->h, d->w, mpath ? "model " : "the model", mpath ? mpath : "",
                       in->c, in->h, in->w);
}
