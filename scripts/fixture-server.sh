# Sourced by the optional scripts (schemathesis/run.sh, clients/run.sh), from the repository
# root: picks the binary, starts `copydesk serve` on the tiny fixture models on a free loopback
# port, waits until GET /ready is 200, and stops it on exit. Needs $caller_pwd (where the script
# was called) and $ready_timeout (seconds); sets $bin, $base and $server_err.
#
#   pick_binary
#   start_fixture_server NAME [extra serve flags...]

# $COPYDESK_BIN (relative to where the script was called), else target/release, else
# target/debug.
pick_binary() {
    if [[ -n "${COPYDESK_BIN:-}" ]]; then
        bin="$COPYDESK_BIN"
        [[ "$bin" == /* ]] || bin="$caller_pwd/$bin"
    elif [[ -x target/release/copydesk ]]; then
        bin=target/release/copydesk
    else
        bin=target/debug/copydesk
    fi
    if [[ ! -x "$bin" ]]; then
        echo "no copydesk binary at $bin (build it, or set COPYDESK_BIN)" >&2
        exit 2
    fi
}

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

# Fails with exit 2 and the server's output.
server_failed() {
    echo "$1" >&2
    cat "$server_out" "$server_err" >&2
    exit 2
}

start_fixture_server() {
    local name="$1"
    shift
    workdir="$(mktemp -d "${TMPDIR:-/tmp}/copydesk-$name.XXXXXX")"
    server_out="$workdir/server.out"
    server_err="$workdir/server.err"
    trap 'stop_server; rm -rf "$workdir"' EXIT
    trap 'exit 130' INT TERM
    # The user's own COPYDESK_* settings would change what is served: everything that matters
    # is on the command line. --port 0 picks a free port.
    env -u COPYDESK_API_KEY -u COPYDESK_API_KEY_FILE \
        "$bin" serve \
        --host 127.0.0.1 \
        --port 0 \
        --translator tests/fixtures/models/marian-tied \
        --summarizer tests/fixtures/models/t5-tied-relu \
        --device cpu \
        --dtype f32 \
        --log warn \
        "$@" \
        >"$server_out" 2>"$server_err" &
    server_pid=$!
    # It prints "copydesk listening on http://127.0.0.1:PORT" on stdout once bound, before the
    # models are loaded; /ready turns 200 when they are.
    base=""
    local deadline=$((SECONDS + ready_timeout)) code=""
    while [[ -z "$base" ]]; do
        kill -0 "$server_pid" 2>/dev/null || server_failed "copydesk serve exited before listening:"
        ((SECONDS <= deadline)) || server_failed "copydesk serve printed no address in ${ready_timeout}s"
        base="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$server_out" | head -n1 || true)"
        [[ -n "$base" ]] || sleep 0.2
    done
    while :; do
        code="$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 5 "$base/ready" || true)"
        [[ "$code" == 200 ]] && break
        kill -0 "$server_pid" 2>/dev/null || server_failed "copydesk serve exited before /ready:"
        ((SECONDS <= deadline)) || server_failed "$base/ready not 200 after ${ready_timeout}s (last: $code)"
        sleep 0.5
    done
    echo "$name: $bin serving on $base" >&2
}
