package market

import "time"

// JobTally is how a provider's jobs stand, counted by the store from
// settlement's job states and the cause of each job's end. The store only
// translates settlement's causes into these buckets; Record decides what
// each bucket means for the provider.
type JobTally struct {
	// EndedByBuyer, EndedByProvider and EndedByOperator count the jobs
	// that started (the agent reported usage) and then ended, by who
	// ended them.
	EndedByBuyer    int64
	EndedByProvider int64
	EndedByOperator int64

	// NeverStarted counts the jobs that were funded (escrow held) but
	// ended, by the provider or the operator, before the agent ever
	// reported: the provider took the work and did not do it. A buyer
	// ending its job before it started is counted nowhere: it may have
	// changed its mind.
	NeverStarted int64

	// Lost counts the jobs that started and were ended because the
	// provider's serving agent stopped heartbeating mid-run.
	Lost int64

	// Lapsed counts the placements the provider let lapse: jobs placed
	// on it that it did not start in time, placed again elsewhere.
	Lapsed int64

	// Active counts the jobs that hold escrow and have not ended
	// (funded, running, low on balance, suspended).
	Active int64
}

// Record is a provider's standing as Sluice saw it. Every field comes from
// what Sluice stores; docs/market.md lists each field's source.
type Record struct {
	// Completed: jobs that started and were ended by their buyer or
	// their provider, the ordinary end of a job (the buyer is done, or
	// the provider's command exited).
	Completed int64

	// Failed: jobs that started and were ended by the operator, who
	// ends a job only when something went wrong with it.
	Failed int64

	// Abandoned: funded jobs that ended before the agent ever reported
	// (JobTally.NeverStarted).
	Abandoned int64

	// Active: jobs holding escrow that have not ended.
	Active int64

	// MeteredSeconds: usage records accepted for the provider's jobs,
	// one per metered second.
	MeteredSeconds int64

	// PayoutFailures: payouts to the provider's node that failed.
	PayoutFailures int64

	// UptimePPM: heartbeat uptime in millionths since the first
	// heartbeat (Presence.UptimePPM); 0 without heartbeats.
	UptimePPM uint32

	// Since is the first heartbeat; zero without one.
	Since time.Time
}

// NewRecord builds a record from the store's counts and the provider's
// presence (nil when it never sent a heartbeat) as of now.
func NewRecord(t JobTally, meteredSeconds, payoutFailures int64,
	p *Presence, now time.Time, timeout time.Duration) Record {

	r := Record{
		Completed:      t.EndedByBuyer + t.EndedByProvider,
		Failed:         t.EndedByOperator + t.Lost,
		Abandoned:      t.NeverStarted + t.Lapsed,
		Active:         t.Active,
		MeteredSeconds: meteredSeconds,
		PayoutFailures: payoutFailures,
	}
	if p != nil {
		r.UptimePPM = p.UptimePPM(now, timeout)
		r.Since = p.FirstSeen
	}
	return r
}

// Finished is the jobs that reached an end that counts: completed, failed
// or abandoned.
func (r Record) Finished() int64 {
	return r.Completed + r.Failed + r.Abandoned
}

// compareFailureShare compares the share of a's finished jobs that failed
// or were abandoned with b's: negative when a's is smaller. A provider with
// no finished job has a share of zero. Cross-multiplied, no division.
func compareFailureShare(a, b Record) int {
	an, ad := a.Failed+a.Abandoned, a.Finished()
	bn, bd := b.Failed+b.Abandoned, b.Finished()
	if ad == 0 {
		an, ad = 0, 1
	}
	if bd == 0 {
		bn, bd = 0, 1
	}
	// Counts are far below 2^31 in any real store; the products fit.
	l, r := an*bd, bn*ad
	switch {
	case l < r:
		return -1
	case l > r:
		return 1
	}
	return 0
}
