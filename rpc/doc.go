// Package rpc serves Sluice's API: the protobuf services (generated code in
// sluicerpc) on one TLS port through connect-go, so that gRPC, gRPC-Web and
// JSON over HTTP all reach the same handlers; the self-signed TLS
// certificate; and macaroon authentication with the operator, buyer and
// provider roles.
package rpc
