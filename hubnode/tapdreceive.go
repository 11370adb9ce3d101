package hubnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire"
	"github.com/lightninglabs/taproot-assets/taprpc"
)

// What share deposits need of the hub's tapd as a recipient: the assets
// that arrived at its addresses, and how many units of a group each
// received output holds. The addresses are made with TapdWallet's
// NewGroupAddr on the hub's own tapd.

// ErrNoReceivedAssets is returned by ReceivedUnits when tapd holds no asset
// of the group anchored at the outpoint.
var ErrNoReceivedAssets = errors.New("tapd holds no asset of the group " +
	"at the outpoint")

// AddrReceive is one asset output that arrived at one of tapd's addresses,
// complete: its anchor confirmed and every proof received.
type AddrReceive struct {
	// Addr is the address it arrived at, bech32m.
	Addr string

	// Outpoint is the anchor output, "txid:index".
	Outpoint string

	// Height is the anchor's block.
	Height uint32
}

// receivesPage is how many receive events one AddrReceives call returns.
const receivesPage = 1000

// CompletedReceives returns every receive at tapd's addresses that is
// complete (ADDR_EVENT_STATUS_COMPLETED), oldest first.
func (t *TapdWallet) CompletedReceives(ctx context.Context) (
	[]AddrReceive, error) {

	var out []AddrReceive
	for offset := int32(0); ; offset += receivesPage {
		resp, err := t.assets.AddrReceives(ctx,
			&taprpc.AddrReceivesRequest{
				FilterStatus: taprpc.
					AddrEventStatus_ADDR_EVENT_STATUS_COMPLETED,
				Offset: offset,
				Limit:  receivesPage,
				Direction: taprpc.
					SortDirection_SORT_DIRECTION_ASC,
			})
		if err != nil {
			return nil, fmt.Errorf("tapd receives: %w", err)
		}
		for _, e := range resp.Events {
			if e.GetAddr().GetEncoded() == "" || e.Outpoint == "" {
				continue
			}
			out = append(out, AddrReceive{
				Addr:     e.Addr.Encoded,
				Outpoint: e.Outpoint,
				Height:   e.ConfirmationHeight,
			})
		}
		if len(resp.Events) < receivesPage {
			return out, nil
		}
	}
}

// ReceivedUnits is the units of the asset group that tapd holds, or held,
// in the anchor output outpoint ("txid:index"): spent since or not, of
// every asset id of the group (tranches) and every script key type, so
// that a later send or burn of them does not change what was received.
// ErrNoReceivedAssets when there are none.
func (t *TapdWallet) ReceivedUnits(ctx context.Context, groupKey []byte,
	outpoint string) (uint64, error) {

	want, err := wire.NewOutPointFromString(outpoint)
	if err != nil {
		return 0, fmt.Errorf("outpoint %q: %w", outpoint, err)
	}
	// tapd lists spent or leased assets, not both in one call: an
	// output a pending send reserved is leased, one a confirmed send
	// took is spent. An asset in neither state is in both lists.
	var units uint64
	seen := make(map[string]bool)
	for _, req := range []*taprpc.ListAssetRequest{
		{IncludeSpent: true}, {IncludeLeased: true},
	} {
		req.GroupKey = groupKey
		req.ScriptKeyType = &taprpc.ScriptKeyTypeQuery{
			Type: &taprpc.ScriptKeyTypeQuery_AllTypes{AllTypes: true},
		}
		resp, err := t.assets.ListAssets(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("list assets: %w", err)
		}
		for _, a := range resp.Assets {
			if !bytes.Equal(a.GetAssetGroup().GetTweakedGroupKey(),
				groupKey) {

				continue
			}
			op, err := wire.NewOutPointFromString(
				a.GetChainAnchor().GetAnchorOutpoint())
			if err != nil || *op != *want {
				continue
			}
			id := fmt.Sprintf("%x/%x", a.GetAssetGenesis().GetAssetId(),
				a.ScriptKey)
			if seen[id] {
				continue
			}
			seen[id] = true
			units += a.Amount
		}
	}
	found := len(seen) > 0
	if !found || units == 0 {
		return 0, fmt.Errorf("%w: %x at %s", ErrNoReceivedAssets,
			groupKey, outpoint)
	}
	return units, nil
}
