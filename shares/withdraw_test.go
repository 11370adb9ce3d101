package shares

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// shareGroup is the fake genesis's group key (memStore's succeeded
// genesis below).
var shareGroup = bytes.Repeat([]byte{2}, 33)

// tapAddress is a bech32m string of the prefix, as tapd's addresses are.
func tapAddress(t *testing.T, hrp string, tag byte) string {
	t.Helper()
	data, err := bech32.ConvertBits(bytes.Repeat([]byte{tag}, 40), 8, 5,
		true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bech32.EncodeM(hrp, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeSender is the hub's tapd sending assets: each transfer confirms one
// block after its send and has its proofs delivered after proofAfter
// reads; BlockHeight mines a block each time it is read.
type fakeSender struct {
	mu         sync.Mutex
	addrs      map[string]hubnode.TapAddr
	transfers  map[string]*hubnode.AssetTransfer
	sends      []hubnode.AssetSend
	tip        uint32
	proofAfter int
	reads      map[string]int
	refuse     bool
}

func newFakeSender() *fakeSender {
	return &fakeSender{addrs: map[string]hubnode.TapAddr{},
		transfers: map[string]*hubnode.AssetTransfer{},
		reads:     map[string]int{}, tip: 100}
}

func (f *fakeSender) DecodeAddr(_ context.Context, addr string) (
	hubnode.TapAddr, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.addrs[addr]
	if !ok {
		return hubnode.TapAddr{}, fmt.Errorf("%w: unknown",
			hubnode.ErrAddrInvalid)
	}
	return a, nil
}

func (f *fakeSender) SendAsset(_ context.Context, s hubnode.AssetSend) (
	hubnode.AssetTransfer, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse {
		return hubnode.AssetTransfer{}, fmt.Errorf("%w: not enough "+
			"assets", hubnode.ErrSendRefused)
	}
	f.sends = append(f.sends, s)
	tr := &hubnode.AssetTransfer{Label: s.Label,
		AnchorTxid: chainhash.Hash{byte(len(f.sends))}}
	for _, r := range s.Recipients {
		tr.Outputs = append(tr.Outputs, hubnode.TransferOutput{
			Amount: r.Amount, TapAddr: r.Addr,
			Proof: hubnode.ProofPending})
	}
	tr.Outputs = append(tr.Outputs, hubnode.TransferOutput{
		Amount: 1, Local: true})
	f.transfers[s.Label] = tr
	return *tr, nil
}

func (f *fakeSender) TransferByLabel(_ context.Context, label string) (
	hubnode.AssetTransfer, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	tr, ok := f.transfers[label]
	if !ok {
		return hubnode.AssetTransfer{}, fmt.Errorf("%w: %q",
			hubnode.ErrTransferNotFound, label)
	}
	if tr.Height == 0 {
		tr.Height = f.tip + 1
	}
	f.reads[label]++
	if f.reads[label] > f.proofAfter {
		for i := range tr.Outputs {
			if !tr.Outputs[i].Local {
				tr.Outputs[i].Proof = hubnode.ProofDelivered
			}
		}
	}
	return *tr, nil
}

func (f *fakeSender) BlockHeight(context.Context) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tip++
	return f.tip, nil
}

func (f *fakeSender) sendCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sends)
}

// memWithdrawals keeps withdrawals and rounds in memory over a ledger
// MemStore; a transaction that fails leaves both as they were.
type memWithdrawals struct {
	mu     sync.Mutex
	led    *ledger.MemStore
	addrs  map[string]WithdrawAddress
	ws     []Withdrawal
	rounds []Round
}

func newMemWithdrawals() *memWithdrawals {
	return &memWithdrawals{led: ledger.NewMemStore(),
		addrs: map[string]WithdrawAddress{}}
}

func (m *memWithdrawals) SetWithdrawAddress(_ context.Context,
	a WithdrawAddress) error {

	m.mu.Lock()
	defer m.mu.Unlock()
	m.addrs[a.ProviderID] = a
	return nil
}

func (m *memWithdrawals) WithdrawAddress(_ context.Context, p string) (
	WithdrawAddress, error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.addrs[p]
	if !ok {
		return WithdrawAddress{}, ErrNoWithdrawAddress
	}
	return a, nil
}

func (m *memWithdrawals) Withdrawals(_ context.Context, p string) (
	[]Withdrawal, error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Withdrawal
	for _, w := range m.ws {
		if p == "" || w.ProviderID == p {
			out = append(out, w)
		}
	}
	return out, nil
}

func (m *memWithdrawals) PendingRounds(context.Context) ([]Round, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Round
	for _, r := range m.rounds {
		if r.State == outbound.StatusPending {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memWithdrawals) ExecWithdrawals(ctx context.Context,
	fn func(WithdrawTx) error) error {

	m.mu.Lock()
	defer m.mu.Unlock()
	ws, rounds := slices.Clone(m.ws), slices.Clone(m.rounds)
	err := m.led.ExecTx(ctx, func(ltx ledger.TxStore) error {
		return fn(&memWithdrawTx{m: m, ltx: ltx})
	})
	if err != nil {
		m.ws, m.rounds = ws, rounds
	}
	return err
}

type memWithdrawTx struct {
	m   *memWithdrawals
	ltx ledger.TxStore
}

func (t *memWithdrawTx) Ledger() ledger.TxStore { return t.ltx }

func (t *memWithdrawTx) WithdrawalByKey(_ context.Context, p, key string) (
	Withdrawal, error) {

	for _, w := range t.m.ws {
		if w.ProviderID == p && w.Key == key {
			return w, nil
		}
	}
	return Withdrawal{}, ErrWithdrawalNotFound
}

func (t *memWithdrawTx) InsertWithdrawal(_ context.Context, w Withdrawal) (
	int64, error) {

	w.ID = int64(len(t.m.ws) + 1)
	t.m.ws = append(t.m.ws, w)
	return w.ID, nil
}

func (t *memWithdrawTx) QueuedWithdrawals(context.Context) ([]Withdrawal,
	error) {

	var out []Withdrawal
	for _, w := range t.m.ws {
		if w.State == WithdrawalQueued {
			out = append(out, w)
		}
	}
	return out, nil
}

func (t *memWithdrawTx) InsertRound(_ context.Context, r Round) (int64,
	error) {

	r.ID = int64(len(t.m.rounds) + 1)
	t.m.rounds = append(t.m.rounds, r)
	return r.ID, nil
}

func (t *memWithdrawTx) AddToRound(_ context.Context, id, round int64) error {
	w := &t.m.ws[id-1]
	if err := CheckWithdrawalTransition(w.State,
		WithdrawalSending); err != nil {

		return err
	}
	w.State, w.RoundID = WithdrawalSending, round
	return nil
}

func (t *memWithdrawTx) RoundWithdrawals(_ context.Context, round int64) (
	[]Withdrawal, error) {

	var out []Withdrawal
	for _, w := range t.m.ws {
		if w.RoundID == round {
			out = append(out, w)
		}
	}
	return out, nil
}

func (t *memWithdrawTx) ResolveRound(_ context.Context, r Round) error {
	old := &t.m.rounds[r.ID-1]
	if err := outbound.Transition(old.State, r.State); err != nil {
		return err
	}
	*old = r
	return nil
}

func (t *memWithdrawTx) ResolveWithdrawal(_ context.Context,
	w Withdrawal) error {

	old := &t.m.ws[w.ID-1]
	if err := CheckWithdrawalTransition(old.State, w.State); err != nil {
		return err
	}
	*old = w
	return nil
}

// withdrawEnv is a Withdrawer over fakes with a succeeded genesis and
// providers holding shares in custody.
type withdrawEnv struct {
	tapd  *fakeSender
	st    *memWithdrawals
	led   *ledger.Ledger
	mints *memStore
	good  map[string]string
	crash string
	grace time.Duration
}

func newWithdrawEnv(t *testing.T, held map[string]ledger.Shares) *withdrawEnv {
	t.Helper()
	e := &withdrawEnv{tapd: newFakeSender(), st: newMemWithdrawals(),
		mints: &memStore{}, good: map[string]string{},
		grace: time.Millisecond}
	e.led = ledger.New(e.st.led, nil)
	e.mints.mints = append(e.mints.mints, Mint{Name: "s",
		Kind: KindGenesis, Amount: 1, State: outbound.StatusSucceeded,
		GroupKey: shareGroup})
	for p, n := range held {
		_, err := e.led.Post(ctx(t), ledger.TransferShares("issue:"+p,
			"", ledger.ShareSupply(), ledger.ProviderShares(p), n))
		if err != nil {
			t.Fatal(err)
		}
		addr := tapAddress(t, "taprt", p[len(p)-1])
		e.tapd.addrs[addr] = hubnode.TapAddr{Encoded: addr,
			HRP: "taprt", Version: hubnode.AddrV2,
			GroupKey: shareGroup}
		e.good[p] = addr
	}
	return e
}

func (e *withdrawEnv) withdrawer() *Withdrawer {
	return NewWithdrawer(WithdrawConfig{
		Store: e.mints, Withdrawals: e.st, Ledger: e.led,
		Sender: e.tapd, Network: "regtest",
		PollInterval: time.Millisecond, SendGrace: e.grace,
		Retry: outbound.Retry{InitialWait: time.Millisecond,
			MaxWait: time.Millisecond},
		Hook: func(name string) {
			if name == e.crash {
				panic(crash(name))
			}
		},
	})
}

func (e *withdrawEnv) shares(t *testing.T, a ledger.Account) ledger.Shares {
	t.Helper()
	n, err := e.led.ShareBalance(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWithdrawAddress: the address of a provider's withdrawals is checked
// with the hub's tapd, each wrong kind with its own error.
func TestWithdrawAddress(t *testing.T) {
	e := newWithdrawEnv(t, map[string]ledger.Shares{"p1": 5000})
	w := e.withdrawer()

	v1 := tapAddress(t, "taprt", 9)
	e.tapd.addrs[v1] = hubnode.TapAddr{Encoded: v1,
		Version: hubnode.AddrV1, AssetID: []byte{1}}
	other := tapAddress(t, "taprt", 8)
	e.tapd.addrs[other] = hubnode.TapAddr{Encoded: other,
		Version: hubnode.AddrV2, GroupKey: bytes.Repeat([]byte{3}, 33)}
	fixed := tapAddress(t, "taprt", 7)
	e.tapd.addrs[fixed] = hubnode.TapAddr{Encoded: fixed,
		Version: hubnode.AddrV2, GroupKey: shareGroup, Amount: 10}
	bech32Only, _ := bech32.Encode("taprt", []byte{1, 2, 3})

	for _, tc := range []struct {
		name, addr string
		want       error
	}{
		{"empty", " ", ErrBadWithdrawAddress},
		{"not bech32", "taprt1nothing", ErrBadWithdrawAddress},
		{"bech32 not m", bech32Only, ErrBadWithdrawAddress},
		{"mainnet", tapAddress(t, "tapbc", 1), ErrAddrWrongNetwork},
		{"bitcoin", tapAddress(t, "bcrt", 1), ErrAddrWrongNetwork},
		{"unknown to tapd", tapAddress(t, "taprt", 6),
			ErrBadWithdrawAddress},
		{"asset id address", v1, ErrAddrNotGroup},
		{"another group", other, ErrAddrWrongAsset},
		{"fixed amount", fixed, ErrAddrHasAmount},
	} {
		_, err := w.SetAddress(ctx(t), "p1", tc.addr)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := w.Address(ctx(t), "p1"); !errors.Is(err,
		ErrNoWithdrawAddress) {

		t.Fatalf("a refused address was recorded: %v", err)
	}

	a, err := w.SetAddress(ctx(t), "p1", " "+e.good["p1"]+"\n")
	if err != nil || a.Addr != e.good["p1"] ||
		!bytes.Equal(a.GroupKey, shareGroup) {

		t.Fatalf("good address: %+v, %v", a, err)
	}

	// Before the genesis succeeded there is no group to check against.
	e.mints.mints[0].State = outbound.StatusPending
	if _, err := w.SetAddress(ctx(t), "p1", e.good["p1"]); !errors.Is(err,
		ErrNoGenesis) {

		t.Fatalf("address before genesis: %v", err)
	}
}

// TestWithdrawRequest: a withdrawal moves custody → withdrawing at once;
// bad amounts, no address, above custody and a reused key with another
// amount are refused and move nothing.
func TestWithdrawRequest(t *testing.T) {
	e := newWithdrawEnv(t, map[string]ledger.Shares{"p1": 5000})
	w := e.withdrawer()

	if _, _, err := w.Withdraw(ctx(t), "p1", "", 100); !errors.Is(err,
		ErrNoWithdrawAddress) {

		t.Fatalf("no address: %v", err)
	}
	if _, err := w.SetAddress(ctx(t), "p1", e.good["p1"]); err != nil {
		t.Fatal(err)
	}
	for _, n := range []ledger.Shares{0, -1} {
		if _, _, err := w.Withdraw(ctx(t), "p1", "", n); !errors.Is(
			err, ErrBadAmount) {

			t.Fatalf("amount %d: %v", n, err)
		}
	}
	if _, _, err := w.Withdraw(ctx(t), "p1", "", 5001); !errors.Is(err,
		ErrAboveCustody) {

		t.Fatalf("above custody: %v", err)
	}
	if _, _, err := w.Withdraw(ctx(t), "p1", strings.Repeat("k",
		MaxKeyLen+1), 1); !errors.Is(err, ErrBadKey) {

		t.Fatalf("long key: %v", err)
	}

	wd, dup, err := w.Withdraw(ctx(t), "p1", "k1", 1200)
	if err != nil || dup || wd.State != WithdrawalQueued ||
		wd.Addr != e.good["p1"] || wd.Amount != 1200 {

		t.Fatalf("withdraw: %+v, %v, %v", wd, dup, err)
	}
	again, dup, err := w.Withdraw(ctx(t), "p1", "k1", 1200)
	if err != nil || !dup || again.ID != wd.ID {
		t.Fatalf("retry: %+v, %v, %v", again, dup, err)
	}
	if _, _, err := w.Withdraw(ctx(t), "p1", "k1", 1300); !errors.Is(err,
		ledger.ErrIdempotencyConflict) {

		t.Fatalf("key with another amount: %v", err)
	}
	if got := e.shares(t, ledger.ProviderShares("p1")); got != 3800 {
		t.Fatalf("custody %d, want 3800", got)
	}
	if got := e.shares(t, ledger.SharesWithdrawing("p1")); got != 1200 {
		t.Fatalf("withdrawing %d, want 1200", got)
	}
	// What is withdrawing is not in custody any more.
	if _, _, err := w.Withdraw(ctx(t), "p1", "", 3801); !errors.Is(err,
		ErrAboveCustody) {

		t.Fatalf("above what is left: %v", err)
	}

	e.mints.mints = nil
	if _, _, err := w.Withdraw(ctx(t), "p1", "", 1); !errors.Is(err,
		ErrNoGenesis) {

		t.Fatalf("no genesis: %v", err)
	}
}

// queue registers the providers' addresses and queues withdrawals.
func (e *withdrawEnv) queue(t *testing.T, w *Withdrawer,
	reqs ...struct {
		p string
		n ledger.Shares
	}) {

	t.Helper()
	for _, r := range reqs {
		if _, err := w.SetAddress(ctx(t), r.p, e.good[r.p]); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Withdraw(ctx(t), r.p, "", r.n); err != nil {
			t.Fatal(err)
		}
	}
}

type req = struct {
	p string
	n ledger.Shares
}

// TestWithdrawRound: the queued withdrawals of a round go in one send,
// one recipient per address, and the ledger moves them to withdrawn only
// once the send is complete; the supply does not move.
func TestWithdrawRound(t *testing.T) {
	e := newWithdrawEnv(t, map[string]ledger.Shares{"p1": 5000,
		"p2": 3000})
	e.tapd.proofAfter = 3
	w := e.withdrawer()
	e.queue(t, w, req{"p1", 1000}, req{"p2", 700}, req{"p1", 500})

	r, sent, err := w.SendRound(ctx(t))
	if err != nil || !sent || r.State != outbound.StatusSucceeded {
		t.Fatalf("round: %+v, %v, %v", r, sent, err)
	}
	if e.tapd.sendCount() != 1 {
		t.Fatalf("%d sends, want 1", e.tapd.sendCount())
	}
	s := e.tapd.sends[0]
	if !strings.HasPrefix(s.Label, LabelPrefix+"1-") ||
		s.Label != r.Label() || s.FeeRate < hubnode.MinFeeRate {

		t.Fatalf("send %+v", s)
	}
	want := []hubnode.Recipient{{Addr: e.good["p1"], Amount: 1500},
		{Addr: e.good["p2"], Amount: 700}}
	if !slices.Equal(s.Recipients, want) {
		t.Fatalf("recipients %+v, want %+v", s.Recipients, want)
	}
	tr := e.tapd.transfers[s.Label]
	if got := r.Height; got == 0 || got != tr.Height ||
		r.AnchorTxid != tr.AnchorTxid.String() {

		t.Fatalf("round %+v, transfer %+v", r, tr)
	}
	if tip := e.tapd.tip; tr.Confirmations(tip) < DefaultConfirmations {
		t.Fatalf("resolved at %d confirmations",
			tr.Confirmations(tip))
	}

	for p, want := range map[string][3]ledger.Shares{
		"p1": {3500, 0, 1500}, "p2": {2300, 0, 700}} {

		got := [3]ledger.Shares{
			e.shares(t, ledger.ProviderShares(p)),
			e.shares(t, ledger.SharesWithdrawing(p)),
			e.shares(t, ledger.SharesWithdrawn(p)),
		}
		if got != want {
			t.Errorf("%s custody/withdrawing/withdrawn %v, want %v",
				p, got, want)
		}
	}
	if got := e.shares(t, ledger.ShareSupply()); got != -8000 {
		t.Fatalf("supply moved: %d", got)
	}
	ws, _ := w.Withdrawals(ctx(t), "p1")
	if len(ws) != 2 || ws[0].State != WithdrawalDone ||
		ws[1].State != WithdrawalDone || ws[0].RoundID != r.ID {

		t.Fatalf("p1's withdrawals %+v", ws)
	}

	// Nothing queued: no round.
	if _, sent, err := w.SendRound(ctx(t)); err != nil || sent {
		t.Fatalf("empty round: %v, %v", sent, err)
	}
	if e.tapd.sendCount() != 1 {
		t.Fatalf("an empty round sent")
	}
}

// TestWithdrawRoundRefused: a send tapd refuses returns the shares to
// custody.
func TestWithdrawRoundRefused(t *testing.T) {
	e := newWithdrawEnv(t, map[string]ledger.Shares{"p1": 5000})
	e.tapd.refuse = true
	w := e.withdrawer()
	e.queue(t, w, req{"p1", 1000})

	r, sent, err := w.SendRound(ctx(t))
	if !errors.Is(err, ErrWithdrawFailed) || !sent ||
		r.State != outbound.StatusFailed {

		t.Fatalf("refused round: %+v, %v, %v", r, sent, err)
	}
	if got := e.shares(t, ledger.ProviderShares("p1")); got != 5000 {
		t.Fatalf("custody %d after a failed send, want 5000", got)
	}
	if got := e.shares(t, ledger.SharesWithdrawing("p1")); got != 0 {
		t.Fatalf("withdrawing %d after a failed send", got)
	}
	ws, _ := w.Withdrawals(ctx(t), "p1")
	if len(ws) != 1 || ws[0].State != WithdrawalReturned ||
		ws[0].Failure == "" {

		t.Fatalf("withdrawals %+v", ws)
	}
}

// TestWithdrawRoundCrash crashes at each failpoint and resumes: one send,
// and the ledger right.
func TestWithdrawRoundCrash(t *testing.T) {
	for _, at := range []string{withdrawFailpoints.AfterIntent,
		withdrawFailpoints.AfterSend} {

		t.Run(at, func(t *testing.T) {
			e := newWithdrawEnv(t, map[string]ledger.Shares{
				"p1": 5000})
			w := e.withdrawer()
			e.queue(t, w, req{"p1", 1000})

			e.crash = at
			if got := crashed(func() {
				_, _, _ = w.SendRound(ctx(t))
			}); got != at {
				t.Fatalf("crashed at %q, want %q", got, at)
			}
			rounds, _ := e.st.PendingRounds(ctx(t))
			if len(rounds) != 1 {
				t.Fatalf("%d rounds pending after the crash",
					len(rounds))
			}
			if got := e.shares(t, ledger.SharesWithdrawing(
				"p1")); got != 1000 {

				t.Fatalf("withdrawing %d after the crash", got)
			}

			e.crash = ""
			w = e.withdrawer()
			if err := w.Resume(ctx(t)); err != nil {
				t.Fatalf("resume: %v", err)
			}
			if e.tapd.sendCount() != 1 {
				t.Fatalf("%d sends, want 1", e.tapd.sendCount())
			}
			if got := e.shares(t, ledger.SharesWithdrawn(
				"p1")); got != 1000 {

				t.Fatalf("withdrawn %d, want 1000", got)
			}
			if _, sent, err := w.SendRound(ctx(t)); err != nil ||
				sent || e.tapd.sendCount() != 1 {

				t.Fatalf("round after resume: %v, %v, %d sends",
					sent, err, e.tapd.sendCount())
			}
		})
	}
}

// TestWithdrawTrackWaitsOutGrace: a round tapd does not list is sent again
// only once the grace after its intent has passed.
func TestWithdrawTrackWaitsOutGrace(t *testing.T) {
	e := newWithdrawEnv(t, map[string]ledger.Shares{"p1": 5000})
	e.grace = 200 * time.Millisecond
	w := e.withdrawer()
	e.queue(t, w, req{"p1", 1000})
	e.crash = withdrawFailpoints.AfterIntent
	crashed(func() { _, _, _ = w.SendRound(ctx(t)) })
	e.crash = ""

	if err := e.withdrawer().Resume(ctx(t)); err != nil {
		t.Fatalf("resume: %v", err)
	}
	rounds := e.st.rounds
	if waited := time.Since(rounds[0].CreatedAt); waited < e.grace {
		t.Fatalf("sent %v after the intent, grace %v", waited, e.grace)
	}
	if e.tapd.sendCount() != 1 {
		t.Fatalf("%d sends", e.tapd.sendCount())
	}
}

// TestWithdrawalTransitions: the allowed moves of a withdrawal.
func TestWithdrawalTransitions(t *testing.T) {
	all := []WithdrawalState{WithdrawalQueued, WithdrawalSending,
		WithdrawalDone, WithdrawalReturned}
	ok := map[[2]WithdrawalState]bool{
		{WithdrawalQueued, WithdrawalSending}:   true,
		{WithdrawalSending, WithdrawalDone}:     true,
		{WithdrawalSending, WithdrawalReturned}: true,
	}
	for _, from := range all {
		for _, to := range all {
			err := CheckWithdrawalTransition(from, to)
			if (err == nil) != ok[[2]WithdrawalState{from, to}] {
				t.Errorf("%s → %s: %v", from, to, err)
			}
			if err != nil && !errors.Is(err,
				outbound.ErrInvalidTransition) {

				t.Errorf("%s → %s: %v", from, to, err)
			}
		}
		if s, err := ParseWithdrawalState(string(from)); err != nil ||
			s != from {

			t.Errorf("parse %s: %v", from, err)
		}
	}
	if _, err := ParseWithdrawalState("gone"); !errors.Is(err,
		ErrUnknownWithdrawalState) {

		t.Errorf("parse gone: %v", err)
	}
}
