#!/usr/bin/env bash
# Field conditions, part A of tests/integ/field.sh: the restart race (kill -9 and an immediate restart).
# Each part is its own script so that tests/run-all.sh runs them side by side.
FIELD_PARTS=A exec bash "$(dirname "$0")/field.sh"
