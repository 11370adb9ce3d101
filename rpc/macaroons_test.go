package rpc

import (
	"encoding/hex"
	"testing"
	"time"
)

// FuzzVerifyMacaroon feeds arbitrary macaroon headers to the verifier: it
// must never panic, and whatever it accepts must name a known role, with a
// provider id exactly when the role is provider, and a buyer id exactly
// when it is buyer.
func FuzzVerifyMacaroon(f *testing.F) {
	macs, err := newMacaroonService(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	for _, role := range []Role{RoleOperator, RoleBuyer} {
		m, err := macs.bake(role)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		f.Add(hex.EncodeToString(raw))
	}
	_, agent := testKeys(f)
	raw, err := macs.bakeProvider("prov-1", agent)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hex.EncodeToString(raw))
	raw, err = macs.bakeBuyer("buyer-1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hex.EncodeToString(raw))
	f.Add("")
	f.Add("00")
	f.Add("0201067a7a7a")

	now := time.Now()
	f.Fuzz(func(t *testing.T, header string) {
		caller, err := macs.verify(header, now)
		if err != nil {
			return
		}
		if _, err := parseRole(string(caller.Role)); err != nil {
			t.Fatalf("accepted unknown role %q", caller.Role)
		}
		if (caller.Role == RoleProvider) != (caller.ProviderID != "") ||
			(caller.Role == RoleBuyer) != (caller.BuyerID != "") {

			t.Fatalf("accepted %+v", caller)
		}
	})
}
