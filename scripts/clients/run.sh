#!/usr/bin/env bash
# Run the official DeepL and LibreTranslate Python clients (run.py) against `copydesk serve`
# with the tiny fixture models, on a free loopback port, with API key "testkey".
#
#   scripts/clients/run.sh [extra run.py options, e.g. --timeout 10]
#
# Environment:
#   COPYDESK_BIN   copydesk binary (default: target/release/copydesk if built, else target/debug;
#                  relative to the caller's cwd)
#   CLIENTS_VENV   virtualenv to use/create (default: target/venv-clients)
#   READY_TIMEOUT  seconds to wait for the address and GET /ready == 200 (default: 120)
#
# Exits with run.py's exit code (0: every call passed, 1: some failed), or 2 if the server could
# not be started.
set -euo pipefail

caller_pwd="$PWD"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

venv="${CLIENTS_VENV:-$root/target/venv-clients}"
[[ "$venv" == /* ]] || venv="$caller_pwd/$venv"
ready_timeout="${READY_TIMEOUT:-120}"
key=testkey

source "$root/scripts/fixture-server.sh"
pick_binary

# --- the virtualenv ---------------------------------------------------------------------------
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import deepl, libretranslatepy' 2>/dev/null; then
    echo "run.sh: creating $venv from scripts/clients/requirements.txt" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

# --- the server -------------------------------------------------------------------------------
start_fixture_server clients --max-new-tokens 8 --api-key "$key"

# --- the clients ------------------------------------------------------------------------------
set +e
"$venv/bin/python" "$here/run.py" --url "$base" --key "$key" "$@"
status=$?
set -e

if [[ -s "$server_err" ]]; then
    echo "--- copydesk serve stderr (last 40 lines) ---" >&2
    tail -n 40 "$server_err" >&2
fi
stop_server
exit "$status"
