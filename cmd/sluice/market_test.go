package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/channels/channelstest"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/urfave/cli"
)

func TestParseMemTotal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want uint64
		err  string
	}{
		{"MemTotal:       16318220 kB\nMemFree: 1 kB\n", 15935, ""},
		{"MemFree: 1 kB\nMemTotal: 2048 kB\n", 2, ""},
		{"MemFree: 1 kB\n", 0, "no MemTotal"},
		{"MemTotal: 12 MB\n", 0, "not"},
		{"MemTotal: x kB\n", 0, "invalid syntax"},
	}
	for _, tc := range cases {
		got, err := parseMemTotal(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	// This machine's own.
	m, err := readMachine("/proc/meminfo")
	if err != nil || m.cores < 1 || m.memMiB == 0 {
		t.Fatalf("this machine: %+v, %v", m, err)
	}
}

func TestOfferFor(t *testing.T) {
	t.Parallel()
	m := machine{cores: 2, memMiB: 4096}
	cases := []struct {
		name     string
		set      bool
		cores    float64
		mem      uint64
		slots    uint
		cpu, got uint64
		err      string
	}{
		{"all of it", false, 0, 0, 1, 2000, 4096, ""},
		{"less", true, 1.5, 1024, 2, 1500, 1024, ""},
		{"more cores than it has", true, 3, 0, 1, 0, 0, "--cores"},
		{"no cores", true, 0, 0, 1, 0, 0, "--cores"},
		{"more memory than it has", false, 0, 8192, 1, 0, 0, "--mem"},
		{"no slots", false, 0, 0, 0, 0, 0, "--slots"},
		{"a sliver of a core", true, 0.05, 0, 1, 0, 0, "invalid offer"},
	}
	for _, tc := range cases {
		o, err := offerFor(m, tc.set, tc.cores, tc.mem, tc.slots, "v")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || o.CpuCoreMs != tc.cpu || o.MemMib != tc.got ||
			o.Slots != uint32(tc.slots) {

			t.Errorf("%s: %+v, %v", tc.name, o, err)
		}
	}
}

// TestHeartbeatLoop checks the loop's rules: the first beat's error ends
// it, a later transient one is retried, a later permanent one ends it, and
// the context's end is a clean stop.
func TestHeartbeatLoop(t *testing.T) {
	t.Parallel()
	transient := connect.NewError(connect.CodeUnavailable,
		errors.New("down"))
	notLinked := connect.NewError(connect.CodeFailedPrecondition,
		errors.New("not linked"))
	cases := []struct {
		name    string
		errs    []error // the beats' answers in turn; then cancel
		want    error
		retried int
	}{
		{"first fails", []error{notLinked}, notLinked, 0},
		{"first transient fails too", []error{transient}, transient, 0},
		{"transient later", []error{nil, transient, transient, nil}, nil,
			2},
		{"permanent later", []error{nil, transient, notLinked, nil},
			notLinked, 1},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithCancel(context.Background())
		calls, retried := 0, 0
		beat := func(context.Context) error {
			if calls == len(tc.errs)-1 {
				cancel()
			}
			err := tc.errs[min(calls, len(tc.errs)-1)]
			calls++
			return err
		}
		err := heartbeatLoop(ctx, beat, time.Millisecond,
			func(error) { retried++ })
		cancel()
		if !errors.Is(err, tc.want) || retried != tc.retried {
			t.Errorf("%s: %v after %d retries, want %v after %d",
				tc.name, err, retried, tc.want, tc.retried)
		}
	}
}

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
	provMac := filepath.Join(dir, "regtest", providerMacaroonFile)
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
