/*
 * pool.h - the engine's thread pool (internal to engine/).
 *
 * One explicit pool of worker threads, created once after the sandbox is
 * entered and parked between jobs.  pool_run() hands the same function to
 * every thread (the caller's thread is worker 0) and returns when all of
 * them have finished: a fork-join barrier.  Work is split by the callee
 * from (ith, nth), typically by output rows.  Inside one job the threads
 * meet at pool_barrier() between steps that depend on each other, so a
 * whole forward pass is one job: the workers wake once per forward, not
 * once per matrix.  No thread is created per token or per matrix.
 *
 * Thread-safety: one caller at a time per pool.
 */
#ifndef CLOISTER_POOL_H
#define CLOISTER_POOL_H

#include <stddef.h>

#include "util/util.h"

struct pool;

/* A job body: thread `ith` of `nth` does its share of the work in `arg`. */
typedef void (*pool_fn)(void *arg, int ith, int nth);

/*
 * Start a pool of `n_threads` (>= 1; the caller counts as one, so
 * n_threads - 1 threads are created).  On success *out holds the pool;
 * the caller frees it with pool_free().
 */
int	pool_new(int n_threads, struct pool **out, struct cl_err *err) CL_WUR;
/* Stop and join the workers.  NULL-safe. */
void	pool_free(struct pool *p);
/* Threads in the pool, the caller included. */
int	pool_size(const struct pool *p);
/* Run fn(arg, ith, nth) on every thread and wait for all to finish. */
void	pool_run(struct pool *p, pool_fn fn, void *arg);
/*
 * Inside a job run by pool_run(): wait until all nth threads of the pool
 * have called pool_barrier() (the same number of times).  Memory written
 * before the barrier by any thread is visible after it to every thread.
 * Spins briefly, then yields the CPU; never parks (a job is short).
 */
void	pool_barrier(struct pool *p);
/* The share [*lo, *hi) of n items that thread ith of nth takes. */
void	pool_split(size_t n, int ith, int nth, size_t *lo, size_t *hi);

#endif /* CLOISTER_POOL_H */
