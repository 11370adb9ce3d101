//go:build libsecp256k1 && cgo

package metering

// This file is Sluice's own binding of the one libsecp256k1 call it needs:
// BIP-340 verification (the extrakeys and schnorrsig modules, in Debian's
// libsecp256k1-dev since 0.2.0; scripts/libsecp256k1.sh installs it).

/*
#cgo LDFLAGS: -lsecp256k1
#include <stddef.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

// sluice_verify_bip340 parses key32 as a BIP-340 x-only public key and
// verifies sig64 over the 32-byte msg32 with it, in one call from Go. It
// returns 1 for a valid signature, 0 for an invalid signature or key.
static int sluice_verify_bip340(const secp256k1_context *ctx,
		const unsigned char *key32, const unsigned char *msg32,
		const unsigned char *sig64) {
	secp256k1_xonly_pubkey pub;

	if (!secp256k1_xonly_pubkey_parse(ctx, &pub, key32)) {
		return 0;
	}
	return secp256k1_schnorrsig_verify(ctx, sig64, msg32, 32, &pub);
}
*/
import "C"

import "unsafe"

// verifierName is Verifier's answer in the libsecp256k1 build.
const verifierName = "libsecp256k1"

// secpContext is the one libsecp256k1 context, created at start and never
// destroyed. Verification only reads it, which the library allows from
// any number of threads at once. SECP256K1_CONTEXT_NONE is what the
// deprecated SECP256K1_CONTEXT_VERIFY now means.
var secpContext = newSecpContext()

// newSecpContext creates the context; the library runs its self tests in
// it and aborts the process if they fail.
func newSecpContext() *C.secp256k1_context {
	ctx := C.secp256k1_context_create(C.SECP256K1_CONTEXT_NONE)
	if ctx == nil {
		panic("metering: libsecp256k1: secp256k1_context_create " +
			"returned NULL")
	}

	return ctx
}

// verifyBIP340 reports whether sig is a valid BIP-340 signature of digest
// by the x-only public key key. This build verifies with libsecp256k1.
func verifyBIP340(key *[AgentKeyLen]byte, digest *[32]byte,
	sig *[SignatureLen]byte) bool {

	return verifyLibsecp256k1(key, digest, sig)
}

// verifyLibsecp256k1 is verifyBIP340 with libsecp256k1: a key that is not
// an x-only public key (x ≥ p, or no point with that x) or a signature
// with r ≥ p or s ≥ n does not verify. The arrays hold no Go pointers, so
// C may read them for the length of the call.
func verifyLibsecp256k1(key *[AgentKeyLen]byte, digest *[32]byte,
	sig *[SignatureLen]byte) bool {

	ok := C.sluice_verify_bip340(secpContext,
		(*C.uchar)(unsafe.Pointer(&key[0])),
		(*C.uchar)(unsafe.Pointer(&digest[0])),
		(*C.uchar)(unsafe.Pointer(&sig[0])))

	return ok == 1
}
