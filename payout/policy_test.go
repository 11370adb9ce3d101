package payout

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"pgregory.net/rapid"
)

// testPolicy is a policy with a 1 sat floor and 1 % share, paid by the
// provider.
func testPolicy() Policy {
	return Policy{
		Interval: time.Second,
		Minimum:  1_000,
		FeeFloor: 1_000,
		FeePPM:   10_000,
		FeePayer: FeePayerProvider,
	}
}

// TestPolicyValidate accepts the defaults and refuses each field out of
// range.
func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Policy)
		ok     bool
	}{
		{"defaults", func(*Policy) {}, true},
		{"platform pays", func(p *Policy) {
			p.FeePayer = FeePayerPlatform
		}, true},
		{"no floor", func(p *Policy) { p.FeeFloor = 0 }, true},
		{"whole ppm", func(p *Policy) { p.FeePPM = PPMScale }, true},
		{"zero interval", func(p *Policy) { p.Interval = 0 }, false},
		{"sub-ms interval", func(p *Policy) {
			p.Interval = 1500 * time.Microsecond
		}, false},
		{"zero minimum", func(p *Policy) { p.Minimum = 0 }, false},
		{"negative floor", func(p *Policy) { p.FeeFloor = -1 }, false},
		{"negative ppm", func(p *Policy) { p.FeePPM = -1 }, false},
		{"ppm over a million", func(p *Policy) {
			p.FeePPM = PPMScale + 1
		}, false},
		{"unknown payer", func(p *Policy) { p.FeePayer = "buyer" },
			false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.change(&p)
			err := p.Validate()
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("got %v, want ErrInvalidPolicy", err)
			}
		})
	}
}

// TestFeeCap: the floor holds for small amounts, the share for large ones,
// rounding down, without overflow at the top of the range.
func TestFeeCap(t *testing.T) {
	tests := []struct {
		name  string
		floor ledger.MilliSatoshi
		ppm   int64
		amt   ledger.MilliSatoshi
		want  ledger.MilliSatoshi
	}{
		{"tiny payment keeps the floor", 1_000, 10_000, 1, 1_000},
		{"share rounds to zero, floor", 1_000, 5_000, 199, 1_000},
		{"share equals floor", 1_000, 10_000, 100_000, 1_000},
		{"share above floor", 1_000, 10_000, 1_000_000, 10_000},
		{"share rounds down", 0, 10_000, 1_999, 19},
		{"no floor, share zero", 0, 10_000, 99, 0},
		{"zero amount", 500, 10_000, 0, 500},
		{"whole amount", 0, PPMScale, 12_345, 12_345},
		{"max amount", 0, PPMScale, ledger.MaxMilliSatoshi,
			ledger.MaxMilliSatoshi},
		{"max amount half", 0, PPMScale / 2, ledger.MaxMilliSatoshi,
			ledger.MaxMilliSatoshi / 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.FeeFloor, p.FeePPM = tc.floor, tc.ppm
			if got := p.FeeCap(tc.amt); got != tc.want {
				t.Fatalf("FeeCap(%v) = %v, want %v", tc.amt,
					got, tc.want)
			}
		})
	}
}

// TestPlan: what is paid and reserved for each payer, the minimum and the
// route cap; nothing below the minimum is paid.
func TestPlan(t *testing.T) {
	tests := []struct {
		name     string
		payer    FeePayer
		payable  ledger.MilliSatoshi
		platform ledger.MilliSatoshi
		routeMax ledger.MilliSatoshi
		want     Plan
		ok       bool
	}{
		{name: "nothing payable", payable: 0},
		{name: "negative payable", payable: -5},
		{name: "provider pays: payable less the cap",
			payable: 1_000_000,
			want:    Plan{Amount: 990_000, FeeBudget: 9_900},
			ok:      true},
		{name: "provider pays: floor",
			payable: 5_000,
			want:    Plan{Amount: 4_000, FeeBudget: 1_000},
			ok:      true},
		{name: "provider pays: rest below minimum",
			payable: 1_999},
		{name: "provider pays: exactly the minimum",
			payable: 2_000,
			want:    Plan{Amount: 1_000, FeeBudget: 1_000},
			ok:      true},
		{name: "platform pays: all of it",
			payer: FeePayerPlatform, payable: 1_000_000,
			platform: 50_000,
			want:     Plan{Amount: 1_000_000, FeeBudget: 10_000},
			ok:       true},
		{name: "platform pays: budget capped by its fees",
			payer: FeePayerPlatform, payable: 1_000_000,
			platform: 300,
			want:     Plan{Amount: 1_000_000, FeeBudget: 300},
			ok:       true},
		{name: "platform without fees: zero-fee routes only",
			payer: FeePayerPlatform, payable: 5_000,
			want: Plan{Amount: 5_000, FeeBudget: 0}, ok: true},
		{name: "platform pays: below minimum",
			payer: FeePayerPlatform, payable: 999, platform: 10},
		{name: "route cap",
			payable: 1_000_000, routeMax: 200_000,
			want: Plan{Amount: 200_000, FeeBudget: 2_000},
			ok:   true},
		{name: "route cap below minimum",
			payable: 1_000_000, routeMax: 999},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			if tc.payer != "" {
				p.FeePayer = tc.payer
			}
			got, ok := p.Plan(tc.payable, tc.platform, tc.routeMax)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("Plan = %+v, %v; want %+v, %v", got,
					ok, tc.want, tc.ok)
			}
		})
	}
}

// TestPlanProperties: for any policy and balances, a plan never spends
// more than the payer has, its budget is the cap of its amount (or the
// platform's fees), and it pays at least the minimum.
func TestPlanProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := Policy{
			Interval: time.Second,
			Minimum: ledger.MilliSatoshi(rapid.Int64Range(1,
				1e9).Draw(t, "minimum")),
			FeeFloor: ledger.MilliSatoshi(rapid.Int64Range(0,
				1e7).Draw(t, "floor")),
			FeePPM: rapid.Int64Range(0, PPMScale).Draw(t, "ppm"),
			FeePayer: rapid.SampledFrom([]FeePayer{
				FeePayerProvider, FeePayerPlatform,
			}).Draw(t, "payer"),
		}
		payable := ledger.MilliSatoshi(rapid.Int64Range(-10,
			1e15).Draw(t, "payable"))
		platform := ledger.MilliSatoshi(rapid.Int64Range(0,
			1e12).Draw(t, "platform"))
		routeMax := ledger.MilliSatoshi(rapid.Int64Range(0,
			1e15).Draw(t, "routeMax"))

		plan, ok := p.Plan(payable, platform, routeMax)
		if !ok {
			if plan != (Plan{}) {
				t.Fatalf("no plan but %+v", plan)
			}
			return
		}
		if plan.Amount < p.Minimum {
			t.Fatalf("amount %v below minimum %v", plan.Amount,
				p.Minimum)
		}
		if routeMax > 0 && plan.Amount > routeMax {
			t.Fatalf("amount %v above route max %v", plan.Amount,
				routeMax)
		}
		switch p.FeePayer {
		case FeePayerProvider:
			if plan.Amount+plan.FeeBudget > payable {
				t.Fatalf("amount %v + budget %v over payable %v",
					plan.Amount, plan.FeeBudget, payable)
			}
			if plan.FeeBudget != p.FeeCap(plan.Amount) {
				t.Fatalf("budget %v, cap %v", plan.FeeBudget,
					p.FeeCap(plan.Amount))
			}
		case FeePayerPlatform:
			if plan.Amount > payable || plan.FeeBudget > platform {
				t.Fatalf("plan %+v over payable %v or "+
					"platform %v", plan, payable, platform)
			}
			if plan.FeeBudget != min(p.FeeCap(plan.Amount),
				platform) {

				t.Fatalf("budget %v, cap %v, platform %v",
					plan.FeeBudget, p.FeeCap(plan.Amount),
					platform)
			}
		}
	})
}

// TestApply: an override replaces only the fields it sets.
func TestApply(t *testing.T) {
	interval := 200 * time.Millisecond
	minimum := ledger.MilliSatoshi(5)
	payer := FeePayerPlatform

	got := testPolicy().Apply(Override{
		Interval: &interval,
		Minimum:  &minimum,
		FeePayer: &payer,
	})
	want := testPolicy()
	want.Interval, want.Minimum, want.FeePayer = interval, minimum, payer
	if got != want {
		t.Fatalf("Apply = %+v, want %+v", got, want)
	}
	if got := testPolicy().Apply(Override{}); got != testPolicy() {
		t.Fatalf("empty override changed the policy: %+v", got)
	}
}
