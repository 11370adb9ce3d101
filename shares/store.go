package shares

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// MintKind says what a mint is in the asset's life.
type MintKind string

const (
	// KindGenesis is the group's first mint: at most one not failed.
	KindGenesis MintKind = "genesis"
)

// Mint is a mint of the share asset as stored: its intent, then its
// outcome.
type Mint struct {
	// Name is the asset's name in tapd, unique: tapd's batches are
	// searched by it to find the mint again.
	Name string

	Kind MintKind

	// Amount is the share units minted: the ledger's share supply when
	// the intent was written.
	Amount ledger.Shares

	// MetaJSON is the asset's metadata as sent to tapd.
	MetaJSON []byte

	// State is outbound's: pending from the intent until the batch is
	// final or cancelled.
	State outbound.Status

	// Failure says why a failed mint failed.
	Failure string

	// Set once succeeded: the 33-byte tweaked group key, the 32-byte
	// asset id and the genesis output that anchors the asset.
	GroupKey []byte
	AssetID  []byte
	Anchor   wire.OutPoint

	CreatedAt  time.Time
	ResolvedAt time.Time
}

// Store keeps the share asset's mints. store.DB implements it
// (store/shares_domain.go); no file of this package imports store.
type Store interface {
	// InsertGenesis writes a genesis intent, pending. One when a
	// genesis is pending or succeeded already gives ErrGenesisDone; a
	// mint of the same name, ErrNameTaken.
	InsertGenesis(ctx context.Context, m Mint) error

	// Genesis returns the genesis pending or succeeded, or
	// ErrNoGenesis.
	Genesis(ctx context.Context) (Mint, error)

	// ResolveMint records the outcome (State, Failure and, when
	// succeeded, the asset's fields and ResolvedAt) of the pending mint
	// of m.Name, once: for a mint that is not pending it returns an
	// error wrapping outbound.ErrInvalidTransition.
	ResolveMint(ctx context.Context, m Mint) error
}
