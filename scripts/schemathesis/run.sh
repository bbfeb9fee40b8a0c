#!/usr/bin/env bash
# Run Schemathesis against `copydesk serve` (with the tiny fixture models) on a free loopback port.
#
#   scripts/schemathesis/run.sh [extra schemathesis options...]
#
# Environment:
#   COPYDESK_BIN        copydesk binary (default: target/release/copydesk, else target/debug/copydesk)
#   SCHEMATHESIS_VENV   virtualenv to use/create (default: target/venv-schema)
#   MAX_EXAMPLES        test cases per operation (default: 50)
#   REQUEST_TIMEOUT     per-request timeout in seconds (default: 30)
#   WORKERS             schemathesis workers (default: 2)
#   SEED                random seed (default: 1, so runs are reproducible; "random" for none)
#   RUN_TIMEOUT         hard wall-clock limit for the schemathesis run in seconds (default: 300)
#   READY_TIMEOUT       seconds to wait for GET /ready (default: 120)
#   SCHEMATHESIS_STATE_DIR  where schemathesis runs and keeps .schemathesis/ (default:
#                       target/schemathesis); relative paths in extra options resolve there
#
# Exits with schemathesis' exit code (0: no failures), or 2 if the server could not be started.
set -euo pipefail

caller_pwd="$PWD"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

venv="${SCHEMATHESIS_VENV:-$root/target/venv-schema}"
[[ "$venv" == /* ]] || venv="$caller_pwd/$venv"
max_examples="${MAX_EXAMPLES:-50}"
request_timeout="${REQUEST_TIMEOUT:-30}"
workers="${WORKERS:-2}"
seed="${SEED:-1}"
run_timeout="${RUN_TIMEOUT:-300}"
ready_timeout="${READY_TIMEOUT:-120}"

source "$root/scripts/fixture-server.sh"
pick_binary

# --- the virtualenv ---------------------------------------------------------------------------
if [[ ! -x "$venv/bin/schemathesis" ]]; then
    echo "run.sh: creating $venv from scripts/schemathesis/requirements.txt" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

# --- the server -------------------------------------------------------------------------------
# The limits are chosen so that every body the document allows fits --max-body-bytes (a JSON
# character takes at most 12 bytes, as a \uXXXX surrogate pair): 16 texts x 1000 characters x 12
# bytes < 1 MiB. A body over --max-body-bytes is 413, which JSON Schema cannot express.
start_fixture_server schemathesis \
    --request-timeout 20s \
    --max-texts-per-request 16 \
    --max-chars-per-text 1000 \
    --max-body-bytes 1048576 \
    --max-new-tokens 8 \
    --drain-timeout 5s

# --- schemathesis -----------------------------------------------------------------------------
# The document has no `servers`, so every generated request goes to the origin of the schema
# URL: 127.0.0.1 only. No proxy from the environment, no redirects followed. No example
# database is kept (it would land in the working tree). --continue-on-failure keeps testing an
# operation after its first failure, so one known failure does not hide others.
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
export NO_PROXY='*' no_proxy='*'
args=(
    run "$base/openapi.json"
    --checks all
    --max-examples "$max_examples"
    --request-timeout "$request_timeout"
    --workers "$workers"
    --max-redirects 0
    --continue-on-failure
    --generation-database none
    --no-color
    # /translate_file takes a UTF-8 .txt upload: a file's name and encoding are not something
    # JSON Schema can state, so generated binary "file.png" parts would be (rightly) refused.
    --exclude-path /translate_file
)
if [[ "$seed" != random ]]; then
    args+=(--seed "$seed")
fi

# Schemathesis keeps its crash cache (for `schemathesis replay ID`) in ./.schemathesis: run it
# from target/schemathesis so nothing lands in the working tree. Relative paths in extra options
# (e.g. --report-dir) resolve there too.
state_dir="${SCHEMATHESIS_STATE_DIR:-$root/target/schemathesis}"
mkdir -p "$state_dir"
cd "$state_dir"

set +e
timeout --signal=INT --kill-after=30 "$run_timeout" "$venv/bin/schemathesis" "${args[@]}" "$@"
status=$?
set -e
if ((status == 124)); then
    echo "run.sh: schemathesis ran past RUN_TIMEOUT=${run_timeout}s" >&2
fi

if [[ -s "$server_err" ]]; then
    echo "--- copydesk serve stderr (last 40 lines) ---" >&2
    tail -n 40 "$server_err" >&2
fi
stop_server
exit "$status"
