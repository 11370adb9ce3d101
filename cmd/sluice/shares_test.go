package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// TestPrintShareAsset checks the person's view of the share asset: the
// keys in hex, the amount in shares, and no key rows while pending.
func TestPrintShareAsset(t *testing.T) {
	var out bytes.Buffer
	err := printShareAsset(&out, &sluicerpc.ShareAsset{
		Name: "s", State: "succeeded", AmountUnits: 1500,
		GroupKey: []byte{0x02, 0xab}, AssetId: []byte{0xcd},
		AnchorOutpoint: "00:1", MetaJson: `{"name":"s"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"succeeded", "1.500 shares",
		"(1500 units)", "02ab", "cd", "00:1", `{"name":"s"}`} {

		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	_ = printShareAsset(&out, &sluicerpc.ShareAsset{Name: "s",
		State: "pending", AmountUnits: 1})
	if strings.Contains(out.String(), "group key") {
		t.Errorf("pending asset shows a group key:\n%s", out.String())
	}
}
