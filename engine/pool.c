/*
 * pool.c - fork-join thread pool: spinning workers that park when idle.
 *
 * A job is published by storing (fn, arg) and then incrementing the
 * generation counter; workers watch the counter.  Between the many small
 * jobs of a forward pass a worker spins (a few hundred microseconds at
 * most), so a job starts without a system call; after that it parks on a
 * condition variable, so an idle engine (a user typing) costs no CPU.
 *
 * Lost wake-ups are impossible: the publisher increments `gen` and then
 * reads `n_sleeping`; a worker increments `n_sleeping` (holding the mutex)
 * and then re-reads `gen` before waiting.  Both pairs are sequentially
 * consistent, so at least one side sees the other's write: either the
 * worker sees the new generation and does not sleep, or the publisher sees
 * a sleeper and broadcasts under the mutex, which the worker holds until it
 * is waiting.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/pool.h"

/*
 * Idle workers spin (pause instructions, ~tens of ns each), then yield
 * the CPU a number of times, then park.  Yielding matters when the
 * machine is busier than the pool: a spinning worker would otherwise keep
 * the thread that has the work from running.
 */
#define SPIN_LIMIT	(1 << 12)
#define YIELD_LIMIT	(SPIN_LIMIT + 256)

struct pool {
	int			 n_threads;	/* workers + the caller */
	pthread_t		*threads;	/* n_threads - 1 workers */
	int			 n_started;	/* workers actually created */
	pool_fn			 fn;		/* current job, published by gen */
	void			*arg;
	atomic_ulong		 gen;		/* job generation counter */
	atomic_int		 pending;	/* workers still running the job */
	atomic_int		 stop;		/* set to end the workers */
	atomic_int		 n_sleeping;	/* workers parked on cv */
	/* pool_barrier(), padded away from the job fields and each other */
	char			 pad0[64];
	atomic_int		 bar_count;	/* threads arrived */
	char			 pad1[64];
	atomic_ulong		 bar_phase;	/* completed barriers */
	char			 pad2[64];
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
};

struct worker_arg {
	struct pool	*pool;
	int		 ith;
};

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Wait for a generation other than `seen`; returns it (or stop). */
static unsigned long
wait_job(struct pool *p, unsigned long seen)
{
	unsigned long g;
	int spins = 0;

	for (;;) {
		g = atomic_load(&p->gen);
		if (g != seen || atomic_load(&p->stop))
			return g;
		if (++spins < SPIN_LIMIT) {
			cpu_relax();
			continue;
		}
		if (spins < YIELD_LIMIT) {
			sched_yield();
			continue;
		}
		pthread_mutex_lock(&p->mu);
		atomic_fetch_add(&p->n_sleeping, 1);
		while (atomic_load(&p->gen) == seen &&
		    !atomic_load(&p->stop))
			pthread_cond_wait(&p->cv, &p->mu);
		atomic_fetch_sub(&p->n_sleeping, 1);
		pthread_mutex_unlock(&p->mu);
		spins = 0;
	}
}

static void *
worker_main(void *v)
{
	struct worker_arg *wa = v;
	struct pool *p = wa->pool;
	int ith = wa->ith;
	unsigned long seen = 0;

	cl_free(wa);
	for (;;) {
		seen = wait_job(p, seen);
		if (atomic_load(&p->stop))
			return NULL;
		p->fn(p->arg, ith, p->n_threads);
		atomic_fetch_sub(&p->pending, 1);
	}
}

int
pool_new(int n_threads, struct pool **out, struct cl_err *err)
{
	struct pool *p = NULL;
	struct worker_arg *wa;
	int i, e, r = CL_EINTERNAL;

	*out = NULL;
	if (n_threads < 1 || n_threads > 256)
		return cl_errf(err, CL_EINVAL,
		    "thread count %d out of range 1..256", n_threads);
	if ((p = cl_calloc(1, sizeof(*p))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	p->n_threads = n_threads;
	atomic_init(&p->gen, 0);
	atomic_init(&p->pending, 0);
	atomic_init(&p->stop, 0);
	atomic_init(&p->n_sleeping, 0);
	atomic_init(&p->bar_count, 0);
	atomic_init(&p->bar_phase, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (n_threads > 1 &&
	    (p->threads = cl_calloc((size_t)n_threads - 1,
	    sizeof(*p->threads))) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 1; i < n_threads; i++) {
		if ((wa = cl_malloc(sizeof(*wa))) == NULL) {
			r = cl_errf(err, CL_ENOMEM, "out of memory");
			goto out;
		}
		wa->pool = p;
		wa->ith = i;
		if ((e = pthread_create(&p->threads[i - 1], NULL, worker_main,
		    wa)) != 0) {
			cl_free(wa);
			r = cl_errf(err, CL_EIO, "cannot start thread: %s",
			    strerror(e));
			goto out;
		}
		p->n_started++;
	}
	*out = p;
	p = NULL;
	r = CL_OK;
out:
	pool_free(p);
	return r;
}

void
pool_free(struct pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n_started; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	cl_free(p->threads);
	cl_free(p);
}

int
pool_size(const struct pool *p)
{
	return p->n_threads;
}

void
pool_run(struct pool *p, pool_fn fn, void *arg)
{
	unsigned spins;

	if (p->n_threads == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n_threads - 1);
	atomic_fetch_add(&p->gen, 1);	/* publishes fn, arg, pending */
	if (atomic_load(&p->n_sleeping) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}

	fn(arg, 0, p->n_threads);

	/* Spin, then yield, in case the machine is busier than the pool. */
	for (spins = 0; atomic_load(&p->pending) > 0; spins++) {
		if (spins < SPIN_LIMIT)
			cpu_relax();
		else
			sched_yield();
	}
}

/*
 * A centralised barrier: the last thread to arrive resets the count and
 * then advances the phase, which releases the others.  A thread reads the
 * phase before it announces its arrival, and the phase cannot advance
 * before every thread has arrived, so no thread misses its phase.  The
 * count is reset before the phase moves, so a thread released from this
 * barrier can arrive at the next one at once.
 */
void
pool_barrier(struct pool *p)
{
	unsigned long ph;
	unsigned spins;

	if (p->n_threads == 1)
		return;
	ph = atomic_load(&p->bar_phase);
	if (atomic_fetch_add(&p->bar_count, 1) == p->n_threads - 1) {
		atomic_store(&p->bar_count, 0);
		atomic_store(&p->bar_phase, ph + 1);
		return;
	}
	/* Spin, then yield, in case the machine is busier than the pool. */
	for (spins = 0; atomic_load(&p->bar_phase) == ph; spins++) {
		if (spins < SPIN_LIMIT)
			cpu_relax();
		else
			sched_yield();
	}
}

void
pool_split(size_t n, int ith, int nth, size_t *lo, size_t *hi)
{
	size_t per = n / (size_t)nth, rem = n % (size_t)nth;
	size_t i = (size_t)ith;

	*lo = i * per + (i < rem ? i : rem);
	*hi = *lo + per + (i < rem ? 1 : 0);
}
