# man/: rules for this module (see Makefile.am).
dist_man_MANS += man/cloister-audit.1
