/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput on files, without
 * libFuzzer or clang: `make check` builds each target with gcc against this
 * driver and replays the regression corpus tests/fuzz/regress/TARGET/ (and
 * the seeds) through it, so every input that ever crashed a reader is tried
 * on every run. Usage: replay FILE|DIR...; exits 0 when every input ran
 * (a crash aborts the process, which is the failure). TARGET names the
 * target (-DTARGET=\"onnx\"). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: cannot open\n", path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0, k;
    uint8_t *b = malloc(cap);
    while (b && (k = fread(b + n, 1, cap - n, f)) > 0)
        if ((n += k) == cap) b = realloc(b, cap *= 2);
    fclose(f);
    if (!b) return 1;
    LLVMFuzzerTestOneInput(b, n);
    free(b);
    return 0;
}

/* with no arguments: the target's seeds and regression corpus */
static char *defaults[] = {"replay", "tests/fuzz/seed/" TARGET, "tests/fuzz/regress/" TARGET};

int main(int argc, char **argv)
{
    int files = 0, bad = 0;
    if (argc < 2) argc = 3, argv = defaults;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) continue; /* an absent corpus is an empty one */
        if (!S_ISDIR(st.st_mode)) {
            bad |= run_file(argv[i]), files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            bad |= run_file(p), files++;
        }
        if (d) closedir(d);
    }
    /* the summary line tests/run-all counts */
    printf("replay_%s: %d passed, %d failed, 0 skipped\n", TARGET, files - bad, bad);
    return bad;
}

/* Under `make check SANITIZE=1` the replay runs as the fuzzer did: a huge
 * malloc returns NULL (libhdf5 asks for absurd sizes on damaged files and
 * copes), and what libhdf5 itself loses on those paths is not genie's leak
 * (tests/fuzz/lsan.supp). Unused in builds without sanitizers. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }
