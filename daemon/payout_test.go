package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/payout"
)

// TestPayoutOptions reads the payout.* options into the default policy and
// refuses each bad value, naming the option.
func TestPayoutOptions(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadConfig([]string{"--datadir", dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Payout.policy(); got != payout.DefaultPolicy() {
		t.Fatalf("default policy %+v, want %+v", got,
			payout.DefaultPolicy())
	}
	if cfg.Payout.MaxInFlight != payout.DefaultMaxInFlight {
		t.Fatalf("maxinflight %d", cfg.Payout.MaxInFlight)
	}

	cfg, err = LoadConfig([]string{"--datadir", dir,
		"--payout.interval=250ms", "--payout.minimum=5000",
		"--payout.feefloor=0", "--payout.feeppm=100",
		"--payout.feepayer=platform", "--payout.maxinflight=8",
		"--payout.timeout=30s", "--payout.blockedretry=1m"})
	if err != nil {
		t.Fatal(err)
	}
	want := payout.Policy{
		Interval: 250 * time.Millisecond,
		Minimum:  ledger.MilliSatoshi(5000),
		FeeFloor: 0,
		FeePPM:   100,
		FeePayer: payout.FeePayerPlatform,
	}
	if got := cfg.Payout.policy(); got != want {
		t.Fatalf("policy %+v, want %+v", got, want)
	}
	if cfg.Payout.MaxInFlight != 8 || cfg.Payout.Timeout != 30*time.Second ||
		cfg.Payout.BlockedRetry != time.Minute {

		t.Fatalf("limits %+v", cfg.Payout)
	}

	bad := []struct {
		arg, option string
	}{
		{"--payout.interval=0s", "payout.interval"},
		{"--payout.interval=1500us", "payout.interval"},
		{"--payout.minimum=0", "payout.minimum"},
		{"--payout.feefloor=-1", "payout.feefloor"},
		{"--payout.feeppm=1000001", "payout.feeppm"},
		{"--payout.feepayer=buyer", "feepayer"},
		{"--payout.maxinflight=0", "payout.maxinflight"},
		{"--payout.maxinflight=484", "payout.maxinflight"},
		{"--payout.timeout=500ms", "payout.timeout"},
		{"--payout.blockedretry=0s", "payout.blockedretry"},
	}
	for _, tc := range bad {
		_, err := LoadConfig([]string{"--datadir", dir, tc.arg})
		if !errors.Is(err, ErrInvalidConfig) ||
			!strings.Contains(err.Error(), tc.option) {

			t.Errorf("%s: %v, want ErrInvalidConfig naming %s",
				tc.arg, err, tc.option)
		}
	}
}
