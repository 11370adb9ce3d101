package daemon

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metrics"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestMetricsSourceBooks checks that the scrape's books are the ledger's
// totals across every account of each kind, and that a sluiced whose
// vault is not built shows none.
func TestMetricsSourceBooks(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	dm, err := newDaemonMetrics(&PrometheusConfig{
		Listen: "127.0.0.1:8990"}, db)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(store.NewLedgerStore(db), nil)
	n := 0
	post := func(from, to ledger.Account, amt ledger.MilliSatoshi) {
		t.Helper()
		n++
		_, err := l.Post(ctx, ledger.Transfer(fmt.Sprintf("test:%d", n),
			"test", from, to, amt))
		if err != nil {
			t.Fatal(err)
		}
	}
	hub := ledger.HubHoldings()
	post(hub, ledger.BuyerEscrow("j1"), 10_000)
	post(hub, ledger.BuyerEscrow("j2"), 5_000)
	post(ledger.BuyerEscrow("j1"), ledger.ProviderPayable("p1"), 3_000)
	post(ledger.BuyerEscrow("j2"), ledger.ProviderPayable("p2"), 1_000)
	post(ledger.BuyerEscrow("j1"), ledger.PlatformFees(), 100)
	post(ledger.ProviderPayable("p1"), ledger.PayoutInFlight("p1"), 2_000)
	post(ledger.PayoutInFlight("p1"), ledger.PaidOut("p1"), 1_500)
	post(ledger.PayoutInFlight("p1"), ledger.RoutingFees(), 10)
	post(ledger.BuyerEscrow("j2"), ledger.Refunded("j2"), 4_000)

	got, err := dm.source.Books(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := metrics.Books{Escrow: 6_900, Payable: 2_000, InFlight: 490,
		PaidOut: 1_500, Refunded: 4_000, PlatformFees: 100,
		RoutingFees: 10}
	if got != want {
		t.Fatalf("books %+v, want %+v", got, want)
	}

	if _, err := dm.source.Vault(ctx); !errors.Is(err,
		metrics.ErrNoVault) {

		t.Fatalf("vault before it is built: %v", err)
	}
}

// TestMetricsOff checks that without --prometheus.listen there are no
// metrics and the subsystems get no observers.
func TestMetricsOff(t *testing.T) {
	dm, err := newDaemonMetrics(&PrometheusConfig{}, nil)
	if err != nil || dm != nil {
		t.Fatalf("metrics off: %v, %v", dm, err)
	}
	if dm.payouts() != nil || dm.ingest() != nil || dm.refunds() != nil {
		t.Fatal("observers without metrics")
	}
	dm.reconciled(nil, nil)
	dm.setVault(nil)
}
