package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMeteringConfig(t *testing.T) {
	if err := DefaultMeteringConfig().validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(c *MeteringConfig)
		flag   string
	}{
		{"fee over 100%", func(c *MeteringConfig) {
			c.PlatformFee = 10001
		}, "--metering.platformfee"},
		{"negative skew", func(c *MeteringConfig) {
			c.ClockSkew = -time.Second
		}, "--metering.clockskew"},
		{"skew over a minute", func(c *MeteringConfig) {
			c.ClockSkew = 2 * time.Minute
		}, "--metering.clockskew"},
		{"no flush size", func(c *MeteringConfig) {
			c.FlushRecords = 0
		}, "--metering.flushrecords"},
		{"linger over a second", func(c *MeteringConfig) {
			c.Linger = 2 * time.Second
		}, "--metering.linger"},
	}
	for _, tc := range tests {
		c := DefaultMeteringConfig()
		tc.mutate(c)
		err := c.validate()
		if !errors.Is(err, ErrInvalidConfig) ||
			!strings.Contains(err.Error(), tc.flag) {

			t.Errorf("%s: err = %v, want one naming %s", tc.name,
				err, tc.flag)
		}
	}
	ok := DefaultMeteringConfig()
	ok.PlatformFee, ok.Linger = 10000, 0
	if err := ok.validate(); err != nil {
		t.Errorf("100%% fee, no linger: %v", err)
	}
}
