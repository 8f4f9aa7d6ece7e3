/*
 * alloc.c - allocation wrappers with a fault-injection hook for tests.
 */
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Allocations left before injected failure; -1 means never fail. */
static long fail_after = -1;

static bool
should_fail(void)
{
	if (fail_after < 0)
		return false;
	if (fail_after == 0)
		return true;
	fail_after--;
	return false;
}

void
cl_alloc_fail_after(long n)
{
	fail_after = n < 0 ? -1 : n;
}

void *
cl_malloc(size_t n)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n == 0 ? 1 : n);
}

void *
cl_calloc(size_t n, size_t size)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	if (n == 0 || size == 0)
		return calloc(1, 1);
	return calloc(n, size);
}

void *
cl_realloc(void *p, size_t n)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n == 0 ? 1 : n);
}

char *
cl_strndup(const char *s, size_t n)
{
	char *r;

	if ((r = cl_malloc(n + 1)) == NULL)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

char *
cl_strdup(const char *s)
{
	return cl_strndup(s, strlen(s));
}

void
cl_free(void *p)
{
	free(p);
}
