package main

import (
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/urfave/cli"
)

// tapdFlags are a provider's own tapd connection and the hub's universe,
// as 'provider shares address' and 'shares verify' take them.
type tapdFlags struct {
	host, tlsPath, macaroonPath, universe string
}

// ownTapdFlags are the flags of a provider's own tapd that resolveTapd
// reads; macaroon says what the macaroon must allow.
func ownTapdFlags(macaroon string) []cli.Flag {
	return []cli.Flag{
		cli.StringFlag{Name: "tapd.host",
			Usage: "host:port of your tapd's gRPC"},
		cli.StringFlag{Name: "tapd.tlspath",
			Usage: "your tapd's tls.cert"},
		cli.StringFlag{Name: "tapd.macaroonpath",
			Usage: "a macaroon of your tapd that may " + macaroon +
				" (admin.macaroon will do)"},
		cli.StringFlag{Name: "universe",
			Usage: "the hub tapd's universe, host:port"},
		cli.StringFlag{Name: "devnet",
			Usage: "a local network's directory: take the tapd " +
				"flags from its profile"},
		cli.StringFlag{Name: "node",
			Usage: "with --devnet, your node (provider1, provider2)"},
	}
}

// resolveTapd returns the tapd flags, from --devnet's profile when given
// (which also defaults --rpcserver and --sluicedir, as resolveLnd does).
func resolveTapd(c *cli.Context) (tapdFlags, error) {
	f := tapdFlags{
		host:         c.String("tapd.host"),
		tlsPath:      rpcclient.CleanPath(c.String("tapd.tlspath")),
		macaroonPath: rpcclient.CleanPath(c.String("tapd.macaroonpath")),
		universe:     c.String("universe"),
	}
	dir := rpcclient.CleanPath(c.String("devnet"))
	if dir == "" {
		switch {
		case c.String("node") != "":
			return f, errors.New("--node needs --devnet")
		case f.host == "":
			return f, errors.New("--tapd.host is empty (or give " +
				"--devnet and --node, or --addr)")
		case f.tlsPath == "":
			return f, errors.New("--tapd.tlspath is empty")
		case f.macaroonPath == "":
			return f, errors.New("--tapd.macaroonpath is empty")
		}
		return f, nil
	}
	prof, node, err := devnetProvider(c, dir)
	if err != nil {
		return f, err
	}
	if node.Tapd == nil {
		return f, fmt.Errorf("--node %s runs no tapd", node.Name)
	}
	if f.host == "" {
		f.host = node.Tapd.RPCHost
	}
	if f.tlsPath == "" {
		f.tlsPath = node.Tapd.TLSCertPath
	}
	if f.macaroonPath == "" {
		f.macaroonPath = node.Tapd.AdminMacaroonPath
	}
	if hub, err := prof.Hub(); err == nil && hub.Tapd != nil &&
		f.universe == "" {

		f.universe = hub.Tapd.RPCHost
	}
	return f, nil
}
