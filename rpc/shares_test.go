package rpc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/shares"
)

// fakeShares is a share asset whose genesis answers err or mints mint;
// its withdrawal calls answer werr or record what they were asked.
type fakeShares struct {
	mint  shares.Mint
	ops   []shares.EpochOp
	err   error
	names []string

	werr  error
	addrs map[string]shares.WithdrawAddress
	ws    []shares.Withdrawal

	// deposits are what Deposits lists; dasked the providers whose
	// deposit address was asked for.
	deposits []shares.Deposit
	dasked   []string
}

func (f *fakeShares) DepositAddress(_ context.Context, p string) (
	shares.DepositAddress, error) {

	if f.werr != nil {
		return shares.DepositAddress{}, f.werr
	}
	f.dasked = append(f.dasked, p)
	return shares.DepositAddress{ProviderID: p, Addr: "taprt1hub-" + p},
		nil
}

func (f *fakeShares) Deposits(_ context.Context, p string) (
	[]shares.Deposit, error) {

	var out []shares.Deposit
	for _, d := range f.deposits {
		if p == "" || d.ProviderID == p {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *fakeShares) SetWithdrawAddress(_ context.Context, p,
	addr string) (shares.WithdrawAddress, error) {

	if f.werr != nil {
		return shares.WithdrawAddress{}, f.werr
	}
	if f.addrs == nil {
		f.addrs = map[string]shares.WithdrawAddress{}
	}
	a := shares.WithdrawAddress{ProviderID: p, Addr: addr,
		GroupKey: f.mint.GroupKey}
	f.addrs[p] = a
	return a, nil
}

func (f *fakeShares) WithdrawAddress(_ context.Context, p string) (
	shares.WithdrawAddress, error) {

	a, ok := f.addrs[p]
	if !ok {
		return shares.WithdrawAddress{}, shares.ErrNoWithdrawAddress
	}
	return a, nil
}

func (f *fakeShares) Withdraw(_ context.Context, p, key string,
	n ledger.Shares) (shares.Withdrawal, bool, error) {

	if f.werr != nil {
		return shares.Withdrawal{}, false, f.werr
	}
	for _, w := range f.ws {
		if w.ProviderID == p && w.Key == key {
			return w, true, nil
		}
	}
	w := shares.Withdrawal{ID: int64(len(f.ws) + 1), ProviderID: p,
		Key: key, Amount: n, Addr: f.addrs[p].Addr,
		State: shares.WithdrawalQueued}
	f.ws = append(f.ws, w)
	return w, false, nil
}

func (f *fakeShares) Withdrawals(_ context.Context, p string) (
	[]shares.Withdrawal, error) {

	var out []shares.Withdrawal
	for _, w := range f.ws {
		if p == "" || w.ProviderID == p {
			out = append(out, w)
		}
	}
	return out, nil
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

// TestSharesWithdrawRPCs checks the withdrawal methods: who may call them
// for whom, what they answer, and their error codes.
func TestSharesWithdrawRPCs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	fake := &fakeShares{mint: shares.Mint{Name: "s",
		Kind: shares.KindGenesis, Amount: 4200,
		State:    outbound.StatusSucceeded,
		GroupKey: bytes.Repeat([]byte{2}, 33)}}
	d, c := startSharesDaemon(t, fake)
	operator := d.macaroonHex(t, OperatorMacaroonFile)
	provider := d.providerHex(t, "prov-1")
	buyer := d.buyerHex(t, "buyer-1")

	// A buyer may not; a provider only for itself.
	_, err := c.SetWithdrawAddress(ctx, withMac(
		&sluicerpc.SetWithdrawAddressRequest{ProviderId: "prov-1",
			Addr: "taprt1a"}, buyer))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("address by a buyer: %v", err)
	}
	_, err = c.Withdraw(ctx, withMac(&sluicerpc.WithdrawRequest{
		ProviderId: "prov-2", AmountUnits: 5}, provider))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("withdraw for another provider: %v", err)
	}
	_, err = c.ListWithdrawals(ctx, withMac(
		&sluicerpc.ListWithdrawalsRequest{}, provider))
	if connect.CodeOf(err) != connect.CodePermissionDenied &&
		connect.CodeOf(err) != connect.CodeInvalidArgument {

		t.Fatalf("a provider listing everyone's: %v", err)
	}
	if len(fake.ws) != 0 || len(fake.addrs) != 0 {
		t.Fatalf("a refused call reached the backend")
	}

	a, err := c.SetWithdrawAddress(ctx, withMac(
		&sluicerpc.SetWithdrawAddressRequest{ProviderId: "prov-1",
			Addr: "taprt1a"}, provider))
	if err != nil || a.Msg.Address.Addr != "taprt1a" ||
		len(a.Msg.Address.GroupKey) != 33 {

		t.Fatalf("set address: %v, %v", a, err)
	}
	w, err := c.Withdraw(ctx, withMac(&sluicerpc.WithdrawRequest{
		ProviderId: "prov-1", AmountUnits: 1500}, provider))
	if err != nil || w.Msg.Withdrawal.AmountUnits != 1500 ||
		w.Msg.Withdrawal.State != "queued" ||
		w.Msg.Withdrawal.Addr != "taprt1a" ||
		w.Msg.IdempotencyKey == "" || w.Msg.Duplicate {

		t.Fatalf("withdraw: %v, %v", w, err)
	}
	again, err := c.Withdraw(ctx, withMac(&sluicerpc.WithdrawRequest{
		ProviderId: "prov-1", AmountUnits: 1500,
		IdempotencyKey: w.Msg.IdempotencyKey}, provider))
	if err != nil || !again.Msg.Duplicate ||
		again.Msg.Withdrawal.Id != w.Msg.Withdrawal.Id {

		t.Fatalf("retry: %v, %v", again, err)
	}
	l, err := c.ListWithdrawals(ctx, withMac(
		&sluicerpc.ListWithdrawalsRequest{ProviderId: "prov-1"},
		provider))
	if err != nil || len(l.Msg.Withdrawals) != 1 ||
		l.Msg.Address.GetAddr() != "taprt1a" {

		t.Fatalf("list: %v, %v", l, err)
	}
	all, err := c.ListWithdrawals(ctx, withMac(
		&sluicerpc.ListWithdrawalsRequest{}, operator))
	if err != nil || len(all.Msg.Withdrawals) != 1 ||
		all.Msg.Address != nil {

		t.Fatalf("operator's list: %v, %v", all, err)
	}

	for _, tc := range []struct {
		err  error
		code connect.Code
	}{
		{shares.ErrBadWithdrawAddress, connect.CodeInvalidArgument},
		{shares.ErrAddrWrongNetwork, connect.CodeFailedPrecondition},
		{shares.ErrAddrNotGroup, connect.CodeFailedPrecondition},
		{shares.ErrAddrWrongAsset, connect.CodeFailedPrecondition},
		{shares.ErrAddrHasAmount, connect.CodeFailedPrecondition},
		{shares.ErrNoGenesis, connect.CodeNotFound},
	} {
		fake.werr = tc.err
		_, err := c.SetWithdrawAddress(ctx, withMac(
			&sluicerpc.SetWithdrawAddressRequest{
				ProviderId: "prov-1", Addr: "x"}, operator))
		if connect.CodeOf(err) != tc.code {
			t.Errorf("address, %v: code %v, want %v", tc.err,
				connect.CodeOf(err), tc.code)
		}
	}
	for _, tc := range []struct {
		err  error
		code connect.Code
	}{
		{shares.ErrBadAmount, connect.CodeInvalidArgument},
		{shares.ErrAboveCustody, connect.CodeFailedPrecondition},
		{shares.ErrNoWithdrawAddress, connect.CodeFailedPrecondition},
		{ledger.ErrIdempotencyConflict, connect.CodeAlreadyExists},
		{errors.New("boom"), connect.CodeInternal},
	} {
		fake.werr = tc.err
		_, err := c.Withdraw(ctx, withMac(&sluicerpc.WithdrawRequest{
			ProviderId: "prov-1", AmountUnits: 1}, provider))
		if connect.CodeOf(err) != tc.code {
			t.Errorf("withdraw, %v: code %v, want %v", tc.err,
				connect.CodeOf(err), tc.code)
		}
	}
}

func TestSharesDepositRPCs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	fake := &fakeShares{deposits: []shares.Deposit{
		{ID: 1, Outpoint: "aa:1", ProviderID: "prov-1", Amount: 700,
			Height: 120},
		{ID: 2, Outpoint: "bb:0", ProviderID: "prov-2", Amount: 300,
			Height: 121},
	}}
	d, c := startSharesDaemon(t, fake)
	operator := d.macaroonHex(t, OperatorMacaroonFile)
	provider := d.providerHex(t, "prov-1")
	buyer := d.buyerHex(t, "buyer-1")

	// A buyer may not; a provider only for itself.
	_, err := c.GetDepositAddress(ctx, withMac(
		&sluicerpc.GetDepositAddressRequest{ProviderId: "prov-1"},
		buyer))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("deposit address for a buyer: %v", err)
	}
	_, err = c.GetDepositAddress(ctx, withMac(
		&sluicerpc.GetDepositAddressRequest{ProviderId: "prov-2"},
		provider))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("another provider's deposit address: %v", err)
	}
	_, err = c.ListDeposits(ctx, withMac(&sluicerpc.ListDepositsRequest{},
		provider))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("a provider listing everyone's deposits: %v", err)
	}
	if len(fake.dasked) != 0 {
		t.Fatalf("a refused call reached the backend: %v", fake.dasked)
	}

	a, err := c.GetDepositAddress(ctx, withMac(
		&sluicerpc.GetDepositAddressRequest{ProviderId: "prov-1"},
		provider))
	if err != nil || a.Msg.Address.GetAddr() != "taprt1hub-prov-1" ||
		a.Msg.Address.ProviderId != "prov-1" {

		t.Fatalf("deposit address: %v, %v", a, err)
	}
	own, err := c.ListDeposits(ctx, withMac(
		&sluicerpc.ListDepositsRequest{ProviderId: "prov-1"}, provider))
	if err != nil || len(own.Msg.Deposits) != 1 ||
		own.Msg.Deposits[0].Outpoint != "aa:1" ||
		own.Msg.Deposits[0].AmountUnits != 700 ||
		own.Msg.Deposits[0].BlockHeight != 120 {

		t.Fatalf("own deposits: %v, %v", own, err)
	}
	all, err := c.ListDeposits(ctx, withMac(&sluicerpc.ListDepositsRequest{},
		operator))
	if err != nil || len(all.Msg.Deposits) != 2 {
		t.Fatalf("operator's list: %v, %v", all, err)
	}

	fake.werr = shares.ErrNoGenesis
	_, err = c.GetDepositAddress(ctx, withMac(
		&sluicerpc.GetDepositAddressRequest{ProviderId: "prov-1"},
		operator))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("deposit address before the genesis: %v", err)
	}
}
