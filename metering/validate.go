package metering

import (
	"fmt"
	"math"
	"time"

	"github.com/sluice-ln/sluice/channels"
)

// DefaultClockSkew is how far an agent's clock may run ahead of Sluice's.
const DefaultClockSkew = 5 * time.Second

// Policy is the operator's setting of the validation rules.
type Policy struct {
	// ClockSkew is how far in the future a record's second may end,
	// and how many seconds a job may claim beyond those elapsed. It may
	// not be negative.
	ClockSkew time.Duration
}

// DefaultPolicy returns the default Policy.
func DefaultPolicy() Policy {
	return Policy{ClockSkew: DefaultClockSkew}
}

// Validate checks the policy.
func (p Policy) Validate() error {
	if p.ClockSkew < 0 {
		return fmt.Errorf("clock skew %v is negative", p.ClockSkew)
	}

	return nil
}

// Checked is a batch that passed validation, split at the job's last
// accepted seq.
type Checked struct {
	// Replayed are the records with a seq the job has accepted before.
	// Each must equal the stored record of its seq (CheckReplay); then
	// it is acknowledged as a duplicate and changes nothing.
	Replayed []Record

	// New are the records that continue the job's sequence, ready to be
	// rated.
	New []Record
}

// Validate checks a batch against its job at time now, the rules in the
// order docs/protocol.md lists them:
//
//  1. the batch names the job (ErrUnknownJob), the caller is the job's
//     provider and the batch's agent key is that provider's current key
//     (ErrForeignJob);
//  2. records with a seq the job has accepted are set apart as Replayed;
//     when nothing else is left, the batch is a replay and the rules below
//     do not apply to it;
//  3. the new records continue the job's sequence without a gap: the
//     first is the last accepted seq plus one, each next one plus one
//     (ErrSeqGap);
//  4. the job's seconds, counting the new ones, are no more than the
//     whole seconds elapsed since Started plus the clock skew
//     (ErrTooManySeconds);
//  5. each new record, in order: quantities fit int64 (ErrOverflow) and
//     the job's spec (ErrOverLimit); its second comes after the job's last
//     accepted second (ErrSecondNotAfter), starts no earlier than the
//     second the job started in (ErrBeforeStart), starts before the job's
//     end if it ended (ErrAfterEnd), and ends no later than now plus the
//     clock skew (ErrFutureSecond);
//  6. the job takes usage: funded or running (ErrJobNotRunning).
//
// The batch must already have passed Verify: Validate does not check the
// signature, which is the expensive part and done once, before. Validate
// is a pure function of its arguments.
func Validate(b *Batch, job JobView, callerID string, now time.Time,
	p Policy) (Checked, error) {

	if err := b.Check(); err != nil {
		return Checked{}, err
	}

	// 1. Whose job.
	if b.JobID != job.ID {
		return Checked{}, fmt.Errorf("%w: batch for %q, job is %q",
			ErrUnknownJob, b.JobID, job.ID)
	}
	if callerID != job.ProviderID {
		return Checked{}, fmt.Errorf("%w: job %s runs on provider %q, "+
			"caller is %q", ErrForeignJob, job.ID, job.ProviderID,
			callerID)
	}
	if b.AgentKey != job.AgentKey {
		return Checked{}, fmt.Errorf("%w: job %s: agent key %x is not "+
			"provider %s's current key", ErrForeignJob, job.ID,
			b.AgentKey, job.ProviderID)
	}

	// 2. Replays. Records are in seq order, so the replayed ones come
	// first.
	last := job.Meter.LastSeq
	split := 0
	for split < len(b.Records) && b.Records[split].Seq <= last {
		split++
	}
	checked := Checked{Replayed: b.Records[:split], New: b.Records[split:]}
	if len(checked.New) == 0 {
		return checked, nil
	}

	// 3. Sequence.
	first, end := checked.New[0].Seq, checked.New[len(checked.New)-1].Seq
	if first != last+1 {
		return Checked{}, fmt.Errorf("%w: job %s: first new seq %d, "+
			"want %d", ErrSeqGap, job.ID, first, last+1)
	}
	if end-first != uint64(len(checked.New)-1) {
		return Checked{}, fmt.Errorf("%w: job %s: seqs %d to %d in "+
			"%d records", ErrSeqGap, job.ID, first, end,
			len(checked.New))
	}

	// 4. No more seconds than have elapsed. Started may lie inside a
	// second; that second counts.
	if !job.Started.IsZero() {
		elapsed := now.Add(p.ClockSkew).Unix() - job.Started.Unix()
		if elapsed < 0 || end > uint64(elapsed) {
			return Checked{}, fmt.Errorf("%w: job %s: %d seconds "+
				"claimed, %d elapsed since %v (skew %v)",
				ErrTooManySeconds, job.ID, end, max(elapsed, 0),
				job.Started.UTC().Format(time.RFC3339),
				p.ClockSkew)
		}
	}

	// 5. Each record.
	lastSecond := int64(math.MinInt64)
	if last > 0 {
		lastSecond = job.Meter.LastSecond
	}
	for _, r := range checked.New {
		if err := checkRecord(r, job, lastSecond, now, p); err != nil {
			return Checked{}, fmt.Errorf("job %s seq %d: %w", job.ID,
				r.Seq, err)
		}
		lastSecond = r.Second
	}

	// 6. State.
	if !job.State.TakesUsage() {
		return Checked{}, fmt.Errorf("%w: job %s is %v", ErrJobNotRunning,
			job.ID, job.State)
	}

	return checked, nil
}

// checkRecord checks one new record's quantities and time (rule 5).
func checkRecord(r Record, job JobView, lastSecond int64, now time.Time,
	p Policy) error {

	for _, q := range []struct {
		name     channels.Resource
		got, max uint64
	}{
		{channels.ResourceCPU, r.CPU, job.Max.CPU},
		{channels.ResourceMem, r.Mem, job.Max.Mem},
	} {
		if q.got > math.MaxInt64 {
			return fmt.Errorf("%w: %s quantity %d is above %d",
				ErrOverflow, q.name, q.got, int64(math.MaxInt64))
		}
		if q.got > q.max {
			return fmt.Errorf("%w: %s quantity %d, the spec allows "+
				"%d per second", ErrOverLimit, q.name, q.got,
				q.max)
		}
	}

	if r.Second <= lastSecond {
		return fmt.Errorf("%w: second %d, last accepted %d",
			ErrSecondNotAfter, r.Second, lastSecond)
	}
	if !job.Started.IsZero() && r.Second < job.Started.Unix() {
		return fmt.Errorf("%w: second %d, the job started at %v",
			ErrBeforeStart, r.Second, job.Started.UTC().Format(
				time.RFC3339))
	}
	// A second the job ended inside counts, as does the one it started
	// inside.
	if !job.Ended.IsZero() && !time.Unix(r.Second, 0).Before(job.Ended) {
		return fmt.Errorf("%w: second %d starts after the job ended "+
			"at %v", ErrAfterEnd, r.Second, job.Ended.UTC().Format(
			time.RFC3339Nano))
	}

	// The second ends at r.Second + 1, which must not be after now plus
	// the skew; compared in whole seconds, that is r.Second below the
	// bound's whole second, with no r.Second + 1 to overflow.
	if r.Second >= now.Add(p.ClockSkew).Unix() {
		return fmt.Errorf("%w: second %d ends after now (%d) plus %v",
			ErrFutureSecond, r.Second, now.Unix(), p.ClockSkew)
	}

	return nil
}

// CheckReplay compares replayed records with the stored records of the
// same seqs (in the same order). Any difference is ErrConflict: the agent
// reports the same second twice, differently, which the caller logs as a
// possible cheat.
func CheckReplay(jobID string, replayed, stored []Record) error {
	if len(replayed) != len(stored) {
		return fmt.Errorf("%w: job %s: %d replayed records, %d stored",
			ErrConflict, jobID, len(replayed), len(stored))
	}
	for i, r := range replayed {
		if r != stored[i] {
			return fmt.Errorf("%w: job %s seq %d: sent %+v, "+
				"accepted %+v", ErrConflict, jobID, r.Seq, r,
				stored[i])
		}
	}

	return nil
}
