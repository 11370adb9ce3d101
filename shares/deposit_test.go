package shares

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// fakeReceiver is the hub's tapd receiving shares: the addresses it made,
// the receives complete at them and the units each output holds.
type fakeReceiver struct {
	mu       sync.Mutex
	made     []string
	receives []hubnode.AddrReceive
	units    map[string]uint64
	unitsErr error
	tip      uint32
}

func (f *fakeReceiver) NewGroupAddr(_ context.Context, groupKey []byte,
	courier string) (hubnode.TapAddr, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(groupKey, shareGroup) || courier != "" {
		return hubnode.TapAddr{}, fmt.Errorf("address of %x via %q",
			groupKey, courier)
	}
	a := fmt.Sprintf("taprt1hub%d", len(f.made)+1)
	f.made = append(f.made, a)
	return hubnode.TapAddr{Encoded: a, Version: hubnode.AddrV2,
		GroupKey: groupKey}, nil
}

func (f *fakeReceiver) CompletedReceives(context.Context) (
	[]hubnode.AddrReceive, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.receives), nil
}

func (f *fakeReceiver) ReceivedUnits(_ context.Context, groupKey []byte,
	outpoint string) (uint64, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unitsErr != nil {
		return 0, f.unitsErr
	}
	n, ok := f.units[outpoint]
	if !ok || !slices.Equal(groupKey, shareGroup) {
		return 0, hubnode.ErrNoReceivedAssets
	}
	return n, nil
}

func (f *fakeReceiver) BlockHeight(context.Context) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tip, nil
}

// receive has out arrive at addr with units, its anchor in block height.
func (f *fakeReceiver) receive(addr, out string, units uint64,
	height uint32) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.receives = append(f.receives, hubnode.AddrReceive{Addr: addr,
		Outpoint: out, Height: height})
	f.units[out] = units
}

// memDeposits keeps deposit addresses and deposits in memory over a
// ledger MemStore; a transaction that fails leaves both as they were.
type memDeposits struct {
	mu    sync.Mutex
	led   *ledger.MemStore
	addrs map[string]DepositAddress
	deps  []Deposit
}

func (m *memDeposits) InsertDepositAddress(_ context.Context,
	a DepositAddress) (DepositAddress, error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	if have, ok := m.addrs[a.ProviderID]; ok {
		return have, nil
	}
	m.addrs[a.ProviderID] = a
	return a, nil
}

func (m *memDeposits) DepositAddress(_ context.Context, p string) (
	DepositAddress, error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.addrs[p]
	if !ok {
		return DepositAddress{}, ErrNoDepositAddress
	}
	return a, nil
}

func (m *memDeposits) DepositAddresses(context.Context) ([]DepositAddress,
	error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	var out []DepositAddress
	for _, a := range m.addrs {
		out = append(out, a)
	}
	return out, nil
}

func (m *memDeposits) CreditedOutpoints(context.Context) (map[string]bool,
	error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for _, d := range m.deps {
		out[d.Outpoint] = true
	}
	return out, nil
}

func (m *memDeposits) Deposits(_ context.Context, p string) ([]Deposit,
	error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Deposit
	for _, d := range m.deps {
		if p == "" || d.ProviderID == p {
			out = append(out, d)
		}
	}
	return out, nil
}

func (m *memDeposits) SharesOutside(ctx context.Context) (ledger.Shares,
	error) {

	var out ledger.Shares
	err := m.led.ExecTx(ctx, func(ltx ledger.TxStore) error {
		for _, k := range []ledger.AccountKind{
			ledger.KindSharesWithdrawn, ledger.KindSharesDeposited,
		} {
			for _, d := range m.deps {
				a := ledger.Account{Kind: k, Ref: d.ProviderID}
				st, err := ltx.Accounts(ctx,
					[]ledger.Account{a})
				if err != nil {
					return err
				}
				out += st[a].Shares
			}
		}
		return nil
	})
	return out, err
}

func (m *memDeposits) ExecDeposits(ctx context.Context,
	fn func(DepositTx) error) error {

	m.mu.Lock()
	defer m.mu.Unlock()
	deps := slices.Clone(m.deps)
	err := m.led.ExecTx(ctx, func(ltx ledger.TxStore) error {
		return fn(&memDepositTx{m: m, ltx: ltx})
	})
	if err != nil {
		m.deps = deps
	}
	return err
}

type memDepositTx struct {
	m   *memDeposits
	ltx ledger.TxStore
}

func (t *memDepositTx) Ledger() ledger.TxStore { return t.ltx }

func (t *memDepositTx) InsertDeposit(_ context.Context, d Deposit) (int64,
	bool, error) {

	for _, have := range t.m.deps {
		if have.Outpoint == d.Outpoint {
			return 0, false, nil
		}
	}
	d.ID = int64(len(t.m.deps) + 1)
	t.m.deps = append(t.m.deps, d)
	return d.ID, true, nil
}

// depositEnv is a Depositor over fakes, with or without a succeeded
// genesis.
type depositEnv struct {
	tapd  *fakeReceiver
	st    *memDeposits
	led   *ledger.Ledger
	mints *memStore
}

func newDepositEnv(genesis bool) *depositEnv {
	e := &depositEnv{
		tapd: &fakeReceiver{units: map[string]uint64{}, tip: 200},
		st: &memDeposits{led: ledger.NewMemStore(),
			addrs: map[string]DepositAddress{}},
		mints: &memStore{},
	}
	e.led = ledger.New(e.st.led, nil)
	if genesis {
		e.mints.mints = append(e.mints.mints, Mint{Name: "s",
			Kind: KindGenesis, Amount: 1,
			State: outbound.StatusSucceeded, GroupKey: shareGroup})
	}
	return e
}

func (e *depositEnv) depositor() *Depositor {
	return NewDepositor(DepositConfig{Store: e.mints, Deposits: e.st,
		Ledger: e.led, Receiver: e.tapd, Chain: e.tapd})
}

func (e *depositEnv) shares(t *testing.T, a ledger.Account) ledger.Shares {
	t.Helper()
	n, err := e.led.ShareBalance(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDepositAddress: a provider's deposit address is made on the hub's
// tapd once, and none before the genesis.
func TestDepositAddress(t *testing.T) {
	e := newDepositEnv(false)
	d := e.depositor()
	if _, err := d.Address(ctx(t), "p1"); !errors.Is(err, ErrNoGenesis) {
		t.Fatalf("before the genesis: %v", err)
	}
	e.mints.mints = append(e.mints.mints, Mint{Name: "s",
		Kind: KindGenesis, Amount: 1, State: outbound.StatusSucceeded,
		GroupKey: shareGroup})

	a, err := d.Address(ctx(t), "p1")
	if err != nil || a.Addr != "taprt1hub1" || a.ProviderID != "p1" {
		t.Fatalf("address: %+v, %v", a, err)
	}
	again, err := d.Address(ctx(t), "p1")
	if err != nil || again.Addr != a.Addr {
		t.Fatalf("again: %+v, %v", again, err)
	}
	b, err := d.Address(ctx(t), "p2")
	if err != nil || b.Addr == a.Addr {
		t.Fatalf("another provider's: %+v, %v", b, err)
	}
	if len(e.tapd.made) != 2 {
		t.Fatalf("tapd made %d addresses, want 2", len(e.tapd.made))
	}
}

// TestDepositScan: each complete output at a provider's deposit address is
// credited to its custody once it is 6 deep, exactly once; outputs at
// other addresses are not Sluice's.
func TestDepositScan(t *testing.T) {
	e := newDepositEnv(true)
	d := e.depositor()
	a1, err := d.Address(ctx(t), "p1")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := d.Address(ctx(t), "p2")
	if err != nil {
		t.Fatal(err)
	}
	e.tapd.receive(a1.Addr, "aa:0", 700, 190)
	e.tapd.receive("taprt1other", "bb:0", 50, 190)
	e.tapd.receive(a2.Addr, "cc:1", 300, 197) // 4 deep at 200

	got, err := d.Scan(ctx(t))
	if err != nil || len(got) != 1 || got[0].Outpoint != "aa:0" ||
		got[0].Amount != 700 || got[0].ProviderID != "p1" {

		t.Fatalf("scan: %+v, %v", got, err)
	}
	if n := e.shares(t, ledger.ProviderShares("p1")); n != 700 {
		t.Fatalf("p1 holds %v, want 700", n)
	}
	if n := e.shares(t, ledger.SharesDeposited("p1")); n != -700 {
		t.Fatalf("p1's shares_deposited %v, want -700", n)
	}

	// Nothing twice; the shallow one once deep.
	if got, err := d.Scan(ctx(t)); err != nil || len(got) != 0 {
		t.Fatalf("scan again: %+v, %v", got, err)
	}
	e.tapd.tip = 202
	if got, err := d.Scan(ctx(t)); err != nil || len(got) != 1 ||
		got[0].ProviderID != "p2" || got[0].Amount != 300 {

		t.Fatalf("scan once deep: %+v, %v", got, err)
	}

	// A second process that read the credited outpoints before this
	// one wrote them credits nothing: the outpoint is the key.
	dep, ok, err := d.credit(ctx(t), Deposit{Outpoint: "aa:0",
		ProviderID: "p1", Addr: a1.Addr, Amount: 700, Height: 190})
	if err != nil || ok {
		t.Fatalf("credit again: %+v, %v, %v", dep, ok, err)
	}
	if n := e.shares(t, ledger.ProviderShares("p1")); n != 700 {
		t.Fatalf("p1 holds %v after a second credit, want 700", n)
	}
	all, err := d.Deposits(ctx(t), "")
	if err != nil || len(all) != 2 {
		t.Fatalf("deposits: %+v, %v", all, err)
	}
}

// TestDepositScanUnits: an output whose units tapd cannot tell is not
// credited, and is once it can.
func TestDepositScanUnits(t *testing.T) {
	e := newDepositEnv(true)
	d := e.depositor()
	a, err := d.Address(ctx(t), "p1")
	if err != nil {
		t.Fatal(err)
	}
	e.tapd.receive(a.Addr, "aa:0", 500, 150)
	e.tapd.unitsErr = errors.New("tapd down")
	if got, err := d.Scan(ctx(t)); err == nil || len(got) != 0 {
		t.Fatalf("scan without units: %+v, %v", got, err)
	}
	if n := e.shares(t, ledger.ProviderShares("p1")); n != 0 {
		t.Fatalf("p1 holds %v, want 0", n)
	}
	if n, err := d.Uncredited(ctx(t)); err != nil || n != 1 {
		t.Fatalf("uncredited: %d, %v; want 1", n, err)
	}
	e.tapd.unitsErr = nil
	if got, err := d.Scan(ctx(t)); err != nil || len(got) != 1 {
		t.Fatalf("scan: %+v, %v", got, err)
	}
	if n := e.shares(t, ledger.ProviderShares("p1")); n != 500 {
		t.Fatalf("p1 holds %v, want 500", n)
	}
	if n, err := d.Uncredited(ctx(t)); err != nil || n != 0 {
		t.Fatalf("uncredited: %d, %v; want 0", n, err)
	}
	if out, err := e.st.SharesOutside(ctx(t)); err != nil || out != -500 {
		t.Fatalf("outside: %v, %v; want -500 (deposited only)", out,
			err)
	}
}
