#!/usr/bin/env bash
# Cold rendition latency and output size, imagestore against libvips' CLI on the same
# photo. The scenarios now live in bench/run.sh (the whole suite, one command, one
# RESULTS.md section); this keeps the old command for running only them.
#
#   bench/renditions.sh [ROUNDS]        (default 15 rounds)
exec env ONLY=cold COLD_ROUNDS="${1:-15}" "$(dirname "$0")/run.sh"
