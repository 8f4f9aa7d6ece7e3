# man/: rules for this module (see Makefile.am).
dist_man_MANS += man/cloister-eval.1
dist_man_MANS += man/cloister-mkmodel.1
dist_man_MANS += man/cloister-sandbox.7
dist_man_MANS += man/cloister-policy.5
dist_man_MANS += man/cloister-audit.1

# Every page passes `mandoc -Tlint -W warning` (skipped without mandoc).
TESTS += tests/man-lint.sh
dist_check_SCRIPTS += tests/man-lint.sh
dist_man_MANS += man/cloister.1
dist_man_MANS += man/cloister-engine.8
