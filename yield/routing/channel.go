package routing

import (
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
)

// ChannelStatus is where one of the strategy's channels is. A channel
// only moves forward: opening → open → closing → closed, any of them
// straight to closed (a force close, a funding that never confirmed), and
// opening to failed when lnd refused the open.
type ChannelStatus string

// The channel statuses, as the store keeps them.
const (
	// StatusOpening: the open was recorded before lnd was asked, or
	// lnd has its funding transaction unconfirmed.
	StatusOpening ChannelStatus = "opening"

	// StatusOpen: the funding transaction confirmed; the channel
	// forwards.
	StatusOpen ChannelStatus = "open"

	// StatusClosing: a close was asked for or seen; the closing
	// transaction is not confirmed yet.
	StatusClosing ChannelStatus = "closing"

	// StatusClosed: lnd reports the channel closed; its capital returns
	// to the vault once its last forwards and the close's fee are
	// posted.
	StatusClosed ChannelStatus = "closed"

	// StatusFailed: lnd refused the open for good. No capital left the
	// wallet; the vault returns the action's capital itself, so the
	// strategy returns nothing for it.
	StatusFailed ChannelStatus = "failed"
)

// rank orders the statuses along a channel's life; failed and closed
// are both last.
func (s ChannelStatus) rank() int {
	switch s {
	case StatusOpening:
		return 1
	case StatusOpen:
		return 2
	case StatusClosing:
		return 3
	case StatusClosed, StatusFailed:
		return 4
	}
	return 0
}

// Valid reports whether s is one of the statuses.
func (s ChannelStatus) Valid() bool {
	return s.rank() > 0
}

// CanMoveTo reports whether a channel in s may be recorded in next: only
// forward, and failed only from opening.
func (s ChannelStatus) CanMoveTo(next ChannelStatus) bool {
	switch {
	case !s.Valid() || !next.Valid():
		return false
	case next == StatusFailed:
		return s == StatusOpening || s == StatusFailed
	case s == StatusFailed:
		return false
	}
	return next.rank() >= s.rank()
}

// Channel is one channel the strategy opened, as its row keeps it.
type Channel struct {
	// ActionID is the id of the plan's open action: one row per
	// action.
	ActionID int64

	// ChanPoint is the funding outpoint, "txid:index"; empty until lnd
	// answered the open.
	ChanPoint string

	// Peer is the node at the other end.
	Peer route.Vertex

	// Capacity is the channel's capacity, the principal it holds.
	Capacity ledger.MilliSatoshi

	// Memo is what the open left on lnd's channel: "sluice-yield-<id>".
	Memo string

	Status ChannelStatus

	// ShortChanID is lnd's short channel id, 0 until the funding
	// transaction confirmed.
	ShortChanID uint64

	// OpenHeight is the block the funding transaction confirmed in, 0
	// until then.
	OpenHeight uint32

	// OpenedAt is when the open was recorded, before lnd was asked: the
	// Start of the query for the channel's forwards, so none is earlier.
	OpenedAt time.Time

	// OpenTxid is the funding transaction's id, empty until known.
	OpenTxid string

	// OpenCostPosted says the funding transaction's chain fee is posted.
	OpenCostPosted bool

	// CloseTxid is the closing transaction's id, empty until known.
	CloseTxid string

	// CloseCostPosted says the close is settled as far as its chain
	// fee goes: posted, or known to be the peer's to pay.
	CloseCostPosted bool

	// Returned says the capacity went back to the idle vault.
	Returned bool

	UpdatedAt time.Time
}

// ID names the channel among the strategy's positions: its channel point,
// or "action:<id>" while lnd has not answered the open.
func (c Channel) ID() string {
	if c.ChanPoint != "" {
		return c.ChanPoint
	}
	return fmt.Sprintf("action:%d", c.ActionID)
}

// Memo returns the memo an open action leaves on its channel in lnd, by
// which a crashed open is found again.
func Memo(actionID int64) string {
	return fmt.Sprintf("sluice-yield-%d", actionID)
}
