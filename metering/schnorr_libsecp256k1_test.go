//go:build libsecp256k1 && cgo

package metering

import (
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// verifyCase is one input for both verifiers.
type verifyCase struct {
	key    [AgentKeyLen]byte
	digest [32]byte
	sig    [SignatureLen]byte
}

// bytes32 returns x as 32 big-endian bytes; x must be below 2^256.
func bytes32(x *big.Int) [32]byte {
	var out [32]byte
	x.FillBytes(out[:])
	return out
}

// TestVerifiersAgree is the differential test of the two verifiers:
// libsecp256k1 and btcec accept and refuse the same inputs, thousands of
// them from a fixed seed: valid signatures; each with single bits of the
// signature, the key and the digest flipped; keys that are not on the
// curve or not below p; signatures with r ≥ p or s ≥ n.
func TestVerifiersAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(340, 256))
	random32 := func() [32]byte {
		var b [32]byte
		for i := 0; i < 32; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return b
	}
	p := btcec.S256().P
	n := btcec.S256().N

	// sign returns a valid case: a key from the seed, a random digest
	// and deterministic auxiliary randomness.
	sign := func() verifyCase {
		seed := random32()
		priv, _ := btcec.PrivKeyFromBytes(seed[:])
		c := verifyCase{digest: random32()}
		copy(c.key[:], schnorr.SerializePubKey(priv.PubKey()))
		sig, err := schnorr.Sign(priv, c.digest[:],
			schnorr.CustomNonce(random32()))
		if err != nil {
			t.Fatal(err)
		}
		copy(c.sig[:], sig.Serialize())
		return c
	}

	var total, accepted int
	check := func(what string, c verifyCase, want int) {
		t.Helper()
		total++
		lib := verifyLibsecp256k1(&c.key, &c.digest, &c.sig)
		bt := verifyBtcec(&c.key, &c.digest, &c.sig)
		if lib != bt {
			t.Fatalf("%s: libsecp256k1 %v, btcec %v\nkey %x\n"+
				"digest %x\nsig %x", what, lib, bt, c.key,
				c.digest, c.sig)
		}
		if lib {
			accepted++
		}
		// want: 1 must verify, 0 must not, -1 either (both agree).
		if want >= 0 && lib != (want == 1) {
			t.Fatalf("%s: both verifiers say %v\nkey %x\n"+
				"digest %x\nsig %x", what, lib, c.key, c.digest,
				c.sig)
		}
	}

	// Valid signatures, and every single-bit flip of a few of them: a
	// flipped signature or digest bit must be refused; a flipped key
	// bit names another key or none.
	for i := 0; i < 200; i++ {
		check("valid", sign(), 1)
	}
	for i := 0; i < 4; i++ {
		base := sign()
		for bit := 0; bit < SignatureLen*8; bit++ {
			c := base
			c.sig[bit/8] ^= 1 << (bit % 8)
			check("signature bit flipped", c, 0)
		}
		for bit := 0; bit < AgentKeyLen*8; bit++ {
			c := base
			c.key[bit/8] ^= 1 << (bit % 8)
			check("key bit flipped", c, 0)
		}
		for bit := 0; bit < 256; bit++ {
			c := base
			c.digest[bit/8] ^= 1 << (bit % 8)
			check("digest bit flipped", c, 0)
		}
	}

	// Random keys under a valid signature: about half have no point on
	// the curve.
	var offCurve int
	for i := 0; i < 500; i++ {
		c := sign()
		c.key = random32()
		if _, err := schnorr.ParsePubKey(c.key[:]); err != nil {
			offCurve++
		}
		check("random key", c, 0)
	}
	if offCurve < 100 {
		t.Fatalf("only %d of 500 random keys are off the curve",
			offCurve)
	}

	// Keys not below p: p itself, p plus the x of a valid key where
	// that fits (x < 2^256 - p), random ones, and all ones.
	tooBig := []*big.Int{
		new(big.Int).Set(p),
		new(big.Int).Add(p, big.NewInt(1)),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256),
			big.NewInt(1)),
	}
	room := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), p)
	var lifted int
	for x := int64(1); x < 200; x++ {
		// p + x for every small x whose point exists.
		xb := bytes32(big.NewInt(x))
		if _, err := schnorr.ParsePubKey(xb[:]); err != nil {
			continue
		}
		lifted++
		tooBig = append(tooBig, new(big.Int).Add(p, big.NewInt(x)))
	}
	if lifted == 0 {
		t.Fatal("no small x has a point on the curve")
	}
	for i := 0; i < 200; i++ {
		r := random32()
		x := new(big.Int).SetBytes(r[:])
		x.Mod(x, room)
		tooBig = append(tooBig, x.Add(x, p))
	}
	for _, x := range tooBig {
		c := sign()
		c.key = bytes32(x)
		if _, err := schnorr.ParsePubKey(c.key[:]); err == nil {
			t.Fatalf("btcec parses key %x, which is not below p",
				c.key)
		}
		check("key not below p", c, 0)
	}

	// Signatures with r ≥ p or s ≥ n, the rest of the signature valid:
	// the bounds themselves, the valid value plus the modulus where it
	// fits, and random values above the bound.
	rBad := []*big.Int{new(big.Int).Set(p),
		new(big.Int).Add(p, big.NewInt(1))}
	sBad := []*big.Int{new(big.Int).Set(n),
		new(big.Int).Add(n, big.NewInt(1))}
	sRoom := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), n)
	for i := 0; i < 300; i++ {
		r := random32()
		x := new(big.Int).SetBytes(r[:])
		rBad = append(rBad, new(big.Int).Add(p,
			new(big.Int).Mod(x, room)))
		sBad = append(sBad, new(big.Int).Add(n,
			new(big.Int).Mod(x, sRoom)))
	}
	for _, r := range rBad {
		c := sign()
		rb := bytes32(r)
		copy(c.sig[:32], rb[:])
		check("r not below p", c, 0)
	}
	for _, s := range sBad {
		c := sign()
		valid := new(big.Int).SetBytes(c.sig[32:])
		sb := bytes32(s)
		if sum := new(big.Int).Add(valid, n); sum.BitLen() <= 256 {
			// s + n still fits: the same s modulo n.
			sb = bytes32(sum)
		}
		copy(c.sig[32:], sb[:])
		check("s not below n", c, 0)
	}

	// BIP-340's test vector 0 (secret key 3, message and auxiliary
	// randomness zero), and the zero key and signature.
	var ref verifyCase
	mustHex := func(s string, dst []byte) {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != len(dst) {
			t.Fatalf("bad hex %q", s)
		}
		copy(dst, b)
	}
	mustHex("F9308A019258C31049344F85F89D5229B531C845836F99B0"+
		"8601F113BCE036F9", ref.key[:])
	mustHex("E907831F80848D1069A5371B402410364BDF1C5F8307B008"+
		"4C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F4"+
		"77DF4900D310536C0", ref.sig[:])
	check("BIP-340 vector 0", ref, 1)
	check("zero key and signature", verifyCase{}, 0)

	if total < 4000 {
		t.Fatalf("%d cases, want at least 4000", total)
	}
	t.Logf("%d cases, %d accepted by both, %d random keys off the curve",
		total, accepted, offCurve)
}
