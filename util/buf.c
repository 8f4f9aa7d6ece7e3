/*
 * buf.c - growable byte buffer, whole-descriptor I/O and the clock.
 */
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
cl_buf_init(struct cl_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
cl_buf_release(struct cl_buf *b)
{
	cl_free(b->data);
	cl_buf_init(b);
}

void
cl_buf_reset(struct cl_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
cl_buf_reserve(struct cl_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	/* One more byte for the NUL terminator. */
	if (!cl_add_size(b->len, n, &need) || !cl_add_size(need, 1, &need))
		return CL_ENOMEM;
	if (need <= b->cap)
		return CL_OK;
	cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need) {
		if (!cl_mul_size(cap, 2, &cap))
			return CL_ENOMEM;
	}
	if ((p = cl_realloc(b->data, cap)) == NULL)
		return CL_ENOMEM;
	b->data = p;
	b->cap = cap;
	return CL_OK;
}

int
cl_buf_append(struct cl_buf *b, const void *p, size_t n)
{
	int r;

	if ((r = cl_buf_reserve(b, n)) != CL_OK)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return CL_OK;
}

int
cl_buf_puts(struct cl_buf *b, const char *s)
{
	return cl_buf_append(b, s, strlen(s));
}

int
cl_buf_printf(struct cl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return CL_EINTERNAL;
	if ((r = cl_buf_reserve(b, (size_t)n)) != CL_OK)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return CL_OK;
}

char *
cl_buf_steal(struct cl_buf *b, size_t *len_out)
{
	char *p = b->data;

	if (len_out != NULL)
		*len_out = b->len;
	cl_buf_init(b);
	return p;
}

int
cl_read_all(int fd, size_t max, char **out, size_t *len_out,
    struct cl_err *err)
{
	struct cl_buf b = CL_BUF_INIT;
	ssize_t n;
	int r;

	*out = NULL;
	for (;;) {
		if ((r = cl_buf_reserve(&b, 65536)) != CL_OK) {
			cl_buf_release(&b);
			return cl_errf(err, r, "out of memory reading input");
		}
		n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno;
			cl_buf_release(&b);
			return cl_errf(err, CL_EIO, "read failed: %s",
			    strerror(r));
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		b.data[b.len] = '\0';
		if (b.len > max) {
			cl_buf_release(&b);
			return cl_errf(err, CL_ELIMIT,
			    "input larger than %zu bytes", max);
		}
	}
	*out = cl_buf_steal(&b, len_out);
	return CL_OK;
}

int
cl_write_all(int fd, const void *p, size_t n, struct cl_err *err)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cl_errf(err, CL_EIO, "write failed: %s",
			    strerror(errno));
		c += w;
		n -= (size_t)w;
	}
	return CL_OK;
}

double
cl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
