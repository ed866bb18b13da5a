/* out.c - atomic outputs (see gn_out.h). */
#include "gn_out.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gn_err.h"

static char tmp_name[4096];
static char final_name[4096];
static volatile sig_atomic_t active;
static int to_stdout;

static void on_signal(int sig)
{
    if (active) unlink(tmp_name);
    signal(sig, SIG_DFL);
    raise(sig);
}

void gn_out_install_signals(void)
{
    static int done;
    if (done) return;
    done = 1;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

const char *gn_out_begin(const char *path)
{
    gn_out_install_signals();
    to_stdout = !strcmp(path, "-");
    if (to_stdout) {
        const char *td = getenv("TMPDIR");
        snprintf(tmp_name, sizeof tmp_name, "%s/genie-stdout.%ld.h5", td && *td ? td : "/tmp",
                 (long)getpid());
        snprintf(final_name, sizeof final_name, "-");
    } else {
        snprintf(final_name, sizeof final_name, "%s", path);
        snprintf(tmp_name, sizeof tmp_name, "%s.tmp.%ld", path, (long)getpid());
    }
    active = 1;
    return tmp_name;
}

int gn_out_commit(void)
{
    if (!active) return gn_err_set("internal: no output open");
    if (to_stdout) {
        int fd = open(tmp_name, O_RDONLY);
        if (fd < 0) return gn_err_set("%s: %s", tmp_name, strerror(errno));
        char buf[1 << 16];
        ssize_t k;
        int rc = 0;
        while ((k = read(fd, buf, sizeof buf)) > 0)
            if (fwrite(buf, 1, (size_t)k, stdout) != (size_t)k) {
                rc = gn_err_set("standard output: %s", strerror(errno));
                break;
            }
        close(fd);
        if (!rc && fflush(stdout)) rc = gn_err_set("standard output: %s", strerror(errno));
        unlink(tmp_name);
        active = 0;
        return rc;
    }
    if (rename(tmp_name, final_name)) {
        int e = errno;
        unlink(tmp_name);
        active = 0;
        return gn_err_set("%s: cannot rename into place: %s", final_name, strerror(e));
    }
    active = 0;
    return 0;
}

void gn_out_abort(void)
{
    if (active) unlink(tmp_name);
    active = 0;
}

int gn_out_check(const char *path, const char *const *inputs, int nin)
{
    if (!strcmp(path, "-")) return 0;
    if (!*path) return gn_err_set("'': an empty output name");
    struct stat st;
    if (!stat(path, &st)) {
        if (S_ISDIR(st.st_mode)) return gn_err_set("%s: is a directory", path);
        if (!S_ISREG(st.st_mode))
            return gn_err_set("%s: not a regular file (give '-' for standard output)", path);
        for (int i = 0; i < nin; i++) {
            struct stat si;
            if (!inputs[i] || !strcmp(inputs[i], "-") || stat(inputs[i], &si)) continue;
            if (si.st_dev == st.st_dev && si.st_ino == st.st_ino)
                return gn_err_set("%s: is also an input (%s): refusing to overwrite it", path,
                                  inputs[i]);
        }
    }
    /* the temporary file is made beside the output, then renamed */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st)) {
        if (errno == ENOENT) return gn_err_set("%s: directory %s does not exist", path, dir);
        return gn_err_set("%s: %s: %s", path, dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return gn_err_set("%s: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK))
        return gn_err_set("%s: cannot write in directory %s: %s", path, dir, strerror(errno));
    return 0;
}
