package settlement

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
)

func mustRate(t *testing.T, s string) ledger.Rate {
	t.Helper()
	r, err := ledger.ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"cpu only", Spec{channels.ResourceCPU: 2000}, true},
		{"both", Spec{channels.ResourceCPU: 500, channels.ResourceMem: 1024}, true},
		{"one zero", Spec{channels.ResourceCPU: 0, channels.ResourceMem: 1}, true},
		{"empty", Spec{}, false},
		{"all zero", Spec{channels.ResourceCPU: 0}, false},
		{"negative", Spec{channels.ResourceCPU: -1, channels.ResourceMem: 5}, false},
		{"unknown", Spec{"gpu": 1}, false},
		{"too big", Spec{channels.ResourceMem: MaxSpecUnits + 1}, false},
		{"max", Spec{channels.ResourceMem: MaxSpecUnits}, true},
	}
	for _, tc := range tests {
		err := tc.spec.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidJob) {
			t.Errorf("%s: err = %v, want ErrInvalidJob", tc.name, err)
		}
	}
}

func TestPricePerSecond(t *testing.T) {
	rates := channels.RateCard{
		channels.ResourceCPU: mustRate(t, "0.25"),
		channels.ResourceMem: mustRate(t, "0.001"),
	}
	tests := []struct {
		name  string
		spec  Spec
		rates channels.RateCard
		want  string
		err   bool
	}{
		{"cpu", Spec{channels.ResourceCPU: 2000}, rates, "500", false},
		{"both", Spec{channels.ResourceCPU: 1000, channels.ResourceMem: 512}, rates,
			"250.512", false},
		{"zero resource needs no rate", Spec{channels.ResourceCPU: 4,
			channels.ResourceMem: 0}, channels.RateCard{channels.ResourceCPU: mustRate(t,
			"1")}, "4", false},
		{"missing rate", Spec{channels.ResourceMem: 1},
			channels.RateCard{channels.ResourceCPU: mustRate(t, "1")}, "", true},
	}
	for _, tc := range tests {
		got, err := PricePerSecond(tc.spec, tc.rates)
		if (err != nil) != tc.err {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if err == nil && !got.Equal(decimal.RequireFromString(tc.want)) {
			t.Errorf("%s: price %v, want %s", tc.name, got, tc.want)
		}
	}
}

// TestEvaluateThresholds checks the health and runway at and around each
// threshold: one second's price (exhausted below it) and the buffer (low
// below it).
func TestEvaluateThresholds(t *testing.T) {
	price := decimal.RequireFromString("2.5") // msat per second
	const buffer = 10                         // seconds: 25 msat
	tests := []struct {
		escrow  ledger.MilliSatoshi
		health  Health
		seconds int64
		runway  string
	}{
		{0, Exhausted, 0, "0"},
		{2, Exhausted, 0, "0.8"},
		{3, Low, 1, "1.2"},
		{5, Low, 2, "2"},
		{24, Low, 9, "9.6"},
		{25, Healthy, 10, "10"},
		{26, Healthy, 10, "10.4"},
		{1_000_000, Healthy, 400_000, "400000"},
	}
	for _, tc := range tests {
		s := Evaluate(tc.escrow, price, buffer)
		if s.Health != tc.health || s.RunwaySeconds != tc.seconds ||
			!s.Runway.Equal(decimal.RequireFromString(tc.runway)) {

			t.Errorf("escrow %d: health %v, runway %v (%d s); want "+
				"%v, %s (%d s)", tc.escrow, s.Health, s.Runway,
				s.RunwaySeconds, tc.health, tc.runway, tc.seconds)
		}
	}
}

func TestEvaluateEdges(t *testing.T) {
	// A zero buffer is never low.
	if s := Evaluate(1, decimal.NewFromInt(1), 0); s.Health != Healthy {
		t.Errorf("zero buffer: %v", s.Health)
	}
	// A zero price never runs out.
	if s := Evaluate(0, decimal.Zero, 100); s.Health != Healthy ||
		s.RunwaySeconds != 0 {

		t.Errorf("zero price: %+v", s)
	}
	// A price that divides into a repeating decimal still floors right:
	// 1 msat at 1/3 msat per second is exactly 3 seconds.
	third := decimal.NewFromInt(1).DivRound(decimal.NewFromInt(3), 18)
	s := Evaluate(1, third, 0)
	if s.RunwaySeconds != 3 {
		t.Errorf("1 msat at %v: %d s, want 3", third, s.RunwaySeconds)
	}
	// A huge escrow at a tiny price caps at MaxInt64 seconds.
	s = Evaluate(ledger.MaxMilliSatoshi,
		decimal.RequireFromString("0.000000000000000001"), 0)
	if s.RunwaySeconds != math.MaxInt64 {
		t.Errorf("huge runway: %d", s.RunwaySeconds)
	}
}

func TestDepletionTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		escrow ledger.MilliSatoshi
		price  string
		want   time.Time
	}{
		{1000, "10", at.Add(100 * time.Second)},
		{1, "3", at.Add(333 * time.Millisecond)},
		{0, "3", at},
		{5, "0", time.Time{}},
	}
	for _, tc := range tests {
		s := Evaluate(tc.escrow, decimal.RequireFromString(tc.price), 0)
		if got := s.DepletionTime(at); !got.Equal(tc.want) {
			t.Errorf("%d msat at %s/s: %v, want %v", tc.escrow,
				tc.price, got, tc.want)
		}
	}
}

func TestTargetState(t *testing.T) {
	tests := []struct {
		h       Health
		started bool
		want    State
	}{
		{Healthy, false, StateFunded},
		{Healthy, true, StateRunning},
		{Low, false, StateLowBalance},
		{Low, true, StateLowBalance},
		{Exhausted, false, StateSuspended},
		{Exhausted, true, StateSuspended},
	}
	for _, tc := range tests {
		if got := TargetState(tc.h, tc.started); got != tc.want {
			t.Errorf("%v started %v: %s, want %s", tc.h, tc.started,
				got, tc.want)
		}
	}
}
