/*
 * pool.c - fork-join thread pool with parked workers.
 *
 * Workers wait on a condition variable for a new job generation, run their
 * share, and the last one to finish signals the caller.  A job is a
 * (function, argument) pair published under the mutex together with an
 * incremented generation number, so a worker can never run a job twice or
 * miss one.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "engine/pool.h"

struct pool {
	int		 n_threads;	/* workers + the caller */
	pthread_t	*threads;	/* n_threads - 1 worker threads */
	int		 n_started;	/* workers actually created */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv_job;	/* a new generation was published */
	pthread_cond_t	 cv_done;	/* the last worker of a job finished */
	unsigned long	 gen;		/* job generation counter */
	int		 pending;	/* workers still running this job */
	int		 stop;		/* set to end the workers */
	pool_fn		 fn;		/* current job */
	void		*arg;
};

struct worker_arg {
	struct pool	*pool;
	int		 ith;
};


static void *
worker_main(void *v)
{
	struct worker_arg *wa = v;
	struct pool *p = wa->pool;
	int ith = wa->ith;
	unsigned long seen = 0;
	pool_fn fn;
	void *arg;

	cl_free(wa);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->cv_job, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		fn = p->fn;
		arg = p->arg;
		pthread_mutex_unlock(&p->mu);

		fn(arg, ith, p->n_threads);

		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->cv_done);
		pthread_mutex_unlock(&p->mu);
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
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_job, NULL);
	pthread_cond_init(&p->cv_done, NULL);
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
	p->stop = 1;
	pthread_cond_broadcast(&p->cv_job);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n_started; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv_done);
	pthread_cond_destroy(&p->cv_job);
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
	if (p->n_threads == 1) {
		fn(arg, 0, 1);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->pending = p->n_threads - 1;
	p->gen++;
	pthread_cond_broadcast(&p->cv_job);
	pthread_mutex_unlock(&p->mu);

	fn(arg, 0, p->n_threads);

	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->cv_done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void
pool_split(size_t n, int ith, int nth, size_t *lo, size_t *hi)
{
	size_t per = n / (size_t)nth, rem = n % (size_t)nth;
	size_t i = (size_t)ith;

	*lo = i * per + (i < rem ? i : rem);
	*hi = *lo + per + (i < rem ? 1 : 0);
}
