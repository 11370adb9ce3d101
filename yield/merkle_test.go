package yield

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
	"pgregory.net/rapid"
)

// update rewrites testdata/merkle/*.json from merkleCases:
//
//	go test ./yield -run TestMerkleVectors -update
//
// The vectors are deterministic, so rewriting them changes nothing unless
// the encoding or the tree changed, which is what a diff then shows.
var update = flag.Bool("update", false, "rewrite testdata/merkle/*.json")

const merkleDir = "testdata/merkle"

// TestLeafEncoding pins a leaf's bytes, written out by hand.
func TestLeafEncoding(t *testing.T) {
	l := Leaf{Epoch: 1, ProviderID: "ab", Seconds: 2, Earned: 3,
		Shares: 4}
	want := "0000000000000001" + "0002" + "6162" + "0000000000000002" +
		"0000000000000003" + "0000000000000004"
	got, err := l.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != want {
		t.Fatalf("encoding %x, want %s", got, want)
	}

	h, err := l.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if want := taggedSHA256(LeafTag, got); h != want {
		t.Fatalf("hash %x, want %x", h[:], want[:])
	}
}

// TestLeafInvalid checks the leaves that cannot be encoded.
func TestLeafInvalid(t *testing.T) {
	ok := Leaf{Epoch: 1, ProviderID: "p", Seconds: 1, Earned: 1,
		Shares: 1}
	long := ok
	long.ProviderID = strings.Repeat("x", MaxProviderIDLen)
	if _, err := long.Encode(); err != nil {
		t.Fatalf("id of %d bytes: %v", MaxProviderIDLen, err)
	}

	for name, mutate := range map[string]func(*Leaf){
		"empty id":        func(l *Leaf) { l.ProviderID = "" },
		"id too long":     func(l *Leaf) { l.ProviderID = long.ProviderID + "x" },
		"negative earned": func(l *Leaf) { l.Earned = -1 },
		"negative shares": func(l *Leaf) { l.Shares = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			l := ok
			mutate(&l)
			if _, err := l.Hash(); !errors.Is(err, ErrInvalidLeaf) {
				t.Fatalf("Hash err %v", err)
			}
			if _, err := Root([]Leaf{ok, l}); err == nil {
				t.Fatal("Root accepted it")
			}
			if err := Verify(chainhash.Hash{}, l,
				Proof{Count: 1}); !errors.Is(err,
				ErrInvalidLeaf) {

				t.Fatalf("Verify err %v", err)
			}
		})
	}
}

// taggedSHA256 is BIP-340's tagged hash written with crypto/sha256 alone,
// the reference the vectors are checked against.
func taggedSHA256(tag string, msg ...[]byte) chainhash.Hash {
	t := sha256.Sum256([]byte(tag))
	h := sha256.New()
	h.Write(t[:])
	h.Write(t[:])
	for _, m := range msg {
		h.Write(m)
	}

	var out chainhash.Hash
	copy(out[:], h.Sum(nil))

	return out
}

// referenceRoot builds the root from sorted leaf hashes as docs/vault.md
// describes it, apart from merkle.go: recursively, pairing left to right
// and promoting an odd last node.
func referenceRoot(hashes []chainhash.Hash) chainhash.Hash {
	var top func([]chainhash.Hash) chainhash.Hash
	top = func(level []chainhash.Hash) chainhash.Hash {
		if len(level) == 1 {
			return level[0]
		}
		var up []chainhash.Hash
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				up = append(up, level[i])
				continue
			}
			up = append(up, taggedSHA256(NodeTag, level[i][:],
				level[i+1][:]))
		}
		return top(up)
	}

	count := make([]byte, 8)
	for i := range 8 {
		count[7-i] = byte(uint64(len(hashes)) >> (8 * i))
	}
	if len(hashes) == 0 {
		return taggedSHA256(RootTag, count)
	}
	t := top(hashes)

	return taggedSHA256(RootTag, count, t[:])
}

// merkleCase is a tree to make a vector file from; its leaves are listed
// out of order so that the sorting is part of the vector.
type merkleCase struct {
	name   string
	leaves []Leaf
}

// merkleCases are the trees of testdata/merkle; epoch-42 is the example
// of docs/vault.md (the epoch of TestApportion's "epoch example").
var merkleCases = []merkleCase{
	{name: "empty"},
	{name: "one-leaf", leaves: []Leaf{
		{Epoch: 1, ProviderID: "prov-0f1e2d3c4b5a6978", Seconds: 3600,
			Earned: 1_234_567, Shares: 987_654},
	}},
	{name: "two-leaves", leaves: []Leaf{
		{Epoch: 7, ProviderID: "prov-b", Seconds: 60, Earned: 6000,
			Shares: 5},
		{Epoch: 7, ProviderID: "prov-a", Seconds: 1, Earned: 0,
			Shares: 0},
	}},
	{name: "epoch-42", leaves: []Leaf{
		{Epoch: 42, ProviderID: "prov-c", Seconds: 2400,
			Earned: 345_000, Shares: 41_503},
		{Epoch: 42, ProviderID: "prov-a", Seconds: 3600,
			Earned: 1_200_000, Shares: 144_356},
		{Epoch: 42, ProviderID: "prov-b", Seconds: 1800,
			Earned: 455_000, Shares: 54_735},
	}},
	{name: "five-leaves", leaves: []Leaf{
		{Epoch: 1000, ProviderID: "prov-e", Seconds: 5, Earned: 50,
			Shares: 5},
		{Epoch: 1000, ProviderID: "prov-a", Seconds: 1, Earned: 10,
			Shares: 1},
		{Epoch: 1000, ProviderID: "prov-d", Seconds: 4, Earned: 40,
			Shares: 4},
		{Epoch: 1000, ProviderID: "prov-b", Seconds: 2, Earned: 20,
			Shares: 2},
		{Epoch: 1000, ProviderID: "prov-c", Seconds: 3, Earned: 30,
			Shares: 3},
	}},
	{name: "extremes", leaves: []Leaf{
		{Epoch: math.MaxUint64, ProviderID: "\u00e9\u00e8",
			Seconds: math.MaxUint64, Earned: math.MaxInt64,
			Shares: math.MaxInt64},
		{Epoch: math.MaxUint64, ProviderID: "P", Seconds: 0,
			Earned: 0, Shares: 0},
	}},
}

// vectorLeaf is a leaf in a vector file, in sorted order, with its bytes
// and hash.
type vectorLeaf struct {
	Epoch      uint64 `json:"epoch"`
	ProviderID string `json:"provider_id"`
	Seconds    uint64 `json:"seconds"`
	Earned     int64  `json:"earned_msat"`
	Shares     int64  `json:"shares"`
	Encoding   string `json:"encoding"`
	Hash       string `json:"hash"`
}

// vectorProof is a leaf's proof in a vector file.
type vectorProof struct {
	ProviderID string   `json:"provider_id"`
	Index      uint64   `json:"index"`
	Count      uint64   `json:"count"`
	Siblings   []string `json:"siblings"`
}

// merkleVector is the layout of a file in testdata/merkle. Hashes are hex
// in the order SHA-256 writes them (not Bitcoin's reversed display).
type merkleVector struct {
	Comment string        `json:"comment"`
	LeafTag string        `json:"leaf_tag"`
	NodeTag string        `json:"node_tag"`
	RootTag string        `json:"root_tag"`
	Leaves  []vectorLeaf  `json:"leaves"`
	Root    string        `json:"root"`
	Proofs  []vectorProof `json:"proofs"`
}

// buildVector makes a vector from a case with the code under test.
func buildVector(t *testing.T, c merkleCase) merkleVector {
	t.Helper()

	v := merkleVector{
		Comment: "Epoch contributions tree, docs/vault.md. Regenerate: " +
			"go test ./yield -run TestMerkleVectors -update",
		LeafTag: LeafTag, NodeTag: NodeTag, RootTag: RootTag,
		Leaves: []vectorLeaf{}, Proofs: []vectorProof{},
	}
	sorted := slices.Clone(c.leaves)
	slices.SortFunc(sorted, func(a, b Leaf) int {
		return strings.Compare(a.ProviderID, b.ProviderID)
	})
	for _, l := range sorted {
		enc, err := l.Encode()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := l.Hash()
		v.Leaves = append(v.Leaves, vectorLeaf{
			Epoch: l.Epoch, ProviderID: l.ProviderID,
			Seconds: l.Seconds, Earned: int64(l.Earned),
			Shares: int64(l.Shares), Encoding: hex.EncodeToString(enc),
			Hash: hex.EncodeToString(h[:]),
		})

		p, err := Prove(c.leaves, l.ProviderID)
		if err != nil {
			t.Fatal(err)
		}
		vp := vectorProof{ProviderID: l.ProviderID, Index: p.Index,
			Count: p.Count, Siblings: []string{}}
		for _, s := range p.Siblings {
			vp.Siblings = append(vp.Siblings, hex.EncodeToString(s[:]))
		}
		v.Proofs = append(v.Proofs, vp)
	}
	root, err := Root(c.leaves)
	if err != nil {
		t.Fatal(err)
	}
	v.Root = hex.EncodeToString(root[:])

	return v
}

// unhex decodes a 32-byte hash.
func unhex(t *testing.T, s string) chainhash.Hash {
	t.Helper()

	var h chainhash.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		t.Fatalf("bad hash %q", s)
	}
	copy(h[:], b)

	return h
}

// TestMerkleVectors checks testdata/merkle byte for byte against what the
// code makes of merkleCases, and checks each file apart from merkle.go:
// every leaf's bytes and hash, the root from the leaf hashes, and every
// proof.
func TestMerkleVectors(t *testing.T) {
	names := map[string]bool{}
	for _, c := range merkleCases {
		c := c
		path := filepath.Join(merkleDir, c.name+".json")
		names[filepath.Base(path)] = true
		t.Run(c.name, func(t *testing.T) {
			built, err := json.MarshalIndent(buildVector(t, c), "",
				"  ")
			if err != nil {
				t.Fatal(err)
			}
			built = append(built, '\n')
			if *update {
				if err := os.MkdirAll(merkleDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, built, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (generate with -update)", err)
			}
			if !bytes.Equal(file, built) {
				t.Fatalf("%s differs from what the code makes; "+
					"if the change is meant, run with -update "+
					"and review the diff", path)
			}

			checkVectorFile(t, file)
		})
	}

	// No stale vectors.
	files, err := filepath.Glob(filepath.Join(merkleDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !names[filepath.Base(f)] {
			t.Errorf("%s has no case in merkleCases", f)
		}
	}
}

// checkVectorFile checks one vector file with the reference hashes.
func checkVectorFile(t *testing.T, file []byte) {
	t.Helper()

	var v merkleVector
	if err := json.Unmarshal(file, &v); err != nil {
		t.Fatal(err)
	}
	if v.LeafTag != LeafTag || v.NodeTag != NodeTag || v.RootTag != RootTag {
		t.Fatalf("tags %q %q %q", v.LeafTag, v.NodeTag, v.RootTag)
	}

	var hashes []chainhash.Hash
	leaves := map[string]Leaf{}
	for i, vl := range v.Leaves {
		if i > 0 && vl.ProviderID <= v.Leaves[i-1].ProviderID {
			t.Fatalf("leaves not sorted at %q", vl.ProviderID)
		}
		l := Leaf{Epoch: vl.Epoch, ProviderID: vl.ProviderID,
			Seconds: vl.Seconds, Earned: ledger.MilliSatoshi(vl.Earned),
			Shares: ledger.Shares(vl.Shares)}
		leaves[l.ProviderID] = l

		enc, err := hex.DecodeString(vl.Encoding)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Encode()
		if err != nil || !bytes.Equal(got, enc) {
			t.Fatalf("%q: encoding %x, file %x (%v)", l.ProviderID,
				got, enc, err)
		}
		if len(enc) != leafFixedLen+len(l.ProviderID) {
			t.Fatalf("%q: %d bytes", l.ProviderID, len(enc))
		}
		h := unhex(t, vl.Hash)
		if want := taggedSHA256(LeafTag, enc); h != want {
			t.Fatalf("%q: hash %x, reference %x", l.ProviderID, h[:],
				want[:])
		}
		hashes = append(hashes, h)
	}

	root := unhex(t, v.Root)
	if want := referenceRoot(hashes); root != want {
		t.Fatalf("root %x, reference %x", root[:], want[:])
	}

	if len(v.Proofs) != len(v.Leaves) {
		t.Fatalf("%d proofs for %d leaves", len(v.Proofs), len(v.Leaves))
	}
	for _, vp := range v.Proofs {
		p := Proof{Index: vp.Index, Count: vp.Count}
		for _, s := range vp.Siblings {
			p.Siblings = append(p.Siblings, unhex(t, s))
		}
		if err := Verify(root, leaves[vp.ProviderID], p); err != nil {
			t.Fatalf("%q: %v", vp.ProviderID, err)
		}
	}
}

// TestRootErrors checks the leaf sets Root and Prove refuse, and that the
// order leaves come in does not matter.
func TestRootErrors(t *testing.T) {
	a := Leaf{Epoch: 3, ProviderID: "a", Seconds: 1, Earned: 2, Shares: 3}
	b := Leaf{Epoch: 3, ProviderID: "b", Seconds: 4, Earned: 5, Shares: 6}
	c := Leaf{Epoch: 3, ProviderID: "c", Seconds: 7, Earned: 8, Shares: 9}

	other := b
	other.Epoch = 4
	if _, err := Root([]Leaf{a, other}); !errors.Is(err, ErrInvalidLeaf) {
		t.Errorf("mixed epochs: %v", err)
	}
	dup := b
	dup.Seconds++
	if _, err := Root([]Leaf{a, b, dup}); !errors.Is(err,
		ErrDuplicateID) {

		t.Errorf("duplicate: %v", err)
	}
	if _, err := Prove([]Leaf{a, b}, "c"); !errors.Is(err,
		ErrLeafNotFound) {

		t.Errorf("not found: %v", err)
	}
	if _, err := Prove(nil, "a"); !errors.Is(err, ErrLeafNotFound) {
		t.Errorf("empty tree: %v", err)
	}

	r1, err1 := Root([]Leaf{a, b, c})
	r2, err2 := Root([]Leaf{c, a, b})
	if err1 != nil || err2 != nil || r1 != r2 {
		t.Errorf("order matters: %x %v, %x %v", r1[:], err1, r2[:], err2)
	}

	// An odd node is promoted, not paired with itself: the top of
	// {a, b, c} is node(node(a, b), c).
	ha, _ := a.Hash()
	hb, _ := b.Hash()
	hc, _ := c.Hash()
	top := nodeHash(nodeHash(ha, hb), hc)
	if want := rootHash(3, &top); r1 != want {
		t.Errorf("root %x, want %x", r1[:], want[:])
	}
	dupTop := nodeHash(nodeHash(ha, hb), nodeHash(hc, hc))
	if rootHash(3, &dupTop) == r1 || rootHash(4, &dupTop) == r1 {
		t.Error("root equals the duplicated tree's")
	}
}

// refused checks that Verify refuses leaf with proof as a mismatch.
func refused(t *testing.T, what string, root chainhash.Hash, leaf Leaf,
	proof Proof) {

	t.Helper()
	if err := Verify(root, leaf, proof); !errors.Is(err,
		ErrProofMismatch) {

		t.Errorf("%s: err %v, want ErrProofMismatch", what, err)
	}
}

// TestVerifyRefuses tampers with every part of every proof of the vector
// trees: the leaf's fields (a wrong epoch among them), each sibling, the
// position, the count and the path's length, and the root.
func TestVerifyRefuses(t *testing.T) {
	for _, c := range merkleCases {
		if len(c.leaves) == 0 {
			continue
		}
		root, err := Root(c.leaves)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range c.leaves {
			p, err := Prove(c.leaves, l.ProviderID)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(root, l, p); err != nil {
				t.Fatalf("%s/%s: %v", c.name, l.ProviderID, err)
			}
			name := c.name + "/" + l.ProviderID

			for field, mutate := range map[string]func(*Leaf){
				"epoch":   func(x *Leaf) { x.Epoch++ },
				"id":      func(x *Leaf) { x.ProviderID += "x" },
				"seconds": func(x *Leaf) { x.Seconds-- },
				"earned":  func(x *Leaf) { x.Earned ^= 1 },
				"shares":  func(x *Leaf) { x.Shares ^= 1 },
			} {
				x := l
				mutate(&x)
				refused(t, name+": tampered "+field, root, x, p)
			}

			for i := range p.Siblings {
				for _, bit := range []int{0, 255} {
					q := p
					q.Siblings = slices.Clone(p.Siblings)
					q.Siblings[i][bit/8] ^= 1 << (bit % 8)
					refused(t, fmt.Sprintf("%s: sibling %d "+
						"bit %d", name, i, bit), root, l, q)
				}
			}

			for idx := range p.Count + 1 {
				if idx == p.Index {
					continue
				}
				q := p
				q.Index = idx
				refused(t, fmt.Sprintf("%s: index %d", name, idx),
					root, l, q)
			}
			for _, n := range []uint64{0, p.Count - 1, p.Count + 1,
				2 * p.Count, math.MaxUint64} {

				q := p
				q.Count = n
				refused(t, fmt.Sprintf("%s: count %d", name, n),
					root, l, q)
			}

			if len(p.Siblings) > 0 {
				q := p
				q.Siblings = p.Siblings[:len(p.Siblings)-1]
				refused(t, name+": path cut", root, l, q)
				q.Siblings = p.Siblings[1:]
				refused(t, name+": path cut at the leaf", root,
					l, q)
			}
			q := p
			q.Siblings = append(slices.Clone(p.Siblings), root)
			refused(t, name+": path too long", root, l, q)

			other := root
			other[0] ^= 1
			refused(t, name+": other root", other, l, p)

			// The same leaves in the next epoch: the leaf of this
			// epoch does not prove anything there.
			next := slices.Clone(c.leaves)
			for i := range next {
				next[i].Epoch++
			}
			nextRoot, err := Root(next)
			if err != nil {
				t.Fatal(err)
			}
			refused(t, name+": next epoch's root", nextRoot, l, p)
		}
	}
}

// genLeaves draws an epoch's leaves: up to 40 providers with distinct ids.
func genLeaves(t *rapid.T) []Leaf {
	epoch := rapid.Uint64().Draw(t, "epoch")
	ids := rapid.SliceOfNDistinct(rapid.StringN(1, 12, -1), 0, 40,
		rapid.ID[string]).Draw(t, "ids")
	leaves := make([]Leaf, len(ids))
	for i, id := range ids {
		leaves[i] = Leaf{
			Epoch: epoch, ProviderID: id,
			Seconds: rapid.Uint64().Draw(t, "seconds"),
			Earned: ledger.MilliSatoshi(rapid.Int64Min(0).Draw(t,
				"earned")),
			Shares: ledger.Shares(rapid.Int64Min(0).Draw(t, "shares")),
		}
	}

	return leaves
}

// TestMerkleProperties checks over drawn epochs that every leaf's proof
// verifies, is no longer than the tree is deep, and proves no other leaf;
// and that the root matches the reference.
func TestMerkleProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		leaves := genLeaves(t)
		root, err := Root(leaves)
		if err != nil {
			t.Fatal(err)
		}

		sorted := slices.Clone(leaves)
		slices.SortFunc(sorted, func(a, b Leaf) int {
			return strings.Compare(a.ProviderID, b.ProviderID)
		})
		var hashes []chainhash.Hash
		for _, l := range sorted {
			h, _ := l.Hash()
			hashes = append(hashes, h)
		}
		if want := referenceRoot(hashes); root != want {
			t.Fatalf("root %x, reference %x", root[:], want[:])
		}

		depth := 0
		for n := len(leaves); n > 1; n = (n + 1) / 2 {
			depth++
		}
		for i, l := range sorted {
			p, err := Prove(leaves, l.ProviderID)
			if err != nil {
				t.Fatal(err)
			}
			if p.Index != uint64(i) || p.Count != uint64(len(leaves)) ||
				len(p.Siblings) > depth {

				t.Fatalf("%q: proof %d of %d, %d siblings, depth %d",
					l.ProviderID, p.Index, p.Count,
					len(p.Siblings), depth)
			}
			if err := Verify(root, l, p); err != nil {
				t.Fatalf("%q: %v", l.ProviderID, err)
			}
			j := rapid.IntRange(0, len(sorted)-1).Draw(t, "other")
			if j != i {
				err := Verify(root, sorted[j], p)
				if !errors.Is(err, ErrProofMismatch) {
					t.Fatalf("proof of %q verifies %q: %v",
						l.ProviderID, sorted[j].ProviderID, err)
				}
			}
		}
	})
}

// fuzzLeaves is the tree FuzzVerify checks proofs against: n leaves of
// epoch 7.
func fuzzLeaves(n int) []Leaf {
	leaves := make([]Leaf, n)
	for i := range leaves {
		leaves[i] = Leaf{Epoch: 7, ProviderID: fmt.Sprintf("p%d", i),
			Seconds: uint64(i) * 10, Earned: ledger.MilliSatoshi(i * 100),
			Shares: ledger.Shares(i)}
	}

	return leaves
}

// FuzzVerify feeds Verify arbitrary leaves and proofs against trees of up
// to 8 leaves: it must not panic, and it may accept only a leaf of the tree
// with exactly the proof Prove gives for it.
func FuzzVerify(f *testing.F) {
	for n := 1; n <= 8; n++ {
		leaves := fuzzLeaves(n)
		for _, l := range leaves {
			p, _ := Prove(leaves, l.ProviderID)
			var path []byte
			for _, s := range p.Siblings {
				path = append(path, s[:]...)
			}
			f.Add(uint8(n), l.Epoch, l.ProviderID, l.Seconds,
				int64(l.Earned), int64(l.Shares), p.Index, p.Count,
				path)
		}
	}
	f.Add(uint8(0), uint64(0), "", uint64(0), int64(-1), int64(0),
		uint64(math.MaxUint64), uint64(math.MaxUint64), []byte{1})

	f.Fuzz(func(t *testing.T, n uint8, epoch uint64, id string,
		seconds uint64, earned, shares int64, index, count uint64,
		path []byte) {

		leaves := fuzzLeaves(int(n % 9))
		root, err := Root(leaves)
		if err != nil {
			t.Fatal(err)
		}

		leaf := Leaf{Epoch: epoch, ProviderID: id, Seconds: seconds,
			Earned: ledger.MilliSatoshi(earned),
			Shares: ledger.Shares(shares)}
		proof := Proof{Index: index, Count: count}
		for len(path) >= chainhash.HashSize {
			var h chainhash.Hash
			copy(h[:], path)
			proof.Siblings = append(proof.Siblings, h)
			path = path[chainhash.HashSize:]
		}

		err = Verify(root, leaf, proof)
		if err == nil {
			if !slices.Contains(leaves, leaf) {
				t.Fatalf("accepted a leaf not in the tree: %+v",
					leaf)
			}
			want, _ := Prove(leaves, id)
			if want.Index != proof.Index || want.Count != proof.Count ||
				!slices.Equal(want.Siblings, proof.Siblings) {

				t.Fatalf("accepted %+v, Prove gives %+v", proof,
					want)
			}
			return
		}
		if !errors.Is(err, ErrProofMismatch) &&
			!errors.Is(err, ErrInvalidLeaf) {

			t.Fatalf("err %v", err)
		}
	})
}
