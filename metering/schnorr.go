package metering

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// Which library verifies usage signatures is chosen at build time, in one
// place: schnorr_libsecp256k1.go (build tag libsecp256k1, with cgo) binds
// Bitcoin Core's libsecp256k1, which verifies a BIP-340 signature about
// four times faster than btcec (about 45 µs against 185-210 µs on the
// reference machine, where verifying was the largest single cost of usage
// ingest); schnorr_btcec.go, the pure-Go build, uses btcec. Both define
// verifyBIP340 and verifierName; the rest of the package sees only those.

// Verifier names the library that verifies usage batch signatures in this
// build: "libsecp256k1" (built with the libsecp256k1 tag and cgo) or
// "btcec" (the pure-Go build). sluiced logs it at start.
func Verifier() string {
	return verifierName
}

// verifyBtcec reports whether sig is a valid BIP-340 signature of digest
// by the x-only public key key, with btcec. A key that is not one, or a
// signature with r ≥ p, does not verify. btcec's parser reduces an s ≥ n
// modulo n where BIP-340 refuses it; that only matters for a signature
// whose s + n is below 2^256, and making one takes about 2^128 tries, so
// btcec and libsecp256k1 agree on every signature anyone can make
// (TestVerifiersAgree).
func verifyBtcec(key *[AgentKeyLen]byte, digest *[32]byte,
	sig *[SignatureLen]byte) bool {

	pub, err := schnorr.ParsePubKey(key[:])
	if err != nil {
		return false
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return false
	}

	return s.Verify(digest[:], pub)
}

// signatureError says why the batch's signature did not verify, wrapping
// ErrBadSignature: the agent key is not a BIP-340 public key (naming the
// key), the signature does not parse, or it is not the key's signature of
// the batch. It parses with btcec whichever library verified, so that both
// builds refuse a batch with the same message; only refused batches pay
// for the second parse.
func (b *Batch) signatureError() error {
	if _, err := schnorr.ParsePubKey(b.AgentKey[:]); err != nil {
		return fmt.Errorf("%w: agent key %x: %v", ErrBadSignature,
			b.AgentKey, err)
	}
	if _, err := schnorr.ParseSignature(b.Signature[:]); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}

	return fmt.Errorf("%w: job %s seqs %d-%d by agent %x",
		ErrBadSignature, b.JobID, b.Records[0].Seq,
		b.Records[len(b.Records)-1].Seq, b.AgentKey)
}
