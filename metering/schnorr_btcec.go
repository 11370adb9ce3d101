//go:build !libsecp256k1 || !cgo

package metering

// verifierName is Verifier's answer in the pure-Go build.
const verifierName = "btcec"

// verifyBIP340 reports whether sig is a valid BIP-340 signature of digest
// by the x-only public key key. The pure-Go build verifies with btcec.
func verifyBIP340(key *[AgentKeyLen]byte, digest *[32]byte,
	sig *[SignatureLen]byte) bool {

	return verifyBtcec(key, digest, sig)
}
