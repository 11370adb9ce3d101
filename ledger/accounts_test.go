package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestAccountValidate(t *testing.T) {
	tests := []struct {
		name    string
		account Account
		wantErr bool
	}{
		{"singleton", HubHoldings(), false},
		{"per job", BuyerEscrow("job-1"), false},
		{"ref charset", ProviderPayable("Ab0_.-z"), false},
		{"ref at max length", Refunded(strings.Repeat("a", MaxRefLen)), false},
		{"node pubkey ref", PaidOut("02" + strings.Repeat("ab", 32)), false},

		{"unknown kind", Account{Kind: "cash"}, true},
		{"empty kind", Account{}, true},
		{"singleton with ref", Account{Kind: KindVault, Ref: "x"}, true},
		{"per thing without ref", StrategyPrincipal(""), true},
		{"ref too long", Refunded(strings.Repeat("a", MaxRefLen+1)), true},
		{"ref with colon", BuyerEscrow("a:b"), true},
		{"ref with space", BuyerEscrow("a b"), true},
		{"ref with slash", BuyerEscrow("a/b"), true},
		{"ref not ascii", BuyerEscrow("jöb"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.account.Validate()
			if tc.wantErr != (err != nil) {
				t.Fatalf("Validate() = %v, want error %v", err,
					tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidAccount) {
				t.Fatalf("error %v is not ErrInvalidAccount", err)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	negative := map[AccountKind]bool{
		KindHubHoldings:   true,
		KindStrategyYield: true,
		KindShareSupply:   true,

		KindSharesDeposited: true,
	}
	shares := map[AccountKind]bool{
		KindShareSupply:    true,
		KindProviderShares: true,
		KindSharesLocked:   true,

		KindSharesWithdrawing: true,
		KindSharesWithdrawn:   true,
		KindSharesDeposited:   true,
	}
	perThing := map[AccountKind]bool{
		KindBuyerEscrow:       true,
		KindProviderPayable:   true,
		KindPayoutInFlight:    true,
		KindPaidOut:           true,
		KindRefunded:          true,
		KindStrategyPrincipal: true,
		KindStrategyYield:     true,
		KindProviderShares:    true,
		KindSharesLocked:      true,
		KindSharesWithdrawing: true,
		KindSharesWithdrawn:   true,
		KindSharesDeposited:   true,
	}

	if len(Kinds()) != len(kinds) || len(Kinds()) != 17 {
		t.Fatalf("Kinds() has %d, table %d, want 17", len(Kinds()),
			len(kinds))
	}
	for _, k := range Kinds() {
		if !k.Known() {
			t.Errorf("%s not known", k)
		}
		if k.MayGoNegative() != negative[k] {
			t.Errorf("%s.MayGoNegative() = %v", k, k.MayGoNegative())
		}
		if k.PerThing() != perThing[k] {
			t.Errorf("%s.PerThing() = %v", k, k.PerThing())
		}
		want := UnitMsat
		if shares[k] {
			want = UnitShares
		}
		if k.Unit() != want {
			t.Errorf("%s.Unit() = %q, want %q", k, k.Unit(), want)
		}
	}

	unknown := AccountKind("nope")
	if unknown.Known() || unknown.MayGoNegative() || unknown.PerThing() ||
		unknown.Unit() != "" {

		t.Error("unknown kind has properties")
	}

	for _, a := range []Account{ShareSupply(), ProviderShares("p"),
		SharesLocked("p")} {

		if err := a.Validate(); err != nil || a.Kind.Unit() != UnitShares {
			t.Errorf("%v: %v, unit %q", a, err, a.Kind.Unit())
		}
	}
}

func TestAccountConstructors(t *testing.T) {
	tests := []struct {
		got  Account
		kind AccountKind
		ref  string
	}{
		{HubHoldings(), KindHubHoldings, ""},
		{BuyerEscrow("j"), KindBuyerEscrow, "j"},
		{ProviderPayable("p"), KindProviderPayable, "p"},
		{PayoutInFlight("p"), KindPayoutInFlight, "p"},
		{PaidOut("p"), KindPaidOut, "p"},
		{Refunded("j"), KindRefunded, "j"},
		{PlatformFees(), KindPlatformFees, ""},
		{RoutingFees(), KindRoutingFees, ""},
		{Vault(), KindVault, ""},
		{StrategyPrincipal("s"), KindStrategyPrincipal, "s"},
		{StrategyYield("s"), KindStrategyYield, "s"},
	}
	for _, tc := range tests {
		if tc.got != (Account{Kind: tc.kind, Ref: tc.ref}) {
			t.Errorf("got %+v, want %s:%s", tc.got, tc.kind, tc.ref)
		}
		if err := tc.got.Validate(); err != nil {
			t.Errorf("%v: %v", tc.got, err)
		}
	}
}

func TestParseAccount(t *testing.T) {
	tests := []struct {
		in      string
		want    Account
		wantErr bool
	}{
		{"hub_holdings", HubHoldings(), false},
		{"buyer_escrow:job-1", BuyerEscrow("job-1"), false},
		{"strategy_yield:s.1", StrategyYield("s.1"), false},
		{"buyer_escrow", Account{}, true},
		{"buyer_escrow:", Account{}, true},
		{"vault:x", Account{}, true},
		{"buyer_escrow:a:b", Account{}, true},
		{"", Account{}, true},
	}
	for _, tc := range tests {
		got, err := ParseAccount(tc.in)
		if tc.wantErr != (err != nil) || got != tc.want {
			t.Errorf("ParseAccount(%q) = %v, %v", tc.in, got, err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("%q formats back as %q", tc.in, got.String())
		}
	}
}
