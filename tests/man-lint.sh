#!/bin/sh
# Lint every manual page with mandoc (warnings and errors; cross-references
# to pages not installed on this machine are only STYLE notes).
# Exits 77 (skipped) when mandoc is not installed.
command -v mandoc >/dev/null 2>&1 || exit 77
cd "${CL_TOP_SRCDIR:-.}" || exit 1
st=0
for m in man/*.[1-8]; do
	mandoc -Tlint -W warning "$m" || st=1
done
exit $st
