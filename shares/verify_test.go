package shares

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/yield"
)

// fakeHub is the hub as verification sees it: the share group, its epoch
// operations and the epochs' reward trees.
type fakeHub struct {
	groupKey []byte
	ops      []EpochOp
	opsErr   error
	leaves   map[uint64][]yield.Leaf

	// proofCalls counts RewardProof calls.
	proofCalls int
}

func (h *fakeHub) ShareOps(context.Context) ([]byte, []EpochOp, error) {
	return h.groupKey, h.ops, h.opsErr
}

func (h *fakeHub) RewardProof(_ context.Context, epoch uint64,
	providerID string) (RewardProof, error) {

	h.proofCalls++
	leaves := h.leaves[epoch]
	p, err := yield.Prove(leaves, providerID)
	if err != nil {
		return RewardProof{}, err
	}
	root, err := yield.Root(leaves)
	if err != nil {
		return RewardProof{}, err
	}
	for _, l := range leaves {
		if l.ProviderID == providerID {
			return RewardProof{Leaf: l, Proof: p, Root: root}, nil
		}
	}
	return RewardProof{}, yield.ErrLeafNotFound
}

// fakeProofTapd is the verifier's tapd: a universe of issuance proofs, each
// raw proof standing for an asset with its verification and metadata.
type fakeProofTapd struct {
	synced   [][]byte
	syncErr  error
	proofs   map[string][]byte // asset id hex → raw proof
	verified map[string]hubnode.VerifiedProof
	metas    map[string]hubnode.RevealedMeta
	tip      uint32
}

func (f *fakeProofTapd) SyncIssuance(_ context.Context, host string,
	groupKey []byte) ([]string, error) {

	if f.syncErr != nil {
		return nil, f.syncErr
	}
	f.synced = append(f.synced, groupKey)
	return []string{host}, nil
}

func (f *fakeProofTapd) IssuanceProof(_ context.Context, _, assetID []byte) (
	[]byte, error) {

	raw, ok := f.proofs[hex.EncodeToString(assetID)]
	if !ok {
		return nil, hubnode.ErrProofNotFound
	}
	return raw, nil
}

func (f *fakeProofTapd) VerifyProof(_ context.Context, raw []byte) (
	hubnode.VerifiedProof, error) {

	p, ok := f.verified[string(raw)]
	if !ok {
		return hubnode.VerifiedProof{}, errors.New("undecodable")
	}
	return p, nil
}

func (f *fakeProofTapd) RevealMeta(_ context.Context, raw []byte) (
	hubnode.RevealedMeta, error) {

	m, ok := f.metas[string(raw)]
	if !ok {
		return hubnode.RevealedMeta{}, errors.New("undecodable")
	}
	return m, nil
}

func (f *fakeProofTapd) BlockHeight(context.Context) (uint32, error) {
	return f.tip, nil
}

// verifyFixture is a hub with epoch 3's tranche of two providers' leaves,
// and a tapd that holds its valid proof.
type verifyFixture struct {
	hub  *fakeHub
	tapd *fakeProofTapd
	meta TrancheMeta
	id   []byte
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	const epoch = 3
	leaves := []yield.Leaf{
		{Epoch: epoch, ProviderID: "p1", Seconds: 10, Earned: 1200,
			Shares: 7},
		{Epoch: epoch, ProviderID: "p2", Seconds: 4, Earned: 500,
			Shares: 3},
		{Epoch: epoch, ProviderID: "p3", Seconds: 1, Earned: 90,
			Shares: 1},
	}
	root, err := yield.Root(leaves)
	if err != nil {
		t.Fatal(err)
	}
	groupKey := append([]byte{0x02}, bytes.Repeat([]byte{7}, 32)...)
	id := bytes.Repeat([]byte{0xab}, 32)
	anchor := wire.OutPoint{Hash: chainhash.Hash{1, 2, 3}, Index: 1}
	meta := TrancheMeta{Epoch: epoch,
		Window:    Window{Start: "2026-12-01T00:00:00Z", End: "2026-12-02T00:00:00Z"},
		UsageRoot: hex.EncodeToString(root[:]), LeafCount: 3,
		TotalUnits: 11, NAVPerShare: "1000",
		DecimalDisplay: DecimalDisplay}
	metaJSON, err := meta.JSON()
	if err != nil {
		t.Fatal(err)
	}
	metaHash := bytes.Repeat([]byte{0x11}, 32)
	raw := "proof-e3"

	return &verifyFixture{
		hub: &fakeHub{
			groupKey: groupKey,
			ops: []EpochOp{
				{Epoch: 2, Kind: KindTranche, Name: "s-e2",
					State:   outbound.StatusSucceeded,
					AssetID: bytes.Repeat([]byte{1}, 32)},
				{Epoch: epoch, Kind: KindTranche, Name: "s-e3",
					State: outbound.StatusFailed},
				{Epoch: epoch, Kind: KindTranche,
					Name: "s-e3.1", Amount: 11,
					State:   outbound.StatusSucceeded,
					AssetID: id, Anchor: anchor},
				{Epoch: epoch, Kind: KindBurn, Name: "s-e3-burn",
					State: outbound.StatusSucceeded},
				{Epoch: 5, Kind: KindTranche, Name: "s-e5",
					State: outbound.StatusPending},
			},
			leaves: map[uint64][]yield.Leaf{epoch: leaves},
		},
		tapd: &fakeProofTapd{
			proofs: map[string][]byte{
				hex.EncodeToString(id): []byte(raw),
			},
			verified: map[string]hubnode.VerifiedProof{
				raw: {Valid: true, AssetID: id,
					GroupKey: groupKey, Name: "s-e3.1",
					Amount: 11, Anchor: anchor.String(),
					BlockHash: "00ff", BlockHeight: 500},
			},
			metas: map[string]hubnode.RevealedMeta{
				raw: {AssetID: id, JSON: true, Data: metaJSON,
					Hash: metaHash, GenesisHash: metaHash},
			},
			tip: 505,
		},
		meta: meta,
		id:   id,
	}
}

// setMeta replaces the tranche's revealed metadata.
func (f *verifyFixture) setMeta(t *testing.T, m TrancheMeta) {
	t.Helper()
	b, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	r := f.tapd.metas["proof-e3"]
	r.Data = b
	f.tapd.metas["proof-e3"] = r
}

func TestVerifyPasses(t *testing.T) {
	f := newVerifyFixture(t)
	rep, err := Verify(context.Background(), VerifyRequest{Epoch: 3,
		ProviderID: "p2", Universe: "hub:10029"}, f.hub, f.tapd)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() || len(rep.Steps) != 4 {
		t.Fatalf("report %+v", rep)
	}
	for i, s := range rep.Steps {
		if s.Number != i+1 || !s.OK || s.Detail == "" {
			t.Errorf("step %d: %+v", i+1, s)
		}
	}
	if rep.AssetID != hex.EncodeToString(f.id) || rep.Meta == nil ||
		rep.Meta.UsageRoot != f.meta.UsageRoot {

		t.Errorf("report asset %s meta %+v", rep.AssetID, rep.Meta)
	}
	if !strings.Contains(rep.Steps[1].Detail, "6 confirmations") {
		t.Errorf("step 2 says %q", rep.Steps[1].Detail)
	}
	if len(f.tapd.synced) != 1 || !bytes.Equal(f.tapd.synced[0],
		f.hub.groupKey) {

		t.Errorf("synced %x", f.tapd.synced)
	}
	if f.hub.proofCalls != 1 {
		t.Errorf("%d reward proof calls", f.hub.proofCalls)
	}
}

// TestVerifyGivenProof: a reward proof the provider kept is checked
// without asking the hub for one; tampered, it fails at step 4.
func TestVerifyGivenProof(t *testing.T) {
	f := newVerifyFixture(t)
	kept, err := f.hub.RewardProof(context.Background(), 3, "p1")
	if err != nil {
		t.Fatal(err)
	}
	f.hub.proofCalls = 0
	req := VerifyRequest{Epoch: 3, ProviderID: "p1", Reward: &kept}
	if _, err := Verify(context.Background(), req, f.hub,
		f.tapd); err != nil {

		t.Fatalf("kept proof: %v", err)
	}
	if f.hub.proofCalls != 0 {
		t.Errorf("the hub was asked for a proof")
	}

	tampered := kept
	tampered.Leaf.Shares++
	req.Reward = &tampered
	rep, err := Verify(context.Background(), req, f.hub, f.tapd)
	if !errors.Is(err, ErrVerifyFailed) ||
		!errors.Is(err, yield.ErrProofMismatch) || rep.OK() ||
		len(rep.Steps) != StepReward || rep.Steps[3].OK {

		t.Fatalf("tampered leaf: %v, %+v", err, rep)
	}
	if !strings.Contains(err.Error(), "step 4") {
		t.Errorf("error %q names no step 4", err)
	}
}

func TestVerifyFails(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		epoch    uint64
		provider string
		change   func(t *testing.T, f *verifyFixture)
		reward   func(f *verifyFixture) *RewardProof
		step     int
		want     string
	}{{
		name: "epoch without a tranche", epoch: 4, step: 1,
		want: "no tranche for epoch 4",
	}, {
		name: "tranche still pending", epoch: 5, step: 1,
		want: "has not succeeded",
	}, {
		name: "no genesis", step: 1, want: "no genesis",
		change: func(_ *testing.T, f *verifyFixture) {
			f.hub.opsErr = ErrNoGenesis
		},
	}, {
		name: "two succeeded tranches", step: 1, want: "2 succeeded",
		change: func(_ *testing.T, f *verifyFixture) {
			f.hub.ops = append(f.hub.ops, f.hub.ops[2])
		},
	}, {
		name: "bad group key", step: 1, want: "group key has 32",
		change: func(_ *testing.T, f *verifyFixture) {
			f.hub.groupKey = f.hub.groupKey[1:]
		},
	}, {
		name: "universe unreachable", step: 2, want: "refused",
		change: func(_ *testing.T, f *verifyFixture) {
			f.tapd.syncErr = errors.New("connection refused")
		},
	}, {
		name: "proof not in the universe", step: 2,
		want: "no issuance proof",
		change: func(_ *testing.T, f *verifyFixture) {
			delete(f.tapd.proofs, hex.EncodeToString(f.id))
		},
	}, {
		name: "proof not valid", step: 2, want: "not valid",
		change: func(_ *testing.T, f *verifyFixture) {
			p := f.tapd.verified["proof-e3"]
			p.Valid = false
			f.tapd.verified["proof-e3"] = p
		},
	}, {
		name: "proof of another asset", step: 2, want: "proof is of",
		change: func(_ *testing.T, f *verifyFixture) {
			p := f.tapd.verified["proof-e3"]
			p.AssetID = bytes.Repeat([]byte{9}, 32)
			f.tapd.verified["proof-e3"] = p
		},
	}, {
		name: "asset of another group", step: 2, want: "not the share",
		change: func(_ *testing.T, f *verifyFixture) {
			p := f.tapd.verified["proof-e3"]
			p.GroupKey = bytes.Repeat([]byte{3}, 33)
			f.tapd.verified["proof-e3"] = p
		},
	}, {
		name: "anchored elsewhere", step: 2, want: "the hub says",
		change: func(_ *testing.T, f *verifyFixture) {
			p := f.tapd.verified["proof-e3"]
			p.Anchor = wire.OutPoint{Index: 9}.String()
			f.tapd.verified["proof-e3"] = p
		},
	}, {
		name: "not in a block", step: 2, want: "no block",
		change: func(_ *testing.T, f *verifyFixture) {
			p := f.tapd.verified["proof-e3"]
			p.BlockHeight = 0
			f.tapd.verified["proof-e3"] = p
		},
	}, {
		name: "tapd behind the anchor", step: 2, want: "chain is at",
		change: func(_ *testing.T, f *verifyFixture) {
			f.tapd.tip = 499
		},
	}, {
		name: "no metadata revealed", step: 3, want: "no metadata",
		change: func(_ *testing.T, f *verifyFixture) {
			m := f.tapd.metas["proof-e3"]
			m.Data = nil
			f.tapd.metas["proof-e3"] = m
		},
	}, {
		name: "metadata not JSON", step: 3, want: "not of type JSON",
		change: func(_ *testing.T, f *verifyFixture) {
			m := f.tapd.metas["proof-e3"]
			m.JSON = false
			f.tapd.metas["proof-e3"] = m
		},
	}, {
		name: "metadata hash not the genesis's", step: 3,
		want: "genesis commits to",
		change: func(_ *testing.T, f *verifyFixture) {
			m := f.tapd.metas["proof-e3"]
			m.Hash = bytes.Repeat([]byte{0x12}, 32)
			f.tapd.metas["proof-e3"] = m
		},
	}, {
		name: "metadata of another epoch", step: 3,
		want: "epoch 2's, not 3",
		change: func(t *testing.T, f *verifyFixture) {
			m := f.meta
			m.Epoch = 2
			f.setMeta(t, m)
		},
	}, {
		name: "metadata not a tranche's", step: 3, want: "unknown field",
		change: func(_ *testing.T, f *verifyFixture) {
			m := f.tapd.metas["proof-e3"]
			m.Data = []byte(`{"name":"x","epoch":3}`)
			f.tapd.metas["proof-e3"] = m
		},
	}, {
		name: "usage root not hex", step: 3, want: "64 hex digits",
		change: func(t *testing.T, f *verifyFixture) {
			m := f.meta
			m.UsageRoot = "zz"
			f.setMeta(t, m)
		},
	}, {
		name: "usage root of another tree", step: 4,
		want: "leads to",
		change: func(t *testing.T, f *verifyFixture) {
			m := f.meta
			m.UsageRoot = strings.Repeat("00", 32)
			f.setMeta(t, m)
		},
	}, {
		name: "leaf count not the metadata's", step: 4,
		want: "metadata says 4",
		change: func(t *testing.T, f *verifyFixture) {
			m := f.meta
			m.LeafCount = 4
			f.setMeta(t, m)
		},
	}, {
		name: "provider without work", provider: "p9", step: 4,
		want: "no leaf for provider",
	}, {
		name: "leaf of another provider", step: 4,
		want: `provider "p1"'s, not "p2"`,
		reward: func(f *verifyFixture) *RewardProof {
			p, _ := f.hub.RewardProof(ctx, 3, "p1")
			return &p
		},
	}, {
		name: "leaf of another epoch", step: 4,
		want: "of epoch 2, not 3",
		reward: func(f *verifyFixture) *RewardProof {
			p, _ := f.hub.RewardProof(ctx, 3, "p2")
			p.Leaf.Epoch = 2
			return &p
		},
	}, {
		name: "tampered path", step: 4, want: "leads to",
		reward: func(f *verifyFixture) *RewardProof {
			p, _ := f.hub.RewardProof(ctx, 3, "p2")
			p.Proof.Siblings[0][0] ^= 1
			return &p
		},
	}, {
		name: "tampered earnings", step: 4, want: "leads to",
		reward: func(f *verifyFixture) *RewardProof {
			p, _ := f.hub.RewardProof(ctx, 3, "p2")
			p.Leaf.Earned += ledger.MilliSatoshi(1)
			return &p
		},
	}}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newVerifyFixture(t)
			if tc.change != nil {
				tc.change(t, f)
			}
			req := VerifyRequest{Epoch: 3, ProviderID: "p2"}
			if tc.epoch != 0 {
				req.Epoch = tc.epoch
			}
			if tc.provider != "" {
				req.ProviderID = tc.provider
			}
			if tc.reward != nil {
				req.Reward = tc.reward(f)
			}
			rep, err := Verify(ctx, req, f.hub, f.tapd)
			if !errors.Is(err, ErrVerifyFailed) {
				t.Fatalf("verify: %v", err)
			}
			if rep.OK() || len(rep.Steps) != tc.step {
				t.Fatalf("%d steps, want %d: %+v",
					len(rep.Steps), tc.step, rep)
			}
			last := rep.Steps[len(rep.Steps)-1]
			if last.OK || !strings.Contains(last.Detail, tc.want) {
				t.Errorf("step %d: %+v, want %q", tc.step, last,
					tc.want)
			}
			for _, s := range rep.Steps[:len(rep.Steps)-1] {
				if !s.OK {
					t.Errorf("step %d before failed: %+v",
						s.Number, s)
				}
			}
			if want := fmt.Sprintf("at step %d", tc.step); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

func TestVerifyBadRequest(t *testing.T) {
	f := newVerifyFixture(t)
	for _, req := range []VerifyRequest{
		{ProviderID: "p1"},
		{Epoch: 3},
	} {
		if _, err := Verify(context.Background(), req, f.hub,
			f.tapd); err == nil || errors.Is(err, ErrVerifyFailed) {

			t.Errorf("%+v: %v", req, err)
		}
	}
	if _, err := Verify(context.Background(), VerifyRequest{Epoch: 3,
		ProviderID: "p1"}, nil, f.tapd); err == nil {

		t.Error("no hub: no error")
	}
}

func TestParseTrancheMeta(t *testing.T) {
	root := strings.Repeat("ab", 32)
	good := fmt.Sprintf(`{"epoch":7,"window":{"start":"a","end":"b"},`+
		`"usage_root":"%s","leaf_count":2,"total_units":5,`+
		`"nav_per_share":"1000","decimal_display":3}`, root)
	m, err := ParseTrancheMeta([]byte(good))
	if err != nil || m.Epoch != 7 || m.UsageRoot != root ||
		m.LeafCount != 2 {

		t.Fatalf("%+v, %v", m, err)
	}
	for name, bad := range map[string]string{
		"not JSON":        "{",
		"trailing data":   good + "{}",
		"unknown field":   `{"epoch":1,"usage_root":"` + root + `","x":1,"decimal_display":3}`,
		"no epoch":        `{"usage_root":"` + root + `","decimal_display":3}`,
		"no root":         `{"epoch":1,"decimal_display":3}`,
		"short root":      `{"epoch":1,"usage_root":"abcd","decimal_display":3}`,
		"decimal display": `{"epoch":1,"usage_root":"` + root + `","decimal_display":2}`,
	} {
		if _, err := ParseTrancheMeta([]byte(bad)); err == nil {
			t.Errorf("%s: %s parsed", name, bad)
		}
	}
}

func FuzzParseTrancheMeta(f *testing.F) {
	m := TrancheMeta{Epoch: 1, UsageRoot: strings.Repeat("00", 32),
		DecimalDisplay: DecimalDisplay}
	b, _ := m.JSON()
	f.Add(b)
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseTrancheMeta(data)
		if err != nil {
			return
		}
		if m.Epoch == 0 || len(m.UsageRoot) != 64 {
			t.Fatalf("parsed %+v", m)
		}
		again, err := m.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if m2, err := ParseTrancheMeta(again); err != nil || m2 != m {
			t.Fatalf("round trip %+v → %+v, %v", m, m2, err)
		}
	})
}
