package shares

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
)

// DecimalDisplay is the asset's decimal display: 1 unit = 1/1000 share.
// The metadata carries the same number, as tapd requires.
const DecimalDisplay = 3

// Claim is what a share is a claim on, as the terms say it.
const Claim = "a share of the Sluice vault's net assets"

// Unit says what one asset unit is, as the terms say it.
const Unit = "1 unit = 1/1000 share"

// Vault names the vault whose shares the asset is: the hub's node and its
// network.
type Vault struct {
	// Hub is the hub lnd's identity key, hex.
	Hub string `json:"hub"`

	// Network is the Bitcoin network (regtest, testnet, mainnet, ...).
	Network string `json:"network"`
}

// Terms are the genesis metadata: what the asset is a claim on. tapd keeps
// them as META_TYPE_JSON and the asset id commits to their hash, so a
// holder can read them from the genesis proof.
type Terms struct {
	Name           string `json:"name"`
	Claim          string `json:"claim"`
	Unit           string `json:"unit"`
	Vault          Vault  `json:"vault"`
	DecimalDisplay uint32 `json:"decimal_display"`
}

// GenesisTerms are the terms of the genesis named name for vault.
func GenesisTerms(name string, vault Vault) Terms {
	return Terms{Name: name, Claim: Claim, Unit: Unit, Vault: vault,
		DecimalDisplay: DecimalDisplay}
}

// JSON is t as the metadata's bytes.
func (t Terms) JSON() ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("share terms: %w", err)
	}
	return b, nil
}

// Window is an epoch's window [Start, End), RFC 3339 in UTC.
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// TrancheMeta is an epoch tranche's metadata: which epoch's shares it
// mints, the epoch's usage Merkle root (package yield's tree of the
// providers' contributions, hex in SHA-256's byte order) and leaf count,
// the units minted, and the vault's value per share when the epoch closed
// (msat per share, before its reward), so that a holder of the tranche's
// genesis proof can read them.
type TrancheMeta struct {
	Epoch          uint64 `json:"epoch"`
	Window         Window `json:"window"`
	UsageRoot      string `json:"usage_root"`
	LeafCount      uint64 `json:"leaf_count"`
	TotalUnits     uint64 `json:"total_units"`
	NAVPerShare    string `json:"nav_per_share"`
	DecimalDisplay uint32 `json:"decimal_display"`
}

// TrancheTerms is the metadata of epoch e's tranche of units.
func TrancheTerms(e ClosedEpoch, units ledger.Shares) TrancheMeta {
	return TrancheMeta{
		Epoch: e.Number,
		Window: Window{
			Start: e.Start.UTC().Format(time.RFC3339Nano),
			End:   e.End.UTC().Format(time.RFC3339Nano),
		},
		UsageRoot:      hex.EncodeToString(e.Root[:]),
		LeafCount:      e.Leaves,
		TotalUnits:     uint64(units),
		NAVPerShare:    navPerShare(e.NAVAssets, e.NAVSupply),
		DecimalDisplay: DecimalDisplay,
	}
}

// navPerShare is assets over supply in msat per share (ledger.UnitsPerShare
// units), to the msat, rounded down; "0" for no supply.
func navPerShare(assets ledger.MilliSatoshi, supply ledger.Shares) string {
	if supply <= 0 {
		return "0"
	}
	return decimal.NewFromInt(int64(assets)).
		Mul(decimal.NewFromInt(ledger.UnitsPerShare)).
		Div(decimal.NewFromInt(int64(supply))).
		RoundDown(0).String()
}

// JSON is m as the metadata's bytes.
func (m TrancheMeta) JSON() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("tranche metadata: %w", err)
	}
	return b, nil
}
