/* bench_pool.c - the operator pool's hand-over for `make bench`: the mean
 * round trip of an empty job on 2 threads (gn_ops_parallel: wake the
 * worker, run nothing, join). Polling workers hand over in about a
 * microsecond here; the condition-variable wake-up they replaced took about
 * 20 us. Prints what it measured; asserts nothing. */
#include <stdio.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_ops.h"

static void nothing(void *ctx, int t, int T) { (void)ctx, (void)t, (void)T; }

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* genie's start-up: OpenBLAS kernel check and self-test */
    gn_set_threads(2);
    for (int k = 0; k < 100; k++) gn_ops_parallel(nothing, NULL, (size_t)1 << 20);
    const int n = 20000;
    double t0 = gn_now(), c0 = gn_cpu_now();
    for (int k = 0; k < n; k++) gn_ops_parallel(nothing, NULL, (size_t)1 << 20);
    double t = gn_now() - t0, c = gn_cpu_now() - c0;
    printf("pool: empty job on 2 threads, %.2f us per round trip (%.2f us CPU, both threads)\n",
           1e6 * t / n, 1e6 * c / n);
    return 0;
}
