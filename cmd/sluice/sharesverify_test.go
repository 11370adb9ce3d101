package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	sharespkg "github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/yield"
)

// TestReadRewardProof: a proof kept as `provider rewards verify --json`
// prints it reads back as the proof yield.Verify checks, hashes in
// SHA-256's byte order; a file that is not one is refused.
func TestReadRewardProof(t *testing.T) {
	leaves := []yield.Leaf{
		{Epoch: 4, ProviderID: "a", Seconds: 3, Earned: 300, Shares: 2},
		{Epoch: 4, ProviderID: "b", Seconds: 5, Earned: 510, Shares: 4},
		{Epoch: 4, ProviderID: "c", Seconds: 1, Earned: 90, Shares: 1},
	}
	root, err := yield.Root(leaves)
	if err != nil {
		t.Fatal(err)
	}
	p, err := yield.Prove(leaves, "b")
	if err != nil {
		t.Fatal(err)
	}
	msg := &sluicerpc.GetRewardProofResponse{
		Leaf: &sluicerpc.RewardLeaf{Epoch: 4, ProviderId: "b",
			Seconds: 5, EarnedMsat: 510, SharesUnits: 4},
		Index: p.Index, Count: p.Count, Root: root[:],
	}
	for _, s := range p.Siblings {
		msg.Siblings = append(msg.Siblings, append([]byte(nil), s[:]...))
	}
	var js bytes.Buffer
	if err := printJSON(&js, msg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kept.json")
	if err := os.WriteFile(path, js.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readRewardProof(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != root || got.Leaf != leaves[1] ||
		got.Proof.Index != p.Index || got.Proof.Count != p.Count {

		t.Fatalf("read %+v", got)
	}
	if err := yield.Verify(root, got.Leaf, got.Proof); err != nil {
		t.Fatalf("the kept proof does not verify: %v", err)
	}

	for name, body := range map[string]string{
		"not JSON": "{", "no leaf": `{"index": 1}`,
		"short sibling": `{"leaf": {"epoch": 1, "provider_id": "a"}, "siblings": ["abcd"]}`,
	} {
		bad := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readRewardProof(bad); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	if _, err := readRewardProof(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file was read")
	}
}

// TestPrintVerifyReport: each step with ok or FAILED, and OK only when
// every step passed.
func TestPrintVerifyReport(t *testing.T) {
	steps := []sharespkg.Step{
		{Number: 1, Title: "one", OK: true, Detail: "found"},
		{Number: 2, Title: "two", OK: true, Detail: "valid"},
		{Number: 3, Title: "three", OK: true, Detail: "epoch 4"},
		{Number: 4, Title: "four", OK: false, Detail: "mismatch"},
	}
	var out bytes.Buffer
	printVerifyReport(&out, sharespkg.Report{Epoch: 4, ProviderID: "b",
		Steps: steps})
	for _, want := range []string{"step 1 ok: one", "found",
		"step 4 FAILED: four", "mismatch"} {

		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "OK:") {
		t.Errorf("a failed check says OK:\n%s", out.String())
	}
	out.Reset()
	steps[3].OK = true
	printVerifyReport(&out, sharespkg.Report{Epoch: 4, ProviderID: "b",
		Steps: steps, AssetID: "ab"})
	if !strings.Contains(out.String(), "OK: provider b's reward in "+
		"epoch 4") {

		t.Errorf("a passed check:\n%s", out.String())
	}
}
