#!/usr/bin/env bash
# Field conditions, part C of tests/integ/field.sh: scripted sources that throttle, pause, omit, flood, and 2,000 folders.
# Each part is its own script so that tests/run-all.sh runs them side by side.
FIELD_PARTS=C exec bash "$(dirname "$0")/field.sh"
