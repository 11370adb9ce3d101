package metering

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/settlement"
)

// validateNow is the clock of the validation tests.
var validateNow = time.Unix(1767226200, 0).UTC()

// baseJob is a running job that started a minute before validateNow and
// has accepted ten records, the last for its twentieth second.
func baseJob() JobView {
	started := validateNow.Add(-time.Minute)
	b := &Batch{JobID: "job-1", Records: []Record{{Seq: 1}}}
	_ = b.Sign(vectorKey("test agent"))

	return JobView{
		ID:         "job-1",
		ProviderID: "prov-1",
		AgentKey:   b.AgentKey,
		State:      settlement.StateRunning,
		StartedAt:  started,
		Started:    started,
		Max:        Usage{CPU: 2000, Mem: 1024},
		Meter: MeterState{
			LastSeq:    10,
			LastSecond: started.Unix() + 20,
		},
	}
}

// baseBatch is three records that continue baseJob: seqs 11 to 13 for its
// thirtieth to thirty-second seconds.
func baseBatch(job JobView) *Batch {
	b := &Batch{JobID: job.ID, AgentKey: job.AgentKey}
	for i := 0; i < 3; i++ {
		b.Records = append(b.Records, Record{
			Seq:    11 + uint64(i),
			Second: job.Started.Unix() + 30 + int64(i),
			Usage:  Usage{CPU: 1500, Mem: 512},
		})
	}

	return b
}

func TestValidate(t *testing.T) {
	start := baseJob().Started.Unix()
	tests := []struct {
		name         string
		mutate       func(j *JobView, b *Batch)
		caller       string
		wantErr      error
		wantReplayed int
		wantNew      int
	}{
		{"ok", nil, "", nil, 0, 3},
		{"funded job starts", func(j *JobView, b *Batch) {
			j.State, j.StartedAt = settlement.StateFunded, time.Time{}
		}, "", nil, 0, 3},
		{"at the spec's limits", func(j *JobView, b *Batch) {
			b.Records[0].Usage = j.Max
		}, "", nil, 0, 3},
		{"idle seconds and a time gap", func(j *JobView, b *Batch) {
			b.Records[0].Usage = Usage{}
			b.Records[2].Second += 10
		}, "", nil, 0, 3},
		{"replay only", func(j *JobView, b *Batch) {
			b.Records = []Record{{Seq: 9, Second: start + 19},
				{Seq: 10, Second: start + 20}}
		}, "", nil, 2, 0},
		{"replay to a suspended job is still a replay",
			func(j *JobView, b *Batch) {
				j.State = settlement.StateSuspended
				b.Records = []Record{{Seq: 10,
					Second: start + 20}}
			}, "", nil, 1, 0},
		{"partial replay", func(j *JobView, b *Batch) {
			b.Records = append([]Record{{Seq: 9,
				Second: start + 19}, {Seq: 10,
				Second: start + 20}}, b.Records...)
		}, "", nil, 2, 3},
		{"first records of a job", func(j *JobView, b *Batch) {
			j.Meter = MeterState{}
			b.Records = []Record{{Seq: 1, Second: start}}
		}, "", nil, 0, 1},
		{"second the job started inside", func(j *JobView, b *Batch) {
			j.Started = j.Started.Add(700 * time.Millisecond)
			j.Meter = MeterState{}
			b.Records = []Record{{Seq: 1, Second: start}}
		}, "", nil, 0, 1},
		{"second the job ended inside", func(j *JobView, b *Batch) {
			j.Ended = time.Unix(start+32, 5e8)
		}, "", nil, 0, 3},
		{"second ending at now plus skew", func(j *JobView, b *Batch) {
			b.Records[2].Second = validateNow.Unix() + 4
		}, "", nil, 0, 3},

		{"malformed", func(j *JobView, b *Batch) {
			b.Records = nil
		}, "", ErrMalformed, 0, 0},
		{"other job", func(j *JobView, b *Batch) {
			b.JobID = "job-2"
		}, "", ErrUnknownJob, 0, 0},
		{"other provider calls", nil, "prov-2", ErrForeignJob, 0, 0},
		{"other agent key", func(j *JobView, b *Batch) {
			b.AgentKey[0] ^= 1
		}, "", ErrForeignJob, 0, 0},
		{"seq skips ahead", func(j *JobView, b *Batch) {
			for i := range b.Records {
				b.Records[i].Seq++
			}
		}, "", ErrSeqGap, 0, 0},
		{"gap inside the batch", func(j *JobView, b *Batch) {
			b.Records[2].Seq = 20
		}, "", ErrSeqGap, 0, 0},
		{"gap after replayed records", func(j *JobView, b *Batch) {
			b.Records = []Record{{Seq: 10, Second: start + 20},
				{Seq: 12, Second: start + 30}}
		}, "", ErrSeqGap, 0, 0},
		{"more seconds than elapsed", func(j *JobView, b *Batch) {
			j.Started = validateNow.Add(-2 * time.Second)
			j.Meter = MeterState{}
			b.Records = nil
			for i := 0; i < 8; i++ {
				b.Records = append(b.Records, Record{
					Seq:    uint64(i + 1),
					Second: j.Started.Unix() + int64(i),
				})
			}
		}, "", ErrTooManySeconds, 0, 0},
		{"cpu overflows", func(j *JobView, b *Batch) {
			b.Records[1].CPU = math.MaxInt64 + 1
			j.Max.CPU = math.MaxUint64
		}, "", ErrOverflow, 0, 0},
		{"mem overflows", func(j *JobView, b *Batch) {
			b.Records[1].Mem = math.MaxUint64
		}, "", ErrOverflow, 0, 0},
		{"cpu above spec", func(j *JobView, b *Batch) {
			b.Records[1].CPU = j.Max.CPU + 1
		}, "", ErrOverLimit, 0, 0},
		{"mem above spec", func(j *JobView, b *Batch) {
			b.Records[2].Mem = j.Max.Mem + 1
		}, "", ErrOverLimit, 0, 0},
		{"second already billed", func(j *JobView, b *Batch) {
			b.Records[0].Second = j.Meter.LastSecond
		}, "", ErrSecondNotAfter, 0, 0},
		{"second before the last one", func(j *JobView, b *Batch) {
			b.Records[0].Second = j.Meter.LastSecond - 5
		}, "", ErrSecondNotAfter, 0, 0},
		{"second before start", func(j *JobView, b *Batch) {
			j.Meter = MeterState{}
			b.Records = []Record{{Seq: 1, Second: start - 1}}
		}, "", ErrBeforeStart, 0, 0},
		{"second after end", func(j *JobView, b *Batch) {
			j.Ended = time.Unix(start+32, 0)
		}, "", ErrAfterEnd, 0, 0},
		{"second in the future", func(j *JobView, b *Batch) {
			b.Records[2].Second = validateNow.Unix() + 5
		}, "", ErrFutureSecond, 0, 0},
		{"second far in the future", func(j *JobView, b *Batch) {
			b.Records[2].Second = math.MaxInt64
		}, "", ErrFutureSecond, 0, 0},
		{"suspended", func(j *JobView, b *Batch) {
			j.State = settlement.StateSuspended
		}, "", ErrJobNotRunning, 0, 0},
		{"ended", func(j *JobView, b *Batch) {
			j.State = settlement.StateEnded
		}, "", ErrJobNotRunning, 0, 0},
		{"awaiting funding", func(j *JobView, b *Batch) {
			j.State = settlement.StateAwaitingFunding
			j.Started = time.Time{}
			j.Meter = MeterState{}
			b.Records = []Record{{Seq: 1, Second: start}}
		}, "", ErrJobNotRunning, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := baseJob()
			b := baseBatch(job)
			if tc.mutate != nil {
				tc.mutate(&job, b)
			}
			caller := tc.caller
			if caller == "" {
				caller = job.ProviderID
			}

			got, err := Validate(b, job, caller, validateNow,
				DefaultPolicy())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(got.Replayed) != tc.wantReplayed ||
				len(got.New) != tc.wantNew {

				t.Fatalf("replayed %d, new %d; want %d, %d",
					len(got.Replayed), len(got.New),
					tc.wantReplayed, tc.wantNew)
			}
		})
	}
}

func TestValidateClockSkew(t *testing.T) {
	job := baseJob()
	b := baseBatch(job)
	b.Records[2].Second = validateNow.Unix() + 20

	strict := Policy{ClockSkew: 0}
	if _, err := Validate(b, job, job.ProviderID, validateNow,
		strict); !errors.Is(err, ErrFutureSecond) {

		t.Fatalf("no skew: err = %v", err)
	}
	loose := Policy{ClockSkew: 30 * time.Second}
	if _, err := Validate(b, job, job.ProviderID, validateNow,
		loose); err != nil {

		t.Fatalf("30 s skew: err = %v", err)
	}
	if err := (Policy{ClockSkew: -time.Second}).Validate(); err == nil {
		t.Fatal("negative skew accepted")
	}
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckReplay(t *testing.T) {
	stored := []Record{
		{Seq: 4, Second: 100, Usage: Usage{CPU: 1, Mem: 2}},
		{Seq: 5, Second: 101, Usage: Usage{CPU: 3, Mem: 4}},
	}
	tests := []struct {
		name    string
		mutate  func(r []Record) []Record
		wantErr error
	}{
		{"same", func(r []Record) []Record { return r }, nil},
		{"cpu differs", func(r []Record) []Record {
			r[1].CPU++
			return r
		}, ErrConflict},
		{"mem differs", func(r []Record) []Record {
			r[0].Mem = 0
			return r
		}, ErrConflict},
		{"second differs", func(r []Record) []Record {
			r[0].Second--
			return r
		}, ErrConflict},
		{"one missing", func(r []Record) []Record {
			return r[:1]
		}, ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			replayed := tc.mutate(append([]Record(nil), stored...))
			err := CheckReplay("job-1", replayed, stored)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
