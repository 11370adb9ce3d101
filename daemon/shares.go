package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// tapdTimeout bounds the dial and the network check of tapd at start.
const tapdTimeout = 10 * time.Second

// sharesFeeRate is the share mints' fee rate, sat/kw (about 4 sat/vB).
const sharesFeeRate uint32 = 1000

var (
	// ErrTapdUnreachable means nothing answered at --tapd.host, or its
	// certificate or macaroon could not be read or were refused.
	ErrTapdUnreachable = errors.New("tapd is unreachable")

	// ErrTapdWrongNetwork means tapd runs on another network than
	// --network.
	ErrTapdWrongNetwork = errors.New("tapd is on another network")
)

// tapdMacaroon sends a hex macaroon in the "macaroon" metadata, as tapd
// expects.
type tapdMacaroon string

func (m tapdMacaroon) GetRequestMetadata(context.Context, ...string) (
	map[string]string, error) {

	return map[string]string{"macaroon": string(m)}, nil
}

func (m tapdMacaroon) RequireTransportSecurity() bool { return true }

// ConnectTapd connects to the hub's tapd and checks that it answers and
// runs on network. Errors wrap ErrTapdUnreachable or ErrTapdWrongNetwork.
func ConnectTapd(ctx context.Context, cfg *TapdConfig, network string) (
	*grpc.ClientConn, error) {

	d := net.Dialer{Timeout: tapdTimeout}
	c, err := d.DialContext(ctx, "tcp", cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrTapdUnreachable,
			cfg.Host, err)
	}
	c.Close()

	creds, err := credentials.NewClientTLSFromFile(cfg.TLSPath, "")
	if err != nil {
		return nil, fmt.Errorf("%w: --tapd.tlspath: %v",
			ErrTapdUnreachable, err)
	}
	mac, err := os.ReadFile(cfg.MacaroonPath)
	if err != nil {
		return nil, fmt.Errorf("%w: --tapd.macaroonpath: %v",
			ErrTapdUnreachable, err)
	}
	conn, err := grpc.NewClient(cfg.Host,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(tapdMacaroon(
			hex.EncodeToString(mac))),
	)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrTapdUnreachable,
			cfg.Host, err)
	}

	ctx, cancel := context.WithTimeout(ctx, tapdTimeout)
	defer cancel()
	info, err := taprpc.NewTaprootAssetsClient(conn).GetInfo(ctx,
		&taprpc.GetInfoRequest{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w at %s: %v", ErrTapdUnreachable,
			cfg.Host, err)
	}
	if info.Network != network {
		conn.Close()
		return nil, fmt.Errorf("%w: tapd at %s runs on %s, sluiced on "+
			"%s", ErrTapdWrongNetwork, cfg.Host, info.Network,
			network)
	}

	return conn, nil
}

// sharesLoop is the share asset under the daemon's lifecycle: tapd's
// connection, the resume of a pending genesis, and the withdrawals' loop,
// stopped before the store closes.
type sharesLoop struct {
	manager    *shares.Manager
	withdrawer *shares.Withdrawer
	depositor  *shares.Depositor
	conn       *grpc.ClientConn

	// ctx is the loop's: a genesis asked for over the API runs under
	// it, so that a client that hangs up does not stop it.
	ctx    context.Context
	cancel context.CancelFunc

	// sync is how often the share asset's tranches and burns are
	// synced (tapd.sharessync).
	syncEvery time.Duration
	wg        sync.WaitGroup
}

// newShares connects to tapd and builds the share asset's manager,
// withdrawer and depositor on db; run starts their loops (the leader's
// work). When tapd is unreachable or on another network it logs why and
// returns nil: sluiced runs without shares.
func newShares(ctx context.Context, cfg *Config, db *store.DB,
	hub string, clk clock.Clock, guard func() error) *sharesLoop {

	conn, err := ConnectTapd(ctx, cfg.Tapd, cfg.Network)
	if err != nil {
		log.Warnf("Starting WITHOUT reward shares: %v (shares calls "+
			"answer Unavailable)", err)
		return nil
	}
	minter := hubnode.NewTapdMinter(conn)
	lg := ledger.New(store.NewLedgerStore(db), nil)
	m := shares.NewManager(shares.Config{
		Store:   db,
		Minter:  minter,
		Epochs:  db,
		Burner:  minter,
		Vault:   shares.Vault{Hub: hub, Network: cfg.Network},
		FeeRate: sharesFeeRate,
		Clock:   clk,
		Guard:   guard,
	})
	sender := hubnode.NewTapdSender(conn)
	w := shares.NewWithdrawer(shares.WithdrawConfig{
		Store:         db,
		Withdrawals:   db,
		Ledger:        lg,
		Sender:        sender,
		Network:       cfg.Network,
		FeeRate:       sharesFeeRate,
		RoundInterval: cfg.Tapd.WithdrawInterval,
		Clock:         clk,
		Guard:         guard,
	})
	dep := shares.NewDepositor(shares.DepositConfig{
		Store:    db,
		Deposits: db,
		Ledger:   lg,
		Receiver: hubnode.NewTapdWallet(conn),
		Chain:    sender,
		Interval: cfg.Tapd.DepositInterval,
		Clock:    clk,
	})
	log.Infof("Reward shares on tapd at %s; withdrawals sent every %v, "+
		"deposits credited every %v", cfg.Tapd.Host,
		cfg.Tapd.WithdrawInterval, cfg.Tapd.DepositInterval)

	rctx, cancel := context.WithCancel(context.Background())
	return &sharesLoop{manager: m, withdrawer: w, depositor: dep,
		conn: conn, ctx: rctx, cancel: cancel,
		syncEvery: cfg.Tapd.SharesSync}
}

// run resumes a pending genesis, then runs the share asset's sync, the
// withdrawals' and the deposits' loops until stop: the leader's work.
func (l *sharesLoop) run() {
	m, w, dep, rctx := l.manager, l.withdrawer, l.depositor, l.ctx
	l.wg.Add(3)
	go func() {
		defer l.wg.Done()
		err := m.Resume(rctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Errorf("Share genesis resume: %v", err)
		}
		// Then each closed epoch's tranche and burn, a pending one
		// first.
		err = m.Run(rctx, l.syncEvery)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Errorf("Share sync: %v", err)
		}
	}()
	go func() {
		defer l.wg.Done()
		err := w.Run(rctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Errorf("Share withdrawals: %v", err)
		}
	}()
	go func() {
		defer l.wg.Done()
		err := dep.Run(rctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Errorf("Share deposits: %v", err)
		}
	}()

}

// Genesis mints the share asset's group (shares.Manager.Genesis) under the
// loop's context and waits for it until ctx ends; the mint goes on after
// that, and GetShares shows it.
func (l *sharesLoop) Genesis(ctx context.Context, name string) (shares.Mint,
	error) {

	type result struct {
		m   shares.Mint
		err error
	}
	ch := make(chan result, 1)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		m, err := l.manager.Genesis(l.ctx, name)
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-ctx.Done():
		return shares.Mint{}, ctx.Err()
	}
}

// Asset is the share asset's genesis (shares.Manager.Asset).
func (l *sharesLoop) Asset(ctx context.Context) (shares.Mint, error) {
	return l.manager.Asset(ctx)
}

// EpochOps lists every epoch's tranche and burn (shares.Manager.EpochOps).
func (l *sharesLoop) EpochOps(ctx context.Context) ([]shares.EpochOp,
	error) {

	return l.manager.EpochOps(ctx)
}

// SetWithdrawAddress checks and records a provider's withdrawal address.
func (l *sharesLoop) SetWithdrawAddress(ctx context.Context, providerID,
	addr string) (shares.WithdrawAddress, error) {

	return l.withdrawer.SetAddress(ctx, providerID, addr)
}

// WithdrawAddress returns a provider's withdrawal address.
func (l *sharesLoop) WithdrawAddress(ctx context.Context, providerID string) (
	shares.WithdrawAddress, error) {

	return l.withdrawer.Address(ctx, providerID)
}

// Withdraw queues a withdrawal; the loop sends it in its next round.
func (l *sharesLoop) Withdraw(ctx context.Context, providerID, key string,
	amount ledger.Shares) (shares.Withdrawal, bool, error) {

	return l.withdrawer.Withdraw(ctx, providerID, key, amount)
}

// Withdrawals returns a provider's withdrawals, or everyone's for "".
func (l *sharesLoop) Withdrawals(ctx context.Context, providerID string) (
	[]shares.Withdrawal, error) {

	return l.withdrawer.Withdrawals(ctx, providerID)
}

// DepositAddress returns a provider's deposit address, made the first
// time.
func (l *sharesLoop) DepositAddress(ctx context.Context, providerID string) (
	shares.DepositAddress, error) {

	return l.depositor.Address(ctx, providerID)
}

// Deposits returns a provider's credited deposits, or everyone's for "".
func (l *sharesLoop) Deposits(ctx context.Context, providerID string) (
	[]shares.Deposit, error) {

	return l.depositor.Deposits(ctx, providerID)
}

// CheckSupply is the share asset's check for reconcile: tapd's supply and
// holdings, and what is in flight (shares.CheckCustody).
func (l *sharesLoop) CheckSupply(ctx context.Context) (shares.SupplyCheck,
	error) {

	return shares.CheckCustody(ctx, l.manager, l.withdrawer, l.depositor)
}

// stop ends a resume under way (its intent stays pending for the next
// start) and closes tapd's connection.
func (l *sharesLoop) stop() error {
	l.cancel()
	l.wg.Wait()
	return l.conn.Close()
}
