package hubnode

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/universerpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// What asset sends (share withdrawals) need of tapd: addresses made on the
// recipient's own tapd and decoded on the sender's, SendAsset with several
// recipients and a label, and the transfer found again by its label.

var (
	// ErrAddrInvalid is returned when a Taproot Asset address does not
	// decode: not bech32m, or refused by tapd.
	ErrAddrInvalid = errors.New("not a valid Taproot Asset address")

	// ErrUnknownNetwork is returned for a network that has no Taproot
	// Asset address prefix.
	ErrUnknownNetwork = errors.New("no Taproot Asset addresses on " +
		"this network")

	// ErrAssetUnknown is returned by NewGroupAddr when the recipient's
	// tapd does not know the asset group (sync it from the issuer's
	// universe first).
	ErrAssetUnknown = errors.New("tapd does not know the asset group")

	// ErrSendRefused is returned by SendAsset when tapd answered the
	// send with an error (a bad address, too few assets or coins): the
	// send ended in tapd without a transfer, unless ListTransfers shows
	// one of its label.
	ErrSendRefused = errors.New("asset send refused by tapd")

	// ErrTransferNotFound is returned by TransferByLabel when tapd has
	// no transfer of the label.
	ErrTransferNotFound = errors.New("tapd has no transfer of the label")
)

// tapHRPs are the Taproot Asset address prefixes (human readable parts) by
// network, as tapd's address package names them.
var tapHRPs = map[string]string{
	"mainnet":  "tapbc",
	"testnet":  "taptb",
	"testnet3": "taptb",
	"testnet4": "taptb",
	"signet":   "taptb",
	"regtest":  "taprt",
	"simnet":   "tapsb",
}

// TapHRP is the prefix of the network's Taproot Asset addresses.
func TapHRP(network string) (string, error) {
	hrp, ok := tapHRPs[network]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownNetwork, network)
	}
	return hrp, nil
}

// AddrHRP is the prefix of a Taproot Asset address, checked as bech32m.
func AddrHRP(encoded string) (string, error) {
	hrp, _, v, err := bech32.DecodeNoLimitWithVersion(encoded)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrAddrInvalid, err)
	}
	if v != bech32.VersionM {
		return "", fmt.Errorf("%w: bech32, not bech32m", ErrAddrInvalid)
	}
	return hrp, nil
}

// AddrVersion is a Taproot Asset address's version, as taprpc numbers it.
type AddrVersion int32

// The address versions.
const (
	AddrVersionUnknown AddrVersion = 0
	AddrV0             AddrVersion = 1
	AddrV1             AddrVersion = 2

	// AddrV2 addresses may name a group key instead of an asset id, may
	// leave the amount to the sender and be used again, and deliver
	// proofs through an auth mailbox courier.
	AddrV2 AddrVersion = 3
)

// String names the version as tapd does, "V2".
func (v AddrVersion) String() string {
	switch v {
	case AddrV0, AddrV1, AddrV2:
		return fmt.Sprintf("V%d", int(v)-1)
	}
	return fmt.Sprintf("unknown(%d)", int32(v))
}

// TapAddr is a decoded Taproot Asset address.
type TapAddr struct {
	// Encoded is the address as given, bech32m.
	Encoded string

	// HRP is its prefix, which names its network (TapHRP).
	HRP string

	Version AddrVersion

	// GroupKey is the 33-byte group key a group address receives; nil
	// for an address of one asset id.
	GroupKey []byte

	// AssetID is the asset id an address of one asset receives; zero
	// bytes or nil for a group address.
	AssetID []byte

	// Amount is the units the address asks for; zero when the sender
	// chooses (V2 only).
	Amount uint64

	// ProofCourier is where the proofs are delivered.
	ProofCourier string
}

// tapAddr is a in this package's terms.
func tapAddr(a *taprpc.Addr, hrp string) TapAddr {
	return TapAddr{
		Encoded:      a.Encoded,
		HRP:          hrp,
		Version:      AddrVersion(a.AddressVersion),
		GroupKey:     a.GroupKey,
		AssetID:      a.AssetId,
		Amount:       a.Amount,
		ProofCourier: a.ProofCourierAddr,
	}
}

// ProofDelivery is where a transfer output's proof is, as taprpc's
// ProofDeliveryStatus says.
type ProofDelivery int32

// The proof delivery states.
const (
	// ProofNotApplicable is an output whose proof is not delivered
	// (change kept by the sender).
	ProofNotApplicable ProofDelivery = 0

	// ProofDelivered is a proof the courier took.
	ProofDelivered ProofDelivery = 1

	// ProofPending is a proof not delivered yet.
	ProofPending ProofDelivery = 2
)

// String names the state.
func (p ProofDelivery) String() string {
	switch p {
	case ProofNotApplicable:
		return "not applicable"
	case ProofDelivered:
		return "delivered"
	case ProofPending:
		return "pending"
	}
	return fmt.Sprintf("unknown(%d)", int32(p))
}

// TransferOutput is one output of an asset transfer.
type TransferOutput struct {
	Amount uint64

	// TapAddr is the address the output pays; empty for change.
	TapAddr string

	// Local is true for an output the sender's wallet keeps (change).
	Local bool

	Proof ProofDelivery
}

// AssetTransfer is an asset send as tapd lists it.
type AssetTransfer struct {
	Label string

	// AnchorTxid is the anchor transaction's id.
	AnchorTxid chainhash.Hash

	// Height is the anchor's block height; zero while unconfirmed.
	Height uint32

	Outputs []TransferOutput
}

// ProofsDelivered reports whether every output that goes to another
// wallet has its proof delivered.
func (t AssetTransfer) ProofsDelivered() bool {
	for _, o := range t.Outputs {
		if !o.Local && o.Proof != ProofDelivered {
			return false
		}
	}
	return true
}

// Confirmations is the anchor's depth at the chain's height tip: zero
// while unconfirmed, one in the tip's block.
func (t AssetTransfer) Confirmations(tip uint32) uint32 {
	if t.Height == 0 || tip < t.Height {
		return 0
	}
	return tip - t.Height + 1
}

// assetTransfer is t in this package's terms.
func assetTransfer(t *taprpc.AssetTransfer) (AssetTransfer, error) {
	h, err := chainhash.NewHash(t.AnchorTxHash)
	if err != nil {
		return AssetTransfer{}, fmt.Errorf("transfer %q: anchor tx "+
			"hash: %w", t.Label, err)
	}
	at := AssetTransfer{Label: t.Label, AnchorTxid: *h,
		Height: t.AnchorTxBlockHeight}
	for _, o := range t.Outputs {
		at.Outputs = append(at.Outputs, TransferOutput{
			Amount:  o.Amount,
			TapAddr: o.TapAddr,
			Local:   o.ScriptKeyIsLocal,
			Proof:   ProofDelivery(o.ProofDeliveryStatus),
		})
	}
	return at, nil
}

// Recipient is one address an asset send pays, and how many units.
type Recipient struct {
	Addr   string
	Amount uint64
}

// AssetSend is one SendAsset: every recipient in one anchor transaction,
// which needs them all to be of one asset id or one group key.
type AssetSend struct {
	// Label names the transfer; TransferByLabel finds it by it. Make it
	// unique: tapd does not.
	Label string

	// FeeRate is the anchor transaction's fee rate in sat/kw, MinFeeRate
	// at least.
	FeeRate uint32

	Recipients []Recipient
}

// TapdSender sends assets from the hub's tapd over taprpc.
type TapdSender struct {
	assets taprpc.TaprootAssetsClient
}

// NewTapdSender is a TapdSender over a connection to tapd carrying its
// macaroon.
func NewTapdSender(conn grpc.ClientConnInterface) *TapdSender {
	return &TapdSender{assets: taprpc.NewTaprootAssetsClient(conn)}
}

// outcomeUnknown reports whether err leaves open whether tapd did what it
// was asked: it never answered, or the call was cut.
func outcomeUnknown(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled,
		codes.ResourceExhausted, codes.Aborted:

		return true
	}
	_, isStatus := status.FromError(err)
	return !isStatus
}

// DecodeAddr decodes a Taproot Asset address with tapd, which refuses one
// of another network. Errors wrap ErrAddrInvalid when the address does not
// decode.
func (t *TapdSender) DecodeAddr(ctx context.Context, encoded string) (
	TapAddr, error) {

	hrp, err := AddrHRP(encoded)
	if err != nil {
		return TapAddr{}, err
	}
	a, err := t.assets.DecodeAddr(ctx, &taprpc.DecodeAddrRequest{
		Addr: encoded,
	})
	switch {
	case err != nil && outcomeUnknown(err):
		return TapAddr{}, fmt.Errorf("decode address: %w", err)

	case err != nil:
		return TapAddr{}, fmt.Errorf("%w: %v", ErrAddrInvalid,
			status.Convert(err).Message())
	}
	return tapAddr(a, hrp), nil
}

// SendAsset sends s in one anchor transaction and returns the transfer
// tapd logged. An error wraps ErrSendRefused when tapd answered with one;
// any other error leaves the outcome unknown.
func (t *TapdSender) SendAsset(ctx context.Context, s AssetSend) (
	AssetTransfer, error) {

	if s.FeeRate < MinFeeRate {
		return AssetTransfer{}, fmt.Errorf("send %q: %w: fee rate %d "+
			"sat/kw below %d", s.Label, ErrSendRefused, s.FeeRate,
			MinFeeRate)
	}
	req := &taprpc.SendAssetRequest{FeeRate: s.FeeRate, Label: s.Label}
	for _, r := range s.Recipients {
		req.AddressesWithAmounts = append(req.AddressesWithAmounts,
			&taprpc.AddressWithAmount{TapAddr: r.Addr,
				Amount: r.Amount})
	}
	resp, err := t.assets.SendAsset(ctx, req)
	switch {
	case err != nil && outcomeUnknown(err):
		return AssetTransfer{}, fmt.Errorf("send %q: %w", s.Label, err)

	case err != nil:
		return AssetTransfer{}, fmt.Errorf("send %q: %w: %v", s.Label,
			ErrSendRefused, status.Convert(err).Message())

	case resp.Transfer == nil:
		return AssetTransfer{}, fmt.Errorf("send %q: tapd answered "+
			"without a transfer", s.Label)
	}
	return assetTransfer(resp.Transfer)
}

// TransferByLabel returns tapd's transfer of the label; ErrTransferNotFound
// when there is none, and an error when there are several.
func (t *TapdSender) TransferByLabel(ctx context.Context, label string) (
	AssetTransfer, error) {

	resp, err := t.assets.ListTransfers(ctx, &taprpc.ListTransfersRequest{})
	if err != nil {
		return AssetTransfer{}, fmt.Errorf("list transfers: %w", err)
	}
	var found []*taprpc.AssetTransfer
	for _, tr := range resp.Transfers {
		if tr.Label == label {
			found = append(found, tr)
		}
	}
	switch len(found) {
	case 0:
		return AssetTransfer{}, fmt.Errorf("%w: %q",
			ErrTransferNotFound, label)
	case 1:
		return assetTransfer(found[0])
	}
	return AssetTransfer{}, fmt.Errorf("tapd has %d transfers labelled "+
		"%q", len(found), label)
}

// BlockHeight is the chain's height as tapd's lnd sees it.
func (t *TapdSender) BlockHeight(ctx context.Context) (uint32, error) {
	info, err := t.assets.GetInfo(ctx, &taprpc.GetInfoRequest{})
	if err != nil {
		return 0, fmt.Errorf("tapd getinfo: %w", err)
	}
	return info.BlockHeight, nil
}

// TapdWallet is a recipient's own tapd: it learns an asset group from the
// issuer's universe and makes addresses for it.
type TapdWallet struct {
	assets   taprpc.TaprootAssetsClient
	universe universerpc.UniverseClient

	// cc is the connection the wallet calls tapd over.
	cc grpc.ClientConnInterface

	// conn is the connection DialTapdWallet opened; nil otherwise.
	conn *grpc.ClientConn
}

// NewTapdWallet is a TapdWallet over a connection to tapd carrying its
// macaroon.
func NewTapdWallet(conn grpc.ClientConnInterface) *TapdWallet {
	return &TapdWallet{
		assets:   taprpc.NewTaprootAssetsClient(conn),
		universe: universerpc.NewUniverseClient(conn),
		cc:       conn,
	}
}

// Sender is a TapdSender over the wallet's connection: the wallet's tapd
// sending its own assets (a provider depositing shares back).
func (t *TapdWallet) Sender() *TapdSender {
	return NewTapdSender(t.cc)
}

// SyncGroup has tapd fetch the issuance proofs of the asset group from the
// universe at host (host:port), so that it knows the group.
func (t *TapdWallet) SyncGroup(ctx context.Context, host string,
	groupKey []byte) error {

	_, err := t.universe.SyncUniverse(ctx, &universerpc.SyncRequest{
		UniverseHost: host,
		SyncMode:     universerpc.UniverseSyncMode_SYNC_ISSUANCE_ONLY,
		SyncTargets: []*universerpc.SyncTarget{{
			Id: &universerpc.ID{
				Id: &universerpc.ID_GroupKey{
					GroupKey: groupKey,
				},
				ProofType: universerpc.ProofType_PROOF_TYPE_ISSUANCE,
			},
		}},
	})
	if err != nil {
		return fmt.Errorf("sync group %x from %s: %w", groupKey, host,
			err)
	}
	return nil
}

// NewGroupAddr makes a V2 address of the asset group, with no amount (the
// sender chooses it each time, so the address can be used again). courier
// is the proof courier, "universerpc://host:port" or
// "authmailbox+universerpc://host:port" (tapd makes the first the second
// for V2); tapd's own default when empty. ErrAssetUnknown when tapd does
// not know the group.
func (t *TapdWallet) NewGroupAddr(ctx context.Context, groupKey []byte,
	courier string) (TapAddr, error) {

	a, err := t.assets.NewAddr(ctx, &taprpc.NewAddrRequest{
		GroupKey:         groupKey,
		AddressVersion:   taprpc.AddrVersion_ADDR_VERSION_V2,
		ProofCourierAddr: courier,
	})
	if err != nil {
		msg := status.Convert(err).Message()
		if strings.Contains(msg, "unable to find asset or group") ||
			strings.Contains(msg, "asset lookup failed") {

			return TapAddr{}, fmt.Errorf("%w %x: %v",
				ErrAssetUnknown, groupKey, msg)
		}
		return TapAddr{}, fmt.Errorf("new address: %w", err)
	}
	hrp, err := AddrHRP(a.Encoded)
	if err != nil {
		return TapAddr{}, err
	}
	return tapAddr(a, hrp), nil
}

// GroupBalance returns the units of the asset group that tapd holds, as
// its ListBalances by group key shows them; zero when it holds none.
func (t *TapdWallet) GroupBalance(ctx context.Context, groupKey []byte) (
	uint64, error) {

	resp, err := t.assets.ListBalances(ctx, &taprpc.ListBalancesRequest{
		GroupBy: &taprpc.ListBalancesRequest_GroupKey{
			GroupKey: true,
		},
		GroupKeyFilter: groupKey,
	})
	if err != nil {
		return 0, fmt.Errorf("list balances of group %x: %w", groupKey,
			err)
	}
	var held uint64
	for _, b := range resp.GetAssetGroupBalances() {
		held += b.Balance
	}
	return held, nil
}

// DialTapdWallet connects to a recipient's tapd at host with its TLS
// certificate and a macaroon file (admin.macaroon will do), and checks
// that it answers on network. Close it when done.
func DialTapdWallet(ctx context.Context, host, tlsPath, macaroonPath,
	network string) (*TapdWallet, error) {

	creds, err := credentials.NewClientTLSFromFile(tlsPath, "")
	if err != nil {
		return nil, fmt.Errorf("tapd tls cert: %w", err)
	}
	mac, err := os.ReadFile(macaroonPath)
	if err != nil {
		return nil, fmt.Errorf("tapd macaroon: %w", err)
	}
	conn, err := grpc.NewClient(host,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(tapdMacaroon(
			hex.EncodeToString(mac))),
	)
	if err != nil {
		return nil, fmt.Errorf("tapd at %s: %w", host, err)
	}
	w := NewTapdWallet(conn)
	w.conn = conn
	info, err := w.assets.GetInfo(ctx, &taprpc.GetInfoRequest{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("tapd at %s: %w", host, err)
	}
	if info.Network != network {
		conn.Close()
		return nil, fmt.Errorf("tapd at %s runs on %s, not %s", host,
			info.Network, network)
	}
	return w, nil
}

// Close closes the connection DialTapdWallet opened.
func (t *TapdWallet) Close() error {
	if t.conn == nil {
		return nil
	}
	return t.conn.Close()
}

// tapdMacaroon sends a hex macaroon in the "macaroon" metadata, as tapd
// expects.
type tapdMacaroon string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (m tapdMacaroon) GetRequestMetadata(context.Context, ...string) (
	map[string]string, error) {

	return map[string]string{"macaroon": string(m)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (m tapdMacaroon) RequireTransportSecurity() bool { return true }
