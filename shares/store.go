package shares

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// MintKind says what a mint is in the asset's life.
type MintKind string

const (
	// KindGenesis is the group's first mint: at most one not failed.
	KindGenesis MintKind = "genesis"

	// KindTranche is an epoch's reissuance into the group: the shares
	// the ledger issued up to the epoch's close and tapd has not.
	KindTranche MintKind = "tranche"

	// KindBurn is an epoch's burn: the shares redemptions burned in the
	// ledger up to the epoch's close and tapd has not.
	KindBurn MintKind = "burn"
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

	// Burned is the units redemptions had burned in the ledger when the
	// intent was written: later burns start from there.
	Burned ledger.Shares

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
	// ShareTotals reads the ledger's share supply and the units
	// redemptions burned, at one moment.
	ShareTotals(ctx context.Context) (Totals, error)

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

// Totals is the ledger's share supply and the share units that redemptions
// burned, read at one moment; the units issued until then are their sum.
type Totals struct {
	Supply ledger.Shares
	Burned ledger.Shares
}

// Issued is every unit issued until the totals were read.
func (t Totals) Issued() (ledger.Shares, error) {
	return t.Supply.Add(t.Burned)
}

// ClosedEpoch is a closed reward epoch as the share asset follows it.
type ClosedEpoch struct {
	Number     uint64
	Start, End time.Time

	// Root is the Merkle root of its contributions, Leaves their count.
	Root   chainhash.Hash
	Leaves uint64

	// Issued is the units its reward bought, at the NAV before it
	// (NAVAssets over NAVSupply).
	Issued    ledger.Shares
	NAVAssets ledger.MilliSatoshi
	NAVSupply ledger.Shares

	// Totals are the ledger's at the close, after the reward.
	Totals Totals
}

// EpochOp is an epoch's tranche or burn as stored: its intent, then its
// outcome.
type EpochOp struct {
	// Name is the tranche's asset name (its batch is found by it) or the
	// burn's note.
	Name  string
	Epoch uint64
	Kind  MintKind

	// Amount is the units minted or burned.
	Amount ledger.Shares

	// MetaJSON is a tranche's metadata as sent to tapd.
	MetaJSON []byte

	// SupplyAfter is tapd's supply of the group once the operation
	// succeeded; Burned the ledger's burned units it brings tapd to.
	SupplyAfter ledger.Shares
	Burned      ledger.Shares

	State   outbound.Status
	Failure string

	// Set once a tranche succeeded: its asset id and anchor output.
	AssetID []byte
	Anchor  wire.OutPoint

	// Set once a burn succeeded: its anchor transaction.
	BurnTxid chainhash.Hash

	CreatedAt  time.Time
	ResolvedAt time.Time
}

// EpochStore keeps the epochs' tranches and burns. store.DB implements it.
type EpochStore interface {
	// ClosedEpochs returns up to limit closed epochs numbered from on
	// whose close recorded the ledger's totals, in order.
	ClosedEpochs(ctx context.Context, from uint64, limit int) (
		[]ClosedEpoch, error)

	// LastEpochOp returns the last operation that succeeded, or one
	// wrapping ErrNoEpochOp.
	LastEpochOp(ctx context.Context) (EpochOp, error)

	// PendingEpochOp returns the operation pending, or one wrapping
	// ErrNoEpochOp.
	PendingEpochOp(ctx context.Context) (EpochOp, error)

	// EpochOpAttempts counts an epoch's operations of the kind, failed
	// ones too.
	EpochOpAttempts(ctx context.Context, epoch uint64, kind MintKind) (
		int, error)

	// InsertEpochOp writes op's intent, pending: ErrOpExists when the
	// epoch has one of its kind not failed, or another operation is
	// pending; ErrNameTaken when its name is used.
	InsertEpochOp(ctx context.Context, op EpochOp) error

	// ResolveEpochOp records the outcome of the pending op.Name once;
	// for one not pending an error wrapping
	// outbound.ErrInvalidTransition.
	ResolveEpochOp(ctx context.Context, op EpochOp) error

	// EpochOps lists the operations of epochs numbered above after, in
	// the order they were made.
	EpochOps(ctx context.Context, after uint64) ([]EpochOp, error)
}
