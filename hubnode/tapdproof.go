package hubnode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/lightninglabs/lndclient"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/universerpc"
	"github.com/lightningnetwork/lnd/tlv"
	"google.golang.org/grpc"
)

// ErrProofNotFound is returned by IssuanceProof when the tapd's universe
// holds no issuance proof of the asset in the group.
var ErrProofNotFound = errors.New("no issuance proof of the asset in " +
	"the tapd's universe")

// ErrNoUniverse is returned by SyncIssuance when no universe was named
// and the tapd has no federation server to sync from.
var ErrNoUniverse = errors.New("no universe to sync from: name one, or " +
	"add the hub's tapd as the tapd's federation server")

// The magic bytes that open a single Taproot Assets proof ("TAPP") and a
// proof file ("TAPF"), as tapd's proof package writes them.
var (
	singleProofMagic = []byte("TAPP")
	proofFileMagic   = []byte("TAPF")
)

// VerifiedProof is what a tapd says of a proof it verified (VerifyProof):
// whether it is valid, and the asset and anchor the proof is about.
type VerifiedProof struct {
	// Valid is tapd's verdict. tapd logs why a proof is not valid; its
	// answer does not say.
	Valid bool

	// AssetID is the proven asset's id, 32 bytes; GroupKey its 33-byte
	// tweaked group key, empty for an asset without a group.
	AssetID  []byte
	GroupKey []byte

	// Name and Amount are the asset's genesis name and units.
	Name   string
	Amount uint64

	// Anchor is the anchor outpoint "txid:index"; BlockHash and
	// BlockHeight the block the proof places the anchor transaction in.
	Anchor      string
	BlockHash   string
	BlockHeight uint32
}

// RevealedMeta is an issuance proof's metadata reveal, as a tapd decodes it
// (DecodeProof with_meta_reveal).
type RevealedMeta struct {
	// AssetID is the asset the proof is about.
	AssetID []byte

	// JSON is whether the metadata's type is META_TYPE_JSON.
	JSON bool

	// Data is the revealed metadata.
	Data []byte

	// Hash is the revealed metadata's hash as tapd computes it, and
	// GenesisHash the metadata hash in the asset's genesis, which the
	// asset id commits to.
	Hash        []byte
	GenesisHash []byte
}

// TapdProofs reads and checks Taproot Assets proofs with a tapd: anyone's,
// such as a provider's own, to check what the hub's tapd issued.
type TapdProofs struct {
	conn   *grpc.ClientConn
	assets taprpc.TaprootAssetsClient
	uni    universerpc.UniverseClient
}

// DialTapdProofs connects to the tapd at host (host:port) with its TLS
// certificate and a macaroon that may sync its universe and verify proofs
// (the admin macaroon). network is tapd's network (regtest, testnet,
// mainnet, ...). Nothing is sent until the first call; Close closes the
// connection.
func DialTapdProofs(host, tlsPath, macaroonPath, network string) (
	*TapdProofs, error) {

	conn, err := lndclient.NewBasicConn(
		host, tlsPath, filepath.Dir(macaroonPath), network,
		lndclient.MacFilename(filepath.Base(macaroonPath)),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to tapd at %s: %w", host, err)
	}
	t := NewTapdProofs(conn)
	t.conn = conn
	return t, nil
}

// Close closes the connection DialTapdProofs made.
func (t *TapdProofs) Close() error {
	if t.conn == nil {
		return nil
	}
	return t.conn.Close()
}

// Network returns the network the tapd runs on.
func (t *TapdProofs) Network(ctx context.Context) (string, error) {
	info, err := t.assets.GetInfo(ctx, &taprpc.GetInfoRequest{})
	if err != nil {
		return "", fmt.Errorf("tapd getinfo: %w", err)
	}
	return info.Network, nil
}

// NewTapdProofs is a TapdProofs over a connection to a tapd carrying its
// macaroon, which must allow universe syncs (the admin macaroon does).
func NewTapdProofs(conn grpc.ClientConnInterface) *TapdProofs {
	return &TapdProofs{
		assets: taprpc.NewTaprootAssetsClient(conn),
		uni:    universerpc.NewUniverseClient(conn),
	}
}

// issuanceID is the universe id of a group's issuance proofs.
func issuanceID(groupKey []byte) *universerpc.ID {
	return &universerpc.ID{
		Id:        &universerpc.ID_GroupKey{GroupKey: groupKey},
		ProofType: universerpc.ProofType_PROOF_TYPE_ISSUANCE,
	}
}

// SyncIssuance has the tapd sync the group's issuance proofs from the
// universe at host ("host:port"), or from each of its federation servers
// when host is empty (ErrNoUniverse when it has none). tapd verifies each
// proof before its universe takes it. It returns the hosts synced from.
func (t *TapdProofs) SyncIssuance(ctx context.Context, host string,
	groupKey []byte) ([]string, error) {

	if len(groupKey) != GroupKeyLen {
		return nil, fmt.Errorf("sync issuance: group key of %d bytes, "+
			"want %d", len(groupKey), GroupKeyLen)
	}
	hosts := []string{host}
	if host == "" {
		resp, err := t.uni.ListFederationServers(ctx,
			&universerpc.ListFederationServersRequest{})
		if err != nil {
			return nil, fmt.Errorf("list federation servers: %w",
				err)
		}
		hosts = nil
		for _, s := range resp.Servers {
			hosts = append(hosts, s.Host)
		}
		if len(hosts) == 0 {
			return nil, ErrNoUniverse
		}
	}
	for _, h := range hosts {
		_, err := t.uni.SyncUniverse(ctx, &universerpc.SyncRequest{
			UniverseHost: h,
			SyncMode:     universerpc.UniverseSyncMode_SYNC_ISSUANCE_ONLY,
			SyncTargets: []*universerpc.SyncTarget{{
				Id: issuanceID(groupKey),
			}},
		})
		if err != nil {
			return nil, fmt.Errorf("sync the group's issuance "+
				"from %s: %w", h, err)
		}
	}
	return hosts, nil
}

// IssuanceProof returns the raw issuance proof (a single proof, not a
// file) of the asset in the group from the tapd's own universe, or
// ErrProofNotFound.
func (t *TapdProofs) IssuanceProof(ctx context.Context, groupKey,
	assetID []byte) ([]byte, error) {

	const page = 256
	for offset := int32(0); ; offset += page {
		resp, err := t.uni.AssetLeaves(ctx,
			&universerpc.AssetLeavesRequest{
				Id:     issuanceID(groupKey),
				Offset: offset,
				Limit:  page,
			})
		if err != nil {
			return nil, fmt.Errorf("universe leaves of group %x: %w",
				groupKey, err)
		}
		for _, l := range resp.Leaves {
			id := l.GetAsset().GetAssetGenesis().GetAssetId()
			if bytes.Equal(id, assetID) && len(l.Proof) > 0 {
				return l.Proof, nil
			}
		}
		if !resp.HasMore || len(resp.Leaves) == 0 {
			return nil, fmt.Errorf("%w: asset %x, group %x",
				ErrProofNotFound, assetID, groupKey)
		}
	}
}

// ProofFile returns raw as a proof file: unchanged when it is one, and
// when it is a single proof, the one-proof file tapd's proof.NewFile
// makes of it (version 0): the magic "TAPF", the version as 4 bytes
// big-endian, the number of proofs and the proof's length as BigSize
// varints, the proof, and SHA-256(32 zero bytes ‖ proof), the start of
// the file's hash chain. tapd's proof package is not a dependency: its
// module would move many of this module's dependencies.
func ProofFile(raw []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(raw, proofFileMagic):
		return raw, nil

	case !bytes.HasPrefix(raw, singleProofMagic):
		return nil, errors.New("neither a Taproot Assets proof nor " +
			"a proof file")
	}

	var (
		b       bytes.Buffer
		scratch [8]byte
		zero    [sha256.Size]byte
	)
	b.Write(proofFileMagic)
	_ = binary.Write(&b, binary.BigEndian, uint32(0))
	if err := tlv.WriteVarInt(&b, 1, &scratch); err != nil {
		return nil, err
	}
	if err := tlv.WriteVarInt(&b, uint64(len(raw)), &scratch); err != nil {
		return nil, err
	}
	b.Write(raw)
	h := sha256.New()
	h.Write(zero[:])
	h.Write(raw)
	b.Write(h.Sum(nil))
	return b.Bytes(), nil
}

// VerifyProof has the tapd verify the proof (a single proof or a file):
// its whole chain, the anchor transaction in a block of the tapd's chain,
// the asset's commitment in it, the genesis and group key reveals of an
// issuance, and the metadata reveal's hash against the genesis.
func (t *TapdProofs) VerifyProof(ctx context.Context, raw []byte) (
	VerifiedProof, error) {

	file, err := ProofFile(raw)
	if err != nil {
		return VerifiedProof{}, fmt.Errorf("verify proof: %w", err)
	}
	resp, err := t.assets.VerifyProof(ctx, &taprpc.ProofFile{
		RawProofFile: file,
	})
	if err != nil {
		return VerifiedProof{}, fmt.Errorf("verify proof: %w", err)
	}
	a := resp.GetDecodedProof().GetAsset()
	return VerifiedProof{
		Valid:       resp.Valid,
		AssetID:     a.GetAssetGenesis().GetAssetId(),
		GroupKey:    a.GetAssetGroup().GetTweakedGroupKey(),
		Name:        a.GetAssetGenesis().GetName(),
		Amount:      a.GetAmount(),
		Anchor:      a.GetChainAnchor().GetAnchorOutpoint(),
		BlockHash:   a.GetChainAnchor().GetAnchorBlockHash(),
		BlockHeight: a.GetChainAnchor().GetBlockHeight(),
	}, nil
}

// RevealMeta decodes the proof with its metadata reveal.
func (t *TapdProofs) RevealMeta(ctx context.Context, raw []byte) (
	RevealedMeta, error) {

	resp, err := t.assets.DecodeProof(ctx, &taprpc.DecodeProofRequest{
		RawProof:       raw,
		WithMetaReveal: true,
	})
	if err != nil {
		return RevealedMeta{}, fmt.Errorf("decode proof: %w", err)
	}
	p := resp.GetDecodedProof()
	m := RevealedMeta{
		AssetID:     p.GetAsset().GetAssetGenesis().GetAssetId(),
		GenesisHash: p.GetAsset().GetAssetGenesis().GetMetaHash(),
	}
	if r := p.GetMetaReveal(); r != nil {
		m.JSON = r.Type == taprpc.AssetMetaType_META_TYPE_JSON
		m.Data, m.Hash = r.Data, r.MetaHash
	}
	return m, nil
}

// BlockHeight returns the height of the tapd's chain tip.
func (t *TapdProofs) BlockHeight(ctx context.Context) (uint32, error) {
	info, err := t.assets.GetInfo(ctx, &taprpc.GetInfoRequest{})
	if err != nil {
		return 0, fmt.Errorf("tapd getinfo: %w", err)
	}
	return info.BlockHeight, nil
}
