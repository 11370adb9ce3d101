package metering

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/channels"
)

// Limits of the encoding.
const (
	// Version is the encoding version every build writes and reads:
	// version 1. Versions returns all a build reads.
	Version = 1

	// MaxJobIDLen is the longest job id a batch may carry, in bytes.
	MaxJobIDLen = 64

	// MaxRecords is the most records one batch may carry: about a
	// quarter of an hour of seconds, enough for an agent to catch up
	// after a dropped connection in a few batches.
	MaxRecords = 1000

	// AgentKeyLen is the length of a BIP-340 x-only public key.
	AgentKeyLen = 32

	// SignatureLen is the length of a BIP-340 signature.
	SignatureLen = 64

	// RecordLen is the encoded length of one record.
	RecordLen = 32

	// headerLen is the fixed part of a body before the job id and after
	// it: version, job id length, agent key, record count.
	headerLen = 1 + 1 + AgentKeyLen + 2

	// sentAtLen is what version 2 adds to the header after the record
	// count: the Unix millisecond the agent signed the batch at.
	sentAtLen = 8

	// MinBatchLen is the length of the shortest valid batch: a one-byte
	// job id and one record.
	MinBatchLen = headerLen + 1 + RecordLen + SignatureLen

	// MaxBatchLen is the length of the longest valid batch of any
	// version.
	MaxBatchLen = headerLen + sentAtLen + MaxJobIDLen +
		MaxRecords*RecordLen + SignatureLen
)

// SignatureTag is the BIP-340 tag of the hash an agent signs, which keeps a
// signature over a usage batch from meaning anything anywhere else.
const SignatureTag = "sluice/usage-batch/v1"

// Usage is what a process tree used during one second.
type Usage struct {
	// CPU is processor time in core-milliseconds.
	CPU uint64

	// Mem is memory in MiB-seconds.
	Mem uint64
}

// Quantity returns the quantity of the named resource, and false for a
// resource metering does not measure.
func (u Usage) Quantity(resource channels.Resource) (uint64, bool) {
	switch resource {
	case channels.ResourceCPU:
		return u.CPU, true
	case channels.ResourceMem:
		return u.Mem, true
	}

	return 0, false
}

// Record is one second of a job's usage.
type Record struct {
	// Seq numbers the job's records: 1 for its first, then one more for
	// each record. It counts reported seconds, not clock seconds: a
	// second the agent did not measure has no record and no seq.
	Seq uint64

	// Second is the start of the measured second, in Unix seconds. It
	// may not be negative.
	Second int64

	// Usage is what the job used in that second.
	Usage
}

// Batch is a job's records as an agent sends them, signed by its key.
type Batch struct {
	// Version is the encoding version: 0 or 1 for version 1, or a
	// newer one this build supports (Versions).
	Version uint8

	// SentAt is, in version 2 and later, the Unix millisecond the agent
	// signed the batch at; it must be 0 in version 1.
	SentAt int64

	// JobID names the job: 1 to MaxJobIDLen bytes of ASCII letters,
	// digits and ".", "-", "_", ":".
	JobID string

	// AgentKey is the BIP-340 x-only public key that signed the batch.
	AgentKey [AgentKeyLen]byte

	// Records are 1 to MaxRecords records, in increasing order of both
	// seq and second.
	Records []Record

	// Signature is the BIP-340 signature by AgentKey of Digest.
	Signature [SignatureLen]byte
}

// checkJobID checks a job id's length and characters.
func checkJobID(id string) error {
	if len(id) == 0 || len(id) > MaxJobIDLen {
		return fmt.Errorf("%w: job id is %d bytes, want 1 to %d",
			ErrMalformed, len(id), MaxJobIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c >= '0' && c <= '9' || c == '.' || c == '-' ||
			c == '_' || c == ':'
		if !ok {
			return fmt.Errorf("%w: job id has byte 0x%02x at %d, "+
				"want letters, digits, '.', '-', '_' or ':'",
				ErrMalformed, c, i)
		}
	}

	return nil
}

// checkRecords checks the count and order of records.
func checkRecords(recs []Record) error {
	if len(recs) == 0 || len(recs) > MaxRecords {
		return fmt.Errorf("%w: %d records, want 1 to %d", ErrMalformed,
			len(recs), MaxRecords)
	}
	for i, r := range recs {
		if r.Seq == 0 {
			return fmt.Errorf("%w: record %d: seq 0, seqs start "+
				"at 1", ErrMalformed, i)
		}
		if r.Second < 0 {
			return fmt.Errorf("%w: record %d (seq %d): second %d "+
				"is negative", ErrMalformed, i, r.Seq, r.Second)
		}
		if i == 0 {
			continue
		}
		prev := recs[i-1]
		if r.Seq <= prev.Seq {
			return fmt.Errorf("%w: record %d: seq %d after %d, "+
				"seqs must increase", ErrMalformed, i, r.Seq,
				prev.Seq)
		}
		if r.Second <= prev.Second {
			return fmt.Errorf("%w: record %d (seq %d): second %d "+
				"after %d, seconds must increase", ErrMalformed,
				i, r.Seq, r.Second, prev.Second)
		}
	}

	return nil
}

// EncodingVersion is the batch's encoding version: Version for 0.
func (b *Batch) EncodingVersion() uint8 {
	return b.version()
}

// version is the batch's encoding version, 1 for 0.
func (b *Batch) version() uint8 {
	if b.Version == 0 {
		return Version
	}
	return b.Version
}

// Check checks the batch's shape: what Encode needs and Decode enforces.
// It does not verify the signature.
func (b *Batch) Check() error {
	v := b.version()
	if !Supports(v) {
		return fmt.Errorf("%w: version %d, this build reads %v",
			ErrUnsupportedVersion, v, Versions())
	}
	switch {
	case v == 1 && b.SentAt != 0:
		return fmt.Errorf("%w: version 1 has no sent-at time",
			ErrMalformed)
	case v >= 2 && b.SentAt < 0:
		return fmt.Errorf("%w: sent-at %d is negative", ErrMalformed,
			b.SentAt)
	}
	if err := checkJobID(b.JobID); err != nil {
		return err
	}

	return checkRecords(b.Records)
}

// appendBody appends the signed part of the encoding; b must pass Check.
func (b *Batch) appendBody(buf []byte) []byte {
	v := b.version()
	buf = append(buf, v, byte(len(b.JobID)))
	buf = append(buf, b.JobID...)
	buf = append(buf, b.AgentKey[:]...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(b.Records)))
	if v >= 2 {
		buf = binary.BigEndian.AppendUint64(buf, uint64(b.SentAt))
	}
	for _, r := range b.Records {
		buf = binary.BigEndian.AppendUint64(buf, r.Seq)
		buf = binary.BigEndian.AppendUint64(buf, uint64(r.Second))
		buf = binary.BigEndian.AppendUint64(buf, r.CPU)
		buf = binary.BigEndian.AppendUint64(buf, r.Mem)
	}

	return buf
}

// bodyLen is the length of the signed part of b's encoding.
func (b *Batch) bodyLen() int {
	n := headerLen + len(b.JobID) + len(b.Records)*RecordLen
	if b.version() >= 2 {
		n += sentAtLen
	}

	return n
}

// Encode returns the canonical encoding of the batch, as docs/protocol.md
// defines it: the signed body followed by the signature. It refuses a batch
// that fails Check.
func (b *Batch) Encode() ([]byte, error) {
	if err := b.Check(); err != nil {
		return nil, err
	}

	buf := make([]byte, 0, b.bodyLen()+SignatureLen)
	buf = b.appendBody(buf)

	return append(buf, b.Signature[:]...), nil
}

// Digest returns the hash the agent signs: the BIP-340 tagged hash, with tag
// SignatureTag, of the encoded body (everything but the signature). It is
// also the batch's identity in the store.
func (b *Batch) Digest() ([32]byte, error) {
	if err := b.Check(); err != nil {
		return [32]byte{}, err
	}

	body := b.appendBody(make([]byte, 0, b.bodyLen()))

	return *chainhash.TaggedHash([]byte(SignatureTag), body), nil
}

// Sign sets the batch's agent key to priv's x-only public key and signs the
// batch, with fresh BIP-340 auxiliary randomness.
func (b *Batch) Sign(priv *btcec.PrivateKey) error {
	var aux [32]byte
	if _, err := rand.Read(aux[:]); err != nil {
		return fmt.Errorf("signing usage batch: aux randomness: %w", err)
	}

	return b.SignWithAux(priv, aux)
}

// SignWithAux signs as Sign does with the given BIP-340 auxiliary random
// data, which makes the signature deterministic: test vectors use zero.
func (b *Batch) SignWithAux(priv *btcec.PrivateKey, aux [32]byte) error {
	copy(b.AgentKey[:], schnorr.SerializePubKey(priv.PubKey()))

	digest, err := b.Digest()
	if err != nil {
		return err
	}

	sig, err := schnorr.Sign(priv, digest[:], schnorr.CustomNonce(aux))
	if err != nil {
		return fmt.Errorf("signing usage batch: %w", err)
	}
	copy(b.Signature[:], sig.Serialize())

	return nil
}

// Verify checks the signature against the batch's agent key, with the
// library this build verifies with (Verifier). Errors wrap ErrBadSignature
// (or ErrMalformed for a batch that fails Check).
func (b *Batch) Verify() error {
	digest, err := b.Digest()
	if err != nil {
		return err
	}
	if !verifyBIP340(&b.AgentKey, &digest, &b.Signature) {
		return b.signatureError()
	}

	return nil
}

// Decode reads one batch from its canonical encoding. It is strict: the
// input must be exactly one batch of the known version, with every count
// and length within the limits and the records in order (Check), so that a
// batch has one encoding only. Errors wrap ErrMalformed or
// ErrUnsupportedVersion. It does not verify the signature.
func Decode(data []byte) (*Batch, error) {
	if len(data) > MaxBatchLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed,
			len(data), MaxBatchLen)
	}
	if len(data) < 1 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	version := data[0]
	if !Supports(version) {
		return nil, fmt.Errorf("%w: version %d, this build reads %v",
			ErrUnsupportedVersion, version, Versions())
	}
	extra := 0
	if version >= 2 {
		extra = sentAtLen
	}
	if len(data) < MinBatchLen+extra {
		return nil, fmt.Errorf("%w: %d bytes, at least %d",
			ErrMalformed, len(data), MinBatchLen+extra)
	}

	idLen := int(data[1])
	off := 2
	if idLen == 0 || idLen > MaxJobIDLen {
		return nil, fmt.Errorf("%w: job id length %d, want 1 to %d",
			ErrMalformed, idLen, MaxJobIDLen)
	}
	if len(data) < off+idLen+AgentKeyLen+2 {
		return nil, fmt.Errorf("%w: %d bytes, too short for a %d-byte "+
			"job id", ErrMalformed, len(data), idLen)
	}

	// Version 1 decodes as Version 0, as a version 1 batch is built.
	b := &Batch{JobID: string(data[off : off+idLen])}
	if version != Version {
		b.Version = version
	}
	off += idLen
	copy(b.AgentKey[:], data[off:off+AgentKeyLen])
	off += AgentKeyLen

	n := int(binary.BigEndian.Uint16(data[off:]))
	off += 2
	if n == 0 || n > MaxRecords {
		return nil, fmt.Errorf("%w: record count %d, want 1 to %d",
			ErrMalformed, n, MaxRecords)
	}
	if version >= 2 {
		if len(data) < off+sentAtLen {
			return nil, fmt.Errorf("%w: %d bytes, too short for "+
				"a sent-at time", ErrMalformed, len(data))
		}
		sentAt := binary.BigEndian.Uint64(data[off:])
		if sentAt > math.MaxInt64 {
			return nil, fmt.Errorf("%w: sent-at %d is out of range",
				ErrMalformed, sentAt)
		}
		b.SentAt = int64(sentAt)
		off += sentAtLen
	}

	want := off + n*RecordLen + SignatureLen
	switch {
	case len(data) < want:
		return nil, fmt.Errorf("%w: %d bytes, %d records need %d",
			ErrMalformed, len(data), n, want)
	case len(data) > want:
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed,
			len(data)-want)
	}

	b.Records = make([]Record, n)
	for i := range b.Records {
		r := &b.Records[i]
		r.Seq = binary.BigEndian.Uint64(data[off:])
		second := binary.BigEndian.Uint64(data[off+8:])
		if second > math.MaxInt64 {
			return nil, fmt.Errorf("%w: record %d: second %d is "+
				"out of range", ErrMalformed, i, second)
		}
		r.Second = int64(second)
		r.CPU = binary.BigEndian.Uint64(data[off+16:])
		r.Mem = binary.BigEndian.Uint64(data[off+24:])
		off += RecordLen
	}
	copy(b.Signature[:], data[off:])

	if err := b.Check(); err != nil {
		return nil, err
	}

	return b, nil
}
