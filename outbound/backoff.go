package outbound

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Doubling returns exact waits: first, doubled at each NextBackOff, never
// more than most (so first too is capped at most), without jitter and
// never stopping; the caller's own rule or context ends the retries, and
// Reset starts over from first. It is for the waits that are promised to
// someone (a provider's next payout try, a buyer's next refund try, the
// next invoice subscription), where jitter would break the promise;
// Retry, for unknown outcomes, keeps backoff's jitter.
func Doubling(first, most time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: min(first, most),
		Multiplier:      2,
		MaxInterval:     most,
		Stop:            backoff.Stop,
		Clock:           backoff.SystemClock,
	}
	b.Reset()
	return b
}

// NthWait is the wait after n tries in a row failed (n ≥ 1; less counts
// as 1): Doubling(first, most)'s nth wait, first·2ⁿ⁻¹ capped at most.
func NthWait(first, most time.Duration, n int64) time.Duration {
	b := Doubling(first, most)
	wait := b.NextBackOff()
	for i := int64(1); i < n && wait < most; i++ {
		wait = b.NextBackOff()
	}
	return wait
}
