#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Create the mesh5xx kind cluster, install the pinned Istio, point CoreDNS's external zones
# at the egress DNS, build the mesh5xx image and load it into the cluster.
#
#   scripts/kind-up.sh            # profile istio-1.4 (the scenarios' default)
#   MESH5XX_PROFILE=istio-1.24 scripts/kind-up.sh
#
# Settings (environment): KIND_CLUSTER (mesh5xx), ISTIO_VERSION, KIND_NODE_IMAGE,
# MESH5XX_IMAGE (mesh5xx:local), MESH5XX_PROFILE (istio-1.4). Re-running is safe: an
# existing cluster is kept, Istio and the image are refreshed.
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kind-lib.sh"

PROFILE="${MESH5XX_PROFILE:-istio-1.4}"
require docker kind kubectl istioctl
require_docker_daemon
T0=$(date +%s)

create_cluster() {
    if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
        log "kind cluster $CLUSTER exists; keeping it"
    else
        kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" \
            --config "$KIND_DIR/kind.yaml" --wait 120s
    fi
    kubectl --context "$CONTEXT" wait --for=condition=Ready nodes --all --timeout=180s >&2
}

patch_coredns() {
    kubectl --context "$CONTEXT" apply -f "$KIND_DIR/coredns-patch.yaml"
    kubectl --context "$CONTEXT" -n kube-system rollout restart deployment/coredns
    kubectl --context "$CONTEXT" -n kube-system rollout status deployment/coredns --timeout=120s
}

build_image() {
    DOCKER_BUILDKIT=1 docker build -f "$KIND_DIR/Dockerfile" -t "$IMAGE" "$KIND_ROOT"
}

load_image() {
    kind load docker-image "$IMAGE" --name "$CLUSTER"
}

step "create kind cluster $CLUSTER ($KIND_NODE_IMAGE)" create_cluster
step "install Istio $ISTIO_VERSION, profile $PROFILE" install_istio "$PROFILE"
step "patch CoreDNS (external zones -> egress DNS)" patch_coredns
step "build image $IMAGE" build_image
step "load image into $CLUSTER" load_image
log "cluster $CLUSTER ready in $(($(date +%s) - T0)) s; next: scripts/kind-run.sh SCENARIO [VARIANT]"
