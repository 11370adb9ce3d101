//go:build itest

package itest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// benchTimeout bounds one throughput run: three levels of at most 20 s
// each, plus the payments in flight when each level ends.
const benchTimeout = 5 * time.Minute

// BenchmarkKeysendBaseline measures raw lnd keysend throughput from the hub
// to provider1 on a fresh network: 1-sat payments with SendPaymentV2 at 1,
// 8 and 32 concurrent senders, each level bounded by DefaultLimits. It
// reports payments per second and p50/p99 latency per level, and prints a
// table. Run it with `make bench`.
func BenchmarkKeysendBaseline(b *testing.B) {
	net := newNetwork(b)

	var levels []Level
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), benchTimeout)
		var err error
		levels, err = KeysendBaseline(ctx, net.profile,
			DefaultConcurrencies, DefaultLimits)
		cancel()
		if err != nil {
			b.Fatalf("keysend baseline: %v", err)
		}
	}

	fmt.Fprintln(os.Stdout)
	err := WriteTable(os.Stdout, fmt.Sprintf("keysend baseline, hub -> "+
		"provider1, %d msat per payment, at most %d payments or %v "+
		"per level:", KeysendBaselineMsat, DefaultLimits.Payments,
		DefaultLimits.Duration), levels)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range levels {
		c := l.Concurrency
		b.ReportMetric(l.PerSecond(), fmt.Sprintf("pay/s@%d", c))
		b.ReportMetric(ms(l.P50), fmt.Sprintf("p50-ms@%d", c))
		b.ReportMetric(ms(l.P99), fmt.Sprintf("p99-ms@%d", c))
		if l.Failed > 0 {
			// A baseline with failed payments would flatter
			// anything compared with it.
			b.Errorf("%d of %d keysend payments failed at %d "+
				"senders; first: %v", l.Failed,
				l.Failed+l.Succeeded, c, l.FirstErr)
		}
	}
}
