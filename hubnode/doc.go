// Package hubnode is Sluice's client of the hub's own lnd and tapd: each
// type adapts their RPCs (through lndclient and taprpc) to the plain types
// of package lightning and to the narrow interfaces the domain packages
// declare. Only the daemon, the CLI's node commands and the integration
// tests import it; the domain packages and the provider's agent do not, so
// they link no RPC client of lnd or tapd.
package hubnode
