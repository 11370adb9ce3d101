package devnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoTapd is returned when a node that must have a tapd has none.
var ErrNoTapd = errors.New("node has no tapd")

// YieldEpoch is the reward epoch of sluiced on the devnet: seconds
// rather than the hour of a real network.
const YieldEpoch = 30 * time.Second

// RoutingChanSat is the capacity of the routing strategy's channels on the
// devnet: small, so that a little staked capital opens one.
const RoutingChanSat = 100_000

// SluicedConf returns a sluice.conf (ini, as sluiced's go-flags parser reads
// it) for a sluiced on this network: the data directory and API address of
// p.Sluiced, the hub's lnd and tapd, and the embedded SQLite store. sluiced
// then needs only --configfile; a flag given next to it still wins.
func (p *Profile) SluicedConf() (string, error) {
	hub, err := p.Hub()
	if err != nil {
		return "", fmt.Errorf("sluiced conf: %w", err)
	}
	if hub.Tapd == nil {
		return "", fmt.Errorf("sluiced conf: %w: %s", ErrNoTapd,
			hub.Name)
	}
	if p.Sluiced.Dir == "" || p.Sluiced.RPCListen == "" {
		return "", fmt.Errorf("sluiced conf: profile's sluiced " +
			"section: dir and rpc_listen must be set")
	}

	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
	}
	line("; sluiced on the devnet in %s; written from %s.", p.Dir,
		filepath.Join(p.Dir, ProfileName))
	line("; The network is rebuilt by every `sluice devnet up`, and so is")
	line("; this file.")
	line("")
	line("[Application Options]")
	line("datadir=%s", p.Sluiced.Dir)
	line("network=%s", p.Network)
	line("rpclisten=%s", p.Sluiced.RPCListen)
	line("debuglevel=info")
	line("")
	line("[lnd]")
	line("lnd.host=%s", hub.RPCHost)
	line("lnd.tlspath=%s", hub.TLSCertPath)
	line("lnd.macaroonpath=%s", hub.AdminMacaroonPath)
	line("")
	line("[tapd]")
	line("tapd.host=%s", hub.Tapd.RPCHost)
	line("tapd.tlspath=%s", hub.Tapd.TLSCertPath)
	line("tapd.macaroonpath=%s", hub.Tapd.AdminMacaroonPath)
	line("")
	line("[db]")
	line("db.backend=sqlite")
	line("")
	line("[yield]")
	line("; Reward epochs of seconds, so that they close while one watches;")
	line("; a later yield.epoch (a flag, or a section added below) wins.")
	line("yield.epoch=%s", YieldEpoch)
	line("yield.harvest=2s")
	line("")
	line("[routing]")
	line("; The routing strategy keeps a channel of vault capital open to each")
	line("; provider, at a fee below the hub's default so that payments take")
	line("; it. Nothing opens until the operator gives routing a cap and")
	line("; applies a plan (docs/yield.md).")
	for _, n := range p.NodesWithRole(RoleProvider) {
		line("routing.peer=%s", n.PubKey)
	}
	line("routing.chansize=%d", RoutingChanSat)
	line("routing.basefee=500")
	line("routing.feeppm=1")
	return b.String(), nil
}

// WriteSluicedConf writes SluicedConf to p.Sluiced.ConfigPath, creating
// p.Sluiced.Dir, and returns the path.
func (p *Profile) WriteSluicedConf() (string, error) {
	conf, err := p.SluicedConf()
	if err != nil {
		return "", err
	}
	path := p.Sluiced.ConfigPath
	if path == "" {
		return "", fmt.Errorf("sluiced conf: profile's sluiced " +
			"section: config_path must be set")
	}
	if err := os.MkdirAll(p.Sluiced.Dir, 0o700); err != nil {
		return "", fmt.Errorf("sluiced conf: %w", err)
	}
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", fmt.Errorf("sluiced conf: %w", err)
	}
	return path, nil
}
