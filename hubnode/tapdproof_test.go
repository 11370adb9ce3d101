package hubnode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestProofFile: a single proof becomes tapd's one-proof file, byte by
// byte; a file stays as it is; anything else is refused.
func TestProofFile(t *testing.T) {
	single := append([]byte("TAPP"), bytes.Repeat([]byte{0x5a}, 300)...)
	got, err := ProofFile(single)
	if err != nil {
		t.Fatal(err)
	}
	var zero [32]byte
	hash := sha256.Sum256(append(zero[:], single...))
	want := "54415046" + // "TAPF"
		"00000000" + // version 0
		"01" + // one proof
		"fd0130" + // its length, 304, as a BigSize varint
		hex.EncodeToString(single) + hex.EncodeToString(hash[:])
	if hex.EncodeToString(got) != want {
		t.Fatalf("file\n%x\nwant\n%s", got, want)
	}

	again, err := ProofFile(got)
	if err != nil || !bytes.Equal(again, got) {
		t.Fatalf("a file is changed: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("TAP"), []byte("XXXXproof")} {
		if _, err := ProofFile(bad); err == nil {
			t.Errorf("%q taken for a proof", bad)
		}
	}
}
