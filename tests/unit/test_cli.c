/* test_cli - the command-line layer: number parsing (gn_parse_*), the
 * shared options parser (gn_cli_parse) and the output check (gn_out_check).
 * Usage errors print to stderr; the checks look at return values and the
 * values parsed. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_out.h"

static void parse_numbers(void)
{
    unsigned long long u = 7;
    CHECK(gn_parse_u64("0", &u) == 0 && u == 0);
    CHECK(gn_parse_u64("18446744073709551615", &u) == 0 && u == 18446744073709551615ULL);
    CHECK(gn_parse_u64("18446744073709551616", &u) == -1); /* overflow */
    u = 7;
    CHECK(gn_parse_u64(" -5", &u) == -1 && u == 7);
    CHECK(gn_parse_u64("-5", &u) == -1);
    CHECK(gn_parse_u64("+5", &u) == -1);
    CHECK(gn_parse_u64(" 5", &u) == -1);
    CHECK(gn_parse_u64("\t5", &u) == -1);
    CHECK(gn_parse_u64("5 ", &u) == -1);
    CHECK(gn_parse_u64("", &u) == -1);
    CHECK(gn_parse_u64(NULL, &u) == -1);
    CHECK(gn_parse_u64("12x", &u) == -1);
    long l = 0;
    CHECK(gn_parse_long("-3", -5, 5, &l) == 0 && l == -3);
    CHECK(gn_parse_long(" 3", -5, 5, &l) == -1);
    CHECK(gn_parse_long("6", -5, 5, &l) == -1);
    int i = 0;
    CHECK(gn_parse_int("1024", 1, 1024, &i) == 0 && i == 1024);
    CHECK(gn_parse_int("5000", 1, 1024, &i) == -1);
    float f = 0;
    CHECK(gn_parse_float("0.5", 0, 1, &f) == 0 && f == 0.5f);
    CHECK(gn_parse_float(" 0.5", 0, 1, &f) == -1);
    CHECK(gn_parse_float("nan", 0, 1, &f) == -1);
}

/* one program's own options for the parser tests: -k N and --flag */
struct own {
    int k, flag;
};

static int on_opt(void *ctx, int c, const char *arg)
{
    struct own *o = ctx;
    if (c == 'k') {
        if (gn_parse_int(arg, 0, 9, &o->k)) return gn_usage_error("-k: bad '%s'", arg);
    } else if (c == 'F') o->flag = 1;
    return 0;
}

static int helped;
static void usage(void) { helped++; }

/* runs gn_cli_parse over a NULL-ended list of arguments after "prog" */
struct parsed {
    int st, threads, batch, quiet, first;
    uint64_t seed;
    unsigned given;
    const char *out;
    struct own own;
};

static struct parsed run(const char *const *args)
{
    static char buf[16][64];
    char *argv[17];
    int argc = 0;
    argv[argc++] = (char *)"prog";
    for (; *args && argc < 16; args++, argc++) {
        snprintf(buf[argc], sizeof buf[argc], "%s", *args);
        argv[argc] = buf[argc];
    }
    argv[argc] = NULL;
    static const struct option lo[] = {{"flag", 0, 0, 'F'}, {"fla-other", 0, 0, 'G'}, {0, 0, 0, 0}};
    struct parsed p = {.threads = 0, .batch = 32, .seed = 3};
    gn_cli_spec s = {.out = &p.out, .threads = &p.threads, .batch = &p.batch, .batch_min = 2,
                     .batch_max = 64, .seed = &p.seed, .quiet = &p.quiet, .given = &p.given,
                     .shortopts = "k:", .longopts = lo, .opt = on_opt, .ctx = &p.own,
                     .usage = usage};
    optind = 0; /* glibc: start afresh */
    p.st = gn_cli_parse(argc, argv, &s);
    p.first = optind;
    return p;
}

static void parse_options(void)
{
    gn_cli_init("test_cli");
    struct parsed p = run((const char *[]){"-o", "x.h5", "--threads", "4", "-b", "8", "--seed",
                                           "99", "-q", "-k", "5", "--flag", "in.h5", NULL});
    CHECK(p.st == -1);
    CHECK(p.out && !strcmp(p.out, "x.h5"));
    CHECK(p.threads == 4 && p.batch == 8 && p.seed == 99 && p.quiet == 1);
    CHECK(p.own.k == 5 && p.own.flag == 1);
    CHECK(p.first == 13); /* "in.h5" */
    CHECK(p.given == (GN_CLI_GIVEN_OUTPUT | GN_CLI_GIVEN_THREADS | GN_CLI_GIVEN_BATCH |
                      GN_CLI_GIVEN_SEED | GN_CLI_GIVEN_QUIET));
    /* defaults stay when not given */
    p = run((const char *[]){"a", NULL});
    CHECK(p.st == -1 && p.batch == 32 && p.seed == 3 && p.given == 0 && !p.out);
    /* ranges and bad values: usage errors */
    CHECK(run((const char *[]){"--threads", "5000", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"--threads", "0", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"--threads", "1024", NULL}).st == -1);
    CHECK(run((const char *[]){"-b", "1", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"-b", "65", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"--seed", " -5", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"-k", "x", NULL}).st == GN_EXIT_USAGE);
    /* unknown, ambiguous, missing argument, argument to a flag */
    CHECK(run((const char *[]){"--nope", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"-z", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"--fla", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"-o", NULL}).st == GN_EXIT_USAGE);
    CHECK(run((const char *[]){"--quiet=1", NULL}).st == GN_EXIT_USAGE);
    /* an unambiguous abbreviation is fine */
    p = run((const char *[]){"--thr", "2", NULL});
    CHECK(p.st == -1 && p.threads == 2);
    /* --help calls usage and says stop with 0 */
    helped = 0;
    CHECK(run((const char *[]){"--help", NULL}).st == 0 && helped == 1);
    CHECK(run((const char *[]){"-h", NULL}).st == 0 && helped == 2);
}

static void out_check(void)
{
    char dir[] = "/tmp/test_cli.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char a[256], b[256], nodir[256], sub[256];
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    snprintf(nodir, sizeof nodir, "%s/nodir/x.h5", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    FILE *f = fopen(a, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK(mkdir(sub, 0755) == 0);
    const char *ins[] = {a, NULL, "-"};
    CHECK(gn_out_check(b, ins, 3) == 0);    /* new file in an existing directory */
    CHECK(gn_out_check("-", ins, 3) == 0);  /* standard output */
    CHECK(gn_out_check(nodir, ins, 3) != 0); /* no such directory */
    CHECK(strstr(gn_err_msg(), "does not exist") != NULL);
    CHECK(strstr(gn_err_msg(), nodir) == gn_err_msg()); /* names the user's path */
    CHECK(gn_out_check(sub, ins, 3) != 0);   /* a directory */
    CHECK(strstr(gn_err_msg(), "is a directory") != NULL);
    CHECK(gn_out_check(a, ins, 3) != 0);     /* one of its inputs */
    CHECK(strstr(gn_err_msg(), "is also an input") != NULL);
    char alias[300]; /* the same file by another name */
    snprintf(alias, sizeof alias, "%s/../a.h5", sub);
    const char *ins2[] = {alias};
    CHECK(gn_out_check(a, ins2, 1) != 0);
    CHECK(gn_out_check(a, NULL, 0) == 0); /* existing, not an input: replaced */
    CHECK(gn_out_check("", NULL, 0) != 0);
    unlink(a);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    parse_numbers();
    parse_options();
    out_check();
    return check_summary("test_cli");
}
