package rpc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestMacaroonsMintedBeforeBakery verifies macaroons minted by the
// hand-written verifier's release (testdata/macaroons-v1: its root key,
// operator macaroon file and minted hex macaroons), so that a change of
// verifier keeps every issued macaroon working: the same root key loads,
// the operator file is not baked anew, and each macaroon speaks for the
// same caller, or stays expired.
func TestMacaroonsMintedBeforeBakery(t *testing.T) {
	src := filepath.Join("testdata", "macaroons-v1")
	dir := t.TempDir()
	for _, name := range []string{RootKeyFile, OperatorMacaroonFile} {
		raw, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw,
			0o600); err != nil {

			t.Fatal(err)
		}
	}
	macs, err := newMacaroonService(dir)
	if err != nil {
		t.Fatal(err)
	}
	opFile, err := os.ReadFile(filepath.Join(dir, OperatorMacaroonFile))
	if err != nil {
		t.Fatal(err)
	}
	opFixture, _ := os.ReadFile(filepath.Join(src, OperatorMacaroonFile))
	if !bytes.Equal(opFile, opFixture) {
		t.Fatal("the operator macaroon was baked anew")
	}
	readHex := func(name string) string {
		raw, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	_, agent := testKeys(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		mac     string
		want    Caller
		wantErr error
	}{
		{"operator file", hex.EncodeToString(opFile),
			Caller{Role: RoleOperator}, nil},
		{"provider", readHex("provider.hex"), Caller{
			Role: RoleProvider, ProviderID: "prov-1",
			AgentKey: agent}, nil},
		{"buyer", readHex("buyer.hex"),
			Caller{Role: RoleBuyer, BuyerID: "buyer-1"}, nil},
		{"operator until 2100", readHex("operator-until-2100.hex"),
			Caller{Role: RoleOperator}, nil},
		{"operator expired in 2020",
			readHex("operator-expired-2020.hex"), Caller{},
			ErrCaveatFailed},
	}
	for _, tc := range tests {
		got, err := macs.verify(tc.mac, now)
		if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: caller %+v, want %+v", tc.name, got,
				tc.want)
		}
	}
}

// TestCaveatChecks runs the caveat checker over attenuated operator,
// buyer and provider macaroons: time-before holds strictly before its
// time, malformed or unknown conditions refuse, the bakery's declared and
// error conditions refuse, and id caveats must name something.
func TestCaveatChecks(t *testing.T) {
	macs, err := newMacaroonService(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, agent := testKeys(t)
	deadline := time.Date(2030, 6, 1, 12, 0, 0, 500, time.UTC)
	before := "time-before " + deadline.Format(time.RFC3339Nano)
	provider := []string{"provider_id p1", "agent_key " + agent.String()}
	tests := []struct {
		name    string
		role    Role
		caveats []string
		now     time.Time
		ok      bool
		wantMsg string
	}{
		{"before the deadline", RoleOperator, []string{before},
			deadline.Add(-time.Nanosecond), true, ""},
		{"at the deadline", RoleOperator, []string{before}, deadline,
			false, "expired"},
		{"after the deadline", RoleOperator, []string{before},
			deadline.Add(time.Hour), false, "expired"},
		{"earliest of two deadlines wins", RoleOperator, []string{
			before, "time-before " + deadline.Add(-time.Hour).
				Format(time.RFC3339Nano)},
			deadline.Add(-time.Minute), false, "expired"},
		{"time-before not a time", RoleOperator,
			[]string{"time-before tomorrow"}, deadline, false,
			"tomorrow"},
		{"time-before on a provider", RoleProvider,
			append([]string{before}, provider...),
			deadline.Add(-time.Second), true, ""},
		{"unknown condition", RoleOperator, []string{"ipaddr 1.2.3.4"},
			deadline, false, "unknown condition"},
		{"empty caveat", RoleOperator, []string{""}, deadline, false,
			"unknown condition"},
		{"leading space", RoleOperator, []string{" time-before x"},
			deadline, false, "unknown condition"},
		{"bakery error caveat", RoleOperator, []string{"error no"},
			deadline, false, "not satisfied"},
		{"bakery declared caveat", RoleOperator,
			[]string{"declared user bob"}, deadline, false,
			"not satisfied"},
		{"empty provider_id", RoleProvider, []string{"provider_id",
			"provider_id p1", "agent_key " + agent.String()},
			deadline, false, "names no provider"},
		{"empty buyer_id", RoleBuyer, []string{"buyer_id"}, deadline,
			false, "names no buyer"},
		{"provider_id on the operator", RoleOperator,
			[]string{"provider_id p1"}, deadline, false,
			"on a operator macaroon"},
	}
	for _, tc := range tests {
		m, err := macs.bake(tc.role, tc.caveats...)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		c, err := macs.verify(hex.EncodeToString(raw), tc.now)
		if tc.ok {
			if err != nil || c.Role != tc.role {
				t.Errorf("%s: %+v, %v", tc.name, c, err)
			}
			continue
		}
		if !errors.Is(err, ErrCaveatFailed) ||
			!strings.Contains(err.Error(), tc.wantMsg) {

			t.Errorf("%s: err %v, want ErrCaveatFailed naming %q",
				tc.name, err, tc.wantMsg)
		}
	}
}
