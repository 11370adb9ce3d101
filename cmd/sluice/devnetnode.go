package main

import (
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/devnet"
	"github.com/urfave/cli"
)

// devnetNode returns the local network's profile and its node named name,
// the value of --flag, and points the API flags (--rpcserver, --sluicedir)
// at the network's sluiced unless they are given.
func devnetNode(c *cli.Context, dir, flag, name string) (*devnet.Profile,
	*devnet.LndNode, error) {

	prof, err := devnet.LoadProfile(dir)
	if err != nil {
		return nil, nil, err
	}
	node, err := prof.Node(name)
	if err != nil {
		return nil, nil, fmt.Errorf("--%s: %w", flag, err)
	}
	for global, value := range map[string]string{
		"rpcserver": prof.Sluiced.RPCListen,
		"sluicedir": prof.Sluiced.Dir,
	} {
		if c.GlobalIsSet(global) {
			continue
		}
		if err := c.GlobalSet(global, value); err != nil {
			return nil, nil, err
		}
	}
	return prof, node, nil
}

// devnetProvider is devnetNode for --node, which must name one of the
// network's providers.
func devnetProvider(c *cli.Context, dir string) (*devnet.Profile,
	*devnet.LndNode, error) {

	name := c.String("node")
	if name == "" {
		return nil, nil, errors.New("--devnet needs --node " +
			"(provider1, provider2)")
	}
	prof, node, err := devnetNode(c, dir, "node", name)
	if err != nil {
		return nil, nil, err
	}
	if node.Role != devnet.RoleProvider {
		return nil, nil, fmt.Errorf("--node %s is the network's %s, "+
			"not a provider", name, node.Role)
	}
	return prof, node, nil
}
