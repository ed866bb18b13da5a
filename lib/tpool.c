/* tpool.c - the thread pool every operator shares (see gn_tpool.h).
 *
 * Workers are started on first use, up to GN_TPOOL_MAX, and kept; worker k
 * runs part t = k of every run. A run holds pool_busy from start to join,
 * so one caller at a time has the pool; a call made meanwhile from another
 * thread runs its parts serially in that thread.
 *
 * What it deliberately does not do: choose how many threads a job gets
 * (callers do, from gn_get_threads()), queue work, or let a worker out of
 * tpool.c's own loop. */
#include "gn_tpool.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "gn_base.h"

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER; /* held for a whole run */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;   /* guards what follows */
static pthread_cond_t pool_go = PTHREAD_COND_INITIALIZER, pool_done = PTHREAD_COND_INITIALIZER;
static int pool_n;             /* workers started; worker k runs part t = k */
static unsigned long pool_gen; /* bumped for every run */
static unsigned long pool_gen0[GN_TPOOL_MAX];
static unsigned long pool_left; /* workers not yet done with the current run */
static gn_tpool_fn pool_f;
static void *pool_ctx;
static int pool_T;

/* Waking a thread blocked in pthread_cond_wait and joining it again costs
 * about 20 us on this class of (virtual) machine, more than a whole
 * elementwise pass over a reconstruction batch. So a worker that has
 * finished a part, and the caller waiting for the workers, first poll for
 * up to POOL_SPIN_S (with the pause instruction, reading one shared word)
 * and only then block: back-to-back runs, as a training or reconstruction
 * step makes them, hand over in about a microsecond; an idle pool sleeps
 * after POOL_SPIN_S. pool_gen and pool_left change under pool_mu, but are
 * written and polled atomically so the polling needs no lock. */
#define POOL_SPIN_S 50e-6

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Polls until *w != v (neq) or *w == v (!neq), for at most POOL_SPIN_S;
 * returns whether it saw the change. */
static int pool_spin(const unsigned long *w, unsigned long v, int neq)
{
    double end = 0;
    for (unsigned i = 0;; i++) {
        if ((__atomic_load_n(w, __ATOMIC_ACQUIRE) != v) == neq) return 1;
        cpu_relax();
        if ((i & 63) == 0) {
            double now = gn_now();
            if (i == 0) end = now + POOL_SPIN_S;
            else if (now > end) return 0;
        }
    }
}

static void *pool_worker(void *arg)
{
    const int t = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool_mu);
    unsigned long seen = pool_gen0[t];
    for (;;) {
        if (pool_gen == seen) {
            pthread_mutex_unlock(&pool_mu);
            pool_spin(&pool_gen, seen, 1);
            pthread_mutex_lock(&pool_mu);
        }
        while (pool_gen == seen) pthread_cond_wait(&pool_go, &pool_mu);
        seen = pool_gen;
        gn_tpool_fn f = pool_f;
        void *ctx = pool_ctx;
        int T = pool_T;
        pthread_mutex_unlock(&pool_mu);
        if (t < T) f(ctx, t, T);
        pthread_mutex_lock(&pool_mu);
        if (__atomic_sub_fetch(&pool_left, 1, __ATOMIC_RELEASE) == 0) pthread_cond_signal(&pool_done);
    }
    return NULL;
}

/* A child of fork() has none of the workers: start afresh. */
static void pool_atfork_child(void)
{
    pthread_mutex_init(&pool_busy, NULL);
    pthread_mutex_init(&pool_mu, NULL);
    pthread_cond_init(&pool_go, NULL);
    pthread_cond_init(&pool_done, NULL);
    pool_n = 0;
}

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static void pool_init(void) { pthread_atfork(NULL, NULL, pool_atfork_child); }

int gn_tpool_run(gn_tpool_fn f, void *ctx, int T, void (*solo)(int on))
{
    if (T > GN_TPOOL_MAX) T = GN_TPOOL_MAX;
    if (T <= 1 || pthread_mutex_trylock(&pool_busy) != 0) {
        f(ctx, 0, 1);
        return 1;
    }
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool_mu);
    if (pool_n < T - 1) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        while (pool_n < T - 1) {
            pthread_t th;
            int t = pool_n + 1;
            pool_gen0[t] = pool_gen;
            if (pthread_create(&th, NULL, pool_worker, (void *)(intptr_t)t) != 0) break;
            pthread_detach(th);
            pool_n++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (T > pool_n + 1) T = pool_n + 1;
    if (T > 1) {
        if (solo) solo(1);
        pool_f = f;
        pool_ctx = ctx;
        pool_T = T;
        __atomic_store_n(&pool_left, (unsigned long)pool_n, __ATOMIC_RELAXED);
        __atomic_add_fetch(&pool_gen, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&pool_go);
    }
    pthread_mutex_unlock(&pool_mu);
    f(ctx, 0, T);
    if (T > 1) {
        pool_spin(&pool_left, 0, 0);
        pthread_mutex_lock(&pool_mu);
        while (pool_left > 0) pthread_cond_wait(&pool_done, &pool_mu);
        pthread_mutex_unlock(&pool_mu);
        if (solo) solo(0);
    }
    pthread_mutex_unlock(&pool_busy);
    return T;
}

