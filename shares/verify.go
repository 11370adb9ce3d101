package shares

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/yield"
)

// ErrVerifyFailed is returned by Verify when a step of the verification
// failed; the error says which.
var ErrVerifyFailed = errors.New("share verification FAILED")

// The verification's steps, in order; each needs the ones before it.
const (
	// StepTranche: the hub says which asset is the epoch's tranche.
	StepTranche = 1

	// StepProof: the tranche's issuance proof, from the hub's universe
	// through the verifier's tapd, is valid and anchored in a confirmed
	// transaction.
	StepProof = 2

	// StepMeta: the proof reveals the tranche's metadata, the asset id
	// commits to it, and it is the epoch's.
	StepMeta = 3

	// StepReward: the provider's leaf and path lead to the metadata's
	// usage root.
	StepReward = 4
)

// stepTitles name the steps as a report prints them.
var stepTitles = map[int]string{
	StepTranche: "the hub names the epoch's tranche",
	StepProof:   "the tranche's issuance proof is valid and confirmed",
	StepMeta:    "the proof reveals the epoch's metadata",
	StepReward:  "the provider's reward leads to the usage root",
}

// RewardProof is a provider's leaf in a closed epoch with the path from it
// to the epoch's root, as the hub's GetRewardProof gives it or as the
// provider kept it.
type RewardProof struct {
	Leaf  yield.Leaf
	Proof yield.Proof

	// Root is the root the hub sent with the proof. Verify does not trust
	// it: the path must lead to the root the tranche's metadata carries.
	Root chainhash.Hash
}

// VerifyHub is what verification asks of sluiced. The CLI's adapter asks
// its API (GetShares, GetRewardProof).
type VerifyHub interface {
	// ShareOps returns the share group's 33-byte tweaked group key and
	// the epochs' tranches and burns as the hub lists them. ErrNoGenesis
	// before a genesis succeeded.
	ShareOps(ctx context.Context) ([]byte, []EpochOp, error)

	// RewardProof returns the provider's leaf and path in the closed
	// epoch.
	RewardProof(ctx context.Context, epoch uint64, providerID string) (
		RewardProof, error)
}

// ProofTapd is what verification needs of the verifier's own tapd.
// hubnode.TapdProofs implements it.
type ProofTapd interface {
	// SyncIssuance syncs the group's issuance proofs into the tapd's
	// universe from the universe at host (its federation servers when
	// empty) and returns the hosts synced from.
	SyncIssuance(ctx context.Context, host string, groupKey []byte) (
		[]string, error)

	// IssuanceProof returns the raw issuance proof of the asset from the
	// tapd's universe, or an error wrapping hubnode.ErrProofNotFound.
	IssuanceProof(ctx context.Context, groupKey, assetID []byte) ([]byte,
		error)

	// VerifyProof has the tapd verify the proof.
	VerifyProof(ctx context.Context, raw []byte) (hubnode.VerifiedProof,
		error)

	// RevealMeta decodes the proof with its metadata reveal.
	RevealMeta(ctx context.Context, raw []byte) (hubnode.RevealedMeta,
		error)

	// BlockHeight returns the height of the tapd's chain tip.
	BlockHeight(ctx context.Context) (uint32, error)
}

var _ ProofTapd = (*hubnode.TapdProofs)(nil)

// VerifyRequest says what to verify.
type VerifyRequest struct {
	// Epoch is the closed epoch's number, from 1.
	Epoch uint64

	// ProviderID is the provider whose reward is verified.
	ProviderID string

	// Universe is the hub's universe, "host:port", to sync the tranche's
	// issuance proof from; empty for the tapd's federation servers.
	Universe string

	// Reward, when set, is the reward proof to verify (one the provider
	// kept, or one a third party was given) instead of asking the hub.
	Reward *RewardProof
}

// Step is one step of a verification and how it went.
type Step struct {
	Number int    `json:"step"`
	Title  string `json:"title"`
	OK     bool   `json:"ok"`

	// Detail says what was found (ok) or what is wrong (failed).
	Detail string `json:"detail"`
}

// Report is a verification's steps, up to the first that failed.
type Report struct {
	Epoch      uint64 `json:"epoch"`
	ProviderID string `json:"provider_id"`
	Steps      []Step `json:"steps"`

	// AssetID is the tranche's asset id, hex, once step 1 found it;
	// Meta its metadata once step 3 read it.
	AssetID string       `json:"asset_id,omitempty"`
	Meta    *TrancheMeta `json:"meta,omitempty"`
}

// OK reports whether every step passed.
func (r Report) OK() bool {
	return len(r.Steps) == StepReward && r.Steps[len(r.Steps)-1].OK
}

// verification is one run of Verify.
type verification struct {
	req  VerifyRequest
	hub  VerifyHub
	tapd ProofTapd
	rep  Report

	groupKey []byte
	tranche  EpochOp
	raw      []byte
}

// Verify checks, step by step, that the provider's reward in the epoch is
// part of what the hub's tapd issued on chain for it:
//
//  1. the hub lists the epoch's tranche as succeeded, with its asset id;
//  2. the verifier's own tapd syncs the group's issuance proofs from the
//     hub's universe (verifying each as it takes it), and VerifyProof
//     finds the tranche's proof valid, of the asset in the share group,
//     anchored where the hub says, in a block of the tapd's chain;
//  3. the proof's metadata reveal hashes, by tapd's computation, to the
//     metadata hash in the asset's genesis, which the asset id commits to
//     (tapd's verifier checked this too), and the metadata is the JSON of
//     a tranche of this epoch;
//  4. the provider's leaf is of this epoch and provider, and with its path
//     leads (yield.Verify) to the metadata's usage_root, in a tree of the
//     metadata's leaf_count.
//
// It stops at the first step that fails and returns the report with an
// error wrapping ErrVerifyFailed that names the step. Bad requests are
// refused before any step.
func Verify(ctx context.Context, req VerifyRequest, hub VerifyHub,
	tapd ProofTapd) (Report, error) {

	switch {
	case req.Epoch == 0:
		return Report{}, errors.New("verify: epoch 0: epochs count " +
			"from 1")
	case req.ProviderID == "":
		return Report{}, errors.New("verify: no provider id")
	case hub == nil || tapd == nil:
		return Report{}, errors.New("verify: no hub or tapd")
	}

	v := &verification{req: req, hub: hub, tapd: tapd,
		rep: Report{Epoch: req.Epoch, ProviderID: req.ProviderID}}
	steps := []func(context.Context) (string, error){
		v.tranche1, v.proof2, v.meta3, v.reward4,
	}
	for i, step := range steps {
		n := i + 1
		detail, err := step(ctx)
		s := Step{Number: n, Title: stepTitles[n], OK: err == nil,
			Detail: detail}
		if err != nil {
			s.Detail = err.Error()
		}
		v.rep.Steps = append(v.rep.Steps, s)
		if err != nil {
			return v.rep, fmt.Errorf("%w at step %d (%s): %w",
				ErrVerifyFailed, n, stepTitles[n], err)
		}
	}
	return v.rep, nil
}

// tranche1 finds the epoch's succeeded tranche in the hub's list.
func (v *verification) tranche1(ctx context.Context) (string, error) {
	groupKey, ops, err := v.hub.ShareOps(ctx)
	if err != nil {
		return "", fmt.Errorf("the hub's share asset: %w", err)
	}
	if len(groupKey) != hubnode.GroupKeyLen {
		return "", fmt.Errorf("the hub's group key has %d bytes, "+
			"want %d", len(groupKey), hubnode.GroupKeyLen)
	}
	v.groupKey = groupKey

	var found []EpochOp
	others := 0
	for _, op := range ops {
		if op.Epoch != v.req.Epoch || op.Kind != KindTranche {
			continue
		}
		if op.State != outbound.StatusSucceeded {
			others++
			continue
		}
		found = append(found, op)
	}
	switch len(found) {
	case 0:
		if others > 0 {
			return "", fmt.Errorf("epoch %d's tranche has not "+
				"succeeded (%d pending or failed)", v.req.Epoch,
				others)
		}
		return "", fmt.Errorf("the hub lists no tranche for epoch %d",
			v.req.Epoch)
	case 1:
	default:
		return "", fmt.Errorf("the hub lists %d succeeded tranches "+
			"for epoch %d", len(found), v.req.Epoch)
	}
	v.tranche = found[0]
	if len(v.tranche.AssetID) != 32 {
		return "", fmt.Errorf("epoch %d's tranche %q has an asset id "+
			"of %d bytes", v.req.Epoch, v.tranche.Name,
			len(v.tranche.AssetID))
	}
	v.rep.AssetID = hex.EncodeToString(v.tranche.AssetID)
	return fmt.Sprintf("epoch %d's tranche is asset %s (%q, %d units, "+
		"anchor %v) in group %x", v.req.Epoch, v.rep.AssetID,
		v.tranche.Name, int64(v.tranche.Amount), v.tranche.Anchor,
		v.groupKey), nil
}

// proof2 fetches the tranche's issuance proof through the tapd and has
// the tapd verify it.
func (v *verification) proof2(ctx context.Context) (string, error) {
	hosts, err := v.tapd.SyncIssuance(ctx, v.req.Universe, v.groupKey)
	if err != nil {
		return "", err
	}
	v.raw, err = v.tapd.IssuanceProof(ctx, v.groupKey, v.tranche.AssetID)
	if err != nil {
		return "", fmt.Errorf("after syncing from %v: %w", hosts, err)
	}
	p, err := v.tapd.VerifyProof(ctx, v.raw)
	switch {
	case err != nil:
		return "", err

	case !p.Valid:
		return "", errors.New("your tapd says the issuance proof is " +
			"not valid (its log says why)")

	case !bytes.Equal(p.AssetID, v.tranche.AssetID):
		return "", fmt.Errorf("the proof is of asset %x, not %x",
			p.AssetID, v.tranche.AssetID)

	case !bytes.Equal(p.GroupKey, v.groupKey):
		return "", fmt.Errorf("the proof's asset is in group %x, not "+
			"the share group %x", p.GroupKey, v.groupKey)

	case p.Anchor != v.tranche.Anchor.String():
		return "", fmt.Errorf("the proof anchors the asset at %s, the "+
			"hub says %v", p.Anchor, v.tranche.Anchor)

	case p.BlockHeight == 0:
		return "", errors.New("the proof places its anchor in no block")
	}
	tip, err := v.tapd.BlockHeight(ctx)
	if err != nil {
		return "", err
	}
	if tip < p.BlockHeight {
		return "", fmt.Errorf("the anchor is in block %d, your tapd's "+
			"chain is at %d", p.BlockHeight, tip)
	}
	return fmt.Sprintf("synced from %v; your tapd finds the proof of "+
		"%q (%d units) valid, anchored at %s in block %d (%s), %d "+
		"confirmations", hosts, p.Name, p.Amount, p.Anchor,
		p.BlockHeight, p.BlockHash, tip-p.BlockHeight+1), nil
}

// meta3 reads the metadata the proof reveals and checks it is the epoch's.
func (v *verification) meta3(ctx context.Context) (string, error) {
	m, err := v.tapd.RevealMeta(ctx, v.raw)
	switch {
	case err != nil:
		return "", err

	case !bytes.Equal(m.AssetID, v.tranche.AssetID):
		return "", fmt.Errorf("the proof decodes to asset %x, not %x",
			m.AssetID, v.tranche.AssetID)

	case m.Data == nil:
		return "", errors.New("the proof reveals no metadata")

	case !m.JSON:
		return "", errors.New("the metadata is not of type JSON")

	case len(m.Hash) != 32 || !bytes.Equal(m.Hash, m.GenesisHash):
		return "", fmt.Errorf("the metadata hashes to %x, the asset's "+
			"genesis commits to %x", m.Hash, m.GenesisHash)
	}
	meta, err := ParseTrancheMeta(m.Data)
	if err != nil {
		return "", err
	}
	v.rep.Meta = &meta
	if meta.Epoch != v.req.Epoch {
		return "", fmt.Errorf("the metadata is epoch %d's, not %d",
			meta.Epoch, v.req.Epoch)
	}
	return fmt.Sprintf("metadata hash %x, committed to by the asset id: "+
		"epoch %d, window %s to %s, usage_root %s, %d leaves, %d units",
		m.Hash, meta.Epoch, meta.Window.Start, meta.Window.End,
		meta.UsageRoot, meta.LeafCount, meta.TotalUnits), nil
}

// reward4 checks the provider's leaf and path against the metadata's
// usage root.
func (v *verification) reward4(ctx context.Context) (string, error) {
	root, err := parseRoot(v.rep.Meta.UsageRoot)
	if err != nil {
		return "", err
	}
	rp := v.req.Reward
	from := "the hub's"
	if rp == nil {
		p, err := v.hub.RewardProof(ctx, v.req.Epoch,
			v.req.ProviderID)
		if err != nil {
			return "", fmt.Errorf("the hub's reward proof: %w", err)
		}
		rp = &p
	} else {
		from = "the given"
	}
	l := rp.Leaf
	switch {
	case l.ProviderID != v.req.ProviderID:
		return "", fmt.Errorf("%s leaf is provider %q's, not %q", from,
			l.ProviderID, v.req.ProviderID)

	case l.Epoch != v.req.Epoch:
		return "", fmt.Errorf("%s leaf is of epoch %d, not %d", from,
			l.Epoch, v.req.Epoch)

	case rp.Proof.Count != v.rep.Meta.LeafCount:
		return "", fmt.Errorf("%s proof is for %d leaves, the "+
			"metadata says %d", from, rp.Proof.Count,
			v.rep.Meta.LeafCount)
	}
	if err := yield.Verify(root, l, rp.Proof); err != nil {
		return "", fmt.Errorf("%s leaf and path: %w", from, err)
	}
	return fmt.Sprintf("%s leaf (%d seconds, %v earned, %d units "+
		"issued; leaf %d of %d) leads to usage_root %x", from,
		l.Seconds, l.Earned, l.Shares, rp.Proof.Index, rp.Proof.Count,
		root[:]), nil
}

// parseRoot reads a root written in SHA-256's byte order, 64 hex digits.
func parseRoot(s string) (chainhash.Hash, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != chainhash.HashSize {
		return chainhash.Hash{}, fmt.Errorf("usage_root %q is not 64 "+
			"hex digits", s)
	}
	var h chainhash.Hash
	copy(h[:], b)
	return h, nil
}

// ParseTrancheMeta reads a tranche's JSON metadata, strictly: an unknown
// field, a missing epoch or usage root, or trailing data is refused.
func ParseTrancheMeta(data []byte) (TrancheMeta, error) {
	var m TrancheMeta
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return TrancheMeta{}, fmt.Errorf("tranche metadata: %w", err)
	}
	if d.More() {
		return TrancheMeta{}, errors.New("tranche metadata: data " +
			"after the JSON object")
	}
	switch {
	case m.Epoch == 0:
		return TrancheMeta{}, errors.New("tranche metadata: no epoch")
	case m.UsageRoot == "":
		return TrancheMeta{}, errors.New("tranche metadata: no " +
			"usage_root")
	case m.DecimalDisplay != DecimalDisplay:
		return TrancheMeta{}, fmt.Errorf("tranche metadata: decimal "+
			"display %d, shares have %d", m.DecimalDisplay,
			DecimalDisplay)
	}
	if _, err := parseRoot(m.UsageRoot); err != nil {
		return TrancheMeta{}, fmt.Errorf("tranche metadata: %w", err)
	}
	return m, nil
}
