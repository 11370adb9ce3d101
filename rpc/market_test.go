package rpc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/clocktest"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// marketDaemon serves the MarketService over a real market on a SQLite
// store holding two linked providers: prov-1 reachable, prov-2 not.
type marketDaemon struct {
	*testDaemon
	client                 sluicerpcconnect.MarketServiceClient
	clock                  *clocktest.Clock
	operator, buyer        string
	prov1, prov2, unlinked string
}

func startMarketDaemon(t *testing.T) marketDaemon {
	t.Helper()
	return startMarketDaemonWith(t, nil)
}

// startMarketDaemonWith is startMarketDaemon serving jobs too when jobs is
// not nil.
func startMarketDaemonWith(t *testing.T, jobs JobBackend) marketDaemon {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	at := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	err := db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		for i, id := range []string{"prov-1", "prov-2"} {
			err := tx.InsertProvider(ctx, store.Provider{
				ID:          id,
				NodePubkey:  "02" + strings.Repeat(string(rune('a'+i)), 64),
				AgentPubkey: strings.Repeat("1", 64),
				Status:      "linked",
				LinkedAt:    at, CreatedAt: at.Add(time.Duration(i)),
			})
			if err != nil {
				return err
			}
			err = tx.SetProviderRates(ctx, id, map[string]string{
				"cpu": []string{"0.001", "0.0005"}[i],
				"mem": "0.01"}, at)
			if err != nil {
				return err
			}
		}
		return tx.SetProviderReach(ctx, "prov-1", "reachable", "test", at)
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(at)
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	cfg.Market = market.New(market.Config{Store: db, Clock: clk})
	if jobs != nil {
		cfg.Jobs = jobs
	}
	d := startServer(t, dir, cfg)
	return marketDaemon{
		testDaemon: d,
		client: sluicerpcconnect.NewMarketServiceClient(
			httpClient(t, d.certPath(), true), d.url(),
			connect.WithGRPC()),
		clock:    clk,
		operator: d.macaroonHex(t, OperatorMacaroonFile),
		buyer:    d.buyerHex(t, "buyer-1"),
		prov1:    d.providerHex(t, "prov-1"),
		prov2:    d.providerHex(t, "prov-2"),
		unlinked: d.providerHex(t, "prov-9"),
	}
}

// testOffer is a machine of 4 cores and 8 GiB running 2 jobs.
func testOffer() *sluicerpc.Offer {
	return &sluicerpc.Offer{CpuCoreMs: 4000, MemMib: 8192, Slots: 2,
		AgentVersion: "v0.1.0"}
}

// codeOf is err's connect code, or 0 for nil.
func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// TestMarketService drives the MarketService end to end: heartbeats with
// their refusals, the offers and records, and dry-run placements with
// their explanations.
func TestMarketService(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := startMarketDaemon(t)
	beat := func(mac, id string, o *sluicerpc.Offer) (
		*sluicerpc.HeartbeatResponse, error) {

		r, err := d.client.Heartbeat(ctx, withMac(
			&sluicerpc.HeartbeatRequest{ProviderId: id, Offer: o}, mac))
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	}

	// Refusals: another provider's id, a buyer, a bad offer, no link.
	for _, tc := range []struct {
		name string
		mac  string
		id   string
		o    *sluicerpc.Offer
		code connect.Code
	}{
		{"another's id", d.prov1, "prov-2", testOffer(),
			connect.CodePermissionDenied},
		{"a buyer", d.buyer, "prov-1", testOffer(),
			connect.CodePermissionDenied},
		{"the operator", d.operator, "prov-1", testOffer(),
			connect.CodePermissionDenied},
		{"no offer", d.prov1, "prov-1", nil,
			connect.CodeInvalidArgument},
		{"cores not core-ms", d.prov1, "prov-1",
			&sluicerpc.Offer{CpuCoreMs: 4, MemMib: 1, Slots: 1,
				AgentVersion: "v"}, connect.CodeInvalidArgument},
		{"serving without a link", d.unlinked, "prov-9", testOffer(),
			connect.CodeFailedPrecondition},
	} {
		if _, err := beat(tc.mac, tc.id, tc.o); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
	if _, err := beat(d.unlinked, "prov-9", testOffer()); !strings.Contains(
		err.Error(), market.ErrNotLinked.Error()) {

		t.Fatalf("unlinked: %v", err)
	}

	r, err := beat(d.prov1, "prov-1", testOffer())
	if err != nil || r.TimeoutMs != market.DefaultTimeout.Milliseconds() ||
		r.Heartbeats != 1 || r.UptimePpm != 1_000_000 {

		t.Fatalf("heartbeat: %+v, %v", r, err)
	}
	d.clock.Advance(5 * time.Second)
	if r, err = beat(d.prov1, "prov-1", testOffer()); err != nil ||
		r.Heartbeats != 2 || r.LastSeen.AsTime().Sub(
		r.FirstSeen.AsTime()) != 5*time.Second {

		t.Fatalf("second heartbeat: %+v, %v", r, err)
	}

	// The offers: prov-1 only, unless the silent are asked for too.
	offers, err := d.client.ListOffers(ctx, withMac(
		&sluicerpc.ListOffersRequest{}, d.buyer))
	if err != nil || len(offers.Msg.Offers) != 1 {
		t.Fatalf("offers: %+v, %v", offers, err)
	}
	o := offers.Msg.Offers[0]
	if o.ProviderId != "prov-1" || !o.Online || o.Offer.CpuCoreMs != 4000 ||
		o.Free.Jobs != 2 || o.Rates["cpu"] != "0.001" ||
		o.Reach != "reachable" || o.Record.UptimePpm != 1_000_000 {

		t.Fatalf("prov-1's offer %+v", o)
	}
	offers, err = d.client.ListOffers(ctx, withMac(
		&sluicerpc.ListOffersRequest{IncludeSilent: true}, d.operator))
	if err != nil || len(offers.Msg.Offers) != 2 ||
		offers.Msg.Offers[1].Offer != nil ||
		offers.Msg.Offers[1].Online {

		t.Fatalf("offers with the silent: %+v, %v", offers, err)
	}
	if _, err := d.client.ListOffers(ctx, withMac(
		&sluicerpc.ListOffersRequest{}, d.prov1)); codeOf(err) !=
		connect.CodePermissionDenied {

		t.Fatalf("a provider lists offers: %v", err)
	}

	// Records: anyone's for a buyer, a provider's own.
	rec, err := d.client.GetRecord(ctx, withMac(
		&sluicerpc.GetRecordRequest{ProviderId: "prov-2"}, d.buyer))
	if err != nil || rec.Msg.Provider.ProviderId != "prov-2" ||
		rec.Msg.Provider.Online {

		t.Fatalf("prov-2's record: %+v, %v", rec, err)
	}
	if _, err := d.client.GetRecord(ctx, withMac(
		&sluicerpc.GetRecordRequest{ProviderId: "prov-1"},
		d.prov1)); err != nil {

		t.Fatalf("own record: %v", err)
	}
	if _, err := d.client.GetRecord(ctx, withMac(
		&sluicerpc.GetRecordRequest{ProviderId: "prov-2"},
		d.prov1)); codeOf(err) != connect.CodePermissionDenied {

		t.Fatalf("another's record: %v", err)
	}
	if _, err := d.client.GetRecord(ctx, withMac(
		&sluicerpc.GetRecordRequest{ProviderId: "nobody"},
		d.buyer)); codeOf(err) != connect.CodeFailedPrecondition {

		t.Fatalf("nobody's record: %v", err)
	}

	// prov-2 is cheaper but unreachable: prov-1 is placed on, prov-2's
	// verdict says why not.
	if _, err := beat(d.prov2, "prov-2", testOffer()); err != nil {
		t.Fatal(err)
	}
	place := func(mac string, req *sluicerpc.PlaceDryRunRequest) (
		*sluicerpc.PlaceDryRunResponse, error) {

		r, err := d.client.PlaceDryRun(ctx, withMac(req, mac))
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	}
	p, err := place(d.buyer, &sluicerpc.PlaceDryRunRequest{
		CpuCoreMs: 1000, MemMib: 512})
	if err != nil || p.ProviderId != "prov-1" || p.NoFit != "" ||
		p.PriceMsatPerSecond != "6.12" || len(p.Verdicts) != 2 {

		t.Fatalf("placement: %+v, %v", p, err)
	}
	if v := p.Verdicts[1]; v.ProviderId != "prov-2" || v.Taken ||
		v.Rank != 0 || len(v.Reasons) != 1 ||
		v.Reasons[0] != "unreachable" || v.PriceMsatPerSecond != "5.62" {

		t.Fatalf("prov-2's verdict %+v", v)
	}
	if v := p.Verdicts[0]; !v.Taken || v.Rank != 1 {
		t.Fatalf("prov-1's verdict %+v", v)
	}

	// A max rate below every card: no fit, with the explanation.
	p, err = place(d.operator, &sluicerpc.PlaceDryRunRequest{
		CpuCoreMs: 1000, MaxRates: map[string]string{"cpu": "0.0001"}})
	if err != nil || p.ProviderId != "" ||
		p.NoFitReason != "above_max_rate" || p.NoFit == "" ||
		len(p.Verdicts) != 2 {

		t.Fatalf("no fit: %+v, %v", p, err)
	}
	// A spec no provider can meet.
	p, err = place(d.buyer, &sluicerpc.PlaceDryRunRequest{
		CpuCoreMs: 64_000, MemMib: 1})
	if err != nil || p.NoFitReason != "no_capacity" {

		t.Fatalf("too big: %+v, %v", p, err)
	}
	// Past the timeout nobody is online.
	d.clock.Advance(time.Minute)
	p, err = place(d.buyer, &sluicerpc.PlaceDryRunRequest{CpuCoreMs: 1})
	if err != nil || p.NoFitReason != "offline" {
		t.Fatalf("offline: %+v, %v", p, err)
	}

	for _, tc := range []struct {
		name string
		mac  string
		req  *sluicerpc.PlaceDryRunRequest
		code connect.Code
	}{
		{"empty spec", d.buyer, &sluicerpc.PlaceDryRunRequest{},
			connect.CodeInvalidArgument},
		{"bad max rate", d.buyer, &sluicerpc.PlaceDryRunRequest{
			CpuCoreMs: 1, MaxRates: map[string]string{"cpu": "x"}},
			connect.CodeInvalidArgument},
		{"unknown resource", d.buyer, &sluicerpc.PlaceDryRunRequest{
			CpuCoreMs: 1, MaxRates: map[string]string{"gpu": "1"}},
			connect.CodeInvalidArgument},
		{"a provider", d.prov1, &sluicerpc.PlaceDryRunRequest{
			CpuCoreMs: 1}, connect.CodePermissionDenied},
	} {
		if _, err := place(tc.mac, tc.req); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
}

// TestMarketNotServed checks that a server without a market answers
// unimplemented.
func TestMarketNotServed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startServer(t, dir, testConfig(dir, &fakeInfo{}))
	c := sluicerpcconnect.NewMarketServiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC())
	_, err := c.ListOffers(context.Background(), withMac(
		&sluicerpc.ListOffersRequest{},
		d.macaroonHex(t, OperatorMacaroonFile)))
	if codeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("no market: %v", err)
	}
}
