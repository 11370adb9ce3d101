package shares

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// Defaults of WithdrawConfig.
const (
	// DefaultRoundInterval is how often queued withdrawals are sent.
	DefaultRoundInterval = time.Minute

	// DefaultConfirmations is the depth at which a send is complete:
	// tapd's reorg-safe depth.
	DefaultConfirmations = 6

	// DefaultSendGrace is how long after a round's intent a transfer
	// tapd does not list may still come from a send made before a
	// crash; only after it is the round sent again.
	DefaultSendGrace = 15 * time.Second
)

// MaxKeyLen is the longest idempotency key a withdrawal takes, in bytes.
const MaxKeyLen = 128

// withdrawFailpoints are the rounds' failpoints: after the round's intent
// is written, and once tapd logged its send.
var withdrawFailpoints = outbound.Failpoints{
	AfterIntent: "shares-withdraw-after-intent",
	AfterSend:   "shares-withdraw-after-send",
}

// WithdrawConfig is what a Withdrawer works with.
type WithdrawConfig struct {
	// Store gives the share asset's genesis.
	Store Store

	Withdrawals WithdrawStore
	Ledger      Poster
	Sender      Sender

	// Network is the hub's network: withdrawal addresses must be of
	// it.
	Network string

	// FeeRate is the sends' fee rate in sat/kw; hubnode.MinFeeRate
	// when lower.
	FeeRate uint32

	// RoundInterval is how often Run sends the queued withdrawals;
	// DefaultRoundInterval when zero.
	RoundInterval time.Duration

	// Confirmations is the depth at which a send is complete;
	// DefaultConfirmations when zero.
	Confirmations uint32

	// SendGrace is DefaultSendGrace when zero.
	SendGrace time.Duration

	// PollInterval is how often a send is read until complete;
	// DefaultPollInterval when zero.
	PollInterval time.Duration

	// Clock, Hook, Retry and Guard are as in Config.
	Clock clock.Clock
	Hook  func(name string)
	Retry outbound.Retry
	Guard func() error
}

// Withdrawer takes providers' shares out of the hub's custody to their
// own tapd: addresses, requests, and the rounds that send them.
type Withdrawer struct {
	cfg WithdrawConfig

	// round serializes rounds in this process.
	round sync.Mutex
}

// NewWithdrawer is a Withdrawer over cfg.
func NewWithdrawer(cfg WithdrawConfig) *Withdrawer {
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}
	if cfg.RoundInterval <= 0 {
		cfg.RoundInterval = DefaultRoundInterval
	}
	if cfg.Confirmations == 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	if cfg.SendGrace <= 0 {
		cfg.SendGrace = DefaultSendGrace
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	cfg.FeeRate = max(cfg.FeeRate, hubnode.MinFeeRate)
	return &Withdrawer{cfg: cfg}
}

// genesis is the share asset's genesis once it succeeded; ErrNoGenesis
// before, or while it is pending.
func (w *Withdrawer) genesis(ctx context.Context) (Mint, error) {
	return succeededGenesis(ctx, w.cfg.Store)
}

// succeededGenesis is the share asset's genesis once it succeeded;
// ErrNoGenesis before, or while it is pending.
func succeededGenesis(ctx context.Context, s Store) (Mint, error) {
	g, err := s.Genesis(ctx)
	if err != nil {
		return Mint{}, err
	}
	if g.State != outbound.StatusSucceeded {
		return Mint{}, fmt.Errorf("%w: genesis %q is %v", ErrNoGenesis,
			g.Name, g.State)
	}
	return g, nil
}

// CheckAddress checks that addr can receive the provider's withdrawals:
// a Taproot Asset address (ErrBadWithdrawAddress) of the hub's network
// (ErrAddrWrongNetwork), V2 with a group key (ErrAddrNotGroup), the
// share asset's (ErrAddrWrongAsset), with no amount (ErrAddrHasAmount).
// ErrNoGenesis before the share asset exists.
func (w *Withdrawer) CheckAddress(ctx context.Context, addr string) (
	hubnode.TapAddr, error) {

	g, err := w.genesis(ctx)
	if err != nil {
		return hubnode.TapAddr{}, err
	}
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return hubnode.TapAddr{}, fmt.Errorf("%w: empty",
			ErrBadWithdrawAddress)
	}
	want, err := hubnode.TapHRP(w.cfg.Network)
	if err != nil {
		return hubnode.TapAddr{}, err
	}
	hrp, err := hubnode.AddrHRP(addr)
	if err != nil {
		return hubnode.TapAddr{}, fmt.Errorf("%w: %w",
			ErrBadWithdrawAddress, err)
	}
	if hrp != want {
		return hubnode.TapAddr{}, fmt.Errorf("%w: prefix %q, the "+
			"hub's %s addresses start %q", ErrAddrWrongNetwork, hrp,
			w.cfg.Network, want)
	}
	a, err := w.cfg.Sender.DecodeAddr(ctx, addr)
	switch {
	case errors.Is(err, hubnode.ErrAddrInvalid):
		return hubnode.TapAddr{}, fmt.Errorf("%w: %w",
			ErrBadWithdrawAddress, err)

	case err != nil:
		return hubnode.TapAddr{}, fmt.Errorf("decode address: %w",
			err)

	case a.Version != hubnode.AddrV2 || len(a.GroupKey) == 0:
		return hubnode.TapAddr{}, fmt.Errorf("%w: a %v address of "+
			"asset id %x", ErrAddrNotGroup, a.Version, a.AssetID)

	case !bytes.Equal(a.GroupKey, g.GroupKey):
		return hubnode.TapAddr{}, fmt.Errorf("%w: group key %x, "+
			"the share asset's %x", ErrAddrWrongAsset, a.GroupKey,
			g.GroupKey)

	case a.Amount != 0:
		return hubnode.TapAddr{}, fmt.Errorf("%w: it asks for %d "+
			"units", ErrAddrHasAmount, a.Amount)
	}
	return a, nil
}

// SetAddress checks addr (CheckAddress) and records it as the address the
// provider's withdrawals go to from now on; withdrawals asked for before
// keep theirs.
func (w *Withdrawer) SetAddress(ctx context.Context, providerID,
	addr string) (WithdrawAddress, error) {

	a, err := w.CheckAddress(ctx, addr)
	if err != nil {
		return WithdrawAddress{}, err
	}
	wa := WithdrawAddress{
		ProviderID:   providerID,
		Addr:         a.Encoded,
		GroupKey:     a.GroupKey,
		ProofCourier: a.ProofCourier,
		SetAt:        w.cfg.Clock.Now().UTC(),
	}
	if err := w.cfg.Withdrawals.SetWithdrawAddress(ctx, wa); err != nil {
		return WithdrawAddress{}, fmt.Errorf("withdrawal address of "+
			"%s: %w", providerID, err)
	}
	log.Infof("Provider %s withdraws to %s", providerID, a.Encoded)
	return wa, nil
}

// Address returns the provider's withdrawal address, or an error wrapping
// ErrNoWithdrawAddress.
func (w *Withdrawer) Address(ctx context.Context, providerID string) (
	WithdrawAddress, error) {

	return w.cfg.Withdrawals.WithdrawAddress(ctx, providerID)
}

// randomKey is a fresh idempotency key.
func randomKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Withdraw queues a withdrawal of amount units of the provider's shares in
// custody to its withdrawal address, and moves them provider_shares →
// shares_withdrawing (ledger key "withdraw:<id>") in the same
// transaction. key makes a retry safe (a random one when empty): the
// same key and amount answer the first request, with duplicate true.
// Refused: ErrBadAmount, ErrBadKey, ErrNoGenesis, ErrNoWithdrawAddress,
// ErrAboveCustody, ledger.ErrIdempotencyConflict (the key with another
// amount).
func (w *Withdrawer) Withdraw(ctx context.Context, providerID, key string,
	amount ledger.Shares) (wd Withdrawal, duplicate bool, err error) {

	switch {
	case amount <= 0:
		return Withdrawal{}, false, fmt.Errorf("%w: %d units",
			ErrBadAmount, amount)

	case len(key) > MaxKeyLen:
		return Withdrawal{}, false, fmt.Errorf("%w: %d bytes, at "+
			"most %d", ErrBadKey, len(key), MaxKeyLen)

	case key == "":
		if key, err = randomKey(); err != nil {
			return Withdrawal{}, false, err
		}
	}
	if _, err := w.genesis(ctx); err != nil {
		return Withdrawal{}, false, err
	}
	addr, err := w.cfg.Withdrawals.WithdrawAddress(ctx, providerID)
	if err != nil {
		return Withdrawal{}, false, err
	}

	err = w.cfg.Withdrawals.ExecWithdrawals(ctx, func(tx WithdrawTx) error {
		duplicate = false
		prior, err := tx.WithdrawalByKey(ctx, providerID, key)
		switch {
		case err == nil:
			if prior.Amount != amount {
				return fmt.Errorf("withdraw %d units, first "+
					"%d: %w", amount, prior.Amount,
					ledger.ErrIdempotencyConflict)
			}
			wd, duplicate = prior, true
			return nil

		case !errors.Is(err, ErrWithdrawalNotFound):
			return err
		}

		custody := ledger.ProviderShares(providerID)
		states, err := tx.Ledger().Accounts(ctx,
			[]ledger.Account{custody})
		if err != nil {
			return err
		}
		if held := states[custody].Shares; amount > held {
			return fmt.Errorf("%w: %d units asked, %d in custody",
				ErrAboveCustody, amount, held)
		}

		wd = Withdrawal{
			ProviderID: providerID,
			Key:        key,
			Amount:     amount,
			Addr:       addr.Addr,
			State:      WithdrawalQueued,
			CreatedAt:  w.cfg.Clock.Now().UTC(),
		}
		if wd.ID, err = tx.InsertWithdrawal(ctx, wd); err != nil {
			return err
		}
		_, err = w.cfg.Ledger.PostTx(ctx, tx.Ledger(),
			ledger.TransferShares(wd.LedgerKey(WithdrawalQueued),
				"withdrawal "+strconv.FormatInt(wd.ID, 10)+
					" leaves custody",
				custody, ledger.SharesWithdrawing(providerID),
				amount))
		return err
	})
	if err != nil {
		return Withdrawal{}, false, fmt.Errorf("withdraw for %s: %w",
			providerID, err)
	}
	if !duplicate {
		log.Infof("Provider %s asked to withdraw %v (withdrawal %d) "+
			"to %s", providerID, amount, wd.ID, wd.Addr)
	}
	return wd, duplicate, nil
}

// Withdrawals returns the provider's withdrawals, or everyone's for "",
// oldest first.
func (w *Withdrawer) Withdrawals(ctx context.Context, providerID string) (
	[]Withdrawal, error) {

	return w.cfg.Withdrawals.Withdrawals(ctx, providerID)
}

// Resume follows every round left pending by a crash or a stop to its
// end, tracking its send by label first: it is never sent twice.
func (w *Withdrawer) Resume(ctx context.Context) error {
	w.round.Lock()
	defer w.round.Unlock()
	return w.resume(ctx)
}

// resume is Resume with the round lock held.
func (w *Withdrawer) resume(ctx context.Context) error {
	rounds, err := w.cfg.Withdrawals.PendingRounds(ctx)
	if err != nil {
		return fmt.Errorf("pending withdrawal rounds: %w", err)
	}
	for _, r := range rounds {
		log.Infof("Share withdrawal round %d pending: tracking %s at "+
			"tapd", r.ID, r.Label())
		_, err := w.drive(ctx, r, true)
		if err != nil && !errors.Is(err, ErrWithdrawFailed) {
			return err
		}
	}
	return nil
}

// SendRound finishes any pending round, then sends every queued
// withdrawal in one round: its intent (the round, its withdrawals moved
// to sending) is written in one transaction, then one SendAsset labelled
// with the round pays each address its withdrawals' sum, and the round
// is followed until the send is complete (proofs delivered, Confirmations
// deep) or failed. It returns the round, or false when nothing was
// queued. A failed send returns ErrWithdrawFailed after its shares went
// back to custody. When ctx ends first the round stays pending and Resume
// or the next SendRound takes it up.
func (w *Withdrawer) SendRound(ctx context.Context) (Round, bool, error) {
	w.round.Lock()
	defer w.round.Unlock()
	if err := w.resume(ctx); err != nil {
		return Round{}, false, err
	}

	nonce, err := randomKey()
	if err != nil {
		return Round{}, false, err
	}
	r := Round{
		Nonce:     nonce[:16],
		State:     outbound.StatusPending,
		CreatedAt: w.cfg.Clock.Now().UTC(),
	}
	n := 0
	err = w.cfg.Withdrawals.ExecWithdrawals(ctx, func(tx WithdrawTx) error {
		queued, err := tx.QueuedWithdrawals(ctx)
		if err != nil || len(queued) == 0 {
			n = 0
			return err
		}
		n = len(queued)
		if r.ID, err = tx.InsertRound(ctx, r); err != nil {
			return err
		}
		for _, wd := range queued {
			if err := tx.AddToRound(ctx, wd.ID, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return Round{}, false, fmt.Errorf("withdrawal round: %w", err)

	case n == 0:
		return Round{}, false, nil
	}
	log.Infof("Share withdrawal round %d: intent for %d withdrawals "+
		"written (%s)", r.ID, n, r.Label())

	r, err = w.drive(ctx, r, false)
	return r, true, err
}

// Run sends the queued withdrawals every RoundInterval until ctx ends,
// after resuming the rounds left pending. Errors are logged; the next
// tick tries again.
func (w *Withdrawer) Run(ctx context.Context) error {
	if err := w.Resume(ctx); err != nil && ctx.Err() == nil {
		log.Errorf("Share withdrawals: resume: %v", err)
	}
	for {
		select {
		case <-w.cfg.Clock.TickAfter(w.cfg.RoundInterval):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, _, err := w.SendRound(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()

		case errors.Is(err, ErrWithdrawFailed):
			log.Warnf("Share withdrawals: %v", err)

		case err != nil:
			log.Errorf("Share withdrawals: %v", err)
		}
	}
}

// recipients are the round's withdrawals as a send: each address once,
// paid the sum of its withdrawals, in the order of their first.
func recipients(ws []Withdrawal) []hubnode.Recipient {
	var out []hubnode.Recipient
	at := make(map[string]int)
	for _, wd := range ws {
		i, ok := at[wd.Addr]
		if !ok {
			i = len(out)
			at[wd.Addr] = i
			out = append(out, hubnode.Recipient{Addr: wd.Addr})
		}
		out[i].Amount += uint64(wd.Amount)
	}
	return out
}

// drive gets the pending round r's outcome from tapd, sending it at most
// once, and records it with its withdrawals' ledger moves.
func (w *Withdrawer) drive(ctx context.Context, r Round, resume bool) (
	Round, error) {

	var ws []Withdrawal
	err := w.cfg.Withdrawals.ExecWithdrawals(ctx, func(tx WithdrawTx) error {
		var err error
		ws, err = tx.RoundWithdrawals(ctx, r.ID)
		return err
	})
	if err != nil {
		return Round{}, fmt.Errorf("withdrawal round %d: %w", r.ID, err)
	}
	call := &sendCall{
		sender: w.cfg.Sender,
		send: hubnode.AssetSend{
			Label:      r.Label(),
			FeeRate:    w.cfg.FeeRate,
			Recipients: recipients(ws),
		},
		created: r.CreatedAt,
		grace:   w.cfg.SendGrace,
		confs:   w.cfg.Confirmations,
		poll:    w.cfg.PollInterval,
		clock:   w.cfg.Clock,
	}
	d := outbound.Driver{Hook: w.cfg.Hook, Clock: w.cfg.Clock,
		Retry: w.cfg.Retry, Guard: w.cfg.Guard}
	what := fmt.Sprintf("share withdrawal round %d", r.ID)
	out, err := outbound.Drive(ctx, d, what, call, withdrawFailpoints,
		resume)
	if err != nil {
		return Round{}, err
	}

	r.State, r.Failure = out.Status, out.Failure
	r.ResolvedAt = w.cfg.Clock.Now().UTC()
	to := WithdrawalReturned
	if out.Status == outbound.StatusSucceeded {
		to = WithdrawalDone
		r.AnchorTxid = out.Detail.AnchorTxid.String()
		r.Height = out.Detail.Height
	}
	err = w.cfg.Withdrawals.ExecWithdrawals(ctx, func(tx WithdrawTx) error {
		if err := tx.ResolveRound(ctx, r); err != nil {
			return err
		}
		for _, wd := range ws {
			wd.State, wd.Failure = to, r.Failure
			wd.ResolvedAt = r.ResolvedAt
			if err := tx.ResolveWithdrawal(ctx, wd); err != nil {
				return err
			}
			dest := ledger.SharesWithdrawn(wd.ProviderID)
			if to == WithdrawalReturned {
				dest = ledger.ProviderShares(wd.ProviderID)
			}
			_, err := w.cfg.Ledger.PostTx(ctx, tx.Ledger(),
				ledger.TransferShares(wd.LedgerKey(to),
					"withdrawal "+strconv.FormatInt(wd.ID,
						10)+" "+string(to),
					ledger.SharesWithdrawing(wd.ProviderID),
					dest, wd.Amount))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Round{}, fmt.Errorf("%s: %w", what, err)
	}
	if r.State == outbound.StatusFailed {
		log.Warnf("Share withdrawal round %d failed, %d withdrawals "+
			"back in custody: %s", r.ID, len(ws), r.Failure)
		return r, fmt.Errorf("%w: round %d: %s", ErrWithdrawFailed,
			r.ID, r.Failure)
	}
	log.Infof("Share withdrawal round %d complete: %d withdrawals in "+
		"anchor tx %s at height %d", r.ID, len(ws), r.AnchorTxid,
		r.Height)
	return r, nil
}
