//go:build upgradetest

package metering

import (
	"errors"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// TestVersion2 round-trips a signed version 2 batch, and checks that its
// sent-at time is signed and that truncations are refused.
func TestVersion2(t *testing.T) {
	t.Parallel()

	priv, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	b := &Batch{Version: 2, SentAt: 1_700_000_000_123, JobID: "job-2",
		Records: []Record{{Seq: 1, Second: 10, Usage: Usage{CPU: 3,
			Mem: 4}}, {Seq: 2, Second: 11}}}
	if err := b.Sign(priv); err != nil {
		t.Fatal(err)
	}
	enc, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("decoded %+v, want %+v", got, b)
	}
	if err := got.Verify(); err != nil {
		t.Fatal(err)
	}

	got.SentAt++
	if err := got.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed sent-at verifies: %v", err)
	}
	for _, n := range []int{headerLen + 5, len(enc) - 1} {
		if _, err := Decode(enc[:n]); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
}
