package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/market"
)

// TestMarketConfig checks the default heartbeat timeout, its bounds, and
// that the option reaches the market.
func TestMarketConfig(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	if cfg.Market.HeartbeatTimeout != market.DefaultTimeout {
		t.Fatalf("default %v", cfg.Market.HeartbeatTimeout)
	}
	for _, tc := range []struct {
		timeout time.Duration
		ok      bool
	}{
		{time.Second, true}, {time.Hour, true}, {30 * time.Second, true},
		{999 * time.Millisecond, false}, {time.Hour + 1, false}, {0, false},
	} {
		cfg.Market.HeartbeatTimeout = tc.timeout
		err := cfg.validateMarket()
		if (err == nil) != tc.ok || err != nil && !strings.Contains(
			err.Error(), "market.heartbeattimeout") {

			t.Errorf("%v: %v", tc.timeout, err)
		}
	}
	cfg.Market.HeartbeatTimeout = 42 * time.Second
	for name, set := range map[string]func(time.Duration){
		"market.starttimeout": func(d time.Duration) {
			cfg.Market.StartTimeout = d
		},
		"market.lostafter": func(d time.Duration) {
			cfg.Market.LostAfter = d
		},
	} {
		for d, ok := range map[time.Duration]bool{
			time.Second: true, 24 * time.Hour: true,
			0: false, 24*time.Hour + 1: false,
		} {
			set(d)
			err := cfg.validateMarket()
			if (err == nil) != ok || err != nil &&
				!strings.Contains(err.Error(), name) {

				t.Errorf("%s %v: %v", name, d, err)
			}
			set(time.Minute)
		}
	}
	if got := newMarket(cfg.Market, nil, nil).Timeout(); got !=
		42*time.Second {

		t.Fatalf("market timeout %v", got)
	}
}
