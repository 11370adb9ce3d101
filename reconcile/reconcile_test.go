package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// fakeLnd answers with fixed lists.
type fakeLnd struct {
	invoices []hubnode.SettledInvoice
	payments []hubnode.PaymentRecord
}

func (f *fakeLnd) SettledInvoices(context.Context) ([]hubnode.SettledInvoice,
	error) {

	return f.invoices, nil
}

func (f *fakeLnd) Payments(context.Context) ([]hubnode.PaymentRecord,
	error) {

	return f.payments, nil
}

// hash returns a distinct hash for n.
func hash(n int) lntypes.Hash {
	var h lntypes.Hash
	copy(h[:], fmt.Sprintf("%032d", n))
	return h
}

var at = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testBooks writes a consistent set of books: a job funded by invoice 1 with
// 100 000 msat, a provider paid payout 2 (50 000, fee 10), a failed payout
// 3, a pending payout 4 that lnd has just paid, and a refund 5 (30 000, fee
// 5), a stake of 400 msat for 2 shares of which 0.5 are locked in a
// pending redemption (and a cancelled one that locks nothing); and returns
// lnd's matching view, with a foreign invoice and payment.
func testBooks(t *testing.T) (*store.DB, *fakeLnd) {
	t.Helper()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	l := ledger.New(store.NewLedgerStore(db), nil)
	ctx := context.Background()
	node := "02" + strings.Repeat("ab", 32)

	err := db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		steps := []func() error{
			func() error {
				return tx.InsertProvider(ctx, store.Provider{
					ID: "p1", NodePubkey: node,
					AgentPubkey: strings.Repeat("1", 64),
					Status:      "linked", LinkedAt: at,
					CreatedAt: at,
				})
			},
			func() error {
				return tx.InsertBuyer(ctx, store.Buyer{ID: "b1",
					Name: "buyer", CreatedAt: at})
			},
			func() error {
				return tx.InsertJob(ctx, store.Job{ID: "j1",
					BuyerID: "b1", ProviderID: "p1",
					State: "ended", Budget: 100_000,
					PricePerSecond: "1", CreatedAt: at,
					UpdatedAt: at})
			},
			func() error {
				return tx.InsertJobInvoice(ctx, store.JobInvoice{
					PaymentHash: hash(1).String(),
					JobID:       "j1", Purpose: "funding",
					Amount: 100_000, PaymentRequest: "lnbcrt1",
					State: "settled", AmountPaid: 100_000,
					CreatedAt: at, ExpiresAt: at,
					SettledAt: at})
			},
			func() error {
				return tx.InsertRefund(ctx, store.Refund{
					PaymentHash: hash(5).String(),
					JobID:       "j1", Method: "keysend",
					DestPubkey: node, Amount: 30_000,
					FeeLimit: 100, State: "succeeded",
					Fee: 5, CreatedAt: at, ResolvedAt: at})
			},
		}
		for n, state := range map[int]string{2: "succeeded",
			3: "failed", 4: "pending"} {

			p := store.Payout{
				ID: fmt.Sprintf("%032d", n), ProviderID: "p1",
				DestPubkey: node, Amount: 50_000,
				FeeBudget: 500, FeePayer: "provider",
				PaymentHash: hash(n).String(),
				Preimage:    strings.Repeat("0", 64),
				State:       state, CreatedAt: at,
			}
			if state == "succeeded" {
				p.Fee = 10
			}
			if n == 4 {
				p.Amount = 5_000
			}
			steps = append(steps, func() error {
				return tx.InsertPayout(ctx, p)
			})
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for i, tx := range []ledger.Transaction{
		ledger.Transfer("fund:"+hash(1).String(), "",
			ledger.HubHoldings(), ledger.BuyerEscrow("j1"), 100_000),
		ledger.Transfer("usage", "", ledger.BuyerEscrow("j1"),
			ledger.ProviderPayable("p1"), 60_000),
		ledger.Transfer("pay", "", ledger.ProviderPayable("p1"),
			ledger.PaidOut("p1"), 50_000),
		ledger.Transfer("payfee", "", ledger.ProviderPayable("p1"),
			ledger.RoutingFees(), 10),
		ledger.Transfer("pending", "", ledger.ProviderPayable("p1"),
			ledger.PayoutInFlight("p1"), 5_500),
		ledger.Transfer("refund", "", ledger.BuyerEscrow("j1"),
			ledger.Refunded("j1"), 30_000),
		ledger.Transfer("refundfee", "", ledger.BuyerEscrow("j1"),
			ledger.RoutingFees(), 5),
		{IdempotencyKey: "stake", Postings: []ledger.Posting{
			{Account: ledger.ProviderPayable("p1"), Amount: -400},
			{Account: ledger.Vault(), Amount: 400},
			{Account: ledger.ShareSupply(), Shares: -2_000},
			{Account: ledger.ProviderShares("p1"), Shares: 2_000},
		}},
		ledger.TransferShares("lock", "", ledger.ProviderShares("p1"),
			ledger.SharesLocked("p1"), 500),
	} {
		if _, err := l.Post(ctx, tx); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}

	err = db.ExecVault(ctx, false, func(tx yield.VaultTx) error {
		for _, r := range []yield.StoredRedemption{
			{Key: "p1:r1", ProviderID: "p1", Shares: 500,
				Requested: 100, State: yield.RedemptionPending,
				RequestedAt: at},
			{Key: "p1:r2", ProviderID: "p1", Shares: 300,
				Requested: 60, State: yield.RedemptionCancelled,
				RequestedAt: at},
		} {
			if _, err := tx.InsertRedemption(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	return db, &fakeLnd{
		invoices: []hubnode.SettledInvoice{
			{Hash: hash(1), AmountPaid: 100_000},
			{Hash: hash(9), AmountPaid: 777},
		},
		payments: []hubnode.PaymentRecord{
			{Hash: hash(2), State: hubnode.PaymentSucceeded,
				Amount: 50_000, Fee: 10},
			{Hash: hash(3), State: hubnode.PaymentFailed},
			{Hash: hash(4), State: hubnode.PaymentSucceeded,
				Amount: 5_000},
			{Hash: hash(5), State: hubnode.PaymentSucceeded,
				Amount: 30_000, Fee: 5},
			{Hash: hash(8), State: hubnode.PaymentSucceeded,
				Amount: 1_234},
		},
	}
}

// TestRun: consistent books reconcile with no difference; each kind of
// disagreement is reported, with the totals it upsets.
func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		change func(l *fakeLnd)
		want   []string // "kind subject" prefixes of the differences
	}{
		{name: "agree"},
		{name: "invoice settled for more", change: func(l *fakeLnd) {
			l.invoices[0].AmountPaid = 100_001
		}, want: []string{"funding " + hash(1).String(),
			"total funded"}},
		{name: "credit without lnd's settlement", change: func(
			l *fakeLnd) {

			l.invoices = l.invoices[1:]
		}, want: []string{"total funded"}},
		{name: "succeeded payout failed in lnd", change: func(
			l *fakeLnd) {

			l.payments[0] = hubnode.PaymentRecord{Hash: hash(2),
				State: hubnode.PaymentFailed}
		}, want: []string{"payout payout " + fmt.Sprintf("%032d", 2),
			"total paid_out", "total routing_fees"}},
		{name: "succeeded payout unknown to lnd", change: func(
			l *fakeLnd) {

			l.payments = l.payments[1:]
		}, want: []string{"payout payout", "total paid_out",
			"total routing_fees"}},
		{name: "failed payout paid by lnd", change: func(l *fakeLnd) {
			l.payments[1] = hubnode.PaymentRecord{Hash: hash(3),
				State: hubnode.PaymentSucceeded, Amount: 50_000}
		}, want: []string{"payout payout " + fmt.Sprintf("%032d", 3)}},
		{name: "payout fee differs", change: func(l *fakeLnd) {
			l.payments[0].Fee = 11
		}, want: []string{"payout payout", "total routing_fees"}},
		{name: "refund amount differs", change: func(l *fakeLnd) {
			l.payments[3].Amount = 29_999
		}, want: []string{"refund refund " + hash(5).String(),
			"total refunded"}},
		{name: "pending payout still in flight", change: func(
			l *fakeLnd) {

			l.payments[2] = hubnode.PaymentRecord{Hash: hash(4),
				State: hubnode.PaymentInFlight}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, lnd := testBooks(t)
			if tc.change != nil {
				tc.change(lnd)
			}
			r, err := reconcile.Run(context.Background(), db, lnd)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Differences) != len(tc.want) {
				t.Fatalf("differences %v, want %v",
					r.Differences, tc.want)
			}
			for i, d := range r.Differences {
				got := string(d.Kind) + " " + d.Subject
				if !strings.HasPrefix(got, tc.want[i]) {
					t.Fatalf("difference %d is %q, want "+
						"%q", i, d, tc.want[i])
				}
			}
			if r.OK() != (len(tc.want) == 0) {
				t.Fatalf("OK() = %v", r.OK())
			}
			if r.Invoices+r.ForeignInvoices != len(lnd.invoices) ||
				r.Payouts != 3 || r.Refunds != 1 ||
				r.Resolving != 1 {

				t.Fatalf("counts %+v", r)
			}
		})
	}
}

// TestRunTotals shows both sides' totals when they agree.
func TestRunTotals(t *testing.T) {
	db, lnd := testBooks(t)
	r, err := reconcile.Run(context.Background(), db, lnd)
	if err != nil {
		t.Fatal(err)
	}
	// Held: escrow 9_995, payable 4_090, in flight 5_500 and the
	// vault's 400.
	want := reconcile.Totals{Funded: 100_000, PaidOut: 50_000, Refunded: 30_000,
		RoutingFees: 15, Held: 19_985}
	if r.Ledger != want || r.Lnd != want {
		t.Fatalf("totals ledger %+v, lnd %+v, want %+v", r.Ledger,
			r.Lnd, want)
	}
	if r.Vault != 400 {
		t.Fatalf("vault %v, want 400", r.Vault)
	}
	if r.ForeignInvoices != 1 || r.ForeignPayments != 1 {
		t.Fatalf("foreign %d invoices, %d payments; want 1 each",
			r.ForeignInvoices, r.ForeignPayments)
	}
	wantShares := reconcile.ShareTotals{Outstanding: 2_000, Held: 1_500,
		Locked: 500}
	if r.Shares != wantShares {
		t.Fatalf("shares %+v, want %+v", r.Shares, wantShares)
	}
}

// skewedDB reads the books as they are, except that one share kind's total
// is off by delta: share books written around the ledger, which it would
// never write itself.
type skewedDB struct {
	reconcile.DB
	kind  ledger.AccountKind
	delta ledger.Shares
}

func (d skewedDB) ReadBooks(ctx context.Context,
	fn func(reconcile.BooksTx) error) error {

	return d.DB.ReadBooks(ctx, func(tx reconcile.BooksTx) error {
		return fn(skewedTx{tx, d})
	})
}

type skewedTx struct {
	reconcile.BooksTx
	db skewedDB
}

func (t skewedTx) ShareKindTotal(ctx context.Context,
	kind ledger.AccountKind) (ledger.Shares, error) {

	total, err := t.BooksTx.ShareKindTotal(ctx, kind)
	if kind == t.db.kind {
		total += t.db.delta
	}
	return total, err
}

// TestRunShares: the share supply must equal what holders hold, locked
// shares included; a difference on either side is reported, in shares,
// and upsets nothing else.
func TestRunShares(t *testing.T) {
	tests := []struct {
		kind  ledger.AccountKind
		delta ledger.Shares
	}{
		{ledger.KindProviderShares, 1},
		{ledger.KindSharesLocked, -500},
		{ledger.KindShareSupply, -1},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			db, lnd := testBooks(t)
			r, err := reconcile.Run(context.Background(),
				skewedDB{db, tc.kind, tc.delta}, lnd)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || len(r.Differences) != 1 {
				t.Fatalf("differences %v, want one", r.Differences)
			}
			d := r.Differences[0]
			t.Log(d)
			if d.Kind != reconcile.KindShares ||
				d.Subject != "share_supply" ||
				!strings.Contains(d.Sluice, "shares outstanding") {

				t.Fatalf("difference %q", d)
			}
		})
	}
}

// msatSkewedDB reads the books as they are, except that one msat kind's
// total is off by delta.
type msatSkewedDB struct {
	reconcile.DB
	kind  ledger.AccountKind
	delta ledger.MilliSatoshi
}

func (d msatSkewedDB) ReadBooks(ctx context.Context,
	fn func(reconcile.BooksTx) error) error {

	return d.DB.ReadBooks(ctx, func(tx reconcile.BooksTx) error {
		return fn(msatSkewedTx{tx, d})
	})
}

type msatSkewedTx struct {
	reconcile.BooksTx
	db msatSkewedDB
}

func (t msatSkewedTx) KindTotal(ctx context.Context,
	kind ledger.AccountKind) (ledger.MilliSatoshi, error) {

	total, err := t.BooksTx.KindTotal(ctx, kind)
	if kind == t.db.kind {
		total += t.db.delta
	}
	return total, err
}

// TestRunHeld: the vault's msat (idle and allocated) are part of what the
// hub holds for Sluice's books, which must equal what lnd's invoices and
// payments leave; vault msat the ledger did not bring in is a difference,
// and a gain a strategy recorded is not.
func TestRunHeld(t *testing.T) {
	tests := []struct {
		kind  ledger.AccountKind
		delta ledger.MilliSatoshi
		vault ledger.MilliSatoshi
		want  bool
	}{
		{ledger.KindVault, 1, 401, true},
		{ledger.KindStrategyPrincipal, -400, 0, true},
		{ledger.KindBuyerEscrow, 7, 400, true},
		{ledger.KindPlatformFees, 1, 400, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			db, lnd := testBooks(t)
			r, err := reconcile.Run(context.Background(),
				msatSkewedDB{db, tc.kind, tc.delta}, lnd)
			if err != nil {
				t.Fatal(err)
			}
			if r.Vault != tc.vault {
				t.Errorf("vault %v, want %v", r.Vault, tc.vault)
			}
			if len(r.Differences) != 1 {
				t.Fatalf("differences %v, want one", r.Differences)
			}
			d := r.Differences[0]
			if d.Kind != reconcile.KindTotal ||
				!strings.HasPrefix(d.Subject, "held (") ||
				!strings.Contains(d.Subject, "vault") {

				t.Fatalf("difference %q", d)
			}
		})
	}

	// A strategy's gain: principal up, strategy_yield down by as much.
	db, lnd := testBooks(t)
	l := ledger.New(store.NewLedgerStore(db), nil)
	ctx := context.Background()
	for _, tx := range []ledger.Transaction{
		ledger.Transfer("allocate", "", ledger.Vault(),
			ledger.StrategyPrincipal("lease"), 300),
		ledger.Transfer("gain", "", ledger.StrategyYield("lease"),
			ledger.StrategyPrincipal("lease"), 25),
	} {
		if _, err := l.Post(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	r, err := reconcile.Run(ctx, db, lnd)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Vault != 425 || r.Ledger.Held != 19_985 {
		t.Fatalf("after a gain: vault %v, held %v, differences %v",
			r.Vault, r.Ledger.Held, r.Differences)
	}
}

// TestRunLocked: each provider's shares_locked must equal the shares of
// its pending redemptions; a difference names the provider's account.
func TestRunLocked(t *testing.T) {
	tests := []struct {
		name  string
		post  []ledger.Transaction
		vault func(tx yield.VaultTx) error
		want  []string // subject and what Sluice says
	}{{
		name: "locked without a request",
		post: []ledger.Transaction{
			ledger.TransferShares("lock2", "",
				ledger.ProviderShares("p1"),
				ledger.SharesLocked("p1"), 200),
		},
		want: []string{"shares_locked:p1",
			"0.700 shares locked against 0.500 shares in pending"},
	}, {
		name: "a request that locked nothing",
		vault: func(tx yield.VaultTx) error {
			_, err := tx.InsertRedemption(context.Background(),
				yield.StoredRedemption{Key: "p1:r3",
					ProviderID: "p1", Shares: 1,
					State:       yield.RedemptionPending,
					RequestedAt: at})
			return err
		},
		want: []string{"shares_locked:p1",
			"0.500 shares locked against 0.501 shares in pending"},
	}, {
		name: "a finalized request whose shares were not burnt",
		vault: func(tx yield.VaultTx) error {
			ctx := context.Background()
			r, err := tx.RedemptionByKey(ctx, "p1:r1")
			if err != nil {
				return err
			}
			r.State = yield.RedemptionFinalized
			r.FinalizedAt = at
			return tx.UpdateRedemption(ctx,
				yield.RedemptionPending, r)
		},
		want: []string{"shares_locked:p1",
			"0.500 shares locked against 0.000 shares in pending"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, lnd := testBooks(t)
			ctx := context.Background()
			l := ledger.New(store.NewLedgerStore(db), nil)
			for _, tx := range tc.post {
				if _, err := l.Post(ctx, tx); err != nil {
					t.Fatal(err)
				}
			}
			if tc.vault != nil {
				if err := db.ExecVault(ctx, false,
					tc.vault); err != nil {

					t.Fatal(err)
				}
			}
			r, err := reconcile.Run(ctx, db, lnd)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Differences) != 1 {
				t.Fatalf("differences %v, want one",
					r.Differences)
			}
			d := r.Differences[0]
			t.Log(d)
			if d.Kind != reconcile.KindShares ||
				d.Subject != tc.want[0] ||
				!strings.Contains(d.Sluice, tc.want[1]) {

				t.Fatalf("difference %q, want %q", d, tc.want)
			}
		})
	}
}

// TestRunWithdrawing: each provider's shares_withdrawing must equal the
// shares of its withdrawals not complete, and shares withdrawn to a
// provider's own tapd still count among the supply's holders.
func TestRunWithdrawing(t *testing.T) {
	withdrawal := func(tx shares.WithdrawTx) error {
		_, err := tx.InsertWithdrawal(context.Background(),
			shares.Withdrawal{ProviderID: "p1", Key: "w1",
				Amount: 100, Addr: "taprt1x",
				State:     shares.WithdrawalQueued,
				CreatedAt: at})
		return err
	}
	toWithdrawing := ledger.TransferShares("withdraw:1", "",
		ledger.ProviderShares("p1"), ledger.SharesWithdrawing("p1"), 100)
	tests := []struct {
		name     string
		post     []ledger.Transaction
		withdraw func(tx shares.WithdrawTx) error
		want     string // the difference's subject; none when ""
	}{{
		name:     "a queued withdrawal",
		post:     []ledger.Transaction{toWithdrawing},
		withdraw: withdrawal,
	}, {
		name: "withdrawn to the provider's tapd",
		post: []ledger.Transaction{toWithdrawing,
			ledger.TransferShares("withdraw-done:1", "",
				ledger.SharesWithdrawing("p1"),
				ledger.SharesWithdrawn("p1"), 100)},
	}, {
		name: "withdrawing without a withdrawal",
		post: []ledger.Transaction{toWithdrawing},
		want: "shares_withdrawing:p1",
	}, {
		name:     "a withdrawal that moved nothing",
		withdraw: withdrawal,
		want:     "shares_withdrawing:p1",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, lnd := testBooks(t)
			ctx := context.Background()
			l := ledger.New(store.NewLedgerStore(db), nil)
			for _, tx := range tc.post {
				if _, err := l.Post(ctx, tx); err != nil {
					t.Fatal(err)
				}
			}
			if tc.withdraw != nil {
				if err := db.ExecWithdrawals(ctx,
					tc.withdraw); err != nil {

					t.Fatal(err)
				}
			}
			r, err := reconcile.Run(ctx, db, lnd)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if !r.OK() {
					t.Fatalf("differences %v", r.Differences)
				}
				return
			}
			if len(r.Differences) != 1 ||
				r.Differences[0].Kind != reconcile.KindShares ||
				r.Differences[0].Subject != tc.want {

				t.Fatalf("differences %v, want one of %s",
					r.Differences, tc.want)
			}
		})
	}
}
