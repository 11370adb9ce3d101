package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/yield"
)

// Compile-time check that the strategy is an allocator.
var _ yield.Allocator = (*Strategy)(nil)

// MaxKeyLen is the longest idempotency key a request takes, in bytes.
const MaxKeyLen = 128

// Strategy is the lease strategy: it sells leases (Request), and as the
// vault's allocator accepts paid ones, follows their channels and
// recognises their premium. Any number of goroutines may call its
// methods; the vault calls Execute and Harvest one at a time.
type Strategy struct {
	cfg      Config
	node     Node
	invoices Invoices
	store    Store
	vault    Vault
	clock    clock.Clock
}

// New returns the strategy; clk nil is the wall clock. A Config it cannot
// run with gives an error wrapping ErrInvalidConfig.
func New(cfg Config, node Node, invoices Invoices, store Store,
	vault Vault, clk clock.Clock) (*Strategy, error) {

	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if node == nil || invoices == nil || store == nil || vault == nil {
		return nil, fmt.Errorf("%w: a node, invoices, a store and "+
			"the vault are needed", ErrInvalidConfig)
	}
	if clk == nil {
		clk = clock.NewDefaultClock()
	}
	return &Strategy{cfg: cfg, node: node, invoices: invoices,
		store: store, vault: vault, clock: clk}, nil
}

// Name is Name.
func (s *Strategy) Name() string { return Name }

// Config returns the strategy's config, defaults filled in.
func (s *Strategy) Config() Config { return s.cfg }

// Info is what get_info tells a buyer: the limits and the rate.
type Info struct {
	MinCapacity     btcutil.Amount
	MaxCapacity     btcutil.Amount
	MinBlocks       uint32
	MaxBlocks       uint32
	RatePPB         uint64
	Floor           ledger.MilliSatoshi
	FundingConfirms uint32

	// Available is what the strategy could lease now, in sat (rounded
	// down); Killed says it sells nothing now.
	Available btcutil.Amount
	Killed    bool
}

// Info returns the strategy's limits, rate and what it could lease now.
func (s *Strategy) Info(ctx context.Context) (Info, error) {
	room, killed, err := s.room(ctx)
	if err != nil {
		return Info{}, err
	}
	return Info{
		MinCapacity:     s.cfg.MinCapacity,
		MaxCapacity:     s.cfg.MaxCapacity,
		MinBlocks:       s.cfg.MinBlocks,
		MaxBlocks:       s.cfg.MaxBlocks,
		RatePPB:         s.cfg.RatePPB,
		Floor:           s.cfg.Floor,
		FundingConfirms: s.cfg.FundingConfirms,
		Available:       btcutil.Amount(room.ToSatoshisFloor()),
		Killed:          killed,
	}, nil
}

// Request is a buyer's order (LSPS1 create_order).
type Request struct {
	// Node is the buyer's node key, hex.
	Node string

	// Capacity is lsp_balance_sat; Blocks channel_expiry_blocks.
	Capacity btcutil.Amount
	Blocks   uint32

	// Key, when set, makes the request idempotent: the same key
	// returns the lease stored for it.
	Key string
}

// room is what the strategy may lease now: the least of its cap less its
// principal and the idle vault above the floor, less the capacity of the
// leases awaiting payment or paid and not yet accepted (sold, not yet
// allocated). killed says the kill switch is on.
func (s *Strategy) room(ctx context.Context) (ledger.MilliSatoshi, bool,
	error) {

	room, _, killed, err := s.roomDetail(ctx)
	return room, killed, err
}

// roomDetail is room, with the limit that binds for a refusal.
func (s *Strategy) roomDetail(ctx context.Context) (ledger.MilliSatoshi,
	string, bool, error) {

	settings, err := s.vault.StrategySettingsAll(ctx)
	if err != nil {
		return 0, "", false, fmt.Errorf("strategy settings: %w", err)
	}
	killed := settings[Name].Killed
	st, err := s.vault.State(ctx)
	if err != nil {
		return 0, "", false, err
	}
	sold, err := s.sold(ctx)
	if err != nil {
		return 0, "", false, err
	}
	var capRoom, free ledger.MilliSatoshi
	if c, ok := st.Policy.Caps[Name]; ok && c > st.Strategies[Name] {
		capRoom = c - st.Strategies[Name]
	}
	if st.Idle > st.Floor && !st.Policy.Shutdown {
		free = st.Idle - st.Floor
	}
	limit, room := "cap of "+Name, capRoom
	if free < capRoom {
		limit, room = "liquid floor", free
	}
	room -= sold
	if room < 0 {
		room = 0
	}
	return room, limit, killed, nil
}

// sold is the capacity of leases sold and not yet allocated.
func (s *Strategy) sold(ctx context.Context) (ledger.MilliSatoshi, error) {
	leases, err := s.store.Leases(ctx, Filter{States: []State{
		StateAwaitingPayment, StatePaid}})
	if err != nil {
		return 0, fmt.Errorf("leases: %w", err)
	}
	var sum ledger.MilliSatoshi
	for _, l := range leases {
		if sum, err = sum.Add(l.Principal()); err != nil {
			return 0, err
		}
	}
	return sum, nil
}

// checkRequest refuses what the limits refuse, cheapest check first.
func (s *Strategy) checkRequest(req Request) (route.Vertex, error) {
	switch {
	case len(req.Key) > MaxKeyLen:
		return route.Vertex{}, fmt.Errorf("%w: key: %d bytes, at most "+
			"%d", ErrInvalidRequest, len(req.Key), MaxKeyLen)

	case req.Capacity < s.cfg.MinCapacity:
		return route.Vertex{}, fmt.Errorf("%w: lsp_balance_sat %d is "+
			"below %d", ErrCapacityTooSmall, int64(req.Capacity),
			int64(s.cfg.MinCapacity))

	case req.Capacity > s.cfg.MaxCapacity:
		return route.Vertex{}, fmt.Errorf("%w: lsp_balance_sat %d is "+
			"above %d", ErrCapacityTooLarge, int64(req.Capacity),
			int64(s.cfg.MaxCapacity))

	case req.Blocks < s.cfg.MinBlocks || req.Blocks > s.cfg.MaxBlocks:
		return route.Vertex{}, fmt.Errorf("%w: channel_expiry_blocks "+
			"%d is outside [%d, %d]", ErrBlocksOutOfRange,
			req.Blocks, s.cfg.MinBlocks, s.cfg.MaxBlocks)
	}
	node, err := route.NewVertexFromStr(req.Node)
	if err != nil {
		return route.Vertex{}, fmt.Errorf("%w: node %q is not a "+
			"compressed public key in hex: %w", ErrUnknownPeer,
			req.Node, err)
	}
	return node, nil
}

// Request sells a lease: it checks the request against the limits, the
// kill switch and the room the vault leaves, quotes it, stores it with a
// fresh preimage and then asks lnd for the hold invoice of its premium.
// A request with a key stored before returns that lease (its invoice made
// now if a crash left it unmade), or ErrKeyReused when it asked for
// another node, capacity or blocks.
//
// Refusals: ErrInvalidRequest, ErrCapacityTooSmall, ErrCapacityTooLarge,
// ErrBlocksOutOfRange, ErrUnknownPeer, ErrKilled, and ErrNoRoom with a
// *yield.LimitError.
func (s *Strategy) Request(ctx context.Context, req Request) (Lease,
	error) {

	node, err := s.checkRequest(req)
	if err != nil {
		return Lease{}, err
	}
	if req.Key != "" {
		l, found, err := s.byKey(ctx, req.Key)
		if err != nil {
			return Lease{}, err
		}
		if found {
			if l.Node != node || l.Capacity != req.Capacity ||
				l.Blocks != req.Blocks {

				return Lease{}, fmt.Errorf("%w: key %q is "+
					"lease %s of %d sat for %d blocks to "+
					"%v", ErrKeyReused, req.Key, l.ID,
					int64(l.Capacity), l.Blocks, l.Node)
			}
			return s.invoice(ctx, l)
		}
	}

	// The hub must be able to reach the node: its graph knows where,
	// or it is connected now (an LSPS1 client connects to its LSP
	// before it orders, and a new node has no announcement yet).
	_, err = s.node.NodeInfo(ctx, node)
	switch {
	case errors.Is(err, lightning.ErrNodeNotFound):
		connected, err := s.node.Connected(ctx, node)
		if err != nil {
			return Lease{}, err
		}
		if !connected {
			return Lease{}, fmt.Errorf("%w: %v is neither in the "+
				"hub's graph nor connected to the hub",
				ErrUnknownPeer, node)
		}

	case err != nil:
		return Lease{}, err
	}

	room, limit, killed, err := s.roomDetail(ctx)
	if err != nil {
		return Lease{}, err
	}
	capacity := ledger.MilliSatoshi(int64(req.Capacity) *
		ledger.MsatPerSat)
	switch {
	case killed:
		return Lease{}, ErrKilled

	case capacity > room:
		return Lease{}, fmt.Errorf("%w: %w", ErrNoRoom,
			&yield.LimitError{Limit: limit + " less leases sold",
				Unit: "msat", Have: int64(room),
				Want: int64(capacity)})
	}

	premium, err := Quote(req.Capacity, req.Blocks, s.cfg.RatePPB,
		s.cfg.Floor)
	if err != nil {
		return Lease{}, err
	}
	id, err := newID()
	if err != nil {
		return Lease{}, err
	}
	preimage, err := newPreimage()
	if err != nil {
		return Lease{}, err
	}
	now := s.clock.Now().UTC()
	l, created, err := s.store.InsertLease(ctx, Lease{
		ID:               id,
		Key:              req.Key,
		Node:             node,
		Capacity:         req.Capacity,
		Blocks:           req.Blocks,
		RatePPB:          s.cfg.RatePPB,
		Premium:          premium,
		Preimage:         preimage,
		Hash:             preimage.Hash(),
		InvoiceExpiresAt: now.Add(s.cfg.InvoiceExpiry),
		State:            StateAwaitingPayment,
		CreatedAt:        now,
		UpdatedAt:        now,
	})
	if err != nil {
		return Lease{}, fmt.Errorf("store lease: %w", err)
	}
	if !created && (l.Node != node || l.Capacity != req.Capacity ||
		l.Blocks != req.Blocks) {

		return Lease{}, fmt.Errorf("%w: key %q is lease %s",
			ErrKeyReused, req.Key, l.ID)
	}
	if created {
		log.Infof("Lease %s: %d sat to %v for %d blocks, premium %v",
			l.ID, int64(l.Capacity), l.Node, l.Blocks, l.Premium)
	}
	return s.invoice(ctx, l)
}

// byKey finds the lease stored for key.
func (s *Strategy) byKey(ctx context.Context, key string) (Lease, bool,
	error) {

	l, err := s.store.LeaseByKey(ctx, key)
	switch {
	case errors.Is(err, ErrLeaseNotFound):
		return Lease{}, false, nil

	case err != nil:
		return Lease{}, false, err
	}
	return l, true, nil
}

// invoice makes the lease's hold invoice unless it has one, and records
// its payment request.
func (s *Strategy) invoice(ctx context.Context, l Lease) (Lease, error) {
	if l.PayReq != "" || l.State != StateAwaitingPayment {
		return l, nil
	}
	payReq, err := s.invoices.AddHold(ctx, hubnode.HoldRequest{
		Hash:       l.Hash,
		Amount:     lnwire.MilliSatoshi(l.Premium),
		Memo:       InvoiceMemo(l.ID),
		Expiry:     s.cfg.InvoiceExpiry,
		CltvExpiry: uint64(s.cfg.CltvExpiry),
	})
	if err != nil {
		return Lease{}, fmt.Errorf("lease %s: hold invoice: %w", l.ID,
			err)
	}
	l.PayReq = payReq
	l.UpdatedAt = s.clock.Now().UTC()
	err = s.store.UpdateLease(ctx, l, StateAwaitingPayment)
	if err != nil {
		return Lease{}, fmt.Errorf("lease %s: record invoice: %w",
			l.ID, err)
	}
	return l, nil
}

// Lease returns the lease with the id; ErrLeaseNotFound.
func (s *Strategy) Lease(ctx context.Context, id string) (Lease, error) {
	return s.store.Lease(ctx, id)
}

// Leases returns the leases f selects, oldest first.
func (s *Strategy) Leases(ctx context.Context, f Filter) ([]Lease, error) {
	return s.store.Leases(ctx, f)
}

// Observe reports the leases that hold capital as positions, and each
// paid lease as a fact "paid:<id>", what a plan depends on.
func (s *Strategy) Observe(ctx context.Context) (yield.Observation, error) {
	leases, err := s.store.Leases(ctx, Filter{})
	if err != nil {
		return yield.Observation{}, fmt.Errorf("leases: %w", err)
	}
	var obs yield.Observation
	for _, l := range leases {
		switch {
		case l.State.Holds():
			obs.Positions = append(obs.Positions, yield.Position{
				ID:        l.ID,
				Peer:      l.Node.String(),
				Principal: l.Principal(),
				Status:    string(l.State),
			})

		case l.State == StatePaid:
			obs.Facts = append(obs.Facts, "paid:"+l.ID)
		}
	}
	return obs, nil
}

// Propose accepts each paid lease, oldest first, while the room and the
// budget allow: the capital is its capacity, the expected cost lnd's
// estimate of the open's fee. A lease that does not fit is left out with
// why, and stays paid: the harvest gives its payment back if no plan
// accepts it before the payment's expiry nears.
func (s *Strategy) Propose(ctx context.Context, obs yield.Observation,
	room yield.Room) (yield.Proposal, error) {

	var prop yield.Proposal
	newLeft, budget := room.New, room.Budget
	for _, fact := range obs.Facts {
		id, ok := strings.CutPrefix(fact, "paid:")
		if !ok {
			continue
		}
		leftOut := func(reason string) {
			prop.LeftOut = append(prop.LeftOut, yield.LeftOut{
				Strategy: Name, Target: id, Reason: reason,
			})
		}
		l, err := s.store.Lease(ctx, id)
		if err != nil {
			return yield.Proposal{}, err
		}
		if l.State != StatePaid {
			leftOut("no longer paid: " + string(l.State))
			continue
		}
		if room.Killed {
			leftOut("the strategy's kill switch is on")
			continue
		}
		amt := l.Principal()
		if amt > newLeft {
			leftOut(fmt.Sprintf("room %d sat below the capacity "+
				"%d sat", newLeft.ToSatoshisFloor(),
				int64(l.Capacity)))
			continue
		}
		fee, err := s.node.EstimateOpenFee(ctx, l.Capacity,
			int32(s.cfg.FundingConfirms))
		if errors.Is(err, hubnode.ErrInsufficientFunds) {
			leftOut("the hub's wallet cannot fund it: " +
				err.Error())
			continue
		}
		if err != nil {
			return yield.Proposal{}, fmt.Errorf("lease %s: %w",
				l.ID, err)
		}
		cost := ledger.MilliSatoshi(int64(fee) * ledger.MsatPerSat)
		if !room.Unlimited && cost > budget {
			leftOut(fmt.Sprintf("expected cost %d msat over the "+
				"budget left %d msat", int64(cost),
				int64(budget)))
			continue
		}
		newLeft -= amt
		budget -= cost
		prop.Actions = append(prop.Actions, yield.Action{
			Strategy:     Name,
			Kind:         yield.ActionLeaseAccept,
			Target:       l.ID,
			Amount:       amt,
			ExpectedCost: cost,
			Reason: fmt.Sprintf("paid lease %s: %d sat for %d "+
				"blocks, premium %d msat", l.ID,
				int64(l.Capacity), l.Blocks, int64(l.Premium)),
		})
	}
	return prop, nil
}

// now is the strategy clock's time, UTC.
func (s *Strategy) now() time.Time { return s.clock.Now().UTC() }
