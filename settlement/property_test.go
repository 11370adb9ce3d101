package settlement_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"pgregory.net/rapid"
)

// stubHub makes invoices and nothing else: the property test settles them
// itself, synchronously.
type stubHub struct{}

func (stubHub) AddInvoice(_ context.Context, amt lnwire.MilliSatoshi,
	_ string, expiry time.Duration) (lightning.Invoice, error) {

	var p lntypes.Preimage
	if _, err := rand.Read(p[:]); err != nil {
		return lightning.Invoice{}, err
	}
	now := time.Now().UTC()
	return lightning.Invoice{Hash: p.Hash(), PaymentRequest: "lnstub",
		Amount: amt, State: lightning.InvoiceOpen, CreatedAt: now,
		ExpiresAt: now.Add(expiry)}, nil
}

func (stubHub) LookupInvoice(context.Context, lntypes.Hash) (
	lightning.Invoice, error) {

	return lightning.Invoice{}, lightning.ErrInvoiceNotFound
}

func (stubHub) CancelInvoice(context.Context, lntypes.Hash) error { return nil }

func (stubHub) SubscribeSettled(context.Context, uint64) (
	<-chan lightning.Invoice, <-chan error, error) {

	return nil, nil, errors.New("stub")
}

func (stubHub) Pay(context.Context, lightning.Payment) (
	lightning.PaymentResult, error) {

	return lightning.PaymentResult{}, errors.New("stub")
}

func (stubHub) Track(context.Context, lntypes.Hash) (
	lightning.PaymentResult, error) {

	return lightning.PaymentResult{}, errors.New("stub")
}

func (stubHub) QueryRoute(context.Context, route.Vertex, lnwire.MilliSatoshi,
	lnwire.MilliSatoshi) (lightning.Route, error) {

	return lightning.Route{}, lightning.ErrNoRoute
}

// postUsage posts usage of job id in tx as metering's SQL store does
// (escrow → provider payable and platform fees, then UsageCharged), after
// refusing a job that takes no usage as metering's validation does
// (ErrJobNotRunning here). Metering's own property test
// (metering/property_test.go) runs the real ingest path; this one gives
// settlement the postings that path makes.
func postUsage(ctx context.Context, m *settlement.Manager, lg *ledger.Ledger,
	tx settlement.TxStore, id string, amt ledger.MilliSatoshi,
	feeRate ledger.BasisPoints, key string) error {

	job, err := m.JobInTx(ctx, tx, id)
	if err != nil {
		return err
	}
	if !job.State.TakesUsage() || job.StartedAt.IsZero() {
		return fmt.Errorf("%w: job %s is %s", settlement.ErrJobNotRunning, id,
			job.State)
	}
	fee, share, err := ledger.SplitFee(amt, feeRate)
	if err != nil {
		return err
	}
	if amt > 0 {
		postings := []ledger.Posting{
			{Account: ledger.BuyerEscrow(id), Amount: -amt},
		}
		if share > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.ProviderPayable(job.ProviderID),
				Amount:  share,
			})
		}
		if fee > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.PlatformFees(), Amount: fee,
			})
		}
		_, err = lg.PostTx(ctx, tx, ledger.Transaction{
			IdempotencyKey: key, Description: "usage",
			Postings: postings})
		if err != nil {
			return err
		}
	}
	_, _, err = m.UsageCharged(ctx, tx, id, key)
	return err
}

// TestPropertyJobMoney runs random fundings, top-ups (some settled more
// than once, as a replayed stream would), starts and usage on one job
// and checks after each step: money is conserved (escrow = paid − charged,
// and every charged msat is in the provider's payable or the platform's
// fees), the escrow never goes negative, the job's state is what its
// solvency says, and its recorded events are a path through the state
// machine.
func TestPropertyJobMoney(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		db := storetest.Open(t, storetest.Config(t, store.SQLite))
		lg := ledger.New(store.NewLedgerStore(db), nil)
		cpu, _ := ledger.ParseRate(rapid.SampledFrom([]string{
			"0.01", "0.333", "1", "2.5"}).Draw(rt, "rate"))
		m, err := settlement.New(settlement.Config{
			DB: db, Ledger: lg, Invoices: stubHub{},
			Payments: stubHub{}, Routes: stubHub{},
			Providers: settlement.ProviderLookupFunc(func(context.Context,
				string) (settlement.Provider, error) {

				return settlement.Provider{ID: "p", Rates: channels.RateCard{
					channels.ResourceCPU: cpu}}, nil
			}),
			Network: "regtest",
		})
		if err != nil {
			rt.Fatal(err)
		}
		feeRate := ledger.BasisPoints(rapid.IntRange(0, 10000).
			Draw(rt, "fee"))
		b, err := m.AddBuyer(ctx, "b")
		if err != nil {
			rt.Fatal(err)
		}
		budget := ledger.MilliSatoshi(rapid.Int64Range(10_000,
			1_000_000).Draw(rt, "budget"))
		st, err := m.CreateJob(ctx, settlement.CreateJobRequest{BuyerID: b.ID,
			ProviderID: "p", Spec: settlement.Spec{channels.ResourceCPU: 1000},
			Budget:        budget,
			BufferSeconds: rapid.Int64Range(0, 200).Draw(rt, "buffer"),
		})
		if err != nil {
			rt.Fatal(err)
		}
		id := st.ID

		var (
			paid, charged ledger.MilliSatoshi
			settledInvs   []lightning.Invoice
			index         uint64
		)
		settle := func(inv settlement.Invoice, amt ledger.MilliSatoshi) {
			hash, err := lntypes.MakeHashFromStr(inv.PaymentHash)
			if err != nil {
				rt.Fatal(err)
			}
			index++
			li := lightning.Invoice{Hash: hash,
				AmountPaid:  lnwire.MilliSatoshi(amt),
				State:       lightning.InvoiceSettled,
				SettleIndex: index}
			if err := m.Settled(ctx, li, true); err != nil {
				rt.Fatal(err)
			}
			paid += amt
			settledInvs = append(settledInvs, li)
		}
		settle(st.Invoices[0], budget+ledger.MilliSatoshi(
			rapid.Int64Range(0, 10).Draw(rt, "overpay")))

		ops := rapid.IntRange(1, 30).Draw(rt, "ops")
		for i := 0; i < ops; i++ {
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0: // top-up
				amt := ledger.MilliSatoshi(rapid.Int64Range(1,
					500_000).Draw(rt, "topup"))
				inv, err := m.TopUpJob(ctx, id, amt)
				if err != nil {
					rt.Fatal(err)
				}
				settle(inv, amt)

			case 1: // a replayed settlement changes nothing
				if len(settledInvs) > 0 {
					inv := rapid.SampledFrom(settledInvs).
						Draw(rt, "replay")
					if err := m.Settled(ctx, inv, false); err != nil {
						rt.Fatal(err)
					}
				}

			case 2: // the agent starts
				err := db.ExecSettlement(ctx, false,
					func(tx settlement.TxStore) error {
						_, err := m.StartJob(ctx, tx, id,
							time.Time{})
						return err
					})
				if err != nil && !errors.Is(err, settlement.ErrJobNotRunning) {
					rt.Fatalf("start: %v", err)
				}

			case 3: // usage, posted as metering posts it
				amt := ledger.MilliSatoshi(rapid.Int64Range(0,
					400_000).Draw(rt, "charge"))
				err := db.ExecSettlement(ctx, false,
					func(tx settlement.TxStore) error {
						return postUsage(ctx, m, lg, tx, id,
							amt, feeRate,
							fmt.Sprintf("usage:%d", i))
					})
				switch {
				case err == nil:
					charged += amt
				case errors.Is(err, settlement.ErrJobNotRunning),
					errors.Is(err, ledger.ErrOverdraft):
				default:
					rt.Fatalf("charge %d: %v", amt, err)
				}
			}

			got, err := m.GetJob(ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			escrow := got.Solvency.Escrow
			payable, _ := lg.Balance(ctx, ledger.ProviderPayable("p"))
			fees, _ := lg.Balance(ctx, ledger.PlatformFees())
			hub, _ := lg.Balance(ctx, ledger.HubHoldings())
			switch {
			case escrow < 0:
				rt.Fatalf("escrow %d", escrow)
			case escrow != paid-charged:
				rt.Fatalf("escrow %d, paid %d, charged %d",
					escrow, paid, charged)
			case payable+fees != charged:
				rt.Fatalf("payable %d + fees %d != charged %d",
					payable, fees, charged)
			case -hub != paid:
				rt.Fatalf("hub holdings %d, paid %d", hub, paid)
			}
			price := decimal.RequireFromString(got.PricePerSecond.
				String())
			want := settlement.TargetState(settlement.Evaluate(escrow, price,
				got.BufferSeconds).Health, !got.StartedAt.IsZero())
			if got.State != want {
				rt.Fatalf("state %s, solvency says %s (escrow "+
					"%d)", got.State, want, escrow)
			}
			for j := 1; j < len(got.Events); j++ {
				e := got.Events[j]
				if e.From != got.Events[j-1].To {
					rt.Fatalf("event %d from %s after %s", j,
						e.From, got.Events[j-1].To)
				}
				if err := settlement.CheckTransition(e.From, e.To,
					e.Cause); err != nil {

					rt.Fatalf("event %d: %v", j, err)
				}
			}
			if last := got.Events[len(got.Events)-1]; last.To !=
				got.State {

				rt.Fatalf("last event to %s, state %s", last.To,
					got.State)
			}
		}
	})
}
