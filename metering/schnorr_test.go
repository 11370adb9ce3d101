package metering

import (
	"fmt"
	"strings"
	"testing"
)

// namedVerifier is a BIP-340 verifier and the library it uses.
type namedVerifier struct {
	name   string
	verify func(*[AgentKeyLen]byte, *[32]byte, *[SignatureLen]byte) bool
}

// verifiers are the BIP-340 verifiers this build has: btcec always, and
// the build's own (verifyBIP340) when that is another library.
func verifiers() []namedVerifier {
	vs := []namedVerifier{{"btcec", verifyBtcec}}
	if Verifier() != "btcec" {
		vs = append(vs, namedVerifier{Verifier(), verifyBIP340})
	}

	return vs
}

// TestVerifyMessages checks that a refused signature says why, in the words
// both builds use: the key named when it is not one, the parse error for a
// signature whose r is out of range, the job and seqs otherwise.
func TestVerifyMessages(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(b *Batch)
		want   string
	}{
		{"key not on the curve", func(b *Batch) {
			for i := range b.AgentKey {
				b.AgentKey[i] = 0xff
			}
		}, "bad usage batch signature: agent key " +
			strings.Repeat("ff", 32) + ": "},
		{"r not below p", func(b *Batch) {
			for i := 0; i < 32; i++ {
				b.Signature[i] = 0xff
			}
		}, "bad usage batch signature: invalid signature: r >= "},
		// btcec's parser reduces s modulo n instead of refusing it,
		// so s ≥ n is only told apart by the verification failing.
		{"s not below n", func(b *Batch) {
			for i := 32; i < 64; i++ {
				b.Signature[i] = 0xff
			}
		}, "bad usage batch signature: job job-1 seqs 1-2 by agent "},
		{"cpu changed", func(b *Batch) { b.Records[0].CPU++ },
			"bad usage batch signature: job job-1 seqs 1-2 by agent "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := testBatch(t, 2)
			tc.mutate(b)
			err := b.Verify()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Verify err = %v, want it to start %q",
					err, tc.want)
			}
		})
	}
}

// BenchmarkVerify measures one BIP-340 verification of a usage batch's
// digest with each verifier of the build (btcec always; libsecp256k1 with
// the libsecp256k1 tag), and Batch.Verify of a batch of 10 records (the
// digest and the build's verifier).
func BenchmarkVerify(b *testing.B) {
	batch := testBatch(b, 10)
	digest, err := batch.Digest()
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range verifiers() {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				if !v.verify(&batch.AgentKey, &digest,
					&batch.Signature) {

					b.Fatal("signature does not verify")
				}
			}
		})
	}
	b.Run(fmt.Sprintf("Batch.Verify/%s", Verifier()), func(b *testing.B) {
		for b.Loop() {
			if err := batch.Verify(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
