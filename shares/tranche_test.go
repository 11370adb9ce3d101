package shares

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// fakeBurner burns from a group: a burn is listed after confirmAfter reads
// of the burns, unconfirmed and unlabelled until then.
type fakeBurner struct {
	mu           sync.Mutex
	confirmAfter int
	burns        []fakeBurn
	calls        int
	refuse       bool
}

type fakeBurn struct {
	hubnode.Burn
	reads int
}

func (f *fakeBurner) BurnGroup(_ context.Context, _ []byte, amount uint64,
	note string) (hubnode.Burn, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.refuse {
		return hubnode.Burn{}, hubnode.ErrBurnRefused
	}
	b := hubnode.Burn{Note: note, Amount: amount,
		Txid: chainhash.Hash{byte(len(f.burns) + 1)}}
	f.burns = append(f.burns, fakeBurn{Burn: b})
	return b, nil
}

func (f *fakeBurner) Burns(context.Context, []byte) ([]hubnode.Burn,
	error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	var out []hubnode.Burn
	for i := range f.burns {
		f.burns[i].reads++
		if f.burns[i].reads > f.confirmAfter {
			out = append(out, f.burns[i].Burn)
		}
	}
	return out, nil
}

func (f *fakeBurner) UnconfirmedUnlabelled(context.Context) ([]string,
	error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.burns {
		if b.reads <= f.confirmAfter {
			out = append(out, b.Txid.String())
		}
	}
	return out, nil
}

func (f *fakeBurner) GroupSupply(context.Context, []byte) (
	hubnode.GroupSupply, error) {

	return hubnode.GroupSupply{}, errors.New("not faked")
}

func (f *fakeBurner) burned() (n int, units uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.burns {
		n++
		units += b.Amount
	}
	return n, units
}

// memEpochs keeps closed epochs and their operations in memory, as
// store.DB's rules say.
type memEpochs struct {
	mu     sync.Mutex
	epochs []ClosedEpoch
	ops    []EpochOp
}

func (s *memEpochs) ClosedEpochs(_ context.Context, from uint64,
	limit int) ([]ClosedEpoch, error) {

	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ClosedEpoch
	for _, e := range s.epochs {
		if e.Number >= from && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *memEpochs) LastEpochOp(context.Context) (EpochOp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.ops) - 1; i >= 0; i-- {
		if s.ops[i].State == outbound.StatusSucceeded {
			return s.ops[i], nil
		}
	}
	return EpochOp{}, ErrNoEpochOp
}

func (s *memEpochs) PendingEpochOp(context.Context) (EpochOp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.ops {
		if o.State == outbound.StatusPending {
			return o, nil
		}
	}
	return EpochOp{}, ErrNoEpochOp
}

func (s *memEpochs) EpochOpAttempts(_ context.Context, epoch uint64,
	kind MintKind) (int, error) {

	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, o := range s.ops {
		if o.Epoch == epoch && o.Kind == kind {
			n++
		}
	}
	return n, nil
}

func (s *memEpochs) InsertEpochOp(_ context.Context, op EpochOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.ops {
		switch {
		case o.Name == op.Name:
			return ErrNameTaken
		case o.State == outbound.StatusPending,
			o.Epoch == op.Epoch && o.Kind == op.Kind &&
				o.State != outbound.StatusFailed:
			return ErrOpExists
		}
	}
	s.ops = append(s.ops, op)
	return nil
}

func (s *memEpochs) ResolveEpochOp(_ context.Context, op EpochOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.ops {
		if o.Name != op.Name {
			continue
		}
		if err := outbound.Transition(o.State, op.State); err != nil {
			return err
		}
		s.ops[i] = op
		return nil
	}
	return fmt.Errorf("no op %q", op.Name)
}

func (s *memEpochs) EpochOps(_ context.Context, after uint64) ([]EpochOp,
	error) {

	s.mu.Lock()
	defer s.mu.Unlock()
	var out []EpochOp
	for _, o := range s.ops {
		if o.Epoch > after {
			out = append(out, o)
		}
	}
	return out, nil
}

func (s *memEpochs) close(e ClosedEpoch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epochs = append(s.epochs, e)
}

// epochEnv is a Manager over fakes with the genesis of units done.
func epochEnv(t *testing.T, units ledger.Shares, tapd *fakeTapd,
	burner *fakeBurner, st *memStore, ep *memEpochs,
	crashAt string) *Manager {

	t.Helper()
	m := env(units, tapd, st, crashAt)
	m.cfg.Epochs, m.cfg.Burner = ep, burner
	if _, err := st.Genesis(ctx(t)); errors.Is(err, ErrNoGenesis) {
		if _, err := m.Genesis(ctx(t), "sluice-shares"); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// closedEpoch is epoch n closed with the ledger's totals.
func closedEpoch(n uint64, supply, burned ledger.Shares) ClosedEpoch {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).
		Add(time.Duration(n-1) * time.Hour)
	return ClosedEpoch{Number: n, Start: start, End: start.Add(time.Hour),
		Root: chainhash.Hash{byte(n)}, Leaves: 2, Issued: 10,
		NAVAssets: 2_000, NAVSupply: 1_000,
		Totals: Totals{Supply: supply, Burned: burned}}
}

// TestSync mints each epoch's new units as one tranche into the genesis's
// group with its metadata, burns its redeemed units, leaves tapd's supply
// equal to the ledger's at each close, and does nothing the second time.
func TestSync(t *testing.T) {
	tapd := &fakeTapd{confirmAfter: 1}
	burner := &fakeBurner{confirmAfter: 1}
	st, ep := &memStore{}, &memEpochs{}
	m := epochEnv(t, 1_000, tapd, burner, st, ep, "")

	ep.close(closedEpoch(1, 1_500, 0))
	ep.close(closedEpoch(2, 1_700, 300))
	ops, err := m.Sync(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		epoch  uint64
		kind   MintKind
		amount ledger.Shares
		after  ledger.Shares
	}{
		{1, KindTranche, 500, 1_500},
		{2, KindTranche, 500, 2_000},
		{2, KindBurn, 300, 1_700},
	}
	if len(ops) != len(want) {
		t.Fatalf("%d operations, want %d: %+v", len(ops), len(want),
			ops)
	}
	for i, w := range want {
		o := ops[i]
		if o.Epoch != w.epoch || o.Kind != w.kind || o.Amount != w.amount ||
			o.SupplyAfter != w.after ||
			o.State != outbound.StatusSucceeded {

			t.Errorf("op %d: %+v, want %+v", i, o, w)
		}
	}
	if ops[0].Name != "sluice-shares-e1" || ops[2].Name !=
		"sluice-shares-e2-burn" {

		t.Errorf("names %q, %q", ops[0].Name, ops[2].Name)
	}

	// The tranche joined the genesis's group with the epoch's metadata.
	g, _ := st.Genesis(ctx(t))
	seed := tapd.batches[1].seeds[0]
	if string(seed.GroupKey) != string(g.GroupKey) || seed.Amount != 500 {
		t.Errorf("tranche seedling %+v, want group %x", seed, g.GroupKey)
	}
	var meta TrancheMeta
	if err := json.Unmarshal(seed.MetaJSON, &meta); err != nil {
		t.Fatal(err)
	}
	root := chainhash.Hash{1}
	if meta.Epoch != 1 || meta.LeafCount != 2 || meta.TotalUnits != 500 ||
		meta.UsageRoot != fmt.Sprintf("%x", root[:]) ||
		meta.NAVPerShare != "2000" ||
		meta.DecimalDisplay != DecimalDisplay ||
		meta.Window.Start != "2026-12-01T00:00:00Z" {

		t.Errorf("metadata %+v", meta)
	}
	if n, units := burner.burned(); n != 1 || units != 300 {
		t.Errorf("%d burns of %d units, want 1 of 300", n, units)
	}

	// Caught up: nothing more, however often.
	for range 2 {
		ops, err := m.Sync(ctx(t))
		if err != nil || len(ops) != 0 {
			t.Fatalf("second sync: %v, %+v", err, ops)
		}
	}
	if tapd.mints != 3 {
		t.Errorf("%d mints, want the genesis and two tranches",
			tapd.mints)
	}
}

// TestSyncBeforeGenesis mints no tranche for epochs the genesis covered,
// and nothing at all before the genesis.
func TestSyncBeforeGenesis(t *testing.T) {
	tapd := &fakeTapd{confirmAfter: 1}
	burner := &fakeBurner{confirmAfter: 1}
	st, ep := &memStore{}, &memEpochs{}
	m := env(1_500, tapd, st, "")
	m.cfg.Epochs, m.cfg.Burner = ep, burner
	ep.close(closedEpoch(1, 1_500, 0))

	if ops, err := m.Sync(ctx(t)); err != nil || len(ops) != 0 {
		t.Fatalf("before the genesis: %v, %+v", err, ops)
	}
	if _, err := m.Genesis(ctx(t), "sluice-shares"); err != nil {
		t.Fatal(err)
	}
	if ops, err := m.Sync(ctx(t)); err != nil || len(ops) != 0 {
		t.Fatalf("epoch in the genesis: %v, %+v", err, ops)
	}
	ep.close(closedEpoch(2, 1_600, 0))
	ops, err := m.Sync(ctx(t))
	if err != nil || len(ops) != 1 || ops[0].Amount != 100 {
		t.Fatalf("epoch 2: %v, %+v", err, ops)
	}
}

// TestSyncCrash crashes at each failpoint of a tranche and a burn and
// syncs again, as a restart does: each is made once and tapd's supply
// ends equal to the ledger's.
func TestSyncCrash(t *testing.T) {
	for _, at := range []string{
		trancheFailpoints.AfterIntent, trancheFailpoints.AfterSend,
		burnFailpoints.AfterIntent, burnFailpoints.AfterSend,
	} {
		t.Run(at, func(t *testing.T) {
			tapd := &fakeTapd{confirmAfter: 1}
			burner := &fakeBurner{confirmAfter: 2}
			st, ep := &memStore{}, &memEpochs{}
			epochEnv(t, 1_000, tapd, burner, st, ep, "")
			ep.close(closedEpoch(1, 1_200, 100))

			m := epochEnv(t, 1_000, tapd, burner, st, ep, at)
			if got := crashed(func() {
				_, _ = m.Sync(ctx(t))
			}); got != at {
				t.Fatalf("crashed at %q, want %q", got, at)
			}

			m = epochEnv(t, 1_000, tapd, burner, st, ep, "")
			if _, err := m.Sync(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if tapd.mints != 2 {
				t.Errorf("%d mints, want the genesis and one "+
					"tranche", tapd.mints)
			}
			if n, units := burner.burned(); n != 1 || units != 100 {
				t.Errorf("%d burns of %d units, want 1 of 100",
					n, units)
			}
			last, err := ep.LastEpochOp(ctx(t))
			if err != nil || last.Kind != KindBurn ||
				last.SupplyAfter != 1_200 {

				t.Errorf("last op %+v, %v; want the burn to "+
					"1200", last, err)
			}
		})
	}
}

// TestSyncBurnRefused records a burn tapd refused as failed, and tries
// again under a new name on the next sync.
func TestSyncBurnRefused(t *testing.T) {
	tapd := &fakeTapd{confirmAfter: 1}
	burner := &fakeBurner{confirmAfter: 1, refuse: true}
	st, ep := &memStore{}, &memEpochs{}
	m := epochEnv(t, 1_000, tapd, burner, st, ep, "")
	ep.close(closedEpoch(1, 900, 100))

	if _, err := m.Sync(ctx(t)); !errors.Is(err, ErrBurnFailed) {
		t.Fatalf("refused burn: %v, want ErrBurnFailed", err)
	}
	burner.mu.Lock()
	burner.refuse = false
	burner.mu.Unlock()
	ops, err := m.Sync(ctx(t))
	if err != nil || len(ops) != 1 || ops[0].Name !=
		"sluice-shares-e1-burn.1" || ops[0].SupplyAfter != 900 {

		t.Fatalf("retry: %v, %+v", err, ops)
	}
}

// TestOpName cuts a long genesis name to fit tapd's limit.
func TestOpName(t *testing.T) {
	long := string(make([]byte, MaxNameLen))
	for _, n := range []string{trancheName(long, 12, 0),
		burnName(long, 12, 3)} {

		if len(n) != MaxNameLen {
			t.Errorf("name of %d bytes, want %d", len(n), MaxNameLen)
		}
	}
	if got := trancheName("s", 3, 2); got != "s-e3.2" {
		t.Errorf("got %q", got)
	}
}
