package shares

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
)

// Deposits bring shares back into the hub's custody (docs/shares.md
// "Deposit back"): each provider gets one address of the share asset on the
// hub's tapd, and each asset output that arrives at it is credited to the
// provider once, when tapd has its proofs and its anchor is Confirmations
// deep. Nothing is sent, so nothing is an outbound call: a credit is one
// store transaction, keyed by the received outpoint, that a crash either
// wrote or did not.

// DefaultDepositInterval is how often Run looks for received deposits.
const DefaultDepositInterval = 10 * time.Second

// ErrNoDepositAddress is returned when a provider has no deposit address.
var ErrNoDepositAddress = errors.New("no deposit address")

// DepositAddress is a provider's address on the hub's tapd: a V2 group key
// address of the share asset, with no amount, used for every deposit.
type DepositAddress struct {
	ProviderID string

	// Addr is the address, bech32m.
	Addr string

	CreatedAt time.Time
}

// Deposit is one asset output received at a provider's deposit address and
// credited to it.
type Deposit struct {
	ID int64

	// Outpoint is the received anchor output, "txid:index": the
	// deposit's identity.
	Outpoint   string
	ProviderID string
	Addr       string

	// Amount is the share units received.
	Amount ledger.Shares

	// Height is the anchor's block.
	Height uint32

	CreditedAt time.Time
}

// LedgerKey is the idempotency key of the deposit's ledger move,
// "share-deposit:<outpoint>".
func (d Deposit) LedgerKey() string { return "share-deposit:" + d.Outpoint }

// DepositStore keeps deposit addresses and deposits. store.DB implements
// it (store/shares_deposit_domain.go).
type DepositStore interface {
	// InsertDepositAddress records the provider's deposit address
	// unless it has one; either way it returns the one recorded.
	InsertDepositAddress(ctx context.Context, a DepositAddress) (
		DepositAddress, error)

	// DepositAddress returns the provider's deposit address, or an
	// error wrapping ErrNoDepositAddress.
	DepositAddress(ctx context.Context, providerID string) (
		DepositAddress, error)

	// DepositAddresses returns every provider's deposit address.
	DepositAddresses(ctx context.Context) ([]DepositAddress, error)

	// CreditedOutpoints returns the outpoints of every deposit
	// credited.
	CreditedOutpoints(ctx context.Context) (map[string]bool, error)

	// Deposits returns the provider's deposits, or everyone's for "",
	// oldest first.
	Deposits(ctx context.Context, providerID string) ([]Deposit, error)

	// SharesOutside is the shares the ledger has outside the hub's
	// custody: Σ shares_withdrawn + Σ shares_deposited (withdrawn less
	// deposited back).
	SharesOutside(ctx context.Context) (ledger.Shares, error)

	// ExecDeposits runs fn in one store transaction, which commits when
	// fn returns nil. It may run fn more than once.
	ExecDeposits(ctx context.Context, fn func(DepositTx) error) error
}

// DepositTx is one store transaction over deposits and the ledger.
type DepositTx interface {
	// Ledger is the transaction as the ledger's store.
	Ledger() ledger.TxStore

	// InsertDeposit writes a credited deposit and returns its id, or
	// false when its outpoint was credited before.
	InsertDeposit(ctx context.Context, d Deposit) (int64, bool, error)
}

// Receiver is what deposits need of the hub's tapd as a recipient.
// hubnode.TapdWallet implements it.
type Receiver interface {
	// NewGroupAddr makes a V2 address of the group with no amount;
	// courier "" is tapd's own proof courier.
	NewGroupAddr(ctx context.Context, groupKey []byte, courier string) (
		hubnode.TapAddr, error)

	// CompletedReceives returns every complete receive at tapd's
	// addresses.
	CompletedReceives(ctx context.Context) ([]hubnode.AddrReceive,
		error)

	// ReceivedUnits is the units of the group the received output
	// holds.
	ReceivedUnits(ctx context.Context, groupKey []byte, outpoint string) (
		uint64, error)
}

var _ Receiver = (*hubnode.TapdWallet)(nil)

// Heighter reads the chain's height; hubnode.TapdSender implements it.
type Heighter interface {
	BlockHeight(ctx context.Context) (uint32, error)
}

// DepositConfig is what a Depositor works with.
type DepositConfig struct {
	// Store gives the share asset's genesis.
	Store Store

	Deposits DepositStore
	Ledger   Poster
	Receiver Receiver
	Chain    Heighter

	// Confirmations is the depth at which a received output is
	// credited; DefaultConfirmations when zero.
	Confirmations uint32

	// Interval is how often Run looks for deposits;
	// DefaultDepositInterval when zero.
	Interval time.Duration

	Clock clock.Clock
}

// Depositor makes deposit addresses and credits what arrives at them.
type Depositor struct {
	cfg DepositConfig

	// scan serializes scans in this process; the store's unique
	// outpoint keeps two processes from crediting one output twice.
	scan sync.Mutex
}

// NewDepositor is a Depositor over cfg.
func NewDepositor(cfg DepositConfig) *Depositor {
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}
	if cfg.Confirmations == 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultDepositInterval
	}
	return &Depositor{cfg: cfg}
}

// Address returns the provider's deposit address, made on the hub's tapd
// the first time. ErrNoGenesis before the share asset exists.
func (d *Depositor) Address(ctx context.Context, providerID string) (
	DepositAddress, error) {

	a, err := d.cfg.Deposits.DepositAddress(ctx, providerID)
	if !errors.Is(err, ErrNoDepositAddress) {
		return a, err
	}
	g, err := succeededGenesis(ctx, d.cfg.Store)
	if err != nil {
		return DepositAddress{}, err
	}
	made, err := d.cfg.Receiver.NewGroupAddr(ctx, g.GroupKey, "")
	if err != nil {
		return DepositAddress{}, fmt.Errorf("deposit address of %s: "+
			"hub tapd: %w", providerID, err)
	}
	// Two requests at once may each make one: the first recorded
	// stays, and the other address is never shown.
	a, err = d.cfg.Deposits.InsertDepositAddress(ctx, DepositAddress{
		ProviderID: providerID,
		Addr:       made.Encoded,
		CreatedAt:  d.cfg.Clock.Now().UTC(),
	})
	if err != nil {
		return DepositAddress{}, fmt.Errorf("deposit address of %s: "+
			"%w", providerID, err)
	}
	log.Infof("Provider %s deposits shares at %s", providerID, a.Addr)
	return a, nil
}

// Deposits returns the provider's deposits, or everyone's for "", oldest
// first.
func (d *Depositor) Deposits(ctx context.Context, providerID string) (
	[]Deposit, error) {

	return d.cfg.Deposits.Deposits(ctx, providerID)
}

// Uncredited counts the complete receives at deposit addresses that are
// not credited yet (not Confirmations deep, or not scanned yet): the hub's
// tapd holds them, custody does not yet.
func (d *Depositor) Uncredited(ctx context.Context) (int, error) {
	addrs, err := d.cfg.Deposits.DepositAddresses(ctx)
	if err != nil || len(addrs) == 0 {
		return 0, err
	}
	ours := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		ours[a.Addr] = true
	}
	receives, err := d.cfg.Receiver.CompletedReceives(ctx)
	if err != nil {
		return 0, fmt.Errorf("share deposits: %w", err)
	}
	credited, err := d.cfg.Deposits.CreditedOutpoints(ctx)
	if err != nil {
		return 0, fmt.Errorf("share deposits: %w", err)
	}
	n := 0
	for _, r := range receives {
		if ours[r.Addr] && !credited[r.Outpoint] {
			n++
		}
	}
	return n, nil
}

// Scan credits every complete receive at a deposit address that is
// Confirmations deep and not credited yet, each in one transaction with
// its ledger move (shares_deposited → provider_shares), and returns the
// deposits it credited.
func (d *Depositor) Scan(ctx context.Context) ([]Deposit, error) {
	d.scan.Lock()
	defer d.scan.Unlock()

	addrs, err := d.cfg.Deposits.DepositAddresses(ctx)
	if err != nil || len(addrs) == 0 {
		return nil, err
	}
	g, err := succeededGenesis(ctx, d.cfg.Store)
	if err != nil {
		return nil, err
	}
	owner := make(map[string]string, len(addrs))
	for _, a := range addrs {
		owner[a.Addr] = a.ProviderID
	}
	receives, err := d.cfg.Receiver.CompletedReceives(ctx)
	if err != nil {
		return nil, fmt.Errorf("share deposits: %w", err)
	}
	credited, err := d.cfg.Deposits.CreditedOutpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("share deposits: %w", err)
	}
	var tip uint32
	var out []Deposit
	for _, r := range receives {
		provider, ours := owner[r.Addr]
		if !ours || credited[r.Outpoint] {
			continue
		}
		if tip == 0 {
			if tip, err = d.cfg.Chain.BlockHeight(ctx); err != nil {
				return out, fmt.Errorf("share deposits: %w",
					err)
			}
		}
		deep := hubnode.AssetTransfer{Height: r.Height}
		if deep.Confirmations(tip) < d.cfg.Confirmations {
			continue
		}
		units, err := d.cfg.Receiver.ReceivedUnits(ctx, g.GroupKey,
			r.Outpoint)
		if err != nil {
			return out, fmt.Errorf("share deposit %s: %w",
				r.Outpoint, err)
		}
		dep, ok, err := d.credit(ctx, Deposit{
			Outpoint:   r.Outpoint,
			ProviderID: provider,
			Addr:       r.Addr,
			Amount:     ledger.Shares(units),
			Height:     r.Height,
			CreditedAt: d.cfg.Clock.Now().UTC(),
		})
		if err != nil {
			return out, err
		}
		credited[r.Outpoint] = true
		if ok {
			out = append(out, dep)
		}
	}
	return out, nil
}

// credit writes the deposit and its ledger move in one transaction; false
// when the outpoint was credited already.
func (d *Depositor) credit(ctx context.Context, dep Deposit) (Deposit, bool,
	error) {

	if dep.Amount <= 0 {
		return Deposit{}, false, fmt.Errorf("share deposit %s: %d "+
			"units", dep.Outpoint, dep.Amount)
	}
	var inserted bool
	err := d.cfg.Deposits.ExecDeposits(ctx, func(tx DepositTx) error {
		var err error
		dep.ID, inserted, err = tx.InsertDeposit(ctx, dep)
		if err != nil || !inserted {
			return err
		}
		_, err = d.cfg.Ledger.PostTx(ctx, tx.Ledger(),
			ledger.TransferShares(dep.LedgerKey(),
				"shares deposited at "+dep.Outpoint,
				ledger.SharesDeposited(dep.ProviderID),
				ledger.ProviderShares(dep.ProviderID),
				dep.Amount))
		return err
	})
	if err != nil {
		return Deposit{}, false, fmt.Errorf("credit share deposit %s: "+
			"%w", dep.Outpoint, err)
	}
	if inserted {
		log.Infof("Provider %s deposited %v at %s (deposit %d)",
			dep.ProviderID, dep.Amount, dep.Outpoint, dep.ID)
	}
	return dep, inserted, nil
}

// Run credits deposits every Interval until ctx ends. Errors are logged;
// the next tick tries again.
func (d *Depositor) Run(ctx context.Context) error {
	for {
		select {
		case <-d.cfg.Clock.TickAfter(d.cfg.Interval):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := d.Scan(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()

		case errors.Is(err, ErrNoGenesis):

		case err != nil:
			log.Errorf("Share deposits: %v", err)
		}
	}
}
