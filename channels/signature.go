package channels

import (
	"encoding/hex"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/tv42/zbase32"
)

// SignedMessagePrefix is what lnd puts before a message it signs with
// SignMessage, so that a node's signature over a message can never be a
// signature over a transaction or a channel announcement.
const SignedMessagePrefix = "Lightning Signed Message:"

// compactSigLen is the length of a recoverable compact signature: a
// recovery byte, then r and s.
const compactSigLen = 65

// maxSignatureText bounds the zbase32 text looked at: a 65-byte signature
// is 104 characters.
const maxSignatureText = 200

// maxAliasLen is the longest alias, in bytes, as in BOLT 7.
const maxAliasLen = 32

// AgentKey is a provider's metering agent public key: a BIP-340 x-only
// secp256k1 key, 32 bytes. The agent signs usage records with the private
// half.
type AgentKey [32]byte

// ParseAgentKey checks that raw is a 32-byte x-only key on the curve.
func ParseAgentKey(raw []byte) (AgentKey, error) {
	if len(raw) != 32 {
		return AgentKey{}, fmt.Errorf("%w: agent_pubkey has %d bytes, "+
			"want 32 (x-only, BIP-340)", ErrInvalidAgentKey,
			len(raw))
	}
	if _, err := schnorr.ParsePubKey(raw); err != nil {
		return AgentKey{}, fmt.Errorf("%w: agent_pubkey %x: %w",
			ErrInvalidAgentKey, raw, err)
	}
	var k AgentKey
	copy(k[:], raw)
	return k, nil
}

// ParseAgentKeyHex is ParseAgentKey for 64 hex characters.
func ParseAgentKeyHex(s string) (AgentKey, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return AgentKey{}, fmt.Errorf("%w: agent_pubkey %q is not hex",
			ErrInvalidAgentKey, s)
	}
	return ParseAgentKey(raw)
}

// String is the key as lower-case hex.
func (k AgentKey) String() string {
	return hex.EncodeToString(k[:])
}

// PublicKey is the key as btcec's type, for schnorr.Verify.
func (k AgentKey) PublicKey() (*btcec.PublicKey, error) {
	return schnorr.ParsePubKey(k[:])
}

// ParseNodeKey checks that raw is a 33-byte compressed node key on the
// curve.
func ParseNodeKey(raw []byte) (route.Vertex, error) {
	if len(raw) != 33 {
		return route.Vertex{}, fmt.Errorf("%w: node_pubkey has %d "+
			"bytes, want 33 (compressed)", ErrInvalidNodeKey,
			len(raw))
	}
	if _, err := btcec.ParsePubKey(raw); err != nil {
		return route.Vertex{}, fmt.Errorf("%w: node_pubkey %x: %w",
			ErrInvalidNodeKey, raw, err)
	}
	return route.NewVertexFromBytes(raw)
}

// ParseNodeKeyHex is ParseNodeKey for 66 hex characters.
func ParseNodeKeyHex(s string) (route.Vertex, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return route.Vertex{}, fmt.Errorf("%w: node_pubkey %q is not "+
			"hex", ErrInvalidNodeKey, s)
	}
	return ParseNodeKey(raw)
}

// CheckAlias returns an error unless alias is at most 32 bytes of valid,
// printable UTF-8.
func CheckAlias(alias string) error {
	if len(alias) > maxAliasLen {
		return fmt.Errorf("%w: alias has %d bytes, at most %d",
			ErrInvalidAlias, len(alias), maxAliasLen)
	}
	if !utf8.ValidString(alias) {
		return fmt.Errorf("%w: alias is not UTF-8", ErrInvalidAlias)
	}
	for _, r := range alias {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: alias holds %q, only printable "+
				"characters", ErrInvalidAlias, r)
		}
	}
	return nil
}

// signedMessageDigest is what lnd signs for SignMessage: the double SHA-256
// of the prefix and the message.
func signedMessageDigest(msg []byte) []byte {
	data := make([]byte, 0, len(SignedMessagePrefix)+len(msg))
	data = append(data, SignedMessagePrefix...)
	data = append(data, msg...)
	return chainhash.DoubleHashB(data)
}

// RecoverNodeKey returns the key that made sig, lnd's zbase32 signature
// over msg as SignMessage returns it. Any well-formed signature recovers
// some key; whether it is the expected one is the caller's comparison (or
// VerifyNodeSignature's). A signature that is not zbase32, not 65 bytes, or
// from which no key can be recovered is refused with ErrMalformedSignature.
func RecoverNodeKey(msg []byte, sig string) (route.Vertex, error) {
	if len(sig) > maxSignatureText {
		return route.Vertex{}, fmt.Errorf("%w: signature has %d "+
			"characters, a zbase32 signature has 104",
			ErrMalformedSignature, len(sig))
	}
	raw, err := zbase32.DecodeString(sig)
	if err != nil {
		return route.Vertex{}, fmt.Errorf("%w: signature is not "+
			"zbase32: %w", ErrMalformedSignature, err)
	}
	if len(raw) != compactSigLen {
		return route.Vertex{}, fmt.Errorf("%w: signature has %d "+
			"bytes, want %d", ErrMalformedSignature, len(raw),
			compactSigLen)
	}
	pub, _, err := ecdsa.RecoverCompact(raw, signedMessageDigest(msg))
	if err != nil {
		return route.Vertex{}, fmt.Errorf("%w: no key recovers from "+
			"the signature: %w", ErrMalformedSignature, err)
	}
	return route.NewVertex(pub), nil
}

// VerifyNodeSignature returns nil if sig is node's signature over msg in
// lnd's signed-message format; ErrMalformedSignature for a signature that
// is not one, ErrForgedSignature for one made by another key or over
// another message.
func VerifyNodeSignature(msg []byte, sig string, node route.Vertex) error {
	signer, err := RecoverNodeKey(msg, sig)
	if err != nil {
		return err
	}
	if signer != node {
		return fmt.Errorf("%w: the signature recovers key %v, not "+
			"node %v", ErrForgedSignature, signer, node)
	}
	return nil
}

// SignNodeMessage signs msg with key in lnd's signed-message format, as lnd's
// SignMessage does, and returns the zbase32 signature. Tests and tools use
// it where no lnd runs.
func SignNodeMessage(key *btcec.PrivateKey, msg []byte) string {
	sig := ecdsa.SignCompact(key, signedMessageDigest(msg), true)
	return zbase32.EncodeToString(sig)
}
