#!/usr/bin/env bash
# Field conditions, part B of tests/integ/field.sh: connections cut at random bytes on both sides.
# Each part is its own script so that tests/run-all.sh runs them side by side.
FIELD_PARTS=B exec bash "$(dirname "$0")/field.sh"
