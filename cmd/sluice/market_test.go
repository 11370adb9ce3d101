package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/channels/channelstest"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/urfave/cli"
)

func TestParseMaxRates(t *testing.T) {
	t.Parallel()
	got, err := parseMaxRates("cpu=0.001, mem=2")
	if err != nil || len(got) != 2 || got["cpu"] != "0.001" ||
		got["mem"] != "2" {

		t.Fatalf("%v, %v", got, err)
	}
	for _, bad := range []string{"cpu", "cpu=", "=1", "cpu=1,cpu=2"} {
		if _, err := parseMaxRates(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestMarketCommands runs `market offers`, `market place --explain` and
// `provider show` against a server with a market over SQLite: one provider
// online and reachable, one unlinked to the hub.
func TestMarketCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	at := time.Now().UTC().Add(-time.Minute)
	_, agentPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{6}, 32))
	agent, err := channels.ParseAgentKey(agentPub.SerializeCompressed()[1:])
	if err != nil {
		t.Fatal(err)
	}
	err = db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		for i, id := range []string{"prov-a", "prov-b"} {
			err := tx.InsertProvider(ctx, store.Provider{
				ID: id, NodePubkey: "02" + strings.Repeat(
					string(rune('a'+i)), 64),
				AgentPubkey: agent.String(), Status: "linked",
				LinkedAt: at, CreatedAt: at.Add(time.Duration(i)),
			})
			if err != nil {
				return err
			}
			err = tx.SetProviderRates(ctx, id, map[string]string{
				"cpu": "0.001", "mem": "0.01"}, at)
			if err != nil {
				return err
			}
		}
		return tx.SetProviderReach(ctx, "prov-a", "reachable", "ok", at)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, hubPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{9}, 32))
	mgr, err := channels.NewManager(channels.Config{
		Store: db, Hub: channelstest.NewHub(t),
		HubNode: route.NewVertex(hubPub), Network: "regtest",
	})
	if err != nil {
		t.Fatal(err)
	}
	mkt := market.New(market.Config{Store: db})
	srv := startServer(t, dir, rpc.Config{
		Info: fixedInfo{Network: "regtest"}, Providers: mgr,
		Market: mkt,
	})
	mac, err := srv.BakeProviderMacaroon("prov-a", agent)
	if err != nil {
		t.Fatal(err)
	}
	provMac := filepath.Join(dir, "regtest", rpcclient.ProviderMacaroonFile)
	if err := os.WriteFile(provMac, mac, 0o600); err != nil {
		t.Fatal(err)
	}
	offer := market.Offer{CPU: 2500, Mem: 2048, Slots: 1, Version: "v9"}
	for _, id := range []string{"prov-a", "prov-b"} {
		if _, err := mkt.Heartbeat(ctx, id, offer); err != nil {
			t.Fatal(err)
		}
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		app := cli.NewApp()
		app.Name = "sluice"
		app.Flags = globalFlags
		app.Commands = []cli.Command{marketCommand, providerCommand}
		app.Writer = &out
		err := app.Run(append([]string{"sluice", "--rpcserver",
			srv.Addr(), "--sluicedir", dir}, args...))
		return out.String(), err
	}
	operator := filepath.Join(dir, "regtest", "operator.macaroon")

	out, err := run("--macaroonpath", operator, "market", "offers")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prov-a", "prov-b", "2.5", "2048",
		"cpu=0.001,mem=0.01", "reachable", "unknown", "100.0%"} {

		if !strings.Contains(out, want) {
			t.Errorf("offers lack %q:\n%s", want, out)
		}
	}

	out, err = run("--macaroonpath", operator, "market", "place",
		"--cpu", "1000", "--mem", "100", "--explain")
	if err != nil {
		t.Fatalf("place: %v\n%s", err, out)
	}
	for _, want := range []string{"placed on prov-a at 2 msat per second",
		"taken", "left out: unreachable"} {

		if !strings.Contains(out, want) {
			t.Errorf("place lacks %q:\n%s", want, out)
		}
	}
	out, err = run("--macaroonpath", operator, "market", "place",
		"--cpu", "1000", "--max-rate", "cpu=0.0001", "--explain")
	if err == nil || !strings.Contains(err.Error(),
		"max rate below the provider's rate") ||
		!strings.Contains(out, "above_max_rate") {

		t.Errorf("place under every rate: %v\n%s", err, out)
	}
	if _, err := run("--macaroonpath", operator, "market", "place",
		"--cpu", "1000", "--max-rate", "cpu"); err == nil {

		t.Error("a malformed --max-rate was accepted")
	}

	out, err = run("provider", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prov-a", "offer:", "2.5 cores",
		"online:", "yes", "jobs:", "0 completed", "heartbeat uptime:"} {

		if !strings.Contains(out, want) {
			t.Errorf("provider show lacks %q:\n%s", want, out)
		}
	}
}
