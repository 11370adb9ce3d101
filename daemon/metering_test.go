package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
)

// TestMeteringState checks how settlement's job states look to metering:
// only funded and running jobs take usage, and a job low on balance before
// its first record is still to be started.
func TestMeteringState(t *testing.T) {
	started := time.Unix(1767225600, 0)
	tests := []struct {
		state   settlement.State
		started time.Time
		want    metering.JobState
	}{
		{settlement.StateAwaitingFunding, time.Time{}, metering.JobWaiting},
		{settlement.StateFunded, time.Time{}, metering.JobFunded},
		{settlement.StateLowBalance, time.Time{}, metering.JobFunded},
		{settlement.StateLowBalance, started, metering.JobRunning},
		{settlement.StateRunning, started, metering.JobRunning},
		{settlement.StateSuspended, started, metering.JobSuspended},
		{settlement.StateEnded, started, metering.JobEnded},
		{settlement.StateExpired, time.Time{}, metering.JobEnded},
		{settlement.State("bogus"), time.Time{}, metering.JobWaiting},
	}
	for _, tc := range tests {
		got := meteringState(settlement.Job{State: tc.state,
			StartedAt: tc.started})
		if got != tc.want {
			t.Errorf("%s (started %v): %v, want %v", tc.state,
				!tc.started.IsZero(), got, tc.want)
		}
	}
}

// TestMeteringConfig checks the defaults and refuses each option out of
// range, naming it.
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
