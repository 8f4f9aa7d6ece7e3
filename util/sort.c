/*
 * sort.c - in-place heapsort (see cl_sort in util.h for why not qsort).
 */
#include "util/util.h"

#include <string.h>

static void
swap_bytes(char *a, char *b, size_t size)
{
	char t;

	while (size-- > 0) {
		t = *a;
		*a++ = *b;
		*b++ = t;
	}
}

/* Restore the max-heap property below `root` within base[0..n). */
static void
sift_down(char *base, size_t root, size_t n, size_t size,
    int (*cmp)(const void *, const void *, void *), void *arg)
{
	size_t child;

	for (;;) {
		child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && cmp(base + child * size,
		    base + (child + 1) * size, arg) < 0)
			child++;
		if (cmp(base + root * size, base + child * size, arg) >= 0)
			return;
		swap_bytes(base + root * size, base + child * size, size);
		root = child;
	}
}

void
cl_sort(void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *, void *), void *arg)
{
	char *b = base;
	size_t i;

	if (n < 2 || size == 0)
		return;
	for (i = n / 2; i-- > 0;)
		sift_down(b, i, n, size, cmp, arg);
	for (i = n - 1; i > 0; i--) {
		swap_bytes(b, b + i * size, size);
		sift_down(b, 0, i, size, cmp, arg);
	}
}
