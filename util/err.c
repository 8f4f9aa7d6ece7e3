/*
 * err.c - error codes, messages and CL_BUG.
 */
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cl_errf(struct cl_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
cl_err_prefix(struct cl_err *err, const char *fmt, ...)
{
	char head[128], old[sizeof(err->msg)];
	size_t n, rest;
	va_list ap;

	if (err == NULL)
		return CL_EINTERNAL;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation is acceptable: the message is a one-line summary. */
	n = strlen(head);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, head, n);
	memcpy(err->msg + n, ": ", 2);
	rest = sizeof(err->msg) - n - 2;
	memcpy(err->msg + n + 2, old, rest - 1);
	err->msg[sizeof(err->msg) - 1] = '\0';
	return err->code;
}

const char *
cl_strerror(int code)
{
	switch (code) {
	case CL_OK:		return "success";
	case CL_EINTERNAL:	return "internal error";
	case CL_ENOMEM:		return "out of memory";
	case CL_EINVAL:		return "invalid argument";
	case CL_EIO:		return "input/output error";
	case CL_EFORMAT:	return "malformed input";
	case CL_ECRYPTO:	return "authentication failed";
	case CL_ESANDBOX:	return "sandbox failure";
	case CL_EPOLICY:	return "refused by policy";
	case CL_EUNSUPPORTED:	return "not supported";
	case CL_ENOTFOUND:	return "not found";
	case CL_EEXIST:		return "already exists";
	case CL_ELIMIT:		return "limit reached";
	case CL_ECANCELED:	return "canceled";
	case CL_EENGINE:	return "engine failure";
	case CL_EAUTH:		return "not authorised";
	}
	return "unknown error";
}

void
cl_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "cloister: internal error at %s:%d: %s\n", file, line,
	    what);
	abort();
}
