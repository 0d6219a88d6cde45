#!/usr/bin/env bash
# Shared settings and helpers of scripts/kind-up.sh, kind-run.sh and kind-down.sh.
# Sourced, not run. Every setting can be overridden from the environment.
# shellcheck disable=SC2034  # settings used by the scripts that source this file

KIND_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIND_DIR="$KIND_ROOT/kind-cluster"
CLUSTER="${KIND_CLUSTER:-mesh5xx}"
CONTEXT="kind-$CLUSTER"
# Keep in step with crates/k8s/src/install.rs (PINNED_ISTIO_VERSION, PINNED_KIND_NODE_IMAGE).
ISTIO_VERSION="${ISTIO_VERSION:-1.26.2}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.32.2}"
IMAGE="${MESH5XX_IMAGE:-mesh5xx:local}"
EGRESS_NS=mesh5xx-egress

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Time a step: `step "what" command args...`.
step() {
    local what=$1 t0
    shift
    t0=$(date +%s)
    log "$what ..."
    "$@"
    log "$what: done in $(($(date +%s) - t0)) s"
}

# require TOOL... : exit naming every missing tool and how to install it.
require() {
    local missing=() tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 && continue
        case $tool in
            docker) missing+=("docker: install Docker Engine or Docker Desktop (https://docs.docker.com/engine/install/)") ;;
            kind) missing+=("kind: 'go install sigs.k8s.io/kind@v0.27.0' or a release binary (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)") ;;
            kubectl) missing+=("kubectl: https://kubernetes.io/docs/tasks/tools/ (any version within one minor of Kubernetes 1.32)") ;;
            istioctl) missing+=("istioctl $ISTIO_VERSION: 'curl -L https://istio.io/downloadIstio | ISTIO_VERSION=$ISTIO_VERSION sh -' then put istio-$ISTIO_VERSION/bin on PATH") ;;
            cargo) missing+=("cargo: the Rust toolchain (https://rustup.rs), to build the mesh5xx binary that renders the manifests") ;;
            *) missing+=("$tool") ;;
        esac
    done
    if ((${#missing[@]})); then
        printf 'error: missing prerequisites:\n' >&2
        printf '  - %s\n' "${missing[@]}" >&2
        exit 1
    fi
}

require_docker_daemon() {
    docker info >/dev/null 2>&1 ||
        die "docker is installed but its daemon does not answer: start Docker, or add this user to the docker group"
}

require_cluster() {
    kind get clusters 2>/dev/null | grep -qx "$CLUSTER" ||
        die "no kind cluster named $CLUSTER: run scripts/kind-up.sh first"
    kubectl --context "$CONTEXT" get nodes >/dev/null 2>&1 ||
        die "the kind cluster $CLUSTER does not answer (kubectl --context $CONTEXT get nodes)"
}

# Warn when istioctl is not the pinned version (it installs its own version of Istio).
check_istioctl_version() {
    local v
    v=$(istioctl version --remote=false 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true)
    if [[ "$v" != "$ISTIO_VERSION" ]]; then
        log "warning: istioctl is ${v:-of unknown version}, ISTIO_VERSION is $ISTIO_VERSION; istioctl installs its own version"
    fi
}

# The mesh5xx binary that renders manifests and writes summaries (built if missing).
find_mesh5xx() {
    local bin="${MESH5XX:-$KIND_ROOT/target/release/mesh5xx}"
    if [[ ! -x "$bin" ]]; then
        require cargo
        log "building $bin (cargo build --release -p mesh5xx) ..."
        (cd "$KIND_ROOT" && cargo build --release -p mesh5xx) >&2
    fi
    local cmd
    for cmd in k8s kind-summary; do
        "$bin" render "$cmd" --help >/dev/null 2>&1 ||
            die "$bin has no 'render $cmd' command: rebuild it from this tree (cargo build --release -p mesh5xx)"
    done
    printf '%s\n' "$bin"
}

# The Istio profile istio-system was installed with (empty if none).
installed_profile() {
    kubectl --context "$CONTEXT" get namespace istio-system \
        -o jsonpath='{.metadata.labels.mesh5xx-istio-profile}' 2>/dev/null || true
}

# install_istio PROFILE: istioctl install of kind-cluster/istio/PROFILE.yaml plus the lab's
# EnvoyFilters (flags header always; the 15 s PassthroughCluster timeout for istio-1.4 only).
install_istio() {
    local profile=$1 file="$KIND_DIR/istio/$1.yaml"
    [[ -f "$file" ]] || die "Istio profile $profile has no install file ($file); see kind-cluster/README.md"
    check_istioctl_version
    istioctl install --context "$CONTEXT" -y -f "$file" >&2
    kubectl --context "$CONTEXT" apply -f "$KIND_DIR/istio/envoyfilter-flags-header.yaml" >&2
    if [[ "$profile" == istio-1.4 ]]; then
        kubectl --context "$CONTEXT" apply -f "$KIND_DIR/istio/envoyfilter-passthrough-timeout-15s.yaml" >&2
    else
        kubectl --context "$CONTEXT" delete --ignore-not-found \
            -f "$KIND_DIR/istio/envoyfilter-passthrough-timeout-15s.yaml" >&2
    fi
    kubectl --context "$CONTEXT" label namespace istio-system --overwrite \
        "mesh5xx-istio-profile=$profile" >&2
}
