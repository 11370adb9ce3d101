package yield

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
)

// The BIP-340 tags of the epoch tree's hashes (chainhash.TaggedHash:
// SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ message)). A hash made under one
// tag means nothing under another, so a node cannot pass for a leaf, nor
// either for a root, nor any of them for a hash Sluice makes elsewhere.
const (
	// LeafTag tags a leaf's hash.
	LeafTag = "sluice/epoch/leaf/v1"

	// NodeTag tags an inner node's hash.
	NodeTag = "sluice/epoch/node/v1"

	// RootTag tags the root, which commits to the number of leaves and
	// the top of the tree.
	RootTag = "sluice/epoch/root/v1"
)

// MaxProviderIDLen is the longest provider id a leaf can carry, in bytes:
// what its two-byte length prefix holds.
const MaxProviderIDLen = math.MaxUint16

// leafFixedLen is a leaf's encoded length without its provider id: epoch,
// id length, seconds, msat earned, shares issued.
const leafFixedLen = 8 + 2 + 8 + 8 + 8

// Leaf is one provider's contribution to an epoch: what its metered
// seconds earned and the reward share units it was issued for them.
type Leaf struct {
	// Epoch is the epoch's number.
	Epoch uint64

	// ProviderID is the provider's id, 1 to MaxProviderIDLen bytes.
	ProviderID string

	// Seconds is the number of metered seconds the provider was paid
	// for in the epoch.
	Seconds uint64

	// Earned is what those seconds earned, never negative.
	Earned ledger.MilliSatoshi

	// Shares is the reward units issued to the provider for the epoch,
	// never negative.
	Shares ledger.Shares
}

// Encode returns the leaf's bytes, every integer big-endian:
//
//	epoch        8 bytes
//	len(id)      2 bytes
//	provider id  len(id) bytes
//	seconds      8 bytes
//	earned msat  8 bytes
//	shares       8 bytes
//
// An empty or too long id, or a negative amount, is refused with
// ErrInvalidLeaf.
func (l Leaf) Encode() ([]byte, error) {
	switch {
	case l.ProviderID == "":
		return nil, fmt.Errorf("%w: empty provider id", ErrInvalidLeaf)
	case len(l.ProviderID) > MaxProviderIDLen:
		return nil, fmt.Errorf("%w: provider id of %d bytes, at most "+
			"%d", ErrInvalidLeaf, len(l.ProviderID),
			MaxProviderIDLen)
	case l.Earned < 0:
		return nil, fmt.Errorf("%w: %q earned %v", ErrInvalidLeaf,
			l.ProviderID, l.Earned)
	case l.Shares < 0:
		return nil, fmt.Errorf("%w: %q issued %d units",
			ErrInvalidLeaf, l.ProviderID, l.Shares)
	}

	b := make([]byte, 0, leafFixedLen+len(l.ProviderID))
	b = binary.BigEndian.AppendUint64(b, l.Epoch)
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.ProviderID)))
	b = append(b, l.ProviderID...)
	b = binary.BigEndian.AppendUint64(b, l.Seconds)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Earned))
	b = binary.BigEndian.AppendUint64(b, uint64(l.Shares))

	return b, nil
}

// Hash returns the leaf's hash, TaggedHash(LeafTag, Encode()).
func (l Leaf) Hash() (chainhash.Hash, error) {
	b, err := l.Encode()
	if err != nil {
		return chainhash.Hash{}, err
	}

	return *chainhash.TaggedHash([]byte(LeafTag), b), nil
}

// nodeHash returns an inner node's hash, TaggedHash(NodeTag, left ‖ right).
func nodeHash(left, right chainhash.Hash) chainhash.Hash {
	return *chainhash.TaggedHash([]byte(NodeTag), left[:], right[:])
}

// rootHash returns TaggedHash(RootTag, count ‖ top), count as 8 bytes
// big-endian; an empty tree has no top.
func rootHash(count uint64, top *chainhash.Hash) chainhash.Hash {
	n := binary.BigEndian.AppendUint64(nil, count)
	if top == nil {
		return *chainhash.TaggedHash([]byte(RootTag), n)
	}

	return *chainhash.TaggedHash([]byte(RootTag), n, top[:])
}

// Proof shows that a leaf is in an epoch's tree: where it sits and the
// sibling hashes on its way to the top. Its index and the leaf count are
// part of what it proves, since the root commits to the count and the
// order of each pair.
//
// The hashes here are chainhash.Hash, whose String and JSON forms reverse
// the bytes as Bitcoin displays transaction ids; docs/vault.md and the
// vectors write hashes in SHA-256's order, hex.EncodeToString(h[:]), and
// so should anything shown to a provider.
type Proof struct {
	// Index is the leaf's position among the epoch's leaves sorted by
	// provider id, from 0.
	Index uint64

	// Count is the number of leaves in the epoch.
	Count uint64

	// Siblings are the hashes the leaf's hash is combined with, from the
	// leaves up; a level where the node is the odd one out and is
	// promoted has none.
	Siblings []chainhash.Hash
}

// sortLeaves checks the leaves and returns them sorted by provider id, with
// their hashes. All must be of one epoch and name distinct providers.
func sortLeaves(leaves []Leaf) ([]Leaf, []chainhash.Hash, error) {
	sorted := slices.Clone(leaves)
	slices.SortFunc(sorted, func(a, b Leaf) int {
		return cmp.Compare(a.ProviderID, b.ProviderID)
	})

	hashes := make([]chainhash.Hash, len(sorted))
	for i, l := range sorted {
		if l.Epoch != sorted[0].Epoch {
			return nil, nil, fmt.Errorf("%w: %q is of epoch %d, "+
				"%q of %d", ErrInvalidLeaf, l.ProviderID,
				l.Epoch, sorted[0].ProviderID, sorted[0].Epoch)
		}
		if i > 0 && l.ProviderID == sorted[i-1].ProviderID {
			return nil, nil, fmt.Errorf("leaf %q: %w", l.ProviderID,
				ErrDuplicateID)
		}

		h, err := l.Hash()
		if err != nil {
			return nil, nil, err
		}
		hashes[i] = h
	}

	return sorted, hashes, nil
}

// nextLevel returns the level above: each pair hashed left to right, the
// last node promoted unchanged when the level is odd.
func nextLevel(level []chainhash.Hash) []chainhash.Hash {
	up := make([]chainhash.Hash, 0, (len(level)+1)/2)
	for i := 0; i+1 < len(level); i += 2 {
		up = append(up, nodeHash(level[i], level[i+1]))
	}
	if len(level)%2 == 1 {
		up = append(up, level[len(level)-1])
	}

	return up
}

// Root returns the root of an epoch's tree. The leaves, in any order, must
// be of one epoch (else ErrInvalidLeaf) and name distinct providers (else
// ErrDuplicateID).
//
// The tree is built over the leaves' hashes sorted by provider id (byte
// order): each level pairs its nodes left to right and hashes each pair as
// TaggedHash(NodeTag, left ‖ right); an odd node at the end of a level is
// promoted to the next level unchanged. It is not paired with itself, as
// Bitcoin's block tree does: that makes a list ending in a repeated leaf
// hash to the same root as the list without the repeat (CVE-2012-2459),
// here an epoch with one provider counted twice. The root is
// TaggedHash(RootTag, count ‖ top) with count the number of leaves as 8
// bytes big-endian; an epoch without leaves has the root
// TaggedHash(RootTag, 8 zero bytes). Committing to the count fixes the
// shape of the tree, so a proof's index is proved too.
func Root(leaves []Leaf) (chainhash.Hash, error) {
	_, level, err := sortLeaves(leaves)
	if err != nil {
		return chainhash.Hash{}, err
	}
	if len(level) == 0 {
		return rootHash(0, nil), nil
	}

	for len(level) > 1 {
		level = nextLevel(level)
	}

	return rootHash(uint64(len(leaves)), &level[0]), nil
}

// Prove returns the proof that the leaf of providerID is in the tree Root
// builds from leaves, or ErrLeafNotFound when no leaf names it.
func Prove(leaves []Leaf, providerID string) (Proof, error) {
	sorted, level, err := sortLeaves(leaves)
	if err != nil {
		return Proof{}, err
	}
	idx, found := slices.BinarySearchFunc(sorted, providerID,
		func(l Leaf, id string) int {
			return cmp.Compare(l.ProviderID, id)
		})
	if !found {
		return Proof{}, fmt.Errorf("provider %q: %w", providerID,
			ErrLeafNotFound)
	}

	p := Proof{Index: uint64(idx), Count: uint64(len(sorted))}
	for len(level) > 1 {
		// The node at idx has a sibling unless it is the odd one
		// out.
		if sib := idx ^ 1; sib < len(level) {
			p.Siblings = append(p.Siblings, level[sib])
		}
		level = nextLevel(level)
		idx /= 2
	}

	return p, nil
}

// Verify checks that leaf, with proof, leads to root: it hashes the leaf,
// combines it with each sibling on the side its index says, promotes it
// where the level's count says it is the odd one out, and compares
// TaggedHash(RootTag, count ‖ top) with root. A leaf that cannot be encoded
// is refused with ErrInvalidLeaf; every other failure, including a path
// too short or too long for the index and count, is ErrProofMismatch.
func Verify(root chainhash.Hash, leaf Leaf, proof Proof) error {
	h, err := leaf.Hash()
	if err != nil {
		return err
	}
	if proof.Index >= proof.Count {
		return fmt.Errorf("%w: index %d of %d leaves", ErrProofMismatch,
			proof.Index, proof.Count)
	}

	idx, n, used := proof.Index, proof.Count, 0
	for n > 1 {
		if idx != n-1 || n%2 == 0 {
			if used == len(proof.Siblings) {
				return fmt.Errorf("%w: path of %d hashes is "+
					"too short for leaf %d of %d",
					ErrProofMismatch, len(proof.Siblings),
					proof.Index, proof.Count)
			}
			sib := proof.Siblings[used]
			used++
			if idx%2 == 0 {
				h = nodeHash(h, sib)
			} else {
				h = nodeHash(sib, h)
			}
		}
		idx /= 2
		// ⌈n/2⌉ without n+1, which wraps at the top of uint64.
		n = n/2 + n%2
	}
	if used != len(proof.Siblings) {
		return fmt.Errorf("%w: path of %d hashes, leaf %d of %d uses "+
			"%d", ErrProofMismatch, len(proof.Siblings),
			proof.Index, proof.Count, used)
	}

	if got := rootHash(proof.Count, &h); got != root {
		return fmt.Errorf("%w: leaf %q of epoch %d leads to %x, not "+
			"%x", ErrProofMismatch, leaf.ProviderID, leaf.Epoch,
			got[:], root[:])
	}

	return nil
}
