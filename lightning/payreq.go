package lightning

import (
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/lightningnetwork/lnd/zpay32"
)

// ErrMalformedPaymentRequest is returned for a payment request that does
// not decode as a BOLT11 invoice of the network asked for.
var ErrMalformedPaymentRequest = errors.New("malformed payment request")

// maxPaymentRequestLen bounds the payment requests DecodePaymentRequest
// reads: BOLT11 invoices with many route hints stay well below it.
const maxPaymentRequestLen = 7089

// PaymentRequest is a decoded BOLT11 invoice.
type PaymentRequest struct {
	Hash        lntypes.Hash
	Destination route.Vertex

	// Amount is zero for an invoice that lets the payer choose.
	Amount lnwire.MilliSatoshi

	Description string
	CreatedAt   time.Time
	ExpiresAt   time.Time

	// RouteHints are the private routes the invoice names.
	RouteHints [][]zpay32.HopHint
}

// ParamsOf returns the chain parameters of a network name (regtest,
// testnet, mainnet, ...).
func ParamsOf(network string) (*chaincfg.Params, error) {
	switch network {
	case "mainnet":
		return &chaincfg.MainNetParams, nil
	case "testnet", "testnet3":
		return &chaincfg.TestNet3Params, nil
	case "testnet4":
		return &chaincfg.TestNet4Params, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "simnet":
		return &chaincfg.SimNetParams, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	}
	return nil, fmt.Errorf("network %q: unknown network", network)
}

// DecodePaymentRequest decodes and checks a BOLT11 invoice for the network
// of params: its signature, its checksum and its network prefix. It
// returns an error wrapping ErrMalformedPaymentRequest for anything else,
// including an invoice of another network or one without a payment hash.
func DecodePaymentRequest(payReq string, params *chaincfg.Params) (
	PaymentRequest, error) {

	if len(payReq) > maxPaymentRequestLen {
		return PaymentRequest{}, fmt.Errorf("%w: %d characters, at "+
			"most %d", ErrMalformedPaymentRequest, len(payReq),
			maxPaymentRequestLen)
	}
	inv, err := zpay32.Decode(payReq, params)
	if err != nil {
		return PaymentRequest{}, fmt.Errorf("%w: %w",
			ErrMalformedPaymentRequest, err)
	}
	if inv.PaymentHash == nil {
		return PaymentRequest{}, fmt.Errorf("%w: no payment hash",
			ErrMalformedPaymentRequest)
	}
	out := PaymentRequest{
		Hash:       *inv.PaymentHash,
		CreatedAt:  inv.Timestamp,
		ExpiresAt:  inv.Timestamp.Add(inv.Expiry()),
		RouteHints: inv.RouteHints,
	}
	if inv.Destination != nil {
		out.Destination = route.NewVertex(inv.Destination)
	}
	if inv.MilliSat != nil {
		out.Amount = *inv.MilliSat
	}
	if inv.Description != nil {
		out.Description = *inv.Description
	}
	return out, nil
}
