package metering

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/settlement"
)

// FuzzDecodeBatch feeds arbitrary bytes to Decode. Whatever it accepts must
// encode back to exactly the same bytes (one encoding per batch), and
// verifying it must not panic. Seeds: testdata/fuzz/FuzzDecodeBatch.
func FuzzDecodeBatch(f *testing.F) {
	for _, n := range []int{1, 3} {
		enc, err := testBatch(f, n).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) &&
				!errors.Is(err, ErrUnsupportedVersion) {

				t.Fatalf("Decode error %v is neither sentinel",
					err)
			}
			return
		}
		enc, err := b.Encode()
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", data, enc)
		}
		if err := b.Verify(); err != nil &&
			!errors.Is(err, ErrBadSignature) {

			t.Fatalf("Verify error %v", err)
		}
	})
}

// FuzzValidateBatch decodes arbitrary bytes and validates and rates them
// against a job whose meter state, state and clock the fuzzer also picks.
// Whatever passes must keep the rules' promises: new records continue the
// sequence, lie in the job's window and spec, and the rated ones never cost
// more than the escrow. Seeds: testdata/fuzz/FuzzValidateBatch.
// fuzzStates are the job states FuzzValidateBatch picks from, and one that
// is no state.
var fuzzStates = append(settlement.States(), "bogus")

func FuzzValidateBatch(f *testing.F) {
	enc, err := testBatch(f, 3).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc, uint64(0), int64(990), int64(20), uint8(2),
		int64(100))
	f.Add(enc, uint64(2), int64(990), int64(20), uint8(1),
		int64(1))

	agent := testBatch(f, 1).AgentKey
	rates := channels.RateCard{
		channels.ResourceCPU: mustRate(f, "0.0015"),
		channels.ResourceMem: mustRate(f, "0.25"),
	}

	f.Fuzz(func(t *testing.T, data []byte, lastSeq uint64,
		started int64, nowAfter int64, state uint8,
		escrow int64) {

		b, err := Decode(data)
		if err != nil {
			return
		}
		started = max(min(started, 1<<40), 0)
		nowAfter = max(min(nowAfter, 1<<30), -1<<30)
		job := JobView{
			ID:         b.JobID,
			ProviderID: "prov-1",
			AgentKey:   agent,
			State:      fuzzStates[int(state)%len(fuzzStates)],
			Started:    time.Unix(started, 0),
			Max:        Usage{CPU: 4000, Mem: 1 << 20},
			Rates:      rates,
			Escrow:     ledger.MilliSatoshi(max(escrow, 0)),
			Meter: MeterState{
				LastSeq:    lastSeq,
				LastSecond: started + int64(lastSeq%1000),
			},
		}
		// A key the fuzzer cannot guess would stop everything at rule
		// 1; take the batch's own.
		job.AgentKey = b.AgentKey
		now := time.Unix(started+nowAfter, 0)

		checked, err := Validate(b, job, "prov-1", now,
			DefaultPolicy())
		if err != nil {
			return
		}
		for _, r := range checked.Replayed {
			if r.Seq > lastSeq {
				t.Fatalf("replayed seq %d above last %d", r.Seq,
					lastSeq)
			}
		}
		if len(checked.New) == 0 {
			return
		}
		if !job.State.TakesUsage() {
			t.Fatalf("new usage accepted for a %v job", job.State)
		}
		prevSecond := job.Meter.LastSecond
		if lastSeq == 0 {
			prevSecond = started - 1
		}
		for i, r := range checked.New {
			if r.Seq != lastSeq+uint64(i)+1 {
				t.Fatalf("new seq %d at %d after %d", r.Seq, i,
					lastSeq)
			}
			if r.Second <= prevSecond || r.Second < started ||
				r.Second >= now.Unix()+5 {

				t.Fatalf("second %d outside (%d, %d)", r.Second,
					prevSecond, now.Unix()+5)
			}
			if r.CPU > job.Max.CPU || r.Mem > job.Max.Mem {
				t.Fatalf("record %+v above spec", r)
			}
			prevSecond = r.Second
		}

		priced, st, err := RateRecords(job.Rates, job.Meter, job.Escrow,
			checked.New)
		if err != nil && !errors.Is(err, ErrInsufficientEscrow) &&
			!errors.Is(err, ErrOverflow) {

			t.Fatalf("rating: %v", err)
		}
		if st.Charged > job.Escrow {
			t.Fatalf("charged %v, escrow %v", st.Charged,
				job.Escrow)
		}
		var sum ledger.MilliSatoshi
		for _, p := range priced {
			sum += p.Price
			if p.Fee < 0 || p.Fee > p.Price {
				t.Fatalf("fee %v of %v", p.Fee, p.Price)
			}
		}
		if sum != st.Charged {
			t.Fatalf("prices sum to %v, state says %v", sum,
				st.Charged)
		}
	})
}
