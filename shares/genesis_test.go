package shares

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// fakeTapd is a tapd minter: one pending batch at a time; a finalized
// batch becomes final after confirmAfter reads of it.
type fakeTapd struct {
	mu           sync.Mutex
	batches      []*fakeBatch
	mints        int
	finalizes    int
	confirmAfter int
	cancel       bool
}

type fakeBatch struct {
	key   []byte
	state hubnode.BatchState
	seeds []hubnode.Seedling
	reads int
}

func (f *fakeTapd) pending() *fakeBatch {
	for _, b := range f.batches {
		if b.state == hubnode.BatchPending {
			return b
		}
	}
	return nil
}

func (f *fakeTapd) MintAsset(_ context.Context, s hubnode.Seedling) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !json.Valid(s.MetaJSON) {
		return fmt.Errorf("%w: meta not JSON", hubnode.ErrMintRefused)
	}
	b := f.pending()
	if b == nil {
		b = &fakeBatch{key: []byte{byte(len(f.batches) + 1)},
			state: hubnode.BatchPending}
		f.batches = append(f.batches, b)
	}
	for _, o := range b.seeds {
		if o.Name == s.Name {
			return hubnode.ErrSeedlingExists
		}
	}
	b.seeds = append(b.seeds, s)
	f.mints++
	return nil
}

func (f *fakeTapd) FinalizeBatch(_ context.Context, feeRate uint32) (
	hubnode.MintBatch, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.pending()
	if b == nil || feeRate < hubnode.MinFeeRate {
		return hubnode.MintBatch{}, hubnode.ErrMintRefused
	}
	b.state = hubnode.BatchBroadcast
	if f.cancel {
		b.state = hubnode.BatchSproutCancelled
	}
	f.finalizes++
	return hubnode.MintBatch{Key: b.key, State: b.state}, nil
}

func (f *fakeTapd) MintBatch(_ context.Context, name string) (
	hubnode.MintBatch, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.batches {
		for _, s := range b.seeds {
			if s.Name != name {
				continue
			}
			if b.state == hubnode.BatchBroadcast {
				b.reads++
				if b.reads > f.confirmAfter {
					b.state = hubnode.BatchFinalized
				}
			}
			return hubnode.MintBatch{Key: b.key,
				State: b.state}, nil
		}
	}
	return hubnode.MintBatch{}, hubnode.ErrBatchNotFound
}

func (f *fakeTapd) MintedAsset(_ context.Context, name, _ string) (
	hubnode.MintedAsset, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.batches {
		for _, s := range b.seeds {
			if s.Name == name &&
				b.state == hubnode.BatchFinalized {

				return hubnode.MintedAsset{Name: name,
					ID:       bytes.Repeat([]byte{1}, 32),
					GroupKey: groupKey(s),
					Amount:   s.Amount,
					Anchor:   wire.OutPoint{Index: 1},
					Height:   100}, nil
			}
		}
	}
	return hubnode.MintedAsset{}, hubnode.ErrAssetNotFound
}

// groupKey is the group a fake mint of s joins: its own for a genesis.
func groupKey(s hubnode.Seedling) []byte {
	if len(s.GroupKey) > 0 {
		return s.GroupKey
	}
	return bytes.Repeat([]byte{2}, 33)
}

// memStore keeps the mints in memory, as store.DB's rules say.
type memStore struct {
	mu     sync.Mutex
	mints  []Mint
	totals Totals
}

func (s *memStore) ShareTotals(context.Context) (Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals, nil
}

func (s *memStore) InsertGenesis(_ context.Context, m Mint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.mints {
		if o.Name == m.Name {
			return ErrNameTaken
		}
		if o.Kind == KindGenesis && o.State != outbound.StatusFailed {
			return ErrGenesisDone
		}
	}
	s.mints = append(s.mints, m)
	return nil
}

func (s *memStore) Genesis(context.Context) (Mint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.mints {
		if o.Kind == KindGenesis && o.State != outbound.StatusFailed {
			return o, nil
		}
	}
	return Mint{}, ErrNoGenesis
}

func (s *memStore) ResolveMint(_ context.Context, m Mint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.mints {
		if o.Name != m.Name {
			continue
		}
		if err := outbound.Transition(o.State, m.State); err != nil {
			return err
		}
		s.mints[i] = m
		return nil
	}
	return fmt.Errorf("no mint %q", m.Name)
}

// crash is what a failpoint hook panics with.
type crash string

// env is a Manager over fakes; crashAt names the failpoint that crashes.
func env(units ledger.Shares, tapd *fakeTapd, st *memStore,
	crashAt string) *Manager {

	st.mu.Lock()
	st.totals.Supply = units
	st.mu.Unlock()
	return NewManager(Config{
		Store: st, Minter: tapd,
		Vault:        Vault{Hub: "02ab", Network: "regtest"},
		PollInterval: time.Millisecond,
		Retry: outbound.Retry{InitialWait: time.Millisecond,
			MaxWait: time.Millisecond},
		Hook: func(name string) {
			if name == crashAt {
				panic(crash(name))
			}
		},
	})
}

// crashed runs fn and reports the failpoint it crashed at, if any.
func crashed(fn func()) (at string) {
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(crash)
			if !ok {
				panic(r)
			}
			at = string(c)
		}
	}()
	fn()
	return ""
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestGenesis mints the ledger's supply once with the terms as JSON and
// refuses a second genesis.
func TestGenesis(t *testing.T) {
	tapd := &fakeTapd{confirmAfter: 2}
	st := &memStore{}
	m := env(12345, tapd, st, "")

	g, err := m.Genesis(ctx(t), "sluice-share")
	if err != nil {
		t.Fatalf("genesis: %v", err)
	}
	if g.State != outbound.StatusSucceeded || g.Amount != 12345 ||
		len(g.GroupKey) != 33 || len(g.AssetID) != 32 ||
		g.Anchor.Index != 1 {

		t.Fatalf("genesis = %+v", g)
	}
	if tapd.mints != 1 || tapd.finalizes != 1 {
		t.Fatalf("%d mints, %d finalizes, want 1 each", tapd.mints,
			tapd.finalizes)
	}
	seed := tapd.batches[0].seeds[0]
	if seed.Amount != 12345 || seed.DecimalDisplay != DecimalDisplay {
		t.Fatalf("seedling %+v", seed)
	}
	var terms map[string]any
	if err := json.Unmarshal(seed.MetaJSON, &terms); err != nil {
		t.Fatalf("meta: %v", err)
	}
	if terms["name"] != "sluice-share" || terms["claim"] != Claim ||
		terms["unit"] != Unit ||
		terms["decimal_display"] != float64(DecimalDisplay) {

		t.Fatalf("terms %v", terms)
	}
	if v, _ := terms["vault"].(map[string]any); v["hub"] != "02ab" ||
		v["network"] != "regtest" {

		t.Fatalf("terms' vault %v", terms["vault"])
	}
	stored, err := m.Asset(ctx(t))
	if err != nil || stored.State != outbound.StatusSucceeded {
		t.Fatalf("stored genesis %+v, %v", stored, err)
	}

	for _, name := range []string{"sluice-share", "other"} {
		_, err = m.Genesis(ctx(t), name)
		if !errors.Is(err, ErrGenesisDone) {
			t.Fatalf("second genesis %q: %v, want ErrGenesisDone",
				name, err)
		}
	}
	if tapd.mints != 1 {
		t.Fatalf("%d mints after a second genesis", tapd.mints)
	}
}

// TestGenesisRefused: nothing to mint, a bad name and a cancelled batch
// give their own errors.
func TestGenesisRefused(t *testing.T) {
	tapd := &fakeTapd{}
	st := &memStore{}
	if _, err := env(0, tapd, st, "").Genesis(ctx(t), "s"); !errors.Is(
		err, ErrNothingToMint) {

		t.Fatalf("zero supply: %v, want ErrNothingToMint", err)
	}
	for _, name := range []string{"", string(bytes.Repeat([]byte{'a'},
		MaxNameLen+1))} {

		if _, err := env(1, tapd, st, "").Genesis(ctx(t),
			name); !errors.Is(err, ErrBadName) {

			t.Fatalf("name %q: %v, want ErrBadName", name, err)
		}
	}
	if tapd.mints != 0 || len(st.mints) != 0 {
		t.Fatalf("refused genesis reached tapd or the store")
	}

	tapd.cancel = true
	g, err := env(7, tapd, st, "").Genesis(ctx(t), "s")
	if !errors.Is(err, ErrMintFailed) || g.State != outbound.StatusFailed {
		t.Fatalf("cancelled batch: %+v, %v, want ErrMintFailed", g, err)
	}
	if _, err := st.Genesis(ctx(t)); !errors.Is(err, ErrNoGenesis) {
		t.Fatalf("a failed genesis counts as done: %v", err)
	}
}

// TestGenesisCrash crashes at each failpoint, and between MintAsset and
// FinalizeBatch, then resumes: one seedling minted, one batch finalized.
func TestGenesisCrash(t *testing.T) {
	for _, at := range []string{genesisFailpoints.AfterIntent,
		genesisFailpoints.AfterSend, "between mint and finalize"} {

		t.Run(at, func(t *testing.T) {
			tapd := &fakeTapd{confirmAfter: 1}
			st := &memStore{}
			if at == "between mint and finalize" {
				// The intent and the seedling exist; the
				// batch was never finalized.
				m := env(500, tapd, st, "")
				meta, _ := GenesisTerms("s", Vault{}).JSON()
				_ = st.InsertGenesis(ctx(t), Mint{Name: "s",
					Kind: KindGenesis, Amount: 500,
					MetaJSON: meta,
					State:    outbound.StatusPending})
				_ = tapd.MintAsset(ctx(t), hubnode.Seedling{
					Name: "s", Amount: 500, MetaJSON: meta})
				if err := m.Resume(ctx(t)); err != nil {
					t.Fatalf("resume: %v", err)
				}
			} else {
				m := env(500, tapd, st, at)
				if got := crashed(func() {
					_, _ = m.Genesis(ctx(t), "s")
				}); got != at {
					t.Fatalf("crashed at %q, want %q", got,
						at)
				}
				g, _ := st.Genesis(ctx(t))
				if g.State != outbound.StatusPending {
					t.Fatalf("after the crash: %+v", g)
				}
				if err := env(500, tapd, st, "").Resume(
					ctx(t)); err != nil {

					t.Fatalf("resume: %v", err)
				}
			}
			g, err := st.Genesis(ctx(t))
			if err != nil || g.State != outbound.StatusSucceeded ||
				g.Amount != 500 {

				t.Fatalf("resumed genesis %+v, %v", g, err)
			}
			if tapd.mints != 1 || tapd.finalizes != 1 ||
				len(tapd.batches) != 1 {

				t.Fatalf("%d mints, %d finalizes, %d batches, "+
					"want 1 each", tapd.mints,
					tapd.finalizes, len(tapd.batches))
			}
			// A second resume has nothing to do.
			if err := env(500, tapd, st, "").Resume(
				ctx(t)); err != nil || tapd.mints != 1 {

				t.Fatalf("second resume: %v, %d mints", err,
					tapd.mints)
			}
		})
	}
}
