#!/usr/bin/env bash
# Long fuzzing session: every firmware harness for FUZZ_MINUTES (default 30) minutes, two at a
# time, keeping what each run learns in firmware/build-fuzz/corpus/. Prints executions,
# exec/s and coverage per harness; a finding fails the run and names the input to reproduce.
#   scripts/fuzz-long.sh            # 4 harnesses x 30 min on 2 cores: about an hour
#   FUZZ_MINUTES=120 scripts/fuzz-long.sh --only server,recover
set -euo pipefail
cd "$(dirname "$0")/.."
exec node scripts/fuzz.mjs --time "$(( ${FUZZ_MINUTES:-30} * 60 ))" --jobs "${FUZZ_JOBS:-2}" "$@"
