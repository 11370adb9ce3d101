package shares

import (
	"encoding/json"
	"fmt"
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
