package yield_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// epochStart is when the epochs' tests begin.
var epochStart = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

// testEpoch is the epochs' tests' Config.Epoch.
const testEpoch = time.Hour

// epochEnv is a vault on a real store, its ledger and a test clock.
type epochEnv struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	l     *ledger.Ledger
	clock *clock.TestClock
	v     *yield.Vault
}

// newEpochEnv returns a vault on a fresh SQLite store with a 20 % reward.
func newEpochEnv(t *testing.T) *epochEnv {
	t.Helper()
	return newEpochEnvOn(t, storetest.Config(t, store.SQLite))
}

// newEpochEnvOn returns a vault with a 20 % reward on a fresh store of
// cfg, with the providers p1, p2, p3 and idle linked.
func newEpochEnvOn(t *testing.T, cfg store.Config) *epochEnv {
	t.Helper()
	e := &epochEnv{
		t:     t,
		ctx:   context.Background(),
		db:    storetest.Open(t, cfg),
		clock: clock.NewTestClock(epochStart),
	}
	e.l = ledger.New(store.NewLedgerStore(e.db), e.clock.Now)
	v, err := yield.New(e.db, e.l, yield.Config{
		Epoch:     testEpoch,
		RewardPPM: 200_000,
		Clock:     e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.v = v

	err = e.db.ExecTx(e.ctx, store.TxOptions{}, func(tx *store.Tx) error {
		for i, id := range []string{"p1", "p2", "p3", "idle"} {
			err := tx.InsertProvider(e.ctx, store.Provider{
				ID: id,
				NodePubkey: fmt.Sprintf("02%064x",
					i+1),
				AgentPubkey: fmt.Sprintf("%064x", i+1),
				Status:      "linked",
				LinkedAt:    epochStart,
				CreatedAt:   epochStart,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	return e
}

// post posts a ledger transaction.
func (e *epochEnv) post(tx ledger.Transaction) {
	e.t.Helper()
	if _, err := e.l.Post(e.ctx, tx); err != nil {
		e.t.Fatalf("posting %q: %v", tx.IdempotencyKey, err)
	}
}

// fees puts amt into platform fees, as usage would have.
func (e *epochEnv) fees(key string, amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.post(ledger.Transfer(key, "test fees", ledger.HubHoldings(),
		ledger.PlatformFees(), amt))
}

// genesis stakes assets into the vault for the provider, issuing it
// shares units, as a stake before the epoch would have.
func (e *epochEnv) genesis(provider string, assets ledger.MilliSatoshi,
	shares ledger.Shares) {

	e.t.Helper()
	e.post(ledger.Transaction{
		IdempotencyKey: "test-genesis",
		Description:    "test genesis stake",
		Postings: []ledger.Posting{
			{Account: ledger.HubHoldings(), Amount: -assets},
			{Account: ledger.Vault(), Amount: assets},
			{Account: ledger.ShareSupply(), Shares: -shares},
			{Account: ledger.ProviderShares(provider),
				Shares: shares},
		},
	})
}

// earn records an earning in the open epoch.
func (e *epochEnv) earn(provider string, secs uint64,
	earned, fee ledger.MilliSatoshi) {

	e.t.Helper()
	err := e.db.ExecVault(e.ctx, false, func(tx yield.VaultTx) error {
		return e.v.Contribute(e.ctx, tx, yield.Earning{
			Key:        fmt.Sprintf("usage:%s:%d", provider, secs),
			JobID:      "job-" + provider,
			ProviderID: provider,
			Seconds:    secs,
			Earned:     earned,
			Fee:        fee,
		})
	})
	if err != nil {
		e.t.Fatalf("earning of %s: %v", provider, err)
	}
}

// balance returns an msat account's balance.
func (e *epochEnv) balance(a ledger.Account) ledger.MilliSatoshi {
	e.t.Helper()
	b, err := e.l.Balance(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// shares returns a share account's balance.
func (e *epochEnv) shares(a ledger.Account) ledger.Shares {
	e.t.Helper()
	s, err := e.l.ShareBalance(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// nav returns the vault's NAV from the ledger (no strategy holds any).
func (e *epochEnv) nav() yield.NAV {
	e.t.Helper()
	return yield.NAV{Assets: e.balance(ledger.Vault()),
		Supply: -e.shares(ledger.ShareSupply())}
}

// close runs CloseDueEpoch and fails the test on its error.
func (e *epochEnv) close() (yield.StoredEpoch, bool) {
	e.t.Helper()
	ep, ok, err := e.v.CloseDueEpoch(e.ctx)
	if err != nil {
		e.t.Fatalf("CloseDueEpoch: %v", err)
	}
	return ep, ok
}

// epoch returns an epoch and its contributions.
func (e *epochEnv) epoch(n uint64) (yield.StoredEpoch, []yield.Contribution) {
	e.t.Helper()
	ep, cs, err := e.v.Epoch(e.ctx, n)
	if err != nil {
		e.t.Fatalf("Epoch(%d): %v", n, err)
	}
	return ep, cs
}

// TestEpochContributions checks that the first earning opens epoch 1 at
// its time and that earnings add up per provider in the open epoch, which
// does not close before it is due.
func TestEpochContributions(t *testing.T) {
	t.Parallel()
	e := newEpochEnv(t)

	if es, err := e.v.Epochs(e.ctx, 0, 0); err != nil || len(es) != 0 {
		t.Fatalf("Epochs before any earning = %v, %v; want none", es,
			err)
	}
	if _, ok := e.close(); ok {
		t.Fatal("closed an epoch before any was opened")
	}
	if _, _, err := e.v.Epoch(e.ctx, 1); !errors.Is(err,
		yield.ErrEpochNotFound) {

		t.Fatalf("Epoch(1) before any earning = %v, want "+
			"ErrEpochNotFound", err)
	}

	e.clock.SetTime(epochStart.Add(5 * time.Minute))
	e.earn("p2", 10, 900, 100)
	e.clock.SetTime(epochStart.Add(6 * time.Minute))
	e.earn("p1", 3, 270, 30)
	e.earn("p2", 2, 180, 20)

	ep, cs := e.epoch(1)
	wantEpoch := yield.StoredEpoch{Number: 1,
		Start: epochStart.Add(5 * time.Minute)}
	if !reflect.DeepEqual(ep, wantEpoch) {
		t.Fatalf("epoch 1 = %+v, want %+v", ep, wantEpoch)
	}
	wantCs := []yield.Contribution{
		{Epoch: 1, ProviderID: "p1", Seconds: 3, Earned: 270, Fees: 30},
		{Epoch: 1, ProviderID: "p2", Seconds: 12, Earned: 1080,
			Fees: 120},
	}
	if !reflect.DeepEqual(cs, wantCs) {
		t.Fatalf("contributions = %+v, want %+v", cs, wantCs)
	}

	// Due an hour after the first earning, not after the clock's start.
	e.clock.SetTime(epochStart.Add(testEpoch))
	if _, ok := e.close(); ok {
		t.Fatal("closed epoch 1 before it was due")
	}
	if es, err := e.v.Epochs(e.ctx, 0, 0); err != nil ||
		!reflect.DeepEqual(es, []yield.StoredEpoch{wantEpoch}) {

		t.Fatalf("Epochs = %+v, %v; want epoch 1 open", es, err)
	}
}

// TestEpochClose checks a close: the reward is RewardPPM of the epoch's
// fees, it buys exactly PreviewDeposit(reward) units at the NAV before it,
// apportioned by earnings by largest remainder; the ledger moves exactly
// that, the price per share does not fall, the epoch records it all with
// its root, and the next epoch opens where it ended.
func TestEpochClose(t *testing.T) {
	t.Parallel()
	e := newEpochEnv(t)

	// A = 1,000,000 msat for S = 999,000 units: a unit is worth a bit
	// more than 1 msat, so the reward buys a non-round number of
	// units.
	e.genesis("idle", 1_000_000, 999_000)
	e.fees("test-fees-other", 50_000)

	e.earn("p1", 10, 1_000, 200_000)
	e.earn("p2", 20, 2_000, 200_000)
	e.earn("p3", 30, 3_001, 200_000)
	// Fees of the epoch: 600,000 msat; reward 20 %: 120,000 msat.
	e.fees("test-fees-epoch", 600_000)

	before := e.nav()
	priceBefore, err := before.PricePerShare()
	if err != nil {
		t.Fatal(err)
	}

	end := epochStart.Add(testEpoch + time.Second)
	e.clock.SetTime(end)
	closed, ok := e.close()
	if !ok {
		t.Fatal("due epoch not closed")
	}

	// 120,000 · (999,000 + 1) / (1,000,000 + 1), rounded down.
	const reward, issued = 120_000, 119_880
	if want, err := before.PreviewDeposit(reward); err != nil ||
		want != issued {

		t.Fatalf("PreviewDeposit(%d) = %d, %v; the test expects %d",
			reward, want, err, issued)
	}
	// Quotas 119,880 · {1000, 2000, 3001} / 6001: 19,976.67, 39,953.34
	// and 59,949.98; the floors leave 2 units, which go to the largest
	// remainders, p3's and p1's.
	wantShares := map[string]ledger.Shares{
		"p1": 19_977, "p2": 39_953, "p3": 59_950,
	}

	ep, cs := e.epoch(1)
	if !reflect.DeepEqual(ep, closed) {
		t.Fatalf("stored epoch %+v, CloseDueEpoch returned %+v", ep,
			closed)
	}
	want := yield.StoredEpoch{
		Number: 1, Start: epochStart, End: end, Closed: true,
		Seconds: 60, Earned: 6_001, Fees: 600_000,
		Reward: reward, Issued: issued,
		NAVAssets: before.Assets, NAVSupply: before.Supply,
		Root: ep.Root,
		// The ledger's totals after the reward: the supply before it
		// and the units it bought; nothing redeemed.
		Totals:      yield.ShareTotals{Supply: before.Supply + issued},
		TotalsKnown: true,
	}
	if !reflect.DeepEqual(ep, want) {
		t.Fatalf("closed epoch = %+v, want %+v", ep, want)
	}

	var sum ledger.Shares
	leaves := make([]yield.Leaf, len(cs))
	for i, c := range cs {
		if c.Shares != wantShares[c.ProviderID] {
			t.Errorf("%s issued %d units, want %d", c.ProviderID,
				c.Shares, wantShares[c.ProviderID])
		}
		got := e.shares(ledger.ProviderShares(c.ProviderID))
		if got != c.Shares {
			t.Errorf("%s holds %d units, its contribution says %d",
				c.ProviderID, got, c.Shares)
		}
		sum += c.Shares
		leaves[i] = yield.Leaf{Epoch: 1, ProviderID: c.ProviderID,
			Seconds: c.Seconds, Earned: c.Earned, Shares: c.Shares}
	}
	if sum != issued {
		t.Errorf("contributions' shares sum to %d, want %d", sum,
			issued)
	}
	if root, err := yield.Root(leaves); err != nil || root != ep.Root {
		t.Errorf("root of the contributions = %x, %v; stored %x",
			root[:], err, ep.Root[:])
	}

	after := e.nav()
	if after.Assets != before.Assets+reward ||
		after.Supply != before.Supply+issued {

		t.Errorf("NAV %+v → %+v, want +%d msat, +%d units", before,
			after, reward, issued)
	}
	if got := e.balance(ledger.PlatformFees()); got != 650_000-reward {
		t.Errorf("platform fees hold %v, want %v", got, 650_000-reward)
	}
	if got := e.shares(ledger.ProviderShares("idle")); got != 999_000 {
		t.Errorf("the genesis holder holds %d units, want 999000", got)
	}

	// (A'+1)/(S'+1) ≥ (A+1)/(S+1), exactly.
	lhs := new(big.Int).Mul(big.NewInt(int64(after.Assets)+1),
		big.NewInt(int64(before.Supply)+yield.VirtualShares))
	rhs := new(big.Int).Mul(big.NewInt(int64(before.Assets)+1),
		big.NewInt(int64(after.Supply)+yield.VirtualShares))
	if lhs.Cmp(rhs) < 0 {
		t.Errorf("price per share fell: %+v → %+v", before, after)
	}
	if p, err := after.PricePerShare(); err != nil || p < priceBefore {
		t.Errorf("price per share %v → %v (%v)", priceBefore, p, err)
	}

	next, ncs := e.epoch(2)
	wantNext := yield.StoredEpoch{Number: 2, Start: end}
	if !reflect.DeepEqual(next, wantNext) || len(ncs) != 0 {
		t.Errorf("epoch 2 = %+v with %v, want %+v with none", next,
			ncs, wantNext)
	}

	// Earnings now go to epoch 2.
	e.earn("p1", 1, 10, 1)
	if _, ncs := e.epoch(2); len(ncs) != 1 || ncs[0].Seconds != 1 {
		t.Errorf("epoch 2's contributions = %+v, want p1's second",
			ncs)
	}
	if _, cs2 := e.epoch(1); !reflect.DeepEqual(cs2, cs) {
		t.Errorf("closed epoch's contributions changed: %+v → %+v",
			cs, cs2)
	}
}

// TestEpochCloseTwice checks that a second CloseDueEpoch at the same time
// finds nothing due and issues nothing, and that an epoch without work
// closes with nothing moved and an empty tree's root.
func TestEpochCloseTwice(t *testing.T) {
	t.Parallel()
	e := newEpochEnv(t)

	e.earn("p1", 10, 900, 100_000)
	e.fees("test-fees", 100_000)
	e.clock.SetTime(epochStart.Add(testEpoch))
	first, ok := e.close()
	if !ok || first.Issued == 0 {
		t.Fatalf("first close = %+v, %v; want a reward issued", first,
			ok)
	}
	supply := e.shares(ledger.ShareSupply())
	fees := e.balance(ledger.PlatformFees())

	if again, ok := e.close(); ok {
		t.Fatalf("second close at the same time closed %+v", again)
	}
	if got := e.shares(ledger.ShareSupply()); got != supply {
		t.Fatalf("supply %d → %d on a second close", supply, got)
	}

	// Epoch 2 had no work: it closes at its due time with nothing.
	e.clock.SetTime(epochStart.Add(2 * testEpoch))
	empty, ok := e.close()
	if !ok {
		t.Fatal("epoch 2 not closed when due")
	}
	emptyRoot, err := yield.Root(nil)
	if err != nil {
		t.Fatal(err)
	}
	nav := e.nav()
	want := yield.StoredEpoch{Number: 2, Start: first.End,
		End: epochStart.Add(2 * testEpoch), Closed: true,
		NAVAssets: nav.Assets, NAVSupply: nav.Supply, Root: emptyRoot,
		Totals: yield.ShareTotals{Supply: nav.Supply}, TotalsKnown: true}
	if !reflect.DeepEqual(empty, want) {
		t.Fatalf("empty epoch = %+v, want %+v", empty, want)
	}
	if got := e.shares(ledger.ShareSupply()); got != supply {
		t.Errorf("supply %d → %d on an empty close", supply, got)
	}
	if got := e.balance(ledger.PlatformFees()); got != fees {
		t.Errorf("platform fees %v → %v on an empty close", fees, got)
	}

	es, err := e.v.Epochs(e.ctx, 0, 0)
	if err != nil || len(es) != 3 || !es[0].Closed || !es[1].Closed ||
		es[2].Closed {

		t.Fatalf("Epochs = %+v, %v; want 1 and 2 closed, 3 open", es,
			err)
	}
	if es, err := e.v.Epochs(e.ctx, 1, 1); err != nil || len(es) != 1 ||
		es[0].Number != 2 {

		t.Fatalf("Epochs(1, 1) = %+v, %v; want epoch 2", es, err)
	}
	if _, err := e.v.Epochs(e.ctx, 0, -1); !errors.Is(err,
		yield.ErrInvalidAmount) {

		t.Fatalf("Epochs with a negative limit = %v, want "+
			"ErrInvalidAmount", err)
	}
}

// TestEpochNoReward checks the closes that issue nothing though the epoch
// had fees: a shut-down vault, contributions that earned nothing, and a
// reward too small to buy one unit. The fees stay with the platform.
func TestEpochNoReward(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		shutdown bool
		earned   ledger.MilliSatoshi
		fee      ledger.MilliSatoshi
	}{
		{name: "shutdown", shutdown: true, earned: 900, fee: 100_000},
		{name: "nothing earned", earned: 0, fee: 100_000},
		// 20 % of 4 msat is 0 msat.
		{name: "reward below a unit", earned: 900, fee: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEpochEnv(t)
			e.genesis("idle", 1_000_000, 1_000_000)
			e.fees("test-fees", 200_000)
			if tc.shutdown {
				err := e.db.ExecVault(e.ctx, false,
					func(tx yield.VaultTx) error {
						return tx.PutPolicy(e.ctx,
							yield.Policy{Shutdown: true,
								UpdatedAt: epochStart})
					})
				if err != nil {
					t.Fatal(err)
				}
			}
			e.earn("p1", 10, tc.earned, tc.fee)

			e.clock.SetTime(epochStart.Add(testEpoch))
			ep, ok := e.close()
			if !ok {
				t.Fatal("due epoch not closed")
			}
			if ep.Reward != 0 || ep.Issued != 0 ||
				ep.Fees != tc.fee {

				t.Errorf("epoch = %+v, want fees %v and no "+
					"reward", ep, tc.fee)
			}
			if got := e.balance(ledger.PlatformFees()); got !=
				200_000 {

				t.Errorf("platform fees = %v, want 200000", got)
			}
			if got := e.shares(ledger.ShareSupply()); got !=
				-1_000_000 {

				t.Errorf("supply = %d, want 1000000 units", -got)
			}
			// Its provider still proves its work.
			p, err := e.v.RewardProof(e.ctx, 1, "p1")
			if err != nil {
				t.Fatal(err)
			}
			if err := yield.Verify(ep.Root, p.Leaf, p.Proof); err !=
				nil {

				t.Errorf("proof of an unrewarded epoch: %v", err)
			}
		})
	}
}

// TestEpochRewardCapped checks that the reward never takes more than
// platform fees hold.
func TestEpochRewardCapped(t *testing.T) {
	t.Parallel()
	e := newEpochEnv(t)

	e.earn("p1", 10, 900, 1_000_000)
	// Fees say 200,000 msat of reward; only 1,234 are held.
	e.fees("test-fees", 1_234)
	e.clock.SetTime(epochStart.Add(testEpoch))
	ep, ok := e.close()
	if !ok {
		t.Fatal("due epoch not closed")
	}
	if ep.Reward != 1_234 || ep.Issued != 1_234 {
		t.Fatalf("epoch = %+v, want a reward of 1234 msat buying "+
			"1234 units at genesis", ep)
	}
	if got := e.balance(ledger.PlatformFees()); got != 0 {
		t.Errorf("platform fees = %v, want 0", got)
	}
	if got := e.shares(ledger.ProviderShares("p1")); got != 1_234 {
		t.Errorf("p1 holds %d units, want 1234", got)
	}
}

// TestRewardProof checks proofs against the stored root: each provider's
// verifies, a tampered leaf does not, and the open epoch, a provider
// without work and an unknown epoch are refused.
func TestRewardProof(t *testing.T) {
	t.Parallel()
	e := newEpochEnv(t)

	e.genesis("idle", 5_000_000, 5_000_000)
	e.earn("p1", 10, 1_000, 10_000)
	e.earn("p2", 20, 2_000, 20_000)
	e.earn("p3", 30, 3_000, 30_000)
	e.fees("test-fees", 60_000)

	if _, err := e.v.RewardProof(e.ctx, 1, "p1"); !errors.Is(err,
		yield.ErrEpochOpen) {

		t.Fatalf("proof in the open epoch = %v, want ErrEpochOpen", err)
	}

	e.clock.SetTime(epochStart.Add(testEpoch))
	if _, ok := e.close(); !ok {
		t.Fatal("due epoch not closed")
	}
	stored, cs := e.epoch(1)

	for i, c := range cs {
		p, err := e.v.RewardProof(e.ctx, 1, c.ProviderID)
		if err != nil {
			t.Fatalf("RewardProof(%s): %v", c.ProviderID, err)
		}
		wantLeaf := yield.Leaf{Epoch: 1, ProviderID: c.ProviderID,
			Seconds: c.Seconds, Earned: c.Earned, Shares: c.Shares}
		if p.Leaf != wantLeaf || p.Root != stored.Root ||
			!reflect.DeepEqual(p.Epoch, stored) ||
			p.Proof.Index != uint64(i) || p.Proof.Count != 3 {

			t.Fatalf("proof of %s = %+v; want leaf %+v, index %d "+
				"of 3, the stored epoch", c.ProviderID, p,
				wantLeaf, i)
		}
		if err := yield.Verify(stored.Root, p.Leaf, p.Proof); err !=
			nil {

			t.Errorf("proof of %s does not verify: %v",
				c.ProviderID, err)
		}

		tampered := p.Leaf
		tampered.Shares++
		if err := yield.Verify(stored.Root, tampered, p.Proof); !errors.Is(
			err, yield.ErrProofMismatch) {

			t.Errorf("tampered leaf of %s = %v, want "+
				"ErrProofMismatch", c.ProviderID, err)
		}
	}

	if _, err := e.v.RewardProof(e.ctx, 1, "idle"); !errors.Is(err,
		yield.ErrNoContribution) {

		t.Errorf("proof of a provider without work = %v, want "+
			"ErrNoContribution", err)
	}
	if _, err := e.v.RewardProof(e.ctx, 2, "p1"); !errors.Is(err,
		yield.ErrEpochOpen) {

		t.Errorf("proof in the next, open epoch = %v, want "+
			"ErrEpochOpen", err)
	}
	if _, err := e.v.RewardProof(e.ctx, 7, "p1"); !errors.Is(err,
		yield.ErrEpochNotFound) {

		t.Errorf("proof in an unknown epoch = %v, want "+
			"ErrEpochNotFound", err)
	}
}

// TestEpochConcurrentClose checks, on each backend, that closers racing
// for one due epoch close it once: one reports the close, the reward is
// issued once, and one next epoch is open.
func TestEpochConcurrentClose(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		e := newEpochEnvOn(t, cfg)

		e.earn("p1", 10, 900, 100_000)
		e.earn("p2", 5, 450, 50_000)
		e.fees("test-fees", 150_000)
		e.clock.SetTime(epochStart.Add(testEpoch))

		const closers = 4
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			closed []yield.StoredEpoch
			errs   []error
		)
		for range closers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ep, ok, err := e.v.CloseDueEpoch(e.ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					closed = append(closed, ep)
				}
			}()
		}
		wg.Wait()

		if len(errs) != 0 {
			t.Fatalf("closers failed: %v", errs)
		}
		if len(closed) != 1 {
			t.Fatalf("%d closers closed an epoch, want 1: %+v",
				len(closed), closed)
		}
		if got := -e.shares(ledger.ShareSupply()); got !=
			closed[0].Issued || got == 0 {

			t.Errorf("supply %d units, the close issued %d", got,
				closed[0].Issued)
		}
		es, err := e.v.Epochs(e.ctx, 0, 0)
		if err != nil || len(es) != 2 || !es[0].Closed ||
			es[1].Closed {

			t.Fatalf("Epochs = %+v, %v; want 1 closed, 2 open", es,
				err)
		}
	})
}

// TestEpochRejectsNegativeEarning checks that an earning with a negative
// amount is refused and adds nothing.
func TestEpochRejectsNegativeEarning(t *testing.T) {
	t.Parallel()
	e := newEpochEnv(t)

	err := e.db.ExecVault(e.ctx, false, func(tx yield.VaultTx) error {
		return e.v.Contribute(e.ctx, tx, yield.Earning{Key: "usage:x",
			ProviderID: "p1", Seconds: 1, Earned: -1})
	})
	if !errors.Is(err, yield.ErrNegative) {
		t.Fatalf("negative earning = %v, want ErrNegative", err)
	}
	if _, _, err := e.v.Epoch(e.ctx, 1); !errors.Is(err,
		yield.ErrEpochNotFound) {

		t.Fatalf("Epoch(1) after a refused earning = %v, want "+
			"ErrEpochNotFound", err)
	}
}
