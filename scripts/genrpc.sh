#!/usr/bin/env bash
# Regenerate the API's Go code (rpc/sluicerpc) from rpc/sluicerpc/*.proto.
#
# buf and the two Go plugins are installed at pinned versions from the Go
# module proxy into bin/tools, and buf runs them as local plugins: no remote
# plugins, no Buf Schema Registry, no network but the module proxy.
#
# The versions match the protobuf runtime that go.mod pins: lnd's protobuf
# fork is protobuf-go v1.34.2, connect-go v1.17.0 is the last release that
# builds against it, and protoc-gen-go v1.34.2 generates code for it.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION=v1.47.2
PROTOC_GEN_GO_VERSION=v1.34.2
PROTOC_GEN_CONNECT_GO_VERSION=v1.17.0

TOOLS="$PWD/bin/tools"
mkdir -p "$TOOLS"

# install PKG VERSION BINARY: go install PKG@VERSION into bin/tools, unless the
# binary there already reports being built from that version.
install() {
	local pkg=$1 version=$2 bin=$3
	if [[ -x "$TOOLS/$bin" ]] &&
		go version -m "$TOOLS/$bin" 2>/dev/null | grep -q "^[[:space:]]mod[[:space:]].*[[:space:]]$version[[:space:]]"; then
		return
	fi
	echo "genrpc: installing $bin $version from the Go module proxy" >&2
	GOBIN="$TOOLS" go install "$pkg@$version"
}

install github.com/bufbuild/buf/cmd/buf "$BUF_VERSION" buf
install google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION" protoc-gen-go
install connectrpc.com/connect/cmd/protoc-gen-connect-go "$PROTOC_GEN_CONNECT_GO_VERSION" protoc-gen-connect-go

# Remove what was generated before, so that a deleted .proto leaves nothing
# behind; hand-written files in rpc/sluicerpc stay.
find rpc/sluicerpc -name '*.pb.go' -delete
rm -rf rpc/sluicerpc/sluicerpcconnect

# buf finds the plugins by name on PATH (buf.gen.yaml names them "local").
# BUF_CACHE_DIR keeps buf's cache inside bin/ rather than the user's home.
cd rpc
PATH="$TOOLS:$PATH" BUF_CACHE_DIR="$TOOLS/.bufcache" "$TOOLS/buf" generate
