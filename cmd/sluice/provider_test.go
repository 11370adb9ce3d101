package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/channels/channelstest"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/urfave/cli"
)

// providerSluiced is an API server with a real channels.Manager (SQLite,
// fake hub) and one linked provider whose macaroon is in
// <dir>/regtest/provider.macaroon.
type providerSluiced struct {
	dir, addr string
	id        string
	node      route.Vertex
}

func startProviderSluiced(t *testing.T) providerSluiced {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()

	_, hubPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{9}, 32))
	nodePriv, nodePub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{5}, 32))
	node := route.NewVertex(nodePub)
	_, agentPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{6}, 32))
	agent, err := channels.ParseAgentKey(
		agentPub.SerializeCompressed()[1:])
	if err != nil {
		t.Fatal(err)
	}

	hub := channelstest.NewHub(t)
	hub.ExpectNodeInfo(node, lightning.NodeInfo{Alias: "cli-node"}, nil)
	hub.ExpectChannels(node, []lightning.Channel{{Active: true,
		ChanID: 7 << 40, LocalBalance: 50_000}}, nil)
	mgr, err := channels.NewManager(channels.Config{
		Store:   storetest.Open(t, storetest.Config(t, store.SQLite)),
		Hub:     hub,
		HubNode: route.NewVertex(hubPub),
		Network: "regtest",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, dir, rpc.Config{
		Info:      fixedInfo{Network: "regtest"},
		Providers: mgr,
	})

	ch, err := mgr.CreateChallenge(ctx, channels.ChallengeRequest{
		Node: node, Agent: agent,
	})
	if err != nil {
		t.Fatal(err)
	}
	link, err := mgr.CompleteLink(ctx, ch.ID,
		channels.SignNodeMessage(nodePriv, []byte(ch.Message)))
	if err != nil {
		t.Fatal(err)
	}
	mac, err := srv.BakeProviderMacaroon(link.Provider.ID,
		link.Provider.Agent)
	if err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(filepath.Join(dir, "regtest", rpcclient.ProviderMacaroonFile),
		mac, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return providerSluiced{dir: dir, addr: srv.Addr(),
		id: link.Provider.ID, node: node}
}

// runProvider runs `sluice --rpcserver ... --sluicedir ... args`.
func (s providerSluiced) run(args ...string) (string, error) {
	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "sluice"
	app.Flags = globalFlags
	app.Commands = []cli.Command{providerCommand}
	app.Writer = &out
	full := append([]string{"sluice", "--rpcserver", s.addr,
		"--sluicedir", s.dir}, args...)
	err := app.Run(full)
	return out.String(), err
}

// TestProviderShowAndRates shows the provider with its own macaroon, sets
// rates resource by resource, refuses bad rates, and lists as operator.
func TestProviderShowAndRates(t *testing.T) {
	t.Parallel()
	s := startProviderSluiced(t)

	out, err := s.run("provider", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"provider id:", s.id, s.node.String(), "cli-node",
		"reachable: the hub has an active channel", "rates:",
		"none set",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	if _, err := s.run("provider", "rates", "--cpu", "0.5"); err != nil {
		t.Fatal(err)
	}
	out, err = s.run("provider", "rates", "--mem", "0.002")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "cpu 0.5 msat per core-millisecond") ||
		!strings.Contains(out, "mem 0.002 msat per MiB-second") {

		t.Errorf("rates after setting mem keep cpu:\n%s", out)
	}

	out, err = s.run("provider", "rates", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Rates map[string]string `json:"rates"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil ||
		shown.Rates["cpu"] != "0.5" {

		t.Errorf("rates --json: %v\n%s", err, out)
	}

	for flagName, want := range map[string]string{
		"--cpu=-1":                    "negative rate",
		"--mem=1e-3":                  "malformed rate",
		"--cpu=0.0000000000000000001": "too many decimal places",
	} {
		_, err := s.run("provider", "rates", flagName)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rates %s: %v, want %q", flagName, err, want)
		}
	}

	out, err = s.run("provider", "rates", "--clear", "--cpu", "2")
	if err != nil || strings.Contains(out, "mem") ||
		!strings.Contains(out, "cpu 2 msat") {

		t.Errorf("rates --clear --cpu 2: %v\n%s", err, out)
	}

	operator := filepath.Join(s.dir, "regtest", "operator.macaroon")
	out, err = s.run("--macaroonpath", operator, "provider", "list")
	if err != nil || !strings.Contains(out, s.id) ||
		!strings.Contains(out, "reachable") {

		t.Errorf("list: %v\n%s", err, out)
	}
	if _, err := s.run("--macaroonpath", operator, "provider",
		"show"); err == nil || !strings.Contains(err.Error(),
		"name the provider") {

		t.Errorf("show as operator without an id: %v", err)
	}
	out, err = s.run("--macaroonpath", operator, "provider", "show", s.id)
	if err != nil || !strings.Contains(out, s.id) {
		t.Errorf("show %s as operator: %v\n%s", s.id, err, out)
	}
	provider := filepath.Join(s.dir, "regtest", rpcclient.ProviderMacaroonFile)
	if _, err := s.run("--macaroonpath", provider, "provider",
		"list"); err == nil || !strings.Contains(err.Error(),
		"does not allow") {

		t.Errorf("list with the provider's macaroon: %v", err)
	}
}

// TestCheckChallenge signs only challenges naming this node, this agent
// key, the network and the expected hub, before their expiry.
func TestCheckChallenge(t *testing.T) {
	t.Parallel()

	key := func(b byte) route.Vertex {
		_, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{b}, 32))
		return route.NewVertex(pub)
	}
	agentOf := func(b byte) channels.AgentKey {
		_, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{b}, 32))
		a, err := channels.ParseAgentKey(pub.SerializeCompressed()[1:])
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	good := channels.ChallengeFields{
		Network: "regtest", Hub: key(1), Node: key(2), Agent: agentOf(3),
		Nonce:   strings.Repeat("0f", 32),
		Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second),
	}
	tests := []struct {
		name   string
		mutate func(f *channels.ChallengeFields)
		hub    string
		want   string
	}{
		{"good", func(*channels.ChallengeFields) {}, "", ""},
		{"good with hub", func(*channels.ChallengeFields) {},
			key(1).String(), ""},
		{"other node", func(f *channels.ChallengeFields) {
			f.Node = key(4)
		}, "", "names node"},
		{"other agent", func(f *channels.ChallengeFields) {
			f.Agent = agentOf(5)
		}, "", "agent key"},
		{"other network", func(f *channels.ChallengeFields) {
			f.Network = "mainnet"
		}, "", "is for mainnet"},
		{"expired", func(f *channels.ChallengeFields) {
			f.Expires = time.Now().Add(-time.Hour).UTC().Truncate(
				time.Second)
		}, "", "expired"},
		{"other hub", func(*channels.ChallengeFields) {},
			key(6).String(), "names hub"},
	}
	for _, tc := range tests {
		f := good
		tc.mutate(&f)

		set := flag.NewFlagSet("test", flag.ContinueOnError)
		set.String("hub", tc.hub, "")
		global := flag.NewFlagSet("global", flag.ContinueOnError)
		global.String("network", "regtest", "")
		c := cli.NewContext(nil, set, cli.NewContext(nil, global, nil))

		err := checkChallenge(c, f.Message(), good.Node, good.Agent)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil ||
			!strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	c := cli.NewContext(nil, flag.NewFlagSet("x", flag.ContinueOnError), nil)
	if err := checkChallenge(c, "please sign", good.Node,
		good.Agent); err == nil {

		t.Error("signed a message that is no challenge")
	}
}
