#!/usr/bin/env bash
# Run the official DeepL and LibreTranslate Python clients (run.py) against `copydesk serve`
# with the tiny fixture models, on a free loopback port, with API key "testkey".
#
#   scripts/clients/run.sh [extra run.py options, e.g. --timeout 10]
#
# Environment:
#   COPYDESK_BIN   copydesk binary (default: target/debug/copydesk; relative to the caller's cwd)
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

bin="${COPYDESK_BIN:-target/debug/copydesk}"
if [[ -n "${COPYDESK_BIN:-}" && "$bin" != /* ]]; then
    bin="$caller_pwd/$bin"
fi
if [[ ! -x "$bin" ]]; then
    echo "run.sh: no copydesk binary at $bin (build it, or set COPYDESK_BIN)" >&2
    exit 2
fi

# --- the virtualenv ---------------------------------------------------------------------------
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import deepl, libretranslatepy' 2>/dev/null; then
    echo "run.sh: creating $venv from scripts/clients/requirements.txt" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

# --- the server -------------------------------------------------------------------------------
workdir="$(mktemp -d "${TMPDIR:-/tmp}/copydesk-clients.XXXXXX")"
server_out="$workdir/server.out"
server_err="$workdir/server.err"
server_pid=""

stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
cleanup() {
    stop_server
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The user's own COPYDESK_* settings would change what is served: the key comes from the command
# line only. --port 0 picks a free port.
env -u COPYDESK_API_KEY -u COPYDESK_API_KEY_FILE \
    "$bin" serve \
    --host 127.0.0.1 \
    --port 0 \
    --translator tests/fixtures/models/marian-tied \
    --summarizer tests/fixtures/models/t5-tied-relu \
    --device cpu \
    --dtype f32 \
    --log warn \
    --max-new-tokens 8 \
    --api-key "$key" \
    >"$server_out" 2>"$server_err" &
server_pid=$!

# It prints "copydesk listening on http://127.0.0.1:PORT" on stdout once bound (before the
# models are loaded; /ready turns 200 when they are).
base=""
deadline=$((SECONDS + ready_timeout))
while [[ -z "$base" ]]; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: copydesk serve exited before listening:" >&2
        cat "$server_out" "$server_err" >&2
        exit 2
    fi
    if ((SECONDS > deadline)); then
        echo "run.sh: copydesk serve did not print its address in ${ready_timeout}s" >&2
        cat "$server_out" "$server_err" >&2
        exit 2
    fi
    base="$(grep -oh 'http://127\.0\.0\.1:[0-9]*' "$server_out" "$server_err" | head -n1 || true)"
    [[ -n "$base" ]] || sleep 0.2
done

ready() {
    "$venv/bin/python" - "$1" <<'EOF'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    sys.exit(0 if opener.open(sys.argv[1] + "/ready", timeout=5).status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}
until ready "$base"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: copydesk serve exited before /ready:" >&2
        cat "$server_out" "$server_err" >&2
        exit 2
    fi
    if ((SECONDS > deadline)); then
        echo "run.sh: $base/ready not 200 after ${ready_timeout}s" >&2
        cat "$server_err" >&2
        exit 2
    fi
    sleep 0.5
done
echo "run.sh: $bin serving on $base (key $key)" >&2

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
