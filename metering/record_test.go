package metering

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/channels"
)

// testBatch returns a signed batch of n records for job "job-1", seqs from
// 1 and seconds from 1000.
func testBatch(t testing.TB, n int) *Batch {
	t.Helper()

	b := &Batch{JobID: "job-1"}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, Record{
			Seq: uint64(i + 1), Second: int64(1000 + i),
			Usage: Usage{CPU: 500, Mem: 64},
		})
	}
	if err := b.Sign(vectorKey("test agent")); err != nil {
		t.Fatal(err)
	}

	return b
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 17, MaxRecords} {
		b := testBatch(t, n)
		enc, err := b.Encode()
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if want := headerLen + len(b.JobID) + n*RecordLen +
			SignatureLen; len(enc) != want {

			t.Fatalf("%d records: %d bytes, want %d", n, len(enc),
				want)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("%d records: Decode: %v", n, err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Fatalf("%d records: round trip differs", n)
		}
		if err := got.Verify(); err != nil {
			t.Fatalf("%d records: Verify: %v", n, err)
		}
	}
}

func TestCheck(t *testing.T) {
	rec := func(seq uint64, sec int64) Record {
		return Record{Seq: seq, Second: sec}
	}
	many := make([]Record, MaxRecords+1)
	for i := range many {
		many[i] = rec(uint64(i+1), int64(i))
	}
	tests := []struct {
		name    string
		jobID   string
		records []Record
		wantErr error
	}{
		{"ok", "job-1", []Record{rec(1, 10), rec(2, 12)}, nil},
		{"seq gap is not a shape error", "j", []Record{rec(1, 10),
			rec(5, 11)}, nil},
		{"empty job id", "", []Record{rec(1, 1)}, ErrMalformed},
		{"long job id", strings.Repeat("j", MaxJobIDLen+1),
			[]Record{rec(1, 1)}, ErrMalformed},
		{"job id with slash", "a/b", []Record{rec(1, 1)},
			ErrMalformed},
		{"job id not ascii", "jöb", []Record{rec(1, 1)},
			ErrMalformed},
		{"no records", "j", nil, ErrMalformed},
		{"too many records", "j", many, ErrMalformed},
		{"seq 0", "j", []Record{rec(0, 1)}, ErrMalformed},
		{"negative second", "j", []Record{rec(1, -1)}, ErrMalformed},
		{"duplicate seq", "j", []Record{rec(1, 1), rec(1, 2)},
			ErrMalformed},
		{"seqs decrease", "j", []Record{rec(2, 1), rec(1, 2)},
			ErrMalformed},
		{"duplicate second", "j", []Record{rec(1, 1), rec(2, 1)},
			ErrMalformed},
		{"seconds decrease", "j", []Record{rec(1, 2), rec(2, 1)},
			ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &Batch{JobID: tc.jobID, Records: tc.records}
			err := b.Check()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Check err = %v, want %v", err,
					tc.wantErr)
			}
			_, encErr := b.Encode()
			if !errors.Is(encErr, tc.wantErr) {
				t.Fatalf("Encode err = %v, want %v", encErr,
					tc.wantErr)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := testBatch(t, 3).Encode()
	if err != nil {
		t.Fatal(err)
	}
	recOff := headerLen + len("job-1")
	tests := []struct {
		name    string
		mutate  func([]byte) []byte
		wantErr error
	}{
		{"unchanged", func(b []byte) []byte { return b }, nil},
		{"empty", func([]byte) []byte { return nil }, ErrMalformed},
		{"version 0", func(b []byte) []byte {
			b[0] = 0
			return b
		}, ErrUnsupportedVersion},
		{"version 3", func(b []byte) []byte {
			b[0] = 3
			return b
		}, ErrUnsupportedVersion},
		{"short", func(b []byte) []byte {
			return b[:MinBatchLen-1]
		}, ErrMalformed},
		{"too long", func(b []byte) []byte {
			return append(b, make([]byte, MaxBatchLen)...)
		}, ErrMalformed},
		{"trailing byte", func(b []byte) []byte {
			return append(b, 0)
		}, ErrMalformed},
		{"one byte missing", func(b []byte) []byte {
			return b[:len(b)-1]
		}, ErrMalformed},
		{"job id length over limit", func(b []byte) []byte {
			b[1] = MaxJobIDLen + 1
			return b
		}, ErrMalformed},
		{"job id length past the end", func(b []byte) []byte {
			b[1] = MaxJobIDLen
			return b[:2+MaxJobIDLen]
		}, ErrMalformed},
		{"record count over limit", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[recOff-2:], MaxRecords+1)
			return b
		}, ErrMalformed},
		{"record count larger than records", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[recOff-2:], 4)
			return b
		}, ErrMalformed},
		{"record count smaller than records", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[recOff-2:], 2)
			return b
		}, ErrMalformed},
		{"records out of order", func(b []byte) []byte {
			first := bytes.Clone(b[recOff : recOff+RecordLen])
			copy(b[recOff:], b[recOff+RecordLen:recOff+2*RecordLen])
			copy(b[recOff+RecordLen:], first)
			return b
		}, ErrMalformed},
		{"duplicate record", func(b []byte) []byte {
			copy(b[recOff+RecordLen:], b[recOff:recOff+RecordLen])
			return b
		}, ErrMalformed},
		{"negative second", func(b []byte) []byte {
			b[recOff+8] = 0xff
			return b
		}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.mutate(bytes.Clone(good)))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Decode err = %v, want %v", err,
					tc.wantErr)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(b *Batch)
		wantErr error
	}{
		{"signed", func(*Batch) {}, nil},
		{"job changed", func(b *Batch) { b.JobID = "job-2" },
			ErrBadSignature},
		{"seq changed", func(b *Batch) { b.Records[1].Seq = 9 },
			ErrBadSignature},
		{"second changed", func(b *Batch) { b.Records[1].Second++ },
			ErrBadSignature},
		{"cpu changed", func(b *Batch) { b.Records[0].CPU++ },
			ErrBadSignature},
		{"mem changed", func(b *Batch) { b.Records[0].Mem-- },
			ErrBadSignature},
		{"record dropped", func(b *Batch) {
			b.Records = b.Records[:1]
		}, ErrBadSignature},
		{"other key", func(b *Batch) {
			other := &Batch{JobID: "x", Records: b.Records}
			_ = other.Sign(vectorKey("someone else"))
			b.AgentKey = other.AgentKey
		}, ErrBadSignature},
		{"key not on the curve", func(b *Batch) {
			for i := range b.AgentKey {
				b.AgentKey[i] = 0xff
			}
		}, ErrBadSignature},
		{"zero signature", func(b *Batch) {
			b.Signature = [SignatureLen]byte{}
		}, ErrBadSignature},
		{"malformed batch", func(b *Batch) { b.Records = nil },
			ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := testBatch(t, 2)
			tc.mutate(b)
			if err := b.Verify(); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify err = %v, want %v", err,
					tc.wantErr)
			}
		})
	}
}

func TestSignIsRandomizedButVerifies(t *testing.T) {
	a, b := testBatch(t, 1), testBatch(t, 1)
	if a.Signature == b.Signature {
		t.Fatal("two signatures with fresh aux randomness are equal")
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatal("same batch, different digests")
	}
}

func TestUsageQuantity(t *testing.T) {
	u := Usage{CPU: 3, Mem: 4}
	for _, tc := range []struct {
		res  channels.Resource
		want uint64
		ok   bool
	}{
		{channels.ResourceCPU, 3, true}, {channels.ResourceMem, 4, true},
		{"gpu", 0, false}, {"", 0, false},
	} {
		got, ok := u.Quantity(tc.res)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Quantity(%q) = %d, %v", tc.res, got, ok)
		}
	}
}
