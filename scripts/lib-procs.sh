#!/usr/bin/env bash
# Process bookkeeping shared by the scripts that start processes (bench-*.sh, test.sh,
# fuzz.sh, reference.sh). Sourced, not run:
#
#   # shellcheck source=lib-procs.sh
#   source scripts/lib-procs.sh
#   procs_init NAME [CLEANUP_FUNCTION]
#
# procs_init NAME [CLEANUP_FUNCTION]
#   Call it before the script starts anything. It marks the script's processes and traps
#   EXIT, INT, TERM and HUP:
#   - The mark: the tag PID:STARTTIME of this shell (unique on the machine) is appended to
#     the exported MESH5XX_PROCS. Every program the script runs, and everything those start,
#     inherits it in its environment, also after its parent exited and it was reparented to
#     init. Another run, of this script or another, carries another tag.
#   - INT, TERM, HUP: procs_stop, then exit 130, 143, 129 (which runs the EXIT trap).
#   - EXIT: stop and wait for every process started with procs_bg, run CLEANUP_FUNCTION
#     (temporary files), then procs_check; when it finds something, the script exits 1
#     (or keeps its own non-zero status).
#
# A process counts as the script's when it descends from the script's shell or carries the
# script's tag in its environment. Nothing is matched by name or process group, so the
# processes of another run on the machine, or a `tee` the script's output is piped to, are
# never counted, nor stopped. (A program that both clears its environment and outlives its
# parent escapes the count; none of those the scripts run does.)
#
# procs_bg COMMAND...       start COMMAND in the background, record its pid for the EXIT
#                           trap, set PROCS_LAST to it. Redirections on the call apply to
#                           COMMAND. Refused inside a subshell or $(...): the pid would not
#                           reach the trap.
# procs_kill PID            stop (TERM) and wait for one process started with procs_bg.
# procs_run COMMAND...      run COMMAND to its end like a foreground command, its status
#                           returned; a signal to the script reaches the traps at once
#                           (bash runs a trap only after a foreground command has ended).
# procs_stop                TERM the script's children; once they have ended (PROCS_GRACE_S,
#                           5 s, at most: a supervisor stops its own children first), TERM
#                           what remains of the script's processes, KILL it 1 s later.
# procs_check               wait up to PROCS_CHECK_GRACE_S (2) seconds for the script's
#                           processes to end; print each one still running as
#                           "NAME: left behind: PID COMMAND LINE", stop it (unless
#                           MESH5XX_KEEP_LEFT_BEHIND=1), return 1. Command lines matching
#                           the extended regex MESH5XX_LEFT_BEHIND_IGNORE (default: a
#                           compiler cache server, which outlives builds by design) are
#                           not counted.

PROCS_NAME=${PROCS_NAME:-$(basename "$0" .sh)}
PROCS_CLEANUP=""
PROCS_TAG=""
PROCS_PIDS=()
PROCS_LAST=""
PROCS_FOUND=()
PROCS_STDERR=2
declare -A PROCS_PARENT=()
declare -A PROCS_CMDLINE=()

procs_init() {
    PROCS_NAME=$1
    PROCS_CLEANUP=${2:-}
    local stat fields
    read -r stat <"/proc/$$/stat"
    read -r -a fields <<<"${stat##*) }"
    # fields[0] is stat's 3rd field (state), fields[19] its 22nd (starttime).
    PROCS_TAG="$$:${fields[19]}"
    # The script's stderr, for the messages of the traps: a trap can run while a function's
    # output is redirected to a file.
    exec {PROCS_STDERR}>&2
    MESH5XX_PROCS="${MESH5XX_PROCS:+$MESH5XX_PROCS }$PROCS_TAG"
    export MESH5XX_PROCS
    trap _procs_on_exit EXIT
    trap '_procs_on_signal 130' INT
    trap '_procs_on_signal 143' TERM
    trap '_procs_on_signal 129' HUP
}

procs_bg() {
    if [[ "$BASHPID" != "$$" ]]; then
        echo "$PROCS_NAME: procs_bg $1 called in a subshell: its pid would not reach the EXIT trap" >&2
        return 1
    fi
    if ((PROCS_STDERR > 2)); then
        "$@" {PROCS_STDERR}>&- &
    else
        "$@" &
    fi
    PROCS_LAST=$!
    PROCS_PIDS+=("$PROCS_LAST")
}

procs_kill() {
    local pid=$1 kept=() p
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PROCS_PIDS[@]}"; do
        [[ "$p" == "$pid" ]] || kept+=("$p")
    done
    PROCS_PIDS=("${kept[@]}")
}

procs_run() {
    # Background jobs of a non-interactive shell start with SIGINT and SIGQUIT ignored and
    # stdin from /dev/null; undo both so COMMAND behaves as in the foreground.
    (
        trap - INT QUIT
        ((PROCS_STDERR > 2)) && exec {PROCS_STDERR}>&-
        if declare -F "$1" >/dev/null; then "$@"; else exec "$@"; fi
    ) <&0 &
    wait "$!"
}

# Fill PROCS_FOUND with the pids of the script's processes (see the top of the file),
# PROCS_PARENT and PROCS_CMDLINE with every process's parent and command line.
_procs_scan() {
    local -A mine=()
    local dir pid stat entry p n
    local -a fields env argv
    PROCS_PARENT=()
    PROCS_CMDLINE=()
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        read -r stat 2>/dev/null <"$dir/stat" || continue
        read -r -a fields <<<"${stat##*) }"
        [[ "${fields[0]}" == [ZX] ]] && continue # exited, not reaped yet
        PROCS_PARENT[$pid]=${fields[1]}
        argv=()
        mapfile -d '' -t argv 2>/dev/null <"$dir/cmdline" || true
        PROCS_CMDLINE[$pid]="${argv[*]}"
        [[ -n "$PROCS_TAG" ]] || continue
        env=()
        mapfile -d '' -t env 2>/dev/null <"$dir/environ" || continue
        for entry in "${env[@]}"; do
            if [[ "$entry" == MESH5XX_PROCS=* && " ${entry#MESH5XX_PROCS=} " == *" $PROCS_TAG "* ]]; then
                mine[$pid]=1
                break
            fi
        done
    done
    for pid in "${!PROCS_PARENT[@]}"; do
        p=$pid
        for ((n = 0; n < 64; n++)); do
            p=${PROCS_PARENT[$p]:-0}
            [[ "$p" == 0 || "$p" == 1 ]] && break
            if [[ "$p" == "$$" ]]; then
                mine[$pid]=1
                break
            fi
        done
    done
    # Not the script itself, nor the subshells this scan runs in.
    p=$BASHPID
    while [[ -n "$p" && "$p" != 0 ]]; do
        unset "mine[$p]"
        [[ "$p" == "$$" ]] && break
        p=${PROCS_PARENT[$p]:-}
    done
    unset "mine[$$]"
    PROCS_FOUND=()
    local ignore=${MESH5XX_LEFT_BEHIND_IGNORE-'(^|/)sccache( |$)'}
    for pid in "${!mine[@]}"; do
        if [[ -n "$ignore" && "${PROCS_CMDLINE[$pid]:-}" =~ $ignore ]]; then
            continue
        fi
        PROCS_FOUND+=("$pid")
    done
}

# _procs_settle TENTHS: scan until none of the script's processes is left, TENTHS tenths of
# a second at most; PROCS_FOUND holds what is still running.
_procs_settle() {
    local i
    for ((i = 0; i <= $1; i += 2)); do
        _procs_scan
        ((${#PROCS_FOUND[@]} == 0)) && return 0
        ((i < $1)) && sleep 0.2
    done
    return 1
}

procs_stop() {
    local grace=$((${PROCS_GRACE_S:-5} * 10)) pid i children
    _procs_scan
    ((${#PROCS_FOUND[@]})) || return 0
    for pid in "${PROCS_FOUND[@]}"; do
        if [[ "${PROCS_PARENT[$pid]:-}" == "$$" ]]; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    # Until the children have ended (a supervisor stops its own children first), then the rest.
    for ((i = 0; i <= grace; i += 2)); do
        _procs_scan
        ((${#PROCS_FOUND[@]})) || return 0
        children=0
        for pid in "${PROCS_FOUND[@]}"; do
            [[ "${PROCS_PARENT[$pid]:-}" != "$$" ]] || children=1
        done
        ((children)) || break
        sleep 0.2
    done
    kill -TERM "${PROCS_FOUND[@]}" 2>/dev/null || true
    _procs_settle 10 && return 0
    kill -KILL "${PROCS_FOUND[@]}" 2>/dev/null || true
    _procs_settle 10 || true
}

procs_check() {
    _procs_settle "$((${PROCS_CHECK_GRACE_S:-2} * 10))" && return 0
    local pid count=${#PROCS_FOUND[@]}
    for pid in "${PROCS_FOUND[@]}"; do
        echo "$PROCS_NAME: left behind: $pid ${PROCS_CMDLINE[$pid]:-?}" >&"$PROCS_STDERR"
    done
    if [[ "${MESH5XX_KEEP_LEFT_BEHIND:-}" == 1 ]]; then
        echo "$PROCS_NAME: $count process(es) left behind, kept running (MESH5XX_KEEP_LEFT_BEHIND=1)" >&"$PROCS_STDERR"
    else
        kill -TERM "${PROCS_FOUND[@]}" 2>/dev/null || true
        _procs_settle 20 || kill -KILL "${PROCS_FOUND[@]}" 2>/dev/null || true
        echo "$PROCS_NAME: $count process(es) left behind, now stopped" >&"$PROCS_STDERR"
    fi
    return 1
}

# A child forked for a command can receive a signal before it has exec'd it, while it still
# holds the script's traps: there the traps only exit.
_procs_on_signal() {
    [[ "$BASHPID" == "$$" ]] || exit "$1"
    set +e
    trap '' INT TERM HUP # a second Ctrl-C does not cut the stop short; it is bounded
    echo "$PROCS_NAME: interrupted; stopping what it started" >&"$PROCS_STDERR"
    procs_stop
    exit "$1"
}

_procs_on_exit() {
    local rc=$? pid
    [[ "$BASHPID" == "$$" ]] || exit "$rc"
    set +e
    trap '' INT TERM HUP
    for pid in "${PROCS_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PROCS_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    PROCS_PIDS=()
    [[ -n "$PROCS_CLEANUP" ]] && "$PROCS_CLEANUP"
    if ! procs_check && ((rc == 0)); then
        rc=1
    fi
    exit "$rc"
}
