package hubnode

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// encodeM is a bech32m string of the prefix over n bytes of b.
func encodeM(t testing.TB, hrp string, b byte, n int) string {
	t.Helper()
	data, err := bech32.ConvertBits(bytes.Repeat([]byte{b}, n), 8, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bech32.EncodeM(hrp, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAddrHRP reads a Taproot Asset address's prefix, checked as
// bech32m, longer than bech32's 90 characters as tapd's addresses are.
func TestAddrHRP(t *testing.T) {
	long := encodeM(t, "taprt", 3, 150)
	if len(long) <= 90 {
		t.Fatalf("test address of %d characters", len(long))
	}
	if hrp, err := AddrHRP(long); err != nil || hrp != "taprt" {
		t.Fatalf("AddrHRP = %q, %v", hrp, err)
	}
	plain, err := bech32.Encode("taprt", []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := []byte(long)
	corrupt[len(corrupt)-1] ^= 1
	for _, bad := range []string{"", "taprt1", plain, string(corrupt),
		"not an address"} {

		if _, err := AddrHRP(bad); !errors.Is(err, ErrAddrInvalid) {
			t.Errorf("AddrHRP(%q) = %v, want ErrAddrInvalid", bad,
				err)
		}
	}

	for net, want := range map[string]string{"regtest": "taprt",
		"mainnet": "tapbc", "testnet": "taptb", "signet": "taptb",
		"simnet": "tapsb"} {

		if got, err := TapHRP(net); err != nil || got != want {
			t.Errorf("TapHRP(%s) = %q, %v", net, got, err)
		}
	}
	if _, err := TapHRP("litecoin"); !errors.Is(err, ErrUnknownNetwork) {
		t.Errorf("TapHRP(litecoin) = %v", err)
	}
}

// FuzzAddrHRP: any string either gives a prefix that the string starts
// with, or ErrAddrInvalid.
func FuzzAddrHRP(f *testing.F) {
	f.Add(encodeM(f, "taprt", 1, 100))
	f.Add("taprt1qqqq")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		hrp, err := AddrHRP(s)
		switch {
		case err != nil && !errors.Is(err, ErrAddrInvalid):
			t.Fatalf("AddrHRP(%q) = %v", s, err)
		case err == nil && len(hrp) >= len(s):
			t.Fatalf("AddrHRP(%q) = %q", s, hrp)
		}
	})
}

// TestAssetTransfer: a transfer is complete when every output to another
// wallet has its proof delivered, and its depth counts its own block.
func TestAssetTransfer(t *testing.T) {
	tr := AssetTransfer{Outputs: []TransferOutput{
		{Amount: 5, Proof: ProofPending},
		{Amount: 1, Local: true, Proof: ProofNotApplicable},
	}}
	if tr.ProofsDelivered() {
		t.Fatal("a pending proof counts as delivered")
	}
	tr.Outputs[0].Proof = ProofDelivered
	if !tr.ProofsDelivered() {
		t.Fatal("delivered proofs not seen")
	}
	for _, tc := range []struct{ height, tip, want uint32 }{
		{0, 100, 0}, {100, 100, 1}, {100, 105, 6}, {101, 100, 0},
	} {
		tr.Height = tc.height
		if got := tr.Confirmations(tc.tip); got != tc.want {
			t.Errorf("height %d tip %d: %d confirmations, want %d",
				tc.height, tc.tip, got, tc.want)
		}
	}
}

// TestOutcomeUnknown: tapd's answers are refusals; a call that never got
// one leaves the outcome unknown.
func TestOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		err     error
		unknown bool
	}{
		{status.Error(codes.Unavailable, "down"), true},
		{status.Error(codes.DeadlineExceeded, "slow"), true},
		{status.Error(codes.Canceled, "cut"), true},
		{context.DeadlineExceeded, true},
		{errors.New("io"), true},
		{status.Error(codes.Unknown, "insufficient funds"), false},
		{status.Error(codes.InvalidArgument, "bad addr"), false},
	} {
		if got := outcomeUnknown(tc.err); got != tc.unknown {
			t.Errorf("%v: unknown %v, want %v", tc.err, got,
				tc.unknown)
		}
	}
}
