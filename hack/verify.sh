#!/usr/bin/env bash
# Fails when regeneration (make generate manifests codegen helm, run just before this) changed the tree,
# when Go files are not gofmt-clean, when a Markdown file has a broken relative link or #anchor, or
# when the pinned Kubernetes version drifted from go.mod.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=hack/versions.env
source hack/versions.env

fail=0

# One Kubernetes version everywhere: the control plane built by hack/tools.sh (v1.X.Y) and the
# k8s.io/* libraries in go.mod (v0.X.Y).
want="v0.${KUBERNETES_VERSION#v1.}"
for mod in k8s.io/api k8s.io/apimachinery k8s.io/client-go k8s.io/apiextensions-apiserver k8s.io/code-generator; do
	got=$(go list -m -f '{{.Version}}' "$mod")
	if [[ "$got" != "$want" ]]; then
		echo "verify: $mod is $got in go.mod but hack/versions.env pins Kubernetes $KUBERNETES_VERSION (want $want)" >&2
		fail=1
	fi
done

unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [[ -n "$unformatted" ]]; then
	echo "verify: not gofmt-clean (run make fmt):" >&2
	echo "$unformatted" >&2
	fail=1
fi

# The chart's CRDs and RBAC are copies of config/ (make helm); this holds even before a commit.
if ! go run ./hack/helmsync -check; then
	fail=1
fi

# Relative links and #anchors of the Markdown files (make linkcheck); prints each broken one.
if ! go run ./hack/linkcheck; then
	fail=1
fi

# Generated paths must match what is committed. Untracked files count too: a new generated file
# that nobody committed is drift.
generated=(api config/crd config/rbac charts/agora/templates/crds charts/agora/templates/rbac pkg/client go.mod go.sum)
if [[ -n "$(git status --porcelain -- "${generated[@]}")" ]]; then
	echo "verify: generated files differ from the committed tree (run make generate manifests codegen and commit):" >&2
	git status --porcelain -- "${generated[@]}" >&2
	git --no-pager diff --stat -- "${generated[@]}" >&2
	fail=1
fi

exit $fail
