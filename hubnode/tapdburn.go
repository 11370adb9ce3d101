package hubnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/universerpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BurnConfirmation is the text tapd's BurnAsset wants, as a safety check.
const BurnConfirmation = "assets will be destroyed"

// ErrBurnRefused is returned by BurnGroup when tapd refused the burn
// before making it (too few units, a bad argument): the same request would
// be refused again.
var ErrBurnRefused = errors.New("burn refused by tapd")

// Burn is a burn of a group's units: what BurnGroup made (Amount and Txid,
// unconfirmed) or what tapd lists once its anchor confirmed. A burn by
// group key that spans tranches is listed once per asset id, each with its
// part of the amount.
type Burn struct {
	Note    string
	AssetID []byte
	Amount  uint64

	// Txid is the anchor transaction's id.
	Txid chainhash.Hash
}

// GroupSupply is an asset group's supply as tapd knows it.
type GroupSupply struct {
	// Issued is the sum of the group's issuance proofs in tapd's
	// universe: every unit ever minted into the group.
	Issued uint64

	// Burned is the sum of the group's confirmed burns.
	Burned uint64

	// Held is what the hub's tapd holds of the group, unspent.
	Held uint64
}

// Supply is the units minted and not burned.
func (s GroupSupply) Supply() (uint64, error) {
	if s.Burned > s.Issued {
		return 0, fmt.Errorf("tapd lists %d units burned of %d issued",
			s.Burned, s.Issued)
	}
	return s.Issued - s.Burned, nil
}

// BurnGroup burns amount units of the group (33-byte tweaked key) from
// tapd's holdings, with the note, and returns the burn as made: its anchor
// transaction is broadcast, not confirmed. tapd lists a burn (Burns) only
// once its anchor confirmed.
func (t *TapdMinter) BurnGroup(ctx context.Context, groupKey []byte,
	amount uint64, note string) (Burn, error) {

	switch {
	case len(groupKey) != GroupKeyLen:
		return Burn{}, fmt.Errorf("burn: %w: group key of %d bytes, "+
			"want %d", ErrBurnRefused, len(groupKey), GroupKeyLen)
	case amount == 0:
		return Burn{}, fmt.Errorf("burn: %w: no units", ErrBurnRefused)
	}
	resp, err := t.assets.BurnAsset(ctx, &taprpc.BurnAssetRequest{
		AssetSpecifier: &taprpc.AssetSpecifier{
			Id: &taprpc.AssetSpecifier_GroupKey{GroupKey: groupKey},
		},
		AmountToBurn:     amount,
		ConfirmationText: BurnConfirmation,
		Note:             note,
	})
	if err != nil {
		return Burn{}, burnRefused(note, err)
	}
	b := Burn{Note: note, Amount: amount}
	if h := resp.GetBurnTransfer().GetAnchorTxHash(); len(h) > 0 {
		txid, err := chainhash.NewHash(h)
		if err != nil {
			return Burn{}, fmt.Errorf("burn %q: anchor tx hash: %w",
				note, err)
		}
		b.Txid = *txid
	}
	return b, nil
}

// burnRefused maps tapd's answers that say the burn was not made onto
// ErrBurnRefused; any other error's outcome is unknown. tapd answers with
// codes.Unknown and a message: a burn it could not fund ("error funding
// burn", too few units) or whose arguments it refused was never made.
func burnRefused(note string, err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition,
		codes.OutOfRange:

		return fmt.Errorf("burn %q: %w: %v", note, ErrBurnRefused, err)
	}
	msg := status.Convert(err).Message()
	if status.Code(err) == codes.Unknown && (strings.Contains(msg,
		"error funding burn") || strings.Contains(msg, "must be") ||
		strings.Contains(msg, "invalid")) {

		return fmt.Errorf("burn %q: %w: %v", note, ErrBurnRefused, err)
	}
	return fmt.Errorf("burn %q: %w", note, err)
}

// Burns lists the group's burns whose anchors confirmed.
func (t *TapdMinter) Burns(ctx context.Context, groupKey []byte) ([]Burn,
	error) {

	resp, err := t.assets.ListBurns(ctx, &taprpc.ListBurnsRequest{
		TweakedGroupKey: groupKey,
	})
	if err != nil {
		return nil, fmt.Errorf("list burns: %w", err)
	}
	var out []Burn
	for _, b := range resp.Burns {
		if !bytes.Equal(b.TweakedGroupKey, groupKey) {
			continue
		}
		txid, err := chainhash.NewHash(b.AnchorTxid)
		if err != nil {
			return nil, fmt.Errorf("burn %q: anchor txid: %w",
				b.Note, err)
		}
		out = append(out, Burn{Note: b.Note, AssetID: b.AssetId,
			Amount: b.Amount, Txid: *txid})
	}
	return out, nil
}

// UnconfirmedUnlabelled lists the anchor txids (hex) of tapd's outgoing
// transfers that are not confirmed and carry no label.
func (t *TapdMinter) UnconfirmedUnlabelled(ctx context.Context) ([]string,
	error) {

	resp, err := t.assets.ListTransfers(ctx, &taprpc.ListTransfersRequest{})
	if err != nil {
		return nil, fmt.Errorf("list transfers: %w", err)
	}
	var out []string
	for _, tr := range resp.Transfers {
		if tr.Label != "" || tr.AnchorTxBlockHeight != 0 {
			continue
		}
		h, err := chainhash.NewHash(tr.AnchorTxHash)
		if err != nil {
			return nil, fmt.Errorf("transfer anchor hash: %w", err)
		}
		out = append(out, h.String())
	}
	return out, nil
}

// GroupSupply reads the group's issued units from tapd's universe (the sum
// of its issuance tree), its confirmed burns and what tapd holds of it.
func (t *TapdMinter) GroupSupply(ctx context.Context, groupKey []byte) (
	GroupSupply, error) {

	roots, err := t.uni.QueryAssetRoots(ctx,
		&universerpc.AssetRootQuery{Id: &universerpc.ID{
			Id:        &universerpc.ID_GroupKey{GroupKey: groupKey},
			ProofType: universerpc.ProofType_PROOF_TYPE_ISSUANCE,
		}})
	if err != nil {
		return GroupSupply{}, fmt.Errorf("issuance root: %w", err)
	}
	sum := roots.GetIssuanceRoot().GetMssmtRoot().GetRootSum()
	if sum < 0 {
		return GroupSupply{}, fmt.Errorf("issuance root sum %d", sum)
	}
	s := GroupSupply{Issued: uint64(sum)}

	burns, err := t.Burns(ctx, groupKey)
	if err != nil {
		return GroupSupply{}, err
	}
	for _, b := range burns {
		s.Burned += b.Amount
	}

	bal, err := t.assets.ListBalances(ctx, &taprpc.ListBalancesRequest{
		GroupBy:        &taprpc.ListBalancesRequest_GroupKey{GroupKey: true},
		GroupKeyFilter: groupKey,
	})
	if err != nil {
		return GroupSupply{}, fmt.Errorf("list balances: %w", err)
	}
	for _, b := range bal.GetAssetGroupBalances() {
		s.Held += b.Balance
	}
	return s, nil
}
