#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside input with AFL++, through cargo-afl, on
# the stable toolchain. The targets are the package `fuzz/` (a workspace of its own):
#   json        the HTTP body decoder (server::json)
#   router      one request through the router and its extractors, over an in-memory store
#   store_open  a store directory with one file replaced (snapshot, shard, agents, journal), opened
#   import      SessionStore::import_json
#   cursor      Cursor::from_str, and its display round trip
#
#   scripts/fuzz.sh smoke                 each target for a few seconds; fails on any crash or hang (CI)
#   scripts/fuzz.sh run TARGET SECONDS    one target's campaign; prints its figures
#   scripts/fuzz.sh repro TARGET FILE     one input through the target, without AFL
#   scripts/fuzz.sh check                 fmt and clippy of the fuzz package
#
# Installs cargo-afl (which builds AFL++) if missing. Findings go to fuzz/target/afl/<target>/.
# Every afl-fuzz this script starts is stopped when it exits, on failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ=$ROOT/fuzz
TARGETS=(json router store_open import cursor)
AFL_VERSION='~0.18' # the `afl` crate's version in fuzz/Cargo.toml: both must match
SMOKE_SECONDS=${SMOKE_SECONDS:-8}
MEMORY_MB=${FUZZ_MEMORY_MB:-512} # afl-fuzz -m: a target past it is a crash

# What afl-fuzz needs here, without changing the machine's settings.
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_FAST_CAL=1
# A piped core_pattern (systemd-coredump, apport) makes afl-fuzz refuse to start.
if [[ $(cat /proc/sys/kernel/core_pattern 2>/dev/null) == \|* ]]; then
    export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
fi

# Each afl-fuzz runs in a process group of its own (setsid), stopped whole: cargo-afl,
# afl-fuzz and the target's fork server.
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -- "-$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
    echo "fuzz.sh: $*" >&2
    exit 2
}

is_target() {
    local t
    for t in "${TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

install() {
    if ! cargo afl --version >/dev/null 2>&1; then
        echo "== installing cargo-afl $AFL_VERSION (it builds AFL++)"
        cargo install cargo-afl --locked --version "$AFL_VERSION"
    fi
    # AFL++ is built by the install, for the toolchain then in use; built again for another.
    local out
    if ! out=$(cargo afl config --build 2>&1); then
        grep -q "already built" <<<"$out" || { echo "$out" >&2; die "cargo afl config --build failed"; }
    fi
}

build() {
    install
    echo "== building the fuzz targets (instrumented, release)"
    (cd "$FUZZ" && cargo afl build --release --locked)
}

binary() { echo "$FUZZ/target/release/$1"; }

dicts() {
    case $1 in
    router) echo "-x $FUZZ/dict/http.dict -x $FUZZ/dict/json.dict" ;;
    cursor) echo "-x $FUZZ/dict/cursor.dict" ;;
    *) echo "-x $FUZZ/dict/json.dict" ;;
    esac
}

# fuzz TARGET SECONDS: one afl-fuzz run into a fresh fuzz/target/afl/TARGET.
fuzz() {
    local target=$1 seconds=$2 out=$FUZZ/target/afl/$1
    rm -rf "$out"
    mkdir -p "$out"
    # shellcheck disable=SC2046 # the dictionaries' flags are words
    setsid cargo afl fuzz -V "$seconds" -m "$MEMORY_MB" -t 1000 -i "$FUZZ/seeds/$target" -o "$out" \
        $(dicts "$target") -- "$(binary "$target")" >"$out.log" 2>&1 &
    local fuzzer=$!
    PIDS+=("$fuzzer")
    watch_rss "$fuzzer" "$(binary "$target")" "$out.rss" &
    local watcher=$!
    local status=0
    wait "$fuzzer" || status=$?
    wait "$watcher" || true
    PIDS=()
    if [[ $status -ne 0 ]]; then
        tail -30 "$out.log" >&2
        die "afl-fuzz failed on $target (exit $status); its log: $out.log"
    fi
}

# watch_rss PID BINARY FILE: while PID runs, the highest peak RSS (VmHWM, kB) of the processes
# running BINARY (the target's fork servers and the children they fork), into FILE. afl-fuzz's
# own peak_rss_mb stays 0 in persistent mode: its children never exit.
watch_rss() {
    local fuzzer=$1 bin=$2 file=$3 max=0 pid kb
    echo 0 >"$file"
    while kill -0 "$fuzzer" 2>/dev/null; do
        for pid in $(pgrep -x "$(basename "$bin")" || true); do
            [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$bin" ]] || continue
            kb=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
            if [[ -n $kb ]] && ((kb > max)); then
                max=$kb
                echo "$max" >"$file"
            fi
        done
        sleep 0.5
    done
}

stat_of() { sed -n "s/^$2 *: //p" "$FUZZ/target/afl/$1/default/fuzzer_stats"; }

# findings TARGET: prints each crash and hang with how to replay it; fails if there is one.
findings() {
    local target=$1 dir=$FUZZ/target/afl/$1/default found=0 f
    for f in "$dir"/crashes/id:* "$dir"/hangs/id:*; do
        [[ -e $f ]] || continue
        found=1
        echo "FOUND ($target): $f"
        echo "  replay: scripts/fuzz.sh repro $target '$f'"
    done
    return $found
}

report() {
    local t=$1
    printf '%-10s %8ss %12s execs %8s/s %6s corpus %4s crashes %4s hangs %6s MB peak RSS\n' \
        "$t" "$(stat_of "$t" run_time)" "$(stat_of "$t" execs_done)" \
        "$(stat_of "$t" execs_per_sec)" "$(stat_of "$t" corpus_count)" \
        "$(stat_of "$t" saved_crashes)" "$(stat_of "$t" saved_hangs)" \
        "$(($(cat "$FUZZ/target/afl/$t.rss") / 1024))"
}

check() {
    echo "== fuzz package: fmt and clippy"
    (cd "$FUZZ" && cargo fmt -- --check && cargo clippy --locked --all-targets -- -D warnings)
}

case ${1:-} in
smoke)
    started=$SECONDS
    build
    failed=0
    for t in "${TARGETS[@]}"; do
        echo "== fuzzing $t for ${SMOKE_SECONDS}s"
        fuzz "$t" "$SMOKE_SECONDS"
        report "$t"
        findings "$t" || failed=1
    done
    echo "== fuzz smoke: $((SECONDS - started))s in all"
    [[ $failed -eq 0 ]] || die "crashes or hangs found (above)"
    ;;
run)
    [[ $# -eq 3 ]] || die "usage: scripts/fuzz.sh run TARGET SECONDS"
    is_target "$2" || die "unknown target $2 (one of: ${TARGETS[*]})"
    build
    echo "== fuzzing $2 for $3s (-m $MEMORY_MB MB); findings in fuzz/target/afl/$2/default"
    fuzz "$2" "$3"
    report "$2"
    findings "$2" || die "crashes or hangs found (above)"
    ;;
repro)
    [[ $# -eq 3 ]] || die "usage: scripts/fuzz.sh repro TARGET FILE"
    is_target "$2" || die "unknown target $2 (one of: ${TARGETS[*]})"
    [[ -x $(binary "$2") ]] || build
    "$(binary "$2")" <"$3"
    echo "no failure"
    ;;
check)
    check
    ;;
*)
    die "usage: scripts/fuzz.sh smoke | run TARGET SECONDS | repro TARGET FILE | check"
    ;;
esac
