// Package lightning holds the plain types Sluice's domain packages use to
// speak of Lightning: nodes, channels and routes of the hub's graph,
// payments and their results, invoices, payment requests, and the errors
// the hub's node answers with. It depends on no RPC client, so that the
// domain packages, and the provider's agent built from them, link none;
// package hubnode adapts lnd's and tapd's RPCs to these types.
package lightning
