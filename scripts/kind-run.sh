#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317  # functions run through `step` and `trap`
# Run a scenario's variants in the kind cluster and record them like a local run.
#
#   scripts/kind-run.sh SCENARIO [VARIANT]
#
# For each variant (all, baseline first, unless VARIANT is given): render the manifests with
# `mesh5xx render k8s`, apply everything but the load generator, wait for the pods, stream
# the istio-proxy and app logs, run the load generator Job, stop the pods (Envoy flushes its
# access log, the app prints its report), collect, clean up. Results go to
# results/runs/<stamp>_<scenario>-kind/<variant>/ (loadgen.json, latency.hgrm,
# access-<pod>.log, istio-proxy-<pod>.log, app-<pod>.log, manifests.yaml) with a
# summary.json in the local schema ("mode": "kind").
#
# Settings (environment): MESH5XX (the mesh5xx binary; default target/release/mesh5xx,
# built if missing), MESH5XX_PROFILE (default: the scenario's), MESH5XX_DURATION (seconds,
# default: the variant's), MESH5XX_RESULTS (results/runs), KIND_CLUSTER, MESH5XX_IMAGE.
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kind-lib.sh"

usage() { printf 'usage: %s SCENARIO [VARIANT]\n' "$0" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
SCENARIO=$1
ONLY=${2:-}

require kubectl kind docker
MESH5XX_BIN=$(find_mesh5xx)
require_cluster
KC=(kubectl --context "$CONTEXT")

render() { # render VARIANT
    local args=(render k8s "$SCENARIO" --variant "$1" --image "$IMAGE")
    [[ -n "${MESH5XX_PROFILE:-}" ]] && args+=(--profile "$MESH5XX_PROFILE")
    [[ -n "${MESH5XX_DURATION:-}" ]] && args+=(--duration "$MESH5XX_DURATION")
    "$MESH5XX_BIN" "${args[@]}"
}
header() { # header FILE KEY
    sed -n "s/^# mesh5xx-$2: //p" "$1" | head -n1
}

# The `kubectl logs -f` processes following the current variant's containers, and the pods
# they follow.
STREAMS=()
declare -A STREAMED=()
# stop_streams: stop the log streams still running and wait for them.
stop_streams() {
    local p
    for p in "${STREAMS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${STREAMS[@]}"; do wait "$p" 2>/dev/null || true; done
    STREAMS=()
    STREAMED=()
}

# kill_app NS POD TIMES AGAIN_MS VARIANT: SIGKILL the app container's process from the kind
# node (as the OOM killer does; a container's own PID 1 ignores a kill from inside), TIMES
# times, the next one AGAIN_MS after the kubelet has restarted it.
kill_app() {
    local ns=$1 pod=$2 times=$3 again_ms=$4 v=$5 node cid pid k restarts
    node=$("${KC[@]}" -n "$ns" get pod "$pod" -o jsonpath='{.spec.nodeName}')
    for ((k = 1; k <= times; k++)); do
        cid=$("${KC[@]}" -n "$ns" get pod "$pod" -o jsonpath='{.status.containerStatuses[?(@.name=="app")].containerID}')
        pid=$(docker exec "$node" crictl inspect --output go-template --template '{{.info.pid}}' "${cid#*://}")
        docker exec "$node" kill -9 "$pid" || return 0
        log "$v: killed the app container of $pod ($k of $times)"
        ((k < times)) || break
        restarts=""
        until [[ "${restarts:-0}" -ge "$k" ]]; do
            sleep 0.2
            restarts=$("${KC[@]}" -n "$ns" get pod "$pod" -o jsonpath='{.status.containerStatuses[?(@.name=="app")].restartCount}')
        done
        sleep "$(awk -v ms="$again_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    done
}

# Which variants, which profile, which namespace.
PROBE=$(mktemp)
# On any exit (a failed step included) no log stream is left following a pod.
trap 'stop_streams; rm -f "$PROBE"' EXIT
render baseline >"$PROBE" || die "cannot render scenario $SCENARIO (see mesh5xx list)"
PROFILE=$(header "$PROBE" istio-profile)
read -r -a VARIANTS <<<"$(header "$PROBE" variants)"
while read -r na; do log "left out under profile $PROFILE: $na"; done < <(sed -n 's/^# mesh5xx-not-applicable: //p' "$PROBE")
if [[ -n "$ONLY" ]]; then
    render "$ONLY" >/dev/null || die "cannot render variant $ONLY of $SCENARIO"
    VARIANTS=("$ONLY")
fi

# The cluster's Istio must be installed with the scenario's profile.
if [[ "$(installed_profile)" != "$PROFILE" ]]; then
    require istioctl
    step "reinstall Istio with profile $PROFILE (was '$(installed_profile)')" install_istio "$PROFILE"
fi

RESULTS="${MESH5XX_RESULTS:-$KIND_ROOT/results/runs}"
RUN_DIR="$RESULTS/$(date -u +%Y-%m-%d-%H%M%S)_${SCENARIO}-kind"
mkdir -p "$RUN_DIR"
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ENVOY_VERSION=unknown
DONE=()
NS=

summary() { # summary [--finished] [--interrupted]
    ((${#DONE[@]})) || return 0
    local args=(render kind-summary "$RUN_DIR" --scenario "$SCENARIO" --profile "$PROFILE"
        --envoy-version "$ENVOY_VERSION" --started-at "$STARTED_AT")
    local v
    for v in "${DONE[@]}"; do args+=(--variant "$v"); done
    "$MESH5XX_BIN" "${args[@]}" "$@"
}

# cleanup NS: remove every object of the lab (but the namespace itself, which may be `default`).
cleanup() {
    local ns=$1
    "${KC[@]}" -n "$ns" delete job,deployment,service,configmap \
        -l app.kubernetes.io/part-of=mesh5xx --ignore-not-found --wait=true >&2
    "${KC[@]}" -n "$ns" delete --all --ignore-not-found \
        destinationrules.networking.istio.io,virtualservices.networking.istio.io,serviceentries.networking.istio.io,authorizationpolicies.security.istio.io >&2
    "${KC[@]}" delete namespace "$EGRESS_NS" --ignore-not-found --wait=true >&2
    "${KC[@]}" -n "$ns" wait --for=delete pod -l app.kubernetes.io/part-of=mesh5xx --timeout=120s >&2 2>/dev/null || true
}

on_interrupt() {
    log "interrupted; stopping log streams and writing the summary"
    stop_streams
    summary --finished --interrupted || true
    exit 130
}
trap on_interrupt INT TERM

# stream NS POD CONTAINER FILE: follow a container's log until the container ends.
stream() {
    "${KC[@]}" -n "$1" logs -f "$2" -c "$3" >"$4" 2>/dev/null &
    STREAMS+=($!)
    STREAMED[$2]=1
}

has_container() { # has_container NS POD NAME
    "${KC[@]}" -n "$1" get pod "$2" \
        -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}' | tr ' ' '\n' | grep -qx "$3"
}

envoy_version() { # envoy_version NS POD: the istio-proxy's Envoy version, once per run
    [[ "$ENVOY_VERSION" == unknown ]] || return 0
    ENVOY_VERSION=$("${KC[@]}" -n "$1" exec "$2" -c istio-proxy -- envoy --version 2>/dev/null |
        grep -Eo '/[0-9]+\.[0-9]+\.[0-9]+' | head -n1 | tr -d / || true)
    ENVOY_VERSION=${ENVOY_VERSION:-unknown}
}

pods() { # pods NS SELECTOR
    "${KC[@]}" -n "$1" get pods -l "$2" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}

# wait_job NS SECONDS: until the Job completes or fails; prints Complete or Failed.
wait_job() {
    local deadline=$(($(date +%s) + $2)) state
    while (($(date +%s) < deadline)); do
        state=$("${KC[@]}" -n "$1" get job loadgen \
            -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}' 2>/dev/null || true)
        case $state in
            *Failed*) echo Failed; return 0 ;;
            *Complete*) echo Complete; return 0 ;;
        esac
        sleep 2
    done
    echo Timeout
}

run_variant() {
    local v=$1 dir="$RUN_DIR/$1" ns secs pod state sel
    mkdir -p "$dir"
    render "$v" >"$dir/manifests.yaml"
    ns=$(header "$dir/manifests.yaml" namespace)
    NS=$ns
    grep -q '^# Warning:' "$dir/manifests.yaml" && grep '^# Warning:' "$dir/manifests.yaml" >&2
    cleanup "$ns"

    step "$v: apply app and Istio objects" \
        "${KC[@]}" apply -f "$dir/manifests.yaml" -l 'mesh5xx/stage!=load' >&2
    sel="app.kubernetes.io/part-of=mesh5xx,mesh5xx/variant=$v"
    step "$v: wait for the pods" deployments "$sel" wait --for=condition=Available --timeout=300s

    STREAMS=()
    local where
    for where in "$ns" "$EGRESS_NS"; do
        "${KC[@]}" get namespace "$where" >/dev/null 2>&1 || continue
        while read -r pod; do
            [[ -n "$pod" ]] || continue
            has_container "$where" "$pod" app && stream "$where" "$pod" app "$dir/app-$pod.log"
            has_container "$where" "$pod" istio-proxy && stream "$where" "$pod" istio-proxy "$dir/istio-proxy-$pod.log"
            has_container "$where" "$pod" egress && stream "$where" "$pod" egress "$dir/egress-$pod.log"
            has_container "$where" "$pod" istio-proxy && envoy_version "$where" "$pod"
        done < <(pods "$where" "$sel")
    done

    secs=$(sed -n 's/^  activeDeadlineSeconds: //p' "$dir/manifests.yaml" | head -n1)
    step "$v: apply the load generator Job" \
        "${KC[@]}" apply -f "$dir/manifests.yaml" -l 'mesh5xx/stage=load' >&2
    # A change while the load runs: one app pod deleted, the Deployment restarted (its
    # strategy replaces every pod) or scaled, one app container killed, or Istio objects
    # applied, that many ms after the load starts.
    local change_ms="" change
    for change in terminate rollout scale crash config-change; do
        change_ms=$(header "$dir/manifests.yaml" "$change")
        change_ms=${change_ms%% *}
        [[ -n "$change_ms" ]] && break
    done
    if [[ -n "$change_ms" ]]; then
        (
            "${KC[@]}" -n "$ns" wait --for=condition=Ready pod -l job-name=loadgen --timeout=120s >/dev/null 2>&1 || exit 0
            sleep "$(awk -v ms="$change_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
            if [[ "$change" == terminate ]]; then
                victim=$(pods "$ns" "$sel,app.kubernetes.io/component=app" | head -n1)
                [[ -n "$victim" ]] && "${KC[@]}" -n "$ns" delete pod "$victim" --wait=false >&2 &&
                    log "$v: deleted pod $victim ${change_ms} ms into the load"
            elif [[ "$change" == scale ]]; then
                replicas=$(header "$dir/manifests.yaml" scale-replicas)
                deployments "$sel,app.kubernetes.io/component=app" scale --replicas "$replicas" &&
                    log "$v: scaled the app Deployment to $replicas replicas ${change_ms} ms into the load"
            elif [[ "$change" == crash ]]; then
                read -r _ times again_ms <<<"$(header "$dir/manifests.yaml" crash)"
                victim=$(pods "$ns" "$sel,app.kubernetes.io/component=app" | head -n1)
                [[ -n "$victim" ]] && kill_app "$ns" "$victim" "$times" "$again_ms" "$v"
            elif [[ "$change" == config-change ]]; then
                header "$dir/manifests.yaml" config-change-objects | "${KC[@]}" apply -f - >&2 &&
                    log "$v: applied the configuration change ${change_ms} ms into the load"
            else
                deployments "$sel,app.kubernetes.io/component=app" rollout restart &&
                    log "$v: restarted the app Deployment ${change_ms} ms into the load"
            fi
        ) &
    fi
    if [[ "$ENVOY_VERSION" == unknown ]]; then # outbound: only the Job's pod has a sidecar
        "${KC[@]}" -n "$ns" wait --for=condition=Ready pod -l job-name=loadgen --timeout=120s >&2 2>/dev/null &&
            envoy_version "$ns" "$(pods "$ns" job-name=loadgen | head -n1)"
    fi
    state=$(wait_job "$ns" "$((${secs:-600} + 60))")
    log "$v: load generator $state"
    # Pods a rollout created while the load ran: their logs too, from their start.
    while read -r pod; do
        [[ -n "$pod" && -z "${STREAMED[$pod]:-}" ]] || continue
        has_container "$ns" "$pod" app && stream "$ns" "$pod" app "$dir/app-$pod.log"
        has_container "$ns" "$pod" istio-proxy && stream "$ns" "$pod" istio-proxy "$dir/istio-proxy-$pod.log"
    done < <(pods "$ns" "$sel")
    pod=$(pods "$ns" "job-name=loadgen" | head -n1)
    if [[ -n "$pod" ]]; then
        "${KC[@]}" -n "$ns" logs "$pod" -c loadgen >"$dir/loadgen.log" 2>&1 || true
        sed '/^MESH5XX-RESULTS-BEGIN$/,$d' "$dir/loadgen.log" >"$dir/loadgen.out"
        sed -n '/^MESH5XX-RESULTS-BEGIN$/,/^MESH5XX-RESULTS-END$/p' "$dir/loadgen.log" | sed '1d;$d' |
            base64 -d 2>/dev/null | tar -xzf - -C "$dir" 2>/dev/null ||
            log "$v: no results in the load generator's log (see $dir/loadgen.log)"
        if has_container "$ns" "$pod" istio-proxy; then
            "${KC[@]}" -n "$ns" logs "$pod" -c istio-proxy >"$dir/istio-proxy-$pod.log" 2>&1 || true
        fi
        if has_container "$ns" "$pod" other-app; then # its lookups, counted in summary.json
            "${KC[@]}" -n "$ns" logs "$pod" -c other-app >"$dir/other-app.log" 2>&1 || true
        fi
    fi

    # Stop the app and backend pods: istio-proxy drains and flushes its access log, the app
    # prints its report; the log streams end with the containers.
    step "$v: stop the pods and collect their logs" stop_pods "$sel"
    local f base
    for f in "$dir"/istio-proxy-*.log; do
        [[ -e "$f" ]] || continue
        base=$(basename "$f" .log)
        grep -E '^\[[0-9]{4}-' "$f" >"$dir/access-${base#istio-proxy-}.log" || true
    done
    cleanup "$ns"
    DONE+=("$v")
    summary || true
}

# deployments SELECTOR VERB ARGS...: run `kubectl VERB deployment -l SELECTOR ARGS` in the
# app namespace and the egress namespace, wherever such Deployments exist.
deployments() {
    local sel=$1 verb=$2 where
    shift 2
    for where in "$NS" "$EGRESS_NS"; do
        [[ -n "$("${KC[@]}" -n "$where" get deployment -l "$sel" -o name 2>/dev/null)" ]] || continue
        "${KC[@]}" -n "$where" "$verb" deployment -l "$sel" "$@" >&2
    done
}

stop_pods() { # stop_pods SELECTOR
    deployments "$1" scale --replicas=0
    local p deadline=$(($(date +%s) + 60))
    for p in "${STREAMS[@]}"; do
        while kill -0 "$p" 2>/dev/null && (($(date +%s) < deadline)); do sleep 1; done
    done
    stop_streams
}

log "run directory: $RUN_DIR (profile $PROFILE, variants: ${VARIANTS[*]})"
for v in "${VARIANTS[@]}"; do
    step "variant $v" run_variant "$v"
done
rc=0
summary --finished || rc=$?
log "results: $RUN_DIR"
exit "$rc"
