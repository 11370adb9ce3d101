package rpc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/shares"
)

// fakeShares is a share asset whose genesis answers err or mints mint.
type fakeShares struct {
	mint  shares.Mint
	ops   []shares.EpochOp
	err   error
	names []string
}

func (f *fakeShares) EpochOps(context.Context) ([]shares.EpochOp, error) {
	return f.ops, nil
}

func (f *fakeShares) Genesis(_ context.Context, name string) (shares.Mint,
	error) {

	f.names = append(f.names, name)
	if f.err != nil {
		return shares.Mint{}, f.err
	}
	f.mint.Name = name
	return f.mint, nil
}

func (f *fakeShares) Asset(context.Context) (shares.Mint, error) {
	if f.mint.Name == "" {
		return shares.Mint{}, shares.ErrNoGenesis
	}
	return f.mint, nil
}

// startSharesDaemon serves the SharesService over backend (none when nil).
func startSharesDaemon(t *testing.T, backend SharesBackend) (
	*testDaemon, sluicerpcconnect.SharesServiceClient) {

	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	if backend != nil {
		cfg.Shares = backend
	}
	d := startServer(t, dir, cfg)
	return d, sluicerpcconnect.NewSharesServiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC())
}

// TestSharesService checks the roles, the answers and the error codes of
// the SharesService, and that it answers unavailable without tapd.
func TestSharesService(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	dNone, none := startSharesDaemon(t, nil)
	fake := &fakeShares{mint: shares.Mint{
		Kind: shares.KindGenesis, Amount: 4200,
		State:    outbound.StatusSucceeded,
		GroupKey: bytes.Repeat([]byte{2}, 33),
		AssetID:  bytes.Repeat([]byte{9}, 32),
		Anchor:   wire.OutPoint{Index: 2},
		MetaJSON: []byte(`{"name":"s"}`),
	}, ops: []shares.EpochOp{{
		Name: "s-e2", Epoch: 2, Kind: shares.KindTranche, Amount: 300,
		SupplyAfter: 4500, State: outbound.StatusSucceeded,
		AssetID: bytes.Repeat([]byte{7}, 32),
		Anchor:  wire.OutPoint{Index: 1}, MetaJSON: []byte(`{"epoch":2}`),
	}, {
		Name: "s-e2-burn", Epoch: 2, Kind: shares.KindBurn, Amount: 100,
		SupplyAfter: 4400, State: outbound.StatusPending,
	}}}
	d, c := startSharesDaemon(t, fake)
	operator := d.macaroonHex(t, OperatorMacaroonFile)
	provider := d.providerHex(t, "prov-1")
	buyer := d.buyerHex(t, "buyer-1")

	_, err := none.GetShares(ctx, withMac(&sluicerpc.GetSharesRequest{},
		dNone.macaroonHex(t, OperatorMacaroonFile)))
	if connect.CodeOf(err) != connect.CodeUnavailable ||
		!strings.Contains(err.Error(), "without tapd") {

		t.Fatalf("without tapd: %v, want unavailable", err)
	}

	// Before a genesis: no asset.
	got, err := c.GetShares(ctx, withMac(&sluicerpc.GetSharesRequest{},
		provider))
	if err != nil || got.Msg.Asset != nil {
		t.Fatalf("before genesis: %v, %v", got, err)
	}

	for _, mac := range []string{provider, buyer} {
		_, err := c.Genesis(ctx, withMac(&sluicerpc.GenesisRequest{
			Name: "s"}, mac))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("genesis by a non-operator: %v", err)
		}
	}
	if len(fake.names) != 0 {
		t.Fatalf("a refused caller reached the backend: %v",
			fake.names)
	}

	resp, err := c.Genesis(ctx, withMac(&sluicerpc.GenesisRequest{
		Name: "s"}, operator))
	if err != nil {
		t.Fatalf("genesis: %v", err)
	}
	a := resp.Msg.Asset
	if a.Name != "s" || a.State != "succeeded" || a.AmountUnits != 4200 ||
		len(a.GroupKey) != 33 || len(a.AssetId) != 32 ||
		a.AnchorOutpoint != fake.mint.Anchor.String() ||
		a.MetaJson != `{"name":"s"}` {

		t.Fatalf("genesis answered %+v", a)
	}
	shown, err := c.GetShares(ctx, withMac(&sluicerpc.GetSharesRequest{},
		provider))
	if err != nil || shown.Msg.Asset.Name != "s" {
		t.Fatalf("shares after genesis: %v, %v", shown, err)
	}
	ops := shown.Msg.EpochOps
	if len(ops) != 2 || ops[0].Kind != "tranche" || ops[0].Epoch != 2 ||
		ops[0].AmountUnits != 300 || ops[0].SupplyAfterUnits != 4500 ||
		ops[0].Anchor != fake.ops[0].Anchor.String() ||
		ops[0].MetaJson != `{"epoch":2}` || ops[1].Kind != "burn" ||
		ops[1].State != "pending" || ops[1].Anchor != "" {

		t.Fatalf("epoch ops %+v", ops)
	}

	for _, tc := range []struct {
		err  error
		code connect.Code
	}{
		{shares.ErrGenesisDone, connect.CodeAlreadyExists},
		{shares.ErrNothingToMint, connect.CodeFailedPrecondition},
		{shares.ErrBadName, connect.CodeInvalidArgument},
		{shares.ErrMintFailed, connect.CodeAborted},
		{errors.New("boom"), connect.CodeInternal},
	} {
		fake.err = tc.err
		_, err := c.Genesis(ctx, withMac(&sluicerpc.GenesisRequest{
			Name: "t"}, operator))
		if connect.CodeOf(err) != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err,
				connect.CodeOf(err), tc.code)
		}
	}
}
