# bench/: rules for this module (see Makefile.am).
