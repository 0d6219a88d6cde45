#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Delete the mesh5xx kind cluster (results under results/runs/ are kept).
set -euo pipefail
# shellcheck source=kind-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kind-lib.sh"

require kind
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    step "delete kind cluster $CLUSTER" kind delete cluster --name "$CLUSTER"
else
    log "no kind cluster named $CLUSTER; nothing to do"
fi
