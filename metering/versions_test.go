package metering

import (
	"errors"
	"testing"
)

// TestNegotiate checks the choice of a batch version against what a server
// announces.
func TestNegotiate(t *testing.T) {
	t.Parallel()

	newest := versions[len(versions)-1]
	tests := []struct {
		name   string
		theirs []uint8
		want   uint8
	}{
		{"server before versioning", nil, 1},
		{"version 1 only", []uint8{1}, 1},
		{"server newer than this build", []uint8{1, newest, 200},
			newest},
		{"nothing in common", []uint8{200}, 1},
	}
	for _, tc := range tests {
		if got := Negotiate(tc.theirs); got != tc.want {
			t.Errorf("%s: Negotiate(%v) = %d, want %d", tc.name,
				tc.theirs, got, tc.want)
		}
	}
}

// TestVersionChecks checks that a batch of a version this build lacks, or
// a version 1 batch with a sent-at time, is refused, and that version 1 is
// written the same whether Version is 0 or 1.
func TestVersionChecks(t *testing.T) {
	t.Parallel()

	b := Batch{JobID: "j", Records: []Record{{Seq: 1, Second: 5}}}
	zero, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b.Version = 1
	one, err := b.Encode()
	if err != nil || string(one) != string(zero) {
		t.Fatalf("version 1 encodes as %x, %v; version 0 as %x", one,
			err, zero)
	}

	b.SentAt = 7
	if _, err := b.Encode(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 1 with a sent-at time: %v", err)
	}
	b.Version, b.SentAt = 200, 0
	if _, err := b.Encode(); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("version 200: %v", err)
	}
}
