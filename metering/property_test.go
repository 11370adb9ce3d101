package metering_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/clocktest"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/settlement/settlementtest"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"pgregory.net/rapid"
)

// propBase is the settlement clock of the property test: jobs are funded
// then, and their records' seconds follow it.
var propBase = time.Unix(1767225600, 0).UTC()

// propEnv is the production charge path on a real store: settlement's
// manager (on a fake hub) owns the jobs, metering's SQLStore with
// SettlementJobs reads them, and each case runs its own Ingestor.
type propEnv struct {
	ctx   context.Context
	db    *store.DB
	lg    *ledger.Ledger
	hub   *settlementtest.Hub
	provs *settlementtest.Providers
	m     *settlement.Manager
	sql   *store.MeteringStore
	buyer string

	// nprov counts the providers made, one per case.
	nprov int
}

func newPropEnv(t *testing.T) *propEnv {
	clock := func() time.Time { return propBase }
	e := &propEnv{ctx: context.Background()}
	e.db = storetest.Open(t, storetest.Config(t, store.SQLite))
	e.lg = ledger.New(store.NewLedgerStore(e.db), clock)
	e.hub = settlementtest.NewHub(t, clock)
	e.provs = settlementtest.NewProviders()
	var err error
	e.m, err = settlement.New(settlement.Config{
		DB: e.db, Ledger: e.lg, Invoices: e.hub, Payments: e.hub,
		Routes: e.hub, Providers: e.provs, Network: "regtest",
		SweepInterval: 20 * time.Millisecond,
		Clock:         clocktest.New(propBase),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.m.Stop)
	b, err := e.m.AddBuyer(e.ctx, "prop")
	if err != nil {
		t.Fatal(err)
	}
	e.buyer = b.ID
	e.sql = store.NewMeteringStore(e.db, e.lg,
		&store.SettlementJobs{Jobs: e.m}, clock)
	return e
}

// addProvider stores a linked provider with the test agent's key and the
// rates, and returns its id.
func (e *propEnv) addProvider(rt *rapid.T, rates channels.RateCard) string {
	e.nprov++
	id := fmt.Sprintf("prov-%d", e.nprov)
	pub := agentKey().PubKey().SerializeCompressed()
	node := fmt.Sprintf("02%064x", e.nprov)
	err := e.db.ExecTx(e.ctx, store.TxOptions{}, func(tx *store.Tx) error {
		return tx.InsertProvider(e.ctx, store.Provider{ID: id,
			NodePubkey: node, AgentPubkey: hex.EncodeToString(pub[1:]),
			Status: "active", LinkedAt: propBase, CreatedAt: propBase})
	})
	if err != nil {
		rt.Fatal(err)
	}
	e.provs.Set(settlement.Provider{ID: id, Rates: rates})
	return id
}

// settle pays an invoice on the hub and waits until the job's escrow
// holds want.
func (e *propEnv) settle(rt *rapid.T, inv settlement.Invoice, id string,
	want ledger.MilliSatoshi) {

	hash, err := lntypes.MakeHashFromStr(inv.PaymentHash)
	if err != nil {
		rt.Fatal(err)
	}
	e.hub.Settle(hash, 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.lg.Balance(e.ctx, ledger.BuyerEscrow(id))
		if err != nil {
			rt.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			rt.Fatalf("escrow of %s is %d, want %d after %s", id, got,
				want, inv.PaymentHash)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// balance is an account's balance, checked against the replay of its
// postings: the sum of its history, and each entry's BalanceAfter.
func (e *propEnv) balance(rt *rapid.T, a ledger.Account) ledger.MilliSatoshi {
	bal, err := e.lg.Balance(e.ctx, a)
	if err != nil {
		rt.Fatal(err)
	}
	hist, err := e.lg.History(e.ctx, a, 0, 0)
	if err != nil {
		rt.Fatal(err)
	}
	var sum ledger.MilliSatoshi
	for _, h := range hist {
		sum += h.Amount
		if h.BalanceAfter != sum {
			rt.Fatalf("%s: entry %d (%s) balance after %d, replay %d",
				a, h.TxID, h.IdempotencyKey, h.BalanceAfter, sum)
		}
	}
	if sum != bal {
		rt.Fatalf("%s: balance %d, replay of %d postings %d", a, bal,
			len(hist), sum)
	}
	return bal
}

// TestPropertyIngestMoney runs random jobs through the path production
// charges usage on: signed batches into metering's Ingestor, committed by
// its SQLStore on a real store, with settlement (SettlementJobs) owning the
// job, its escrow and its state; fundings and top-ups settle on a fake hub.
// After every step it checks that money is conserved (what the hub took in
// is in escrows, payables and fees; each job's escrow is what was paid in
// less what its usage cost, and that cost is its provider's payable plus
// the platform's fee), that every balance equals the replay of its
// postings, that rounding neither loses nor invents a millisatoshi over the
// job's life (the job is charged exactly floor(Σ rate × quantity) of its
// accepted records, and its fees are the fee of that whole), that the escrow is never overdrawn, and that the job's state is
// what its solvency says: suspended, and taking no usage, once the escrow
// cannot pay a second.
func TestPropertyIngestMoney(t *testing.T) {
	e := newPropEnv(t)
	rates := []string{"0", "0.0001", "0.0015", "0.25", "0.333", "1"}

	rapid.Check(t, func(rt *rapid.T) {
		cpuRate := propRate(rt, rapid.SampledFrom(rates[1:]).
			Draw(rt, "cpu rate"))
		card := channels.RateCard{channels.ResourceCPU: cpuRate}
		spec := settlement.Spec{channels.ResourceCPU: 4000}
		memRate := ledger.Rate{}
		if rapid.Bool().Draw(rt, "mem priced") {
			memRate = propRate(rt, rapid.SampledFrom(rates).
				Draw(rt, "mem rate"))
			card[channels.ResourceMem] = memRate
			spec[channels.ResourceMem] = 8192
		}
		feeRate := ledger.BasisPoints(rapid.IntRange(0, 10000).
			Draw(rt, "fee"))
		prov := e.addProvider(rt, card)

		// The platform's fees and the hub's holdings are shared by
		// every case: each checks what it added.
		fees0 := e.balance(rt, ledger.PlatformFees())
		hub0 := e.balance(rt, ledger.HubHoldings())

		in, err := metering.NewIngestor(e.sql, metering.IngestConfig{
			FeeRate: feeRate, Policy: metering.DefaultPolicy(),
			Clock: func() time.Time {
				return propBase.Add(24 * time.Hour)
			},
			Linger: -1,
		})
		if err != nil {
			rt.Fatal(err)
		}
		in.Start()
		defer in.Stop()

		budget := ledger.MilliSatoshi(rapid.Int64Range(20_000,
			2_000_000).Draw(rt, "budget"))
		st, err := e.m.CreateJob(e.ctx, settlement.CreateJobRequest{
			BuyerID: e.buyer, ProviderID: prov,
			Spec:          spec,
			Budget:        budget,
			BufferSeconds: rapid.Int64Range(0, 60).Draw(rt, "buffer"),
		})
		if err != nil {
			rt.Fatal(err)
		}
		id := st.ID
		maxMem := uint64(spec[channels.ResourceMem])
		price := st.PricePerSecond
		e.settle(rt, st.Invoices[0], id, budget)

		var (
			paid      = budget
			sumCPU    uint64
			sumMem    uint64
			lastSeq   uint64
			submitted []*metering.Batch
		)
		ops := rapid.IntRange(1, 10).Draw(rt, "ops")
		for i := 0; i < ops; i++ {
			before, err := e.m.GetJob(e.ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0: // a top-up, settled
				amt := ledger.MilliSatoshi(rapid.Int64Range(1,
					500_000).Draw(rt, "top-up"))
				inv, err := e.m.TopUpJob(e.ctx, id, amt)
				if err != nil {
					rt.Fatal(err)
				}
				paid += amt
				e.settle(rt, inv, id,
					before.Solvency.Escrow+amt)

			case 1: // a fully accepted batch again: nothing changes
				if len(submitted) == 0 {
					continue
				}
				b := rapid.SampledFrom(submitted).Draw(rt,
					"replay")
				res, err := in.Submit(e.ctx, prov, b)
				if err != nil || res.Accepted != 0 ||
					res.Duplicates != len(b.Records) {

					rt.Fatalf("replay: %+v, %v", res, err)
				}

			default: // new usage
				n := rapid.IntRange(1, 40).Draw(rt, "seconds")
				b := &metering.Batch{JobID: id}
				for s := lastSeq + 1; s <= lastSeq+uint64(n); s++ {
					b.Records = append(b.Records,
						metering.Record{
							Seq: s, Second: propBase.Unix() +
								int64(s),
							Usage: metering.Usage{
								CPU: rapid.Uint64Range(0,
									4000).Draw(rt, "cpu"),
								Mem: rapid.Uint64Range(0,
									maxMem).Draw(rt, "mem"),
							},
						})
				}
				if err := b.Sign(agentKey()); err != nil {
					rt.Fatal(err)
				}
				res, err := in.Submit(e.ctx, prov, b)
				took := before.State.TakesUsage()
				switch {
				case !took:
					if !errors.Is(err, metering.ErrJobNotRunning) ||
						res.Accepted != 0 {

						rt.Fatalf("usage of a %s job: %+v, %v",
							before.State, res, err)
					}
				case err == nil && res.Accepted == n,
					errors.Is(err, metering.ErrInsufficientEscrow):
				default:
					rt.Fatalf("usage: %+v, %v", res, err)
				}
				if res.Accepted > 0 && res.Price >
					before.Solvency.Escrow {

					rt.Fatalf("charged %d of an escrow of %d",
						res.Price, before.Solvency.Escrow)
				}
				for _, r := range b.Records[:res.Accepted] {
					sumCPU += r.CPU
					sumMem += r.Mem
				}
				lastSeq += uint64(res.Accepted)
				if took && res.LastSeq != lastSeq {
					rt.Fatalf("last seq %d, want %d", res.LastSeq,
						lastSeq)
				}
				if res.Accepted == n {
					submitted = append(submitted, b)
				}
			}

			got, err := e.m.GetJob(e.ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			escrow := e.balance(rt, ledger.BuyerEscrow(id))
			payable := e.balance(rt, ledger.ProviderPayable(prov))
			fees := e.balance(rt, ledger.PlatformFees())
			hub := e.balance(rt, ledger.HubHoldings())

			// Rounding: the exact price of everything accepted,
			// rounded down once.
			whole := cpuRate.Decimal().Mul(
				decimal.NewFromUint64(sumCPU)).Add(
				memRate.Decimal().Mul(
					decimal.NewFromUint64(sumMem)))
			charged := ledger.MilliSatoshi(whole.Floor().IntPart())
			wantFee, _, err := ledger.SplitFee(charged, feeRate)
			if err != nil {
				rt.Fatal(err)
			}
			switch {
			case escrow < 0:
				rt.Fatalf("escrow overdrawn: %d", escrow)
			case got.Spent != charged:
				rt.Fatalf("charged %d, exact price %s rounds to %d",
					got.Spent, whole, charged)
			case got.Fees != wantFee:
				rt.Fatalf("fees %d, want %d of %d at %d bp",
					got.Fees, wantFee, charged, feeRate)
			case escrow != paid-charged:
				rt.Fatalf("escrow %d, paid %d, charged %d",
					escrow, paid, charged)
			case payable != charged-got.Fees:
				rt.Fatalf("payable %d, charged %d, fees %d",
					payable, charged, got.Fees)
			case hub0-hub != paid:
				rt.Fatalf("hub holdings went from %d to %d, paid "+
					"in %d", hub0, hub, paid)
			case fees != fees0+got.Fees:
				rt.Fatalf("platform fees %d, want %d + %d", fees,
					fees0, got.Fees)
			}

			sol := settlement.Evaluate(escrow, price, got.BufferSeconds)
			want := settlement.TargetState(sol.Health,
				!got.StartedAt.IsZero())
			if got.State != want {
				rt.Fatalf("state %s, solvency (%s, escrow %d) says "+
					"%s", got.State, sol.Health, escrow, want)
			}
			if sol.Health == settlement.Exhausted &&
				got.State.TakesUsage() {

				rt.Fatalf("exhausted job %s takes usage",
					got.State)
			}
		}
	})
}

// propRate parses a rate of the test's list.
func propRate(rt *rapid.T, s string) ledger.Rate {
	r, err := ledger.ParseRate(s)
	if err != nil {
		rt.Fatal(err)
	}
	return r
}
