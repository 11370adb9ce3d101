package lease

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/bits"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

// Lease is one lease as its row keeps it.
type Lease struct {
	// ID is random, 16 bytes in hex.
	ID string

	// Key is the client's idempotency key, empty when none was given:
	// a request with a key stored before returns that lease.
	Key string

	// Node is the buyer: the node the channel is opened to.
	Node route.Vertex

	// Capacity is the channel's size (LSPS1's lsp_balance_sat), all of
	// it the hub's; Blocks how long it is leased
	// (channel_expiry_blocks).
	Capacity btcutil.Amount
	Blocks   uint32

	// RatePPB is the rate it was quoted at, parts per billion of the
	// capacity per block; Premium what it costs.
	RatePPB uint64
	Premium ledger.MilliSatoshi

	// Preimage is stored before the invoice is made; Hash is its hash,
	// the hold invoice's payment hash.
	Preimage lntypes.Preimage
	Hash     lntypes.Hash

	// PayReq is the hold invoice, empty until lnd made it;
	// InvoiceExpiresAt when it can no longer be paid.
	PayReq           string
	InvoiceExpiresAt time.Time

	State State

	// Reason says why a lease was cancelled, failed or ended early.
	Reason string

	// ActionID is the plan action that accepted it, 0 before.
	ActionID int64

	// ChanPoint is the channel's funding outpoint, "txid:index", empty
	// until lnd answered the open.
	ChanPoint string

	// HTLCExpiry is the lowest expiry height of the held payment's
	// HTLCs: the hub must settle or cancel before it.
	HTLCExpiry uint32

	// StartHeight is the block that confirmed the funding transaction,
	// ExpiryHeight StartHeight + Blocks; both 0 until the lease is
	// active.
	StartHeight  uint32
	ExpiryHeight uint32

	// Settled says the invoice was settled: the premium is the hub's
	// and is recognised over the blocks.
	Settled bool

	// InvoiceDone says lnd has the invoice settled or cancelled: the
	// strategy has nothing more to do with it.
	InvoiceDone bool

	// Recognised is the premium recognised so far (the ledger is the
	// record; this is what the last harvest posted up to), and
	// RecognisedHeight the height it was recognised at.
	Recognised       ledger.MilliSatoshi
	RecognisedHeight uint32

	// OpenCostPosted says the funding transaction's chain fee is
	// posted.
	OpenCostPosted bool

	// CloseTxid is the closing transaction, empty until published;
	// CloseCostPosted says its fee is settled in the books (posted, or
	// not the hub's to know).
	CloseTxid       string
	CloseCostPosted bool

	// Returned says the capacity went back to the idle vault.
	Returned bool

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Principal is the capital the lease holds while its channel is open: its
// capacity, in msat.
func (l Lease) Principal() ledger.MilliSatoshi {
	return ledger.MilliSatoshi(int64(l.Capacity) * ledger.MsatPerSat)
}

// Memo is what the lease's open leaves on lnd's channel, by which a
// crashed open is found again: one per lease, whichever action opens it.
func (l Lease) Memo() string { return Memo(l.ID) }

// Memo is the channel memo of the lease with the id.
func Memo(id string) string { return "sluice-lease-" + id }

// InvoiceMemo is the hold invoice's description.
func InvoiceMemo(id string) string { return "sluice lease " + id }

// CursorName is the strategy's cursor of the lease's recognised premium:
// its value is the height recognised up to.
func CursorName(id string) string { return "lease:" + id }

// IncomeKey is the ledger key of the premium recognised at height h.
func IncomeKey(id string, h uint32) string {
	return fmt.Sprintf("yield-lease:%s:%d", id, h)
}

// newID returns a random lease id: 16 bytes, hex.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// newPreimage returns a random preimage.
func newPreimage() (lntypes.Preimage, error) {
	var p lntypes.Preimage
	if _, err := rand.Read(p[:]); err != nil {
		return p, err
	}
	return p, nil
}

// Quote is the premium of a lease of capacity for blocks at ratePPB parts
// per billion per block with a floor: max(floor, ⌈capacity × 1000 ×
// ratePPB × blocks / 10⁹⌉) msat, in integers. A result that does not fit
// is an error wrapping yield.ErrOverflow.
func Quote(capacity btcutil.Amount, blocks uint32, ratePPB uint64,
	floor ledger.MilliSatoshi) (ledger.MilliSatoshi, error) {

	if capacity < 0 || floor < 0 {
		return 0, fmt.Errorf("quote: %w", yield.ErrNegative)
	}
	capMsat, err := ledger.FromSatoshis(int64(capacity))
	if err != nil {
		return 0, fmt.Errorf("quote: %w", yield.ErrOverflow)
	}
	hi, perBlocks := mulU64(ratePPB, uint64(blocks))
	if hi != 0 {
		return 0, fmt.Errorf("quote: rate × blocks: %w",
			yield.ErrOverflow)
	}
	p, err := yield.MulDiv(uint64(capMsat), perBlocks, 1_000_000_000,
		yield.Ceil)
	if err != nil {
		return 0, fmt.Errorf("quote: %w", err)
	}
	if p > uint64(1<<63-1) {
		return 0, fmt.Errorf("quote: %w", yield.ErrOverflow)
	}
	return max(ledger.MilliSatoshi(p), floor), nil
}

// Recognised is the part of premium recognised at height h of a lease that
// started at start and runs blocks: premium × min(h − start, blocks) /
// blocks, rounded down, so all of it at the expiry height and nothing
// before the start.
func Recognised(premium ledger.MilliSatoshi, start, blocks,
	h uint32) ledger.MilliSatoshi {

	if h <= start || blocks == 0 || premium <= 0 {
		return 0
	}
	n := min(h-start, blocks)
	r, err := yield.MulDiv(uint64(premium), uint64(n), uint64(blocks),
		yield.Floor)
	if err != nil {
		// n ≤ blocks: the result is at most premium and fits.
		return premium
	}
	return ledger.MilliSatoshi(r)
}

// mulU64 is x·y as 128 bits.
func mulU64(x, y uint64) (hi, lo uint64) { return bits.Mul64(x, y) }
