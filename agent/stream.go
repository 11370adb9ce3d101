package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/cenkalti/backoff/v4"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
)

// Errors of Stream.
var (
	// ErrJobEnded is returned by Stream when Sluice says the job has
	// ended (or never got funded): the command was stopped.
	ErrJobEnded = errors.New("job ended")

	// ErrRefused is returned by Stream when Sluice refuses a batch for a
	// reason a resend cannot fix (a bad signature, someone else's job, a
	// record outside the rules): the command was stopped. It wraps the
	// refusal.
	ErrRefused = errors.New("usage refused")

	// ErrMoved is wrapped by a Client's error when a call failed in
	// transport at the server the client used and the client moved to
	// its next address (the agent was given several): the stream
	// resumes there from the job's last acknowledged seq (GetMeter),
	// as it does after a restart.
	ErrMoved = errors.New("moved to the next sluiced address")
)

// LogServer logs the sluiced address the agent uses, for a client given
// several.
func LogServer(addr string) {
	log.Infof("Using sluiced at %s", addr)
}

// SubmitResult is Sluice's answer to a batch.
type SubmitResult struct {
	// Accepted and Duplicates count the batch's records taken now and
	// taken before.
	Accepted, Duplicates int

	// LastSeq is the job's last accepted seq.
	LastSeq uint64

	// Refused says why the records after LastSeq were not taken, when
	// only some were (the escrow ran out).
	Refused string
}

// MeterStatus is the job as Sluice's metering sees it.
type MeterStatus struct {
	// State is the job's state as settlement names it (settlement.State:
	// awaiting_funding, funded, running, low_balance, suspended, ended,
	// expired).
	State string

	// LastSeq and LastSecond are the job's last accepted record.
	LastSeq    uint64
	LastSecond int64

	// Max is the job's resource spec per second.
	Max metering.Usage

	// BatchVersions are the usage batch versions the server reads;
	// empty for a server that predates versioning (version 1 only).
	BatchVersions []uint8
}

// Client is the agent's view of Sluice's MeteringService. Errors that
// Sluice gave for a rule wrap the metering sentinel of that rule (the
// client maps them back); anything else (a dropped connection, a server
// that is not up) is taken as worth retrying.
type Client interface {
	// Submit hands in one encoded, signed batch.
	Submit(ctx context.Context, batch []byte) (SubmitResult, error)

	// Meter returns the job's metering status.
	Meter(ctx context.Context, jobID string) (MeterStatus, error)
}

// Measured is what Stream reads measurements from and pauses, resumes or
// stops; *Run is one.
type Measured interface {
	Measurements() <-chan Measurement
	Pause() error
	Resume() error
	Stop(grace time.Duration)
}

var _ Measured = (*Run)(nil)

// StreamConfig configures Stream.
type StreamConfig struct {
	// JobID is the job the command runs for.
	JobID string

	// Key is the agent key, which the job's provider linked.
	Key *btcec.PrivateKey

	// Client talks to Sluice.
	Client Client

	// MaxBatch is the most records one batch carries; 0 means 60.
	MaxBatch int

	// Interval is the least time between two batches while the command
	// runs: the seconds measured meanwhile go out together, in fewer,
	// larger batches, which is cheaper for Sluice at the cost of
	// billing (and learning of a suspension) later. 0 sends each second
	// as soon as it is measured.
	Interval time.Duration

	// RetryMin and RetryMax bound the wait between resends after a
	// failure, which doubles from RetryMin up to RetryMax; 0 means 250
	// ms and 15 s.
	RetryMin, RetryMax time.Duration

	// PollInterval is how often a suspended job's state is checked; 0
	// means 5 s.
	PollInterval time.Duration

	// StopGrace is how long the command has to exit after SIGTERM before
	// SIGKILL; 0 means 10 s.
	StopGrace time.Duration

	// Sleep waits for d or until ctx ends; nil is a timer. Tests set it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// withDefaults fills in the zero fields.
func (c StreamConfig) withDefaults() StreamConfig {
	if c.MaxBatch <= 0 || c.MaxBatch > metering.MaxRecords {
		c.MaxBatch = 60
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 250 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 15 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}

	return c
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StreamStats is what a Stream sent.
type StreamStats struct {
	// Measured is how many seconds were measured and Accepted how many
	// Sluice took by this Stream's batches. Dropped counts seconds at or
	// before the job's last accepted second when they were numbered: not
	// billable, or (after a lost answer) already billed.
	Measured, Accepted, Dropped int

	// Pauses counts suspensions the job came back from.
	Pauses int

	// BatchVersion is the usage batch version last chosen.
	BatchVersion uint8
}

// streamer is one Stream's state.
type streamer struct {
	cfg StreamConfig
	run Measured

	// pending are numbered records not yet acknowledged, in seq order.
	pending []metering.Record
	// nextSeq is the seq the next measurement gets; lastSecond the
	// second of the last record numbered or accepted.
	nextSeq    uint64
	lastSecond int64
	max        metering.Usage

	// version is the batch version sent: the newest this build and
	// the server both read, asked again after a failed connection
	// (another server, perhaps upgraded, may answer next).
	version uint8

	stats StreamStats
}

// Stream sends what run measures to Sluice as signed batches until the
// command exits and every measured second is acknowledged. It numbers each
// second once, so a resend after a dropped connection is the same record
// and Sluice acknowledges it as a duplicate: no second is lost or billed
// twice. It clamps each second to the job's spec, which is all a second
// can be billed for.
//
// When Sluice says the job is suspended, Stream pauses the command and
// polls until a top-up resumes the job, then resumes it; the seconds in
// between are not reported. When the job ended, or Sluice refuses a batch
// for good, it stops the command and returns ErrJobEnded or ErrRefused.
// When ctx ends it returns ctx's error and leaves the command to the
// caller.
func Stream(ctx context.Context, cfg StreamConfig, run Measured) (StreamStats,
	error) {

	cfg = cfg.withDefaults()
	s := &streamer{cfg: cfg, run: run}

	st, err := s.meter(ctx)
	if err != nil {
		return s.stats, err
	}
	if err := s.sync(st); err != nil {
		run.Stop(cfg.StopGrace)
		return s.stats, err
	}

	measurements := run.Measurements()
	var lastSend time.Time
	for {
		// Take what has been measured without waiting; wait only when
		// there is nothing to send.
		if measurements != nil && len(s.pending) == 0 {
			select {
			case m, ok := <-measurements:
				if !ok {
					measurements = nil
				} else {
					s.add(m)
				}
			case <-ctx.Done():
				return s.stats, ctx.Err()
			}
		}
		for measurements != nil {
			select {
			case m, ok := <-measurements:
				if !ok {
					measurements = nil
					continue
				}
				s.add(m)
				continue
			case <-ctx.Done():
				return s.stats, ctx.Err()
			default:
			}
			break
		}

		if len(s.pending) == 0 {
			if measurements == nil {
				log.Infof("Job %s: all %d seconds acknowledged",
					cfg.JobID, s.stats.Accepted)
				return s.stats, nil
			}
			continue
		}

		// Hold the batch back until the interval is over, unless it
		// is full or the command has ended.
		wait := cfg.Interval - time.Since(lastSend)
		if measurements != nil && len(s.pending) < cfg.MaxBatch &&
			wait > 0 {

			timer := time.NewTimer(wait)
			select {
			case m, ok := <-measurements:
				if !ok {
					measurements = nil
				} else {
					s.add(m)
				}
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return s.stats, ctx.Err()
			}
			timer.Stop()
			if time.Since(lastSend) < cfg.Interval &&
				len(s.pending) < cfg.MaxBatch &&
				measurements != nil {

				continue
			}
		}

		lastSend = time.Now()
		if err := s.sendOne(ctx); err != nil {
			return s.stats, err
		}
	}
}

// meter asks for the job's status, retrying transport failures.
func (s *streamer) meter(ctx context.Context) (MeterStatus, error) {
	retry := s.retryBackoff()
	for {
		st, err := s.cfg.Client.Meter(ctx, s.cfg.JobID)
		if err == nil {
			return st, nil
		}
		if isRule(err) {
			return MeterStatus{}, fmt.Errorf("job %s: %w",
				s.cfg.JobID, err)
		}
		delay := retry.NextBackOff()
		log.Warnf("Job %s: asking for its meter: %v; again in %v",
			s.cfg.JobID, err, delay)
		if err := s.cfg.Sleep(ctx, delay); err != nil {
			return MeterStatus{}, err
		}
	}
}

// retryBackoff returns the waits between resends after failures: doubling
// from RetryMin up to RetryMax, without jitter, never giving up (the job's
// context ends the retries). The loops sleep with cfg.Sleep, which tests
// set, so only the sequence comes from backoff.
func (s *streamer) retryBackoff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: s.cfg.RetryMin,
		Multiplier:      2,
		MaxInterval:     s.cfg.RetryMax,
		Stop:            backoff.Stop,
		Clock:           backoff.SystemClock,
	}
	b.Reset()
	return b
}

// sync takes the job's status: where its sequence stands and its spec. It
// refuses a job that ended.
func (s *streamer) sync(st MeterStatus) error {
	if !settlement.State(st.State).Funded() {
		return fmt.Errorf("%w: job %s is %s", ErrJobEnded, s.cfg.JobID,
			st.State)
	}
	s.max = st.Max
	s.setVersion(st.BatchVersions)

	// Renumber what was never accepted after the job's last record.
	s.nextSeq = st.LastSeq + 1
	s.lastSecond = st.LastSecond
	kept := s.pending[:0]
	for _, r := range s.pending {
		if st.LastSeq > 0 && r.Second <= st.LastSecond {
			s.stats.Dropped++
			continue
		}
		r.Seq = s.nextSeq
		s.nextSeq++
		s.lastSecond = r.Second
		kept = append(kept, r)
	}
	s.pending = kept

	return nil
}

// add numbers a measurement and queues it.
func (s *streamer) add(m Measurement) {
	s.stats.Measured++
	if s.nextSeq > 1 && m.Second <= s.lastSecond {
		// A second the job already billed (a restarted agent within
		// the same second): it cannot be billed again.
		s.stats.Dropped++
		return
	}
	u := m.Usage
	if s.max != (metering.Usage{}) {
		u.CPU = min(u.CPU, s.max.CPU)
		u.Mem = min(u.Mem, s.max.Mem)
	}
	s.pending = append(s.pending, metering.Record{
		Seq: s.nextSeq, Second: m.Second, Usage: u,
	})
	s.nextSeq++
	s.lastSecond = m.Second
}

// setVersion chooses the batch version for a server that reads theirs,
// reporting whether it changed.
func (s *streamer) setVersion(theirs []uint8) bool {
	v := metering.Negotiate(theirs)
	if v == s.version {
		return false
	}
	if s.version != 0 {
		log.Infof("Job %s: sending batch version %d (was %d)",
			s.cfg.JobID, v, s.version)
	}
	s.version = v
	s.stats.BatchVersion = v

	return true
}

// encode signs and encodes b in the negotiated batch version.
func (s *streamer) encode(b *metering.Batch) ([]byte, error) {
	b.Version, b.SentAt = s.version, 0
	if b.EncodingVersion() >= 2 {
		b.SentAt = time.Now().UnixMilli()
	}
	if err := b.Sign(s.cfg.Key); err != nil {
		return nil, err
	}

	return b.Encode()
}

// sendOne sends the first pending records as one batch until Sluice
// answers, handling what it answers.
func (s *streamer) sendOne(ctx context.Context) error {
	n := min(len(s.pending), s.cfg.MaxBatch)
	b := &metering.Batch{JobID: s.cfg.JobID, Records: s.pending[:n]}
	enc, err := s.encode(b)
	if err != nil {
		return err
	}
	renegotiated, reconnect := false, false

	retry := s.retryBackoff()
	for {
		if reconnect {
			st, err := s.meter(ctx)
			if err != nil {
				return err
			}
			if s.setVersion(st.BatchVersions) {
				if enc, err = s.encode(b); err != nil {
					return err
				}
			}
			reconnect = false
		}
		res, err := s.cfg.Client.Submit(ctx, enc)
		if err == nil {
			s.acknowledge(res.LastSeq, res.Accepted)
			if res.Refused != "" {
				log.Infof("Job %s: %s", s.cfg.JobID, res.Refused)
				return s.waitForJob(ctx)
			}
			return nil
		}

		delay := retry.NextBackOff()
		switch {
		case errors.Is(err, metering.ErrUnsupportedVersion) &&
			!renegotiated:
			// Another server (an older one, mid-upgrade) took
			// the call: ask it what it reads and send again.
			log.Infof("Job %s: %v; asking the server which "+
				"versions it reads", s.cfg.JobID, err)
			st, err := s.meter(ctx)
			if err != nil {
				return err
			}
			s.setVersion(st.BatchVersions)
			if enc, err = s.encode(b); err != nil {
				return err
			}
			renegotiated = true
			continue

		case errors.Is(err, metering.ErrJobNotRunning),
			errors.Is(err, metering.ErrInsufficientEscrow):
			log.Infof("Job %s: %v", s.cfg.JobID, err)
			return s.waitForJob(ctx)

		case errors.Is(err, metering.ErrSeqGap):
			log.Warnf("Job %s: %v; resynchronising", s.cfg.JobID,
				err)
			st, err := s.meter(ctx)
			if err != nil {
				return err
			}
			return s.sync(st)

		case errors.Is(err, ErrMoved):
			// Another instance: resume from the job's last
			// acknowledged seq there, after the wait, as after a
			// restart.
			log.Warnf("Job %s: sending seqs %d-%d: %v; resuming "+
				"from the job's last acknowledged seq in %v",
				s.cfg.JobID, b.Records[0].Seq,
				b.Records[n-1].Seq, err, delay)
			if err := s.cfg.Sleep(ctx, delay); err != nil {
				return err
			}
			st, err := s.meter(ctx)
			if err != nil {
				return err
			}
			return s.sync(st)

		case errors.Is(err, metering.ErrFutureSecond):
			// This clock runs ahead of Sluice's: wait for it.
			log.Warnf("Job %s: %v", s.cfg.JobID, err)

		case isRule(err):
			log.Errorf("Job %s: batch of seqs %d-%d refused: %v",
				s.cfg.JobID, b.Records[0].Seq,
				b.Records[n-1].Seq, err)
			s.run.Stop(s.cfg.StopGrace)
			return fmt.Errorf("%w: %w", ErrRefused, err)

		case ctx.Err() != nil:
			return ctx.Err()

		default:
			log.Warnf("Job %s: sending seqs %d-%d: %v; again in %v",
				s.cfg.JobID, b.Records[0].Seq,
				b.Records[n-1].Seq, err, delay)
			reconnect = true
		}

		if err := s.cfg.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// acknowledge drops the pending records Sluice has accepted.
func (s *streamer) acknowledge(lastSeq uint64, accepted int) {
	s.stats.Accepted += accepted
	i := 0
	for i < len(s.pending) && s.pending[i].Seq <= lastSeq {
		i++
	}
	s.pending = s.pending[i:]
}

// waitForJob finds out why the job takes no usage. A suspended job pauses
// the command until it runs again; an ended one stops it.
func (s *streamer) waitForJob(ctx context.Context) error {
	paused := false
	for {
		st, err := s.meter(ctx)
		if err != nil {
			return err
		}

		switch state := settlement.State(st.State); {
		case state.TakesUsage():
			if paused {
				log.Infof("Job %s runs again, resuming",
					s.cfg.JobID)
				if err := s.run.Resume(); err != nil {
					return err
				}
				s.stats.Pauses++
			}
			if !paused {
				// Running, yet the usage was refused: the
				// escrow is short of the next second and
				// settlement has not suspended the job (yet).
				err := s.cfg.Sleep(ctx, s.cfg.PollInterval)
				if err != nil {
					return err
				}
			}
			// The records held back go out as they are, unless
			// the job moved past them.
			return s.sync(st)

		case state == settlement.StateSuspended:
			if !paused {
				log.Infof("Job %s is suspended, pausing the "+
					"command until it is topped up",
					s.cfg.JobID)
				if err := s.run.Pause(); err != nil {
					return err
				}
				paused = true
			}

		default:
			log.Infof("Job %s is %s, stopping the command",
				s.cfg.JobID, st.State)
			s.run.Stop(s.cfg.StopGrace)
			return fmt.Errorf("%w: job %s is %s", ErrJobEnded,
				s.cfg.JobID, st.State)
		}

		if err := s.cfg.Sleep(ctx, s.cfg.PollInterval); err != nil {
			return err
		}
	}
}

// rules are the metering errors that a resend of the same batch cannot
// change.
var rules = []error{
	metering.ErrMalformed, metering.ErrUnsupportedVersion,
	metering.ErrBadSignature, metering.ErrUnknownJob,
	metering.ErrForeignJob, metering.ErrConflict,
	metering.ErrSecondNotAfter, metering.ErrBeforeStart,
	metering.ErrAfterEnd, metering.ErrTooManySeconds,
	metering.ErrOverLimit, metering.ErrOverflow,
	metering.ErrUnknownResource,
}

// isRule reports whether err is Sluice refusing for good.
func isRule(err error) bool {
	for _, r := range rules {
		if errors.Is(err, r) {
			return true
		}
	}

	return false
}
