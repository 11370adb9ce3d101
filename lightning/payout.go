package lightning

import (
	"errors"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/record"
	"github.com/lightningnetwork/lnd/routing/route"
)

// PayoutIDRecord is the custom record type that carries a payout's id in a
// keysend payout, next to the preimage in record.KeySendType
// (5482373484). Custom records start at 65536; this one sits right after
// keysend's so that a provider's lnd shows both together.
const PayoutIDRecord uint64 = record.KeySendType + 1

var (
	// ErrBadRecord is returned by SendKeysend for an extra custom record
	// that lnd would refuse or that would clash with the keysend
	// preimage.
	ErrBadRecord = errors.New("bad custom record")

	// ErrPaymentRefused is returned by SendKeysend when lnd answered the
	// request with an error before recording the payment (a bad
	// destination, amount or record): lnd has no payment to the hash,
	// and sending the same request again would be refused again. A
	// broken connection is not a refusal: its outcome is unknown.
	ErrPaymentRefused = errors.New("payment refused by lnd")
)

// Keysend is a keysend payment with a preimage chosen (and stored) before
// lnd sees it, and extra custom records.
type Keysend struct {
	// Dest is the node paid.
	Dest route.Vertex

	// Preimage goes in record.KeySendType; the payment hash is its
	// SHA-256.
	Preimage lntypes.Preimage

	// Amount is what Dest receives, in msat: lnd pays millisatoshi
	// amounts, so no rounding to whole satoshis is needed.
	Amount lnwire.MilliSatoshi

	// FeeLimit is the most the routing may cost; zero allows only
	// zero-fee routes (a direct channel).
	FeeLimit lnwire.MilliSatoshi

	// Timeout bounds lnd's attempts; DefaultPaymentTimeout when zero.
	Timeout time.Duration

	// Records are extra custom records (type ≥ 65536, not
	// record.KeySendType), such as PayoutIDRecord.
	Records map[uint64][]byte
}
