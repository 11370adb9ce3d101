package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// payoutAt is a time in another zone and with nanoseconds, which the store
// must turn into UTC microseconds.
var payoutAt = time.Date(2026, 6, 1, 12, 0, 0, 987654321,
	time.FixedZone("CEST", 2*3600))

// addProvider stores a linked provider with the node key.
func addProvider(t *testing.T, db *store.DB, id, node string) {
	t.Helper()
	mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
		return tx.InsertProvider(ctx, store.Provider{
			ID:          id,
			NodePubkey:  node,
			AgentPubkey: agent1,
			Status:      "linked",
			LinkedAt:    payoutAt,
			CreatedAt:   payoutAt,
		})
	})
}

// testPayout is a pending payout n of the provider with hex fields of the
// right lengths.
func testPayout(provider, node string, n int) store.Payout {
	return store.Payout{
		ID:          fmt.Sprintf("%032x", n),
		ProviderID:  provider,
		DestPubkey:  node,
		Amount:      ledger.MilliSatoshi(1000 * n),
		FeeBudget:   1000,
		FeePayer:    "provider",
		PaymentHash: fmt.Sprintf("%064x", n),
		Preimage:    fmt.Sprintf("%064x", 1000+n),
		State:       store.PayoutPending,
		CreatedAt:   payoutAt.Add(time.Duration(n) * time.Second),
	}
}

// utcPayout is p as the store gives it back.
func utcPayout(p store.Payout) store.Payout {
	p.CreatedAt = p.CreatedAt.UTC().Truncate(time.Microsecond)
	if !p.ResolvedAt.IsZero() {
		p.ResolvedAt = p.ResolvedAt.UTC().Truncate(time.Microsecond)
	}
	return p
}

// TestPayouts stores payouts, allows one pending per provider, resolves
// them once, and lists them by state and provider.
func TestPayouts(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		addProvider(t, db, "pa", nodeA)
		addProvider(t, db, "pb", nodeB)

		p1 := testPayout("pa", nodeA, 1)
		p2 := testPayout("pb", nodeB, 2)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.InsertPayout(ctx, p1); err != nil {
				return err
			}
			return tx.InsertPayout(ctx, p2)
		})

		var got store.Payout
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			got, err = tx.PayoutByID(ctx, p1.ID)
			return err
		})
		if !reflect.DeepEqual(got, utcPayout(p1)) {
			t.Fatalf("payout read back\n got %+v\nwant %+v", got,
				utcPayout(p1))
		}

		// Refused writes, each with its own error.
		refused := []struct {
			name string
			p    store.Payout
			want error
		}{
			{"second pending of a provider",
				testPayout("pa", nodeA, 3),
				store.ErrUniqueViolation},
			{"hash used before", func() store.Payout {
				p := testPayout("pa", nodeA, 4)
				p.PaymentHash = p1.PaymentHash
				p.State = store.PayoutFailed
				return p
			}(), store.ErrUniqueViolation},
			{"unknown provider", testPayout("nobody", nodeA, 5),
				store.ErrForeignKeyViolation},
			{"zero amount", func() store.Payout {
				p := testPayout("pb", nodeB, 6)
				p.Amount = 0
				p.State = store.PayoutFailed
				return p
			}(), store.ErrCheckViolation},
			{"short hash", func() store.Payout {
				p := testPayout("pb", nodeB, 7)
				p.PaymentHash = "abcd"
				p.State = store.PayoutFailed
				return p
			}(), store.ErrCheckViolation},
			{"unknown fee payer", func() store.Payout {
				p := testPayout("pb", nodeB, 8)
				p.FeePayer = "buyer"
				p.State = store.PayoutFailed
				return p
			}(), store.ErrCheckViolation},
			{"unknown state", func() store.Payout {
				p := testPayout("pb", nodeB, 9)
				p.State = "sending"
				return p
			}(), store.ErrCheckViolation},
		}
		for _, tc := range refused {
			err := inTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.InsertPayout(ctx, tc.p)
			})
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err,
					tc.want)
			}
		}

		var pending []store.Payout
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			pending, err = tx.PendingPayouts(ctx)
			return err
		})
		if len(pending) != 2 || pending[0].ID != p1.ID ||
			pending[1].ID != p2.ID {

			t.Fatalf("pending payouts %+v, want p1 and p2", pending)
		}
		var pendingA store.Payout
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			pendingA, err = tx.ProviderPendingPayout(ctx, "pa")
			return err
		})
		if !reflect.DeepEqual(pendingA, utcPayout(p1)) {
			t.Fatalf("pending payout of pa %+v, want p1 %+v",
				pendingA, utcPayout(p1))
		}

		// Resolve p1 once; a second resolution is stale, an unknown
		// one not found.
		upd := store.PayoutUpdate{
			ID:         p1.ID,
			State:      store.PayoutSucceeded,
			Fee:        12,
			ResolvedAt: payoutAt.Add(time.Minute),
		}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.ResolvePayout(ctx, upd)
		})
		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			u := upd
			u.State = store.PayoutFailed
			return tx.ResolvePayout(ctx, u)
		})
		if !errors.Is(err, store.ErrStale) {
			t.Fatalf("second resolution: %v, want ErrStale", err)
		}
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			u := upd
			u.ID = strings.Repeat("f", 32)
			return tx.ResolvePayout(ctx, u)
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown payout: %v, want ErrNotFound", err)
		}

		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.ProviderPendingPayout(ctx, "pa")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("pending payout of pa once p1 is resolved: "+
				"%v, want ErrNotFound", err)
		}

		// With p1 resolved, provider pa may have a new pending one.
		p3 := testPayout("pa", nodeA, 3)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.InsertPayout(ctx, p3)
		})

		want1 := utcPayout(p1)
		want1.State, want1.Fee = store.PayoutSucceeded, 12
		want1.ResolvedAt = utcPayout(store.Payout{
			ResolvedAt: upd.ResolvedAt}).ResolvedAt

		var (
			byProvider, one, succeeded, all []store.Payout
		)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			byProvider, err = tx.ProviderPayouts(ctx, "pa", 0)
			if err != nil {
				return err
			}
			one, err = tx.ProviderPayouts(ctx, "pa", 1)
			if err != nil {
				return err
			}
			succeeded, err = tx.Payouts(ctx, store.PayoutSucceeded)
			if err != nil {
				return err
			}
			all, err = tx.Payouts(ctx, "")
			return err
		})
		if len(byProvider) != 2 || byProvider[0].ID != p3.ID ||
			!reflect.DeepEqual(byProvider[1], want1) {

			t.Fatalf("payouts of pa, newest first: %+v", byProvider)
		}
		if len(one) != 1 || one[0].ID != p3.ID {
			t.Fatalf("latest payout of pa: %+v", one)
		}
		if len(succeeded) != 1 || succeeded[0].ID != p1.ID {
			t.Fatalf("succeeded payouts: %+v", succeeded)
		}
		if len(all) != 3 {
			t.Fatalf("%d payouts, want 3", len(all))
		}
	})
}

// TestPayoutCandidates lists linked providers with payable above zero, and
// leaves out payable of refs that are no provider.
func TestPayoutCandidates(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		addProvider(t, db, "pa", nodeA)
		addProvider(t, db, "pb", nodeB)

		l := ledger.New(store.NewLedgerStore(db), nil)
		ctx := context.Background()
		post := func(key string, from, to ledger.Account,
			amt ledger.MilliSatoshi) {

			t.Helper()
			_, err := l.Post(ctx, ledger.Transfer(key, "", from, to,
				amt))
			if err != nil {
				t.Fatal(err)
			}
		}
		post("fund", ledger.HubHoldings(), ledger.BuyerEscrow("j1"),
			100_000)
		post("u1", ledger.BuyerEscrow("j1"),
			ledger.ProviderPayable("pa"), 7_000)
		post("u2", ledger.BuyerEscrow("j1"),
			ledger.ProviderPayable("stranger"), 5_000)
		// pb was paid all it earned: zero payable.
		post("u3", ledger.BuyerEscrow("j1"),
			ledger.ProviderPayable("pb"), 3_000)
		post("p3", ledger.ProviderPayable("pb"),
			ledger.PayoutInFlight("pb"), 3_000)

		var got []store.PayoutCandidate
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			got, err = tx.PayoutCandidates(ctx)
			return err
		})
		want := []store.PayoutCandidate{
			{ProviderID: "pa", NodePubkey: nodeA, Payable: 7_000},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("candidates %+v, want %+v", got, want)
		}

		// One at a time: the same answer, without an override or a
		// retry time, then with them; ErrNotFound for a provider
		// without payable, a ref that is no provider and an id
		// nobody has.
		state := func() store.PayoutCandidateState {
			t.Helper()
			var c store.PayoutCandidateState
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				c, err = tx.PayoutCandidateState(ctx, "pa")
				return err
			})
			return c
		}
		got1 := state()
		if got1.PayoutCandidate != want[0] || got1.Policy != nil ||
			!got1.RetryAt.IsZero() {

			t.Fatalf("candidate pa %+v, want %+v alone", got1,
				want[0])
		}
		interval := 3 * time.Second
		payer := "platform"
		retry := payoutAt.Add(time.Minute)
		var policy store.PayoutPolicy
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.SetPayoutPolicy(ctx, store.PayoutPolicy{
				ProviderID: "pa", Interval: &interval,
				FeePayer: &payer, UpdatedAt: payoutAt,
			})
			if err != nil {
				return err
			}
			err = tx.SetPayoutStatus(ctx, store.PayoutStatus{
				ProviderID: "pa", State: "retrying",
				Since: payoutAt, RetryAt: retry, Failures: 2,
				UpdatedAt: payoutAt,
			})
			if err != nil {
				return err
			}
			policy, err = tx.PayoutPolicy(ctx, "pa")
			return err
		})
		got2 := state()
		if got2.PayoutCandidate != want[0] || got2.Policy == nil ||
			!reflect.DeepEqual(*got2.Policy, policy) ||
			!got2.RetryAt.Equal(retry.Truncate(time.Microsecond)) {

			t.Fatalf("candidate pa %+v (policy %+v), want %+v with "+
				"policy %+v, retry at %v", got2, got2.Policy,
				want[0], policy, retry)
		}
		for _, id := range []string{"pb", "stranger", "nobody"} {
			err := inTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				_, err := tx.PayoutCandidateState(ctx, id)
				return err
			})
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("candidate %s: %v, want ErrNotFound",
					id, err)
			}
		}
	})
}

// TestPayoutPolicies stores overrides with some fields unset, replaces
// them, refuses bad values and deletes them.
func TestPayoutPolicies(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		addProvider(t, db, "pa", nodeA)
		addProvider(t, db, "pb", nodeB)

		interval := 250 * time.Millisecond
		minimum := ledger.MilliSatoshi(5_000)
		ppm := int64(100)
		payer := "platform"
		floor := ledger.MilliSatoshi(0)

		first := store.PayoutPolicy{
			ProviderID: "pa",
			Interval:   &interval,
			FeePPM:     &ppm,
			UpdatedAt:  payoutAt,
		}
		second := store.PayoutPolicy{
			ProviderID: "pa",
			Minimum:    &minimum,
			FeeFloor:   &floor,
			FeePayer:   &payer,
			UpdatedAt:  payoutAt.Add(time.Hour),
		}
		other := store.PayoutPolicy{ProviderID: "pb",
			UpdatedAt: payoutAt}

		read := func() (store.PayoutPolicy, map[string]store.PayoutPolicy) {
			t.Helper()
			var (
				one store.PayoutPolicy
				all map[string]store.PayoutPolicy
			)
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				one, err = tx.PayoutPolicy(ctx, "pa")
				if err != nil {
					return err
				}
				all, err = tx.PayoutPolicies(ctx)
				return err
			})
			return one, all
		}
		utc := func(p store.PayoutPolicy) store.PayoutPolicy {
			p.UpdatedAt = p.UpdatedAt.UTC().Truncate(
				time.Microsecond)
			return p
		}

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.SetPayoutPolicy(ctx, first); err != nil {
				return err
			}
			return tx.SetPayoutPolicy(ctx, other)
		})
		one, all := read()
		if !reflect.DeepEqual(one, utc(first)) {
			t.Fatalf("policy\n got %+v\nwant %+v", one, utc(first))
		}
		if len(all) != 2 || !reflect.DeepEqual(all["pb"], utc(other)) {
			t.Fatalf("policies %+v", all)
		}

		// A second set replaces every field, unset ones too.
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.SetPayoutPolicy(ctx, second)
		})
		if one, _ := read(); !reflect.DeepEqual(one, utc(second)) {
			t.Fatalf("replaced policy\n got %+v\nwant %+v", one,
				utc(second))
		}

		zero := time.Duration(0)
		bad := "buyer"
		badPPM := int64(1_000_001)
		refused := []struct {
			name string
			p    store.PayoutPolicy
			want error
		}{
			{"unknown provider", store.PayoutPolicy{
				ProviderID: "nobody", UpdatedAt: payoutAt},
				store.ErrForeignKeyViolation},
			{"zero interval", store.PayoutPolicy{ProviderID: "pa",
				Interval: &zero, UpdatedAt: payoutAt},
				store.ErrCheckViolation},
			{"unknown payer", store.PayoutPolicy{ProviderID: "pa",
				FeePayer: &bad, UpdatedAt: payoutAt},
				store.ErrCheckViolation},
			{"ppm over a million", store.PayoutPolicy{
				ProviderID: "pa", FeePPM: &badPPM,
				UpdatedAt: payoutAt}, store.ErrCheckViolation},
		}
		for _, tc := range refused {
			err := inTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.SetPayoutPolicy(ctx, tc.p)
			})
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err,
					tc.want)
			}
		}

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.DeletePayoutPolicy(ctx, "pa"); err != nil {
				return err
			}
			// Deleting none is fine.
			return tx.DeletePayoutPolicy(ctx, "pa")
		})
		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.PayoutPolicy(ctx, "pa")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted policy: %v, want ErrNotFound", err)
		}
	})
}

// TestPayoutStatus records, replaces and lists providers' payout status.
func TestPayoutStatus(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		addProvider(t, db, "pa", nodeA)

		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.PayoutStatus(ctx, "pa")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("status before any: %v, want ErrNotFound", err)
		}

		blocked := store.PayoutStatus{
			ProviderID: "pa",
			State:      "blocked",
			Reason:     "no route",
			Since:      payoutAt,
			RetryAt:    payoutAt.Add(30 * time.Second),
			UpdatedAt:  payoutAt,
		}
		ok := store.PayoutStatus{
			ProviderID: "pa",
			State:      "ok",
			Since:      payoutAt.Add(time.Minute),
			Failures:   0,
			UpdatedAt:  payoutAt.Add(time.Minute),
		}
		utc := func(s store.PayoutStatus) store.PayoutStatus {
			s.Since = s.Since.UTC().Truncate(time.Microsecond)
			s.UpdatedAt = s.UpdatedAt.UTC().Truncate(
				time.Microsecond)
			if !s.RetryAt.IsZero() {
				s.RetryAt = s.RetryAt.UTC().Truncate(
					time.Microsecond)
			}
			return s
		}

		for _, want := range []store.PayoutStatus{blocked, ok} {
			var (
				got store.PayoutStatus
				all map[string]store.PayoutStatus
			)
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				if err := tx.SetPayoutStatus(ctx,
					want); err != nil {

					return err
				}
				var err error
				if got, err = tx.PayoutStatus(ctx,
					"pa"); err != nil {

					return err
				}
				all, err = tx.PayoutStatuses(ctx)
				return err
			})
			if !reflect.DeepEqual(got, utc(want)) {
				t.Fatalf("status\n got %+v\nwant %+v", got,
					utc(want))
			}
			if len(all) != 1 || !reflect.DeepEqual(all["pa"], got) {
				t.Fatalf("statuses %+v", all)
			}
		}

		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			s := ok
			s.State = "sleeping"
			return tx.SetPayoutStatus(ctx, s)
		})
		if !errors.Is(err, store.ErrCheckViolation) {
			t.Fatalf("unknown state: %v, want ErrCheckViolation",
				err)
		}
	})
}

// TestProviderPayoutCounts counts a provider's payouts by outcome and
// finds its latest successful one by resolution time, not creation time,
// leaving other providers' payouts out.
func TestProviderPayoutCounts(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		addProvider(t, db, "pa", nodeA)
		addProvider(t, db, "pb", nodeB)
		addProvider(t, db, "pc", nodeA[:64]+"ff")

		// pa: 1 succeeds late, 2 fails, 3 succeeds early, 4 pending.
		// pb: 5 succeeds latest of all. pc: none.
		outcomes := []struct {
			provider, node string
			n              int
			state          string
			resolvedAfter  time.Duration
		}{
			{"pa", nodeA, 1, store.PayoutSucceeded, time.Hour},
			{"pa", nodeA, 2, store.PayoutFailed, 2 * time.Hour},
			{"pa", nodeA, 3, store.PayoutSucceeded, time.Minute},
			{"pa", nodeA, 4, store.PayoutPending, 0},
			{"pb", nodeB, 5, store.PayoutSucceeded, 3 * time.Hour},
		}
		payouts := make(map[int]store.Payout)
		for _, o := range outcomes {
			p := testPayout(o.provider, o.node, o.n)
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.InsertPayout(ctx, p)
			})
			if o.state != store.PayoutPending {
				p.State = o.state
				p.ResolvedAt = payoutAt.Add(o.resolvedAfter)
				mustTx(t, db, func(ctx context.Context,
					tx *store.Tx) error {

					return tx.ResolvePayout(ctx,
						store.PayoutUpdate{
							ID:         p.ID,
							State:      p.State,
							ResolvedAt: p.ResolvedAt,
						})
				})
			}
			payouts[o.n] = utcPayout(p)
		}

		last := func(n int) *store.Payout {
			p := payouts[n]
			return &p
		}
		tests := []struct {
			provider string
			want     store.PayoutCounts
		}{
			{"pa", store.PayoutCounts{Total: 4, Succeeded: 2,
				Last: last(1)}},
			{"pb", store.PayoutCounts{Total: 1, Succeeded: 1,
				Last: last(5)}},
			{"pc", store.PayoutCounts{}},
			{"nobody", store.PayoutCounts{}},
		}
		for _, tc := range tests {
			var got store.PayoutCounts
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				got, err = tx.ProviderPayoutCounts(ctx,
					tc.provider)
				return err
			})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: counts\n got %+v (last %+v)\n"+
					"want %+v (last %+v)", tc.provider, got,
					got.Last, tc.want, tc.want.Last)
			}
		}
	})
}
