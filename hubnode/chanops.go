package hubnode

import (
	"context"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
)

// ChannelOps is what a strategy that puts capital in hub channels needs of
// the hub's lnd: *HubChannels for the channels and *Graph for the nodes.
// The yield strategies (routing, lease) embed it in their own Node
// interfaces with what else each needs, and fake it in their tests.
type ChannelOps interface {
	// Open opens a channel as req asks and returns its funding
	// outpoint once lnd published the funding transaction. Errors
	// wrapping ErrUnknownPeer, ErrPeerUnreachable, ErrInsufficientFunds,
	// ErrChannelSize or ErrOpenRefused are lnd's refusals; ErrMemoInUse
	// comes with the point of the channel made before; others may leave
	// the open unknown: look the memo up before trying again.
	Open(ctx context.Context, req OpenRequest) (wire.OutPoint, error)

	// ByMemo finds the hub's pending, open or closing channel whose
	// open carried memo; false when lnd has none.
	ByMemo(ctx context.Context, memo string) (ChannelState, bool, error)

	// ByPoint returns the channel's state; StatusUnknown when lnd has
	// no channel there.
	ByPoint(ctx context.Context, point wire.OutPoint) (ChannelState,
		error)

	// Close closes the channel (cooperatively unless req says force)
	// and returns the closing txid once published, also for a channel
	// already closing.
	Close(ctx context.Context, point wire.OutPoint, req CloseRequest) (
		chainhash.Hash, error)

	// TxFee returns what the hub's wallet knows of a transaction, its
	// fee among it; an error wrapping ErrTxNotFound when the wallet
	// does not know it.
	TxFee(ctx context.Context, txid chainhash.Hash) (TxInfo, error)

	// EstimateOpenFee is lnd's estimate of the chain fee of an open of
	// amount confirming within targetConf blocks.
	EstimateOpenFee(ctx context.Context, amount btcutil.Amount,
		targetConf int32) (btcutil.Amount, error)

	// NodeInfo says what the hub's graph knows of node; an error
	// wrapping ErrNodeNotFound when nothing.
	NodeInfo(ctx context.Context, node route.Vertex) (lightning.NodeInfo, error)
}

// Compile-time check that the adapters are the operations.
var _ ChannelOps = struct {
	*HubChannels
	*Graph
}{}
