package rpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/rpc/vaulttest"
	"github.com/sluice-ln/sluice/yield"
)

// The fake is what the handlers need.
var _ VaultBackend = (*vaulttest.Vault)(nil)

// vaultDaemon is a server whose VaultService uses a fake vault, and the
// macaroons of each role.
type vaultDaemon struct {
	*testDaemon
	client sluicerpcconnect.VaultServiceClient

	operator, provider, other, buyer string
}

// startVaultDaemon serves the VaultService over vault (none when nil).
func startVaultDaemon(t *testing.T, vault VaultBackend) vaultDaemon {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	if vault != nil {
		cfg.Vault = vault
	}
	d := startServer(t, dir, cfg)
	return vaultDaemon{
		testDaemon: d,
		client: sluicerpcconnect.NewVaultServiceClient(
			httpClient(t, d.certPath(), true), d.url(),
			connect.WithGRPC(),
		),
		operator: d.macaroonHex(t, OperatorMacaroonFile),
		provider: d.providerHex(t, "prov-1"),
		other:    d.providerHex(t, "prov-2"),
		buyer:    d.buyerHex(t, "buyer-1"),
	}
}

// vaultCall is one VaultService call with a request, made with a
// macaroon; it returns the response message.
type vaultCall func(ctx context.Context, c sluicerpcconnect.VaultServiceClient,
	mac string) (any, error)

// call wraps a client method as a vaultCall.
func call[Req, Resp any](
	method func(sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[Req]) (*connect.Response[Resp],
		error),
	msg *Req) vaultCall {

	return func(ctx context.Context, c sluicerpcconnect.VaultServiceClient,
		mac string) (any, error) {

		resp, err := method(c)(ctx, withMac(msg, mac))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
}

// Each VaultService method with a request naming prov-1 where it names a
// provider.
var (
	getVault = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.GetVaultRequest]) (
		*connect.Response[sluicerpc.GetVaultResponse], error) {

		return c.GetVault
	}, &sluicerpc.GetVaultRequest{})
	getHolding = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.GetHoldingRequest]) (
		*connect.Response[sluicerpc.GetHoldingResponse], error) {

		return c.GetHolding
	}, &sluicerpc.GetHoldingRequest{ProviderId: "prov-1"})
	stake = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.StakeRequest]) (
		*connect.Response[sluicerpc.StakeResponse], error) {

		return c.Stake
	}, &sluicerpc.StakeRequest{ProviderId: "prov-1", AmountMsat: 5000,
		IdempotencyKey: "k1"})
	setAutoStake = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.SetAutoStakeRequest]) (
		*connect.Response[sluicerpc.SetAutoStakeResponse], error) {

		return c.SetAutoStake
	}, &sluicerpc.SetAutoStakeRequest{ProviderId: "prov-1", Percent: 50})
	redeem = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.RedeemRequest]) (
		*connect.Response[sluicerpc.RedeemResponse], error) {

		return c.Redeem
	}, &sluicerpc.RedeemRequest{ProviderId: "prov-1", SharesUnits: 1500,
		IdempotencyKey: "r1"})
	cancelRedeem = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.CancelRedeemRequest]) (
		*connect.Response[sluicerpc.CancelRedeemResponse], error) {

		return c.CancelRedeem
	}, &sluicerpc.CancelRedeemRequest{RedemptionId: 7})
	listRedemptions = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context,
		*connect.Request[sluicerpc.ListRedemptionsRequest]) (
		*connect.Response[sluicerpc.ListRedemptionsResponse], error) {

		return c.ListRedemptions
	}, &sluicerpc.ListRedemptionsRequest{FilterProviderId: "prov-1"})
	listEpochs = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.ListEpochsRequest]) (
		*connect.Response[sluicerpc.ListEpochsResponse], error) {

		return c.ListEpochs
	}, &sluicerpc.ListEpochsRequest{After: 2, Limit: 10})
	getEpoch = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.GetEpochRequest]) (
		*connect.Response[sluicerpc.GetEpochResponse], error) {

		return c.GetEpoch
	}, &sluicerpc.GetEpochRequest{Number: 3})
	getRewardProof = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.GetRewardProofRequest]) (
		*connect.Response[sluicerpc.GetRewardProofResponse], error) {

		return c.GetRewardProof
	}, &sluicerpc.GetRewardProofRequest{Epoch: 3, ProviderId: "prov-1"})
	setVaultPolicy = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.SetVaultPolicyRequest]) (
		*connect.Response[sluicerpc.SetVaultPolicyResponse], error) {

		return c.SetVaultPolicy
	}, &sluicerpc.SetVaultPolicyRequest{FloorBps: 2000,
		CapsMsat: map[string]int64{"routing": 1_000_000}})
	shutdown = call(func(c sluicerpcconnect.VaultServiceClient) func(
		context.Context, *connect.Request[sluicerpc.ShutdownRequest]) (
		*connect.Response[sluicerpc.ShutdownResponse], error) {

		return c.Shutdown
	}, &sluicerpc.ShutdownRequest{On: true})
)

// vaultMethods are the calls above by method name.
var vaultMethods = map[string]vaultCall{
	"GetVault": getVault, "GetHolding": getHolding, "Stake": stake,
	"SetAutoStake": setAutoStake, "Redeem": redeem,
	"CancelRedeem": cancelRedeem, "ListRedemptions": listRedemptions,
	"ListEpochs": listEpochs, "GetEpoch": getEpoch,
	"GetRewardProof": getRewardProof, "SetVaultPolicy": setVaultPolicy,
	"Shutdown": shutdown,
}

// expectVaultCall declares on v the backend call that method's request
// above makes for a caller acting as provider (the operator's CancelRedeem
// passes ""), answering with zero values.
func expectVaultCall(v *vaulttest.Vault, method, provider string) {
	switch method {
	case "GetVault":
		v.ExpectState(yield.State{}, nil)
	case "GetHolding":
		v.ExpectHolding("prov-1", yield.Holding{}, nil)
	case "Stake":
		v.ExpectStake("k1", "prov-1", 5000, false,
			yield.StakeResult{}, nil)
	case "SetAutoStake":
		v.ExpectSetAutoStake("prov-1", 50, nil)
		v.ExpectHolding("prov-1", yield.Holding{}, nil)
	case "Redeem":
		v.ExpectRedeem("r1", "prov-1", 1500, yield.Redemption{}, nil)
	case "CancelRedeem":
		v.ExpectCancelRedeem(provider, 7, yield.Redemption{}, nil)
	case "ListRedemptions":
		v.ExpectRedemptions(yield.RedemptionFilter{ProviderID: "prov-1"},
			nil, nil)
	case "ListEpochs":
		v.ExpectEpochs(2, 10, nil, nil)
	case "GetEpoch":
		v.ExpectEpoch(3, yield.StoredEpoch{Number: 3}, nil, nil)
	case "GetRewardProof":
		v.ExpectRewardProof(3, "prov-1", rewardProof(), nil)
	case "SetVaultPolicy":
		v.ExpectSetPolicy(2000, map[string]ledger.MilliSatoshi{
			"routing": 1_000_000}, yield.Policy{}, nil)
	case "Shutdown":
		v.ExpectShutdown(true, yield.Policy{Shutdown: true}, nil)
	default:
		panic("no method " + method)
	}
}

// TestVaultRoles calls every method with every role: the operator may call
// all; a provider all but the policy and shutdown, on its own shares; a
// buyer, another provider and no macaroon none. A refused call never
// reaches the vault (the fake fails the test on a call not declared).
func TestVaultRoles(t *testing.T) {
	t.Parallel()
	v := vaulttest.New(t)
	d := startVaultDaemon(t, v)

	operatorOnly := map[string]bool{"SetVaultPolicy": true,
		"Shutdown": true}
	// Methods whose request names no provider: another provider's
	// macaroon is refused only where the vault says so.
	unscoped := map[string]bool{"GetVault": true, "ListEpochs": true,
		"GetEpoch": true, "CancelRedeem": true}

	for method, do := range vaultMethods {
		tests := []struct {
			role string
			mac  string
			want connect.Code
		}{
			{"operator", d.operator, 0},
			{"provider", d.provider, 0},
			{"other provider", d.other,
				connect.CodePermissionDenied},
			{"buyer", d.buyer, connect.CodePermissionDenied},
			{"no macaroon", "", connect.CodeUnauthenticated},
		}
		for _, tc := range tests {
			want := tc.want
			switch {
			case operatorOnly[method] && tc.role != "operator" &&
				tc.mac != "":

				want = connect.CodePermissionDenied
			case tc.role == "other provider" && unscoped[method]:
				want = 0
			}
			t.Run(method+" as "+tc.role, func(t *testing.T) {
				if want == 0 {
					provider := "prov-1"
					switch tc.role {
					case "operator":
						provider = ""
					case "other provider":
						provider = "prov-2"
					}
					expectVaultCall(v, method, provider)
				}
				_, err := do(context.Background(), d.client,
					tc.mac)
				switch {
				case want == 0 && err != nil:
					t.Fatalf("refused: %v", err)
				case want != 0 && connect.CodeOf(err) != want:
					t.Fatalf("%v, want %v", err, want)
				}
			})
		}
	}
}

// TestVaultNotServed checks that a server without a vault answers every
// method unimplemented, saying so.
func TestVaultNotServed(t *testing.T) {
	t.Parallel()
	d := startVaultDaemon(t, nil)
	for method, do := range vaultMethods {
		_, err := do(context.Background(), d.client, d.operator)
		if connect.CodeOf(err) != connect.CodeUnimplemented ||
			!strings.Contains(err.Error(), "serves no vault") {

			t.Errorf("%s: %v, want unimplemented: serves no vault",
				method, err)
		}
	}
}

// TestVaultErrorCodes checks the code and message each of the vault's
// refusals reaches the caller with.
func TestVaultErrorCodes(t *testing.T) {
	t.Parallel()
	v := vaulttest.New(t)
	d := startVaultDaemon(t, v)

	limit := &yield.LimitError{Limit: "payable", Unit: "msat",
		Have: 3000, Want: 5000}
	tests := []struct {
		err  error
		want connect.Code
		msg  string
	}{
		{fmt.Errorf("stake: %w", yield.ErrInvalidAmount),
			connect.CodeInvalidArgument, "invalid amount"},
		{fmt.Errorf("stake: %w", yield.ErrInvalidPercent),
			connect.CodeInvalidArgument, "invalid percent"},
		{fmt.Errorf("stake: %w", yield.ErrInvalidPolicy),
			connect.CodeInvalidArgument, "invalid vault policy"},
		{fmt.Errorf("stake of prov-1: %w", limit),
			connect.CodeFailedPrecondition,
			"payable allows 3000 msat, asked 5000 (2000 over)"},
		{yield.ErrLimit, connect.CodeFailedPrecondition, "vault limit"},
		{yield.ErrShutdown, connect.CodeFailedPrecondition,
			"shut down"},
		{yield.ErrRedemptionState, connect.CodeFailedPrecondition,
			"not in that state"},
		{yield.ErrEpochOpen, connect.CodeFailedPrecondition,
			"has not closed"},
		{yield.ErrNotOwner, connect.CodePermissionDenied,
			"not the provider's own"},
		{yield.ErrProviderNotFound, connect.CodeNotFound,
			"provider not found"},
		{yield.ErrRedemptionNotFound, connect.CodeNotFound,
			"redemption not found"},
		{yield.ErrEpochNotFound, connect.CodeNotFound,
			"epoch not found"},
		{yield.ErrNoContribution, connect.CodeNotFound,
			"no contribution"},
		{yield.ErrOverflow, connect.CodeOutOfRange, "overflow"},
		{errors.New("disk on fire"), connect.CodeInternal,
			"stake: disk on fire"},
		{context.DeadlineExceeded, connect.CodeCanceled, "deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			v.ExpectStake("k1", "prov-1", 5000, false,
				yield.StakeResult{}, tc.err)
			_, err := stake(context.Background(), d.client,
				d.provider)
			if connect.CodeOf(err) != tc.want ||
				!strings.Contains(err.Error(), tc.msg) {

				t.Fatalf("%v, want %v with %q", err, tc.want,
					tc.msg)
			}
		})
	}
}

// TestVaultBadRequests checks what the handlers refuse before the vault
// is asked.
func TestVaultBadRequests(t *testing.T) {
	t.Parallel()
	v := vaulttest.New(t)
	d := startVaultDaemon(t, v)
	ctx := context.Background()
	c := d.client

	tests := []struct {
		name string
		do   func() error
		msg  string
	}{
		{"operator names no provider", func() error {
			_, err := c.GetHolding(ctx, withMac(
				&sluicerpc.GetHoldingRequest{}, d.operator))
			return err
		}, "provider_id is empty"},
		{"amount and all", func() error {
			_, err := c.Stake(ctx, withMac(&sluicerpc.StakeRequest{
				ProviderId: "prov-1", AmountMsat: 1, All: true,
			}, d.provider))
			return err
		}, "give one"},
		{"key too long", func() error {
			_, err := c.Stake(ctx, withMac(&sluicerpc.StakeRequest{
				ProviderId: "prov-1", AmountMsat: 1,
				IdempotencyKey: strings.Repeat("k", 129),
			}, d.provider))
			return err
		}, "129 bytes, at most 128"},
		{"key with a control character", func() error {
			_, err := c.Redeem(ctx, withMac(&sluicerpc.RedeemRequest{
				ProviderId: "prov-1", SharesUnits: 1,
				IdempotencyKey: "a\nb",
			}, d.provider))
			return err
		}, "not printable"},
		{"redemption id 0", func() error {
			_, err := c.CancelRedeem(ctx, withMac(
				&sluicerpc.CancelRedeemRequest{}, d.provider))
			return err
		}, "ids start at 1"},
		{"unknown status", func() error {
			_, err := c.ListRedemptions(ctx, withMac(
				&sluicerpc.ListRedemptionsRequest{
					Statuses: []string{"lost"},
				}, d.provider))
			return err
		}, `"lost" is not pending`},
		{"epoch 0", func() error {
			_, err := c.GetEpoch(ctx, withMac(
				&sluicerpc.GetEpochRequest{}, d.provider))
			return err
		}, "count from 1"},
		{"proof of epoch 0", func() error {
			_, err := c.GetRewardProof(ctx, withMac(
				&sluicerpc.GetRewardProofRequest{
					ProviderId: "prov-1",
				}, d.provider))
			return err
		}, "count from 1"},
		{"negative cap", func() error {
			_, err := c.SetVaultPolicy(ctx, withMac(
				&sluicerpc.SetVaultPolicyRequest{
					CapsMsat: map[string]int64{"routing": -1},
				}, d.operator))
			return err
		}, "routing is -1, below zero"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if connect.CodeOf(err) != connect.CodeInvalidArgument ||
				!strings.Contains(err.Error(), tc.msg) {

				t.Fatalf("%v, want invalid argument with %q",
					err, tc.msg)
			}
		})
	}
}

// testTime is when the fakes' records happened.
var testTime = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// TestVaultConversions checks that what the vault answers reaches the
// caller whole.
func TestVaultConversions(t *testing.T) {
	t.Parallel()
	v := vaulttest.New(t)
	d := startVaultDaemon(t, v)
	ctx := context.Background()
	c := d.client

	open := yield.StoredEpoch{Number: 4, Start: testTime, Seconds: 10,
		Earned: 900, Fees: 100}
	v.ExpectState(yield.State{
		Assets: 1_500_000, Idle: 1_000_000, Allocated: 500_000,
		Supply: 1_400_000, Locked: 2_000,
		ShareValue: 1071, ShareValueExact: "1071.4278",
		Floor: 300_000, FloorMet: true,
		QueueLen: 1, QueueShares: 2_000, Queued: 2_142,
		Policy: yield.Policy{FloorBPS: 2000,
			Caps:      map[string]ledger.MilliSatoshi{"routing": 900},
			UpdatedAt: testTime},
		Epoch: open, Due: testTime.Add(time.Hour),
		Strategies: map[string]ledger.MilliSatoshi{
			"routing": 500_000, "reserve": 1_000_000},
	}, nil)
	st, err := c.GetVault(ctx, withMac(&sluicerpc.GetVaultRequest{},
		d.provider))
	if err != nil {
		t.Fatal(err)
	}
	m := st.Msg
	if m.AssetsMsat != 1_500_000 || m.IdleMsat != 1_000_000 ||
		m.AllocatedMsat != 500_000 || m.SupplyUnits != 1_400_000 ||
		m.LockedUnits != 2_000 || m.ShareValueMsat != 1071 ||
		m.ShareValueExactMsat != "1071.4278" ||
		m.FloorMsat != 300_000 || !m.FloorMet ||
		m.QueueLength != 1 || m.QueueUnits != 2_000 ||
		m.QueuedMsat != 2_142 {

		t.Errorf("vault %v", m)
	}
	if m.Policy.FloorBps != 2000 || m.Policy.CapsMsat["routing"] != 900 ||
		m.Policy.Shutdown || !m.Policy.UpdatedAt.AsTime().Equal(testTime) {

		t.Errorf("policy %v", m.Policy)
	}
	if m.OpenEpoch.GetNumber() != 4 || m.OpenEpoch.Closed ||
		m.OpenEpoch.End != nil || m.OpenEpoch.Root != nil ||
		m.OpenEpoch.EarnedMsat != 900 ||
		!m.EpochDue.AsTime().Equal(testTime.Add(time.Hour)) {

		t.Errorf("open epoch %v due %v", m.OpenEpoch, m.EpochDue)
	}
	if len(m.Strategies) != 2 || m.Strategies[0].Name != "reserve" ||
		m.Strategies[0].PrincipalMsat != 1_000_000 ||
		m.Strategies[1].Name != "routing" {

		t.Errorf("strategies %v, want sorted by name", m.Strategies)
	}

	// Before the first epoch there is none to show.
	v.ExpectState(yield.State{}, nil)
	st, err = c.GetVault(ctx, withMac(&sluicerpc.GetVaultRequest{},
		d.operator))
	if err != nil || st.Msg.OpenEpoch != nil || st.Msg.EpochDue != nil {
		t.Errorf("vault without an epoch: %v, %v", st, err)
	}

	v.ExpectSetAutoStake("prov-1", 40, nil)
	v.ExpectHolding("prov-1", yield.Holding{ProviderID: "prov-1",
		Shares: 12_345, Locked: 1_000, Value: 14_000, AutoStake: 40},
		nil)
	h, err := c.SetAutoStake(ctx, withMac(&sluicerpc.SetAutoStakeRequest{
		ProviderId: "prov-1", Percent: 40}, d.provider))
	if err != nil {
		t.Fatal(err)
	}
	if hm := h.Msg.Holding; hm.ProviderId != "prov-1" ||
		hm.SharesUnits != 12_345 || hm.LockedUnits != 1_000 ||
		hm.ValueMsat != 14_000 || hm.AutoStakePercent != 40 {

		t.Errorf("holding %v", hm)
	}

	// A stake with the caller's key and one with the server's.
	v.ExpectStake("mine", "prov-1", 0, true,
		yield.StakeResult{Assets: 7_000, Shares: 6_500}, nil)
	sr, err := c.Stake(ctx, withMac(&sluicerpc.StakeRequest{
		ProviderId: "prov-1", All: true, IdempotencyKey: "mine"},
		d.provider))
	if err != nil {
		t.Fatal(err)
	}
	if sr.Msg.AssetsMsat != 7_000 || sr.Msg.SharesUnits != 6_500 ||
		sr.Msg.Duplicate || sr.Msg.IdempotencyKey != "mine" {

		t.Errorf("stake %v", sr.Msg)
	}
	v.ExpectStake(vaulttest.AnyKey, "prov-1", 2_000, false,
		yield.StakeResult{Assets: 2_000, Shares: 1_900,
			Duplicate: true}, nil)
	sr, err = c.Stake(ctx, withMac(&sluicerpc.StakeRequest{
		ProviderId: "prov-1", AmountMsat: 2_000}, d.operator))
	if err != nil {
		t.Fatal(err)
	}
	keys := v.Keys()
	made := keys[len(keys)-1]
	if !sr.Msg.Duplicate || sr.Msg.IdempotencyKey != made ||
		len(made) != 32 {

		t.Errorf("stake with the server's key: %v, vault got key %q",
			sr.Msg, made)
	}
	if _, err := hex.DecodeString(made); err != nil {
		t.Errorf("server's key %q is not hex", made)
	}

	redemption := yield.Redemption{
		StoredRedemption: yield.StoredRedemption{
			ID: 9, Key: "prov-1:r2", ProviderID: "prov-1",
			Shares: 1_500, Requested: 1_600,
			State:       yield.RedemptionFinalized,
			RequestedAt: testTime, FinalizedAt: testTime.Add(time.Second),
			Assets: 1_599, PaidMark: 50_000,
		},
		Paid: true,
	}
	v.ExpectRedeem("r2", "prov-1", 1_500, redemption, nil)
	rr, err := c.Redeem(ctx, withMac(&sluicerpc.RedeemRequest{
		ProviderId: "prov-1", SharesUnits: 1_500, IdempotencyKey: "r2"},
		d.provider))
	if err != nil {
		t.Fatal(err)
	}
	r := rr.Msg.Redemption
	if r.Id != 9 || r.Key != "prov-1:r2" || r.ProviderId != "prov-1" ||
		r.SharesUnits != 1_500 || r.RequestedMsat != 1_600 ||
		r.Status != "paid" || r.AssetsMsat != 1_599 ||
		!r.RequestedAt.AsTime().Equal(testTime) ||
		!r.FinalizedAt.AsTime().Equal(testTime.Add(time.Second)) ||
		r.CancelledAt != nil || rr.Msg.IdempotencyKey != "r2" {

		t.Errorf("redemption %v", rr.Msg)
	}

	// The operator cancels any request, a provider its own.
	cancelled := yield.Redemption{StoredRedemption: yield.StoredRedemption{
		ID: 3, ProviderID: "prov-1", State: yield.RedemptionCancelled,
		CancelledAt: testTime}}
	v.ExpectCancelRedeem("", 3, cancelled, nil)
	v.ExpectCancelRedeem("prov-2", 3, yield.Redemption{},
		fmt.Errorf("redemption 3: %w", yield.ErrNotOwner))
	cr, err := c.CancelRedeem(ctx, withMac(&sluicerpc.CancelRedeemRequest{
		RedemptionId: 3}, d.operator))
	if err != nil || cr.Msg.Redemption.Status != "cancelled" ||
		!cr.Msg.Redemption.CancelledAt.AsTime().Equal(testTime) {

		t.Errorf("cancel as operator: %v, %v", cr, err)
	}
	_, err = c.CancelRedeem(ctx, withMac(&sluicerpc.CancelRedeemRequest{
		RedemptionId: 3}, d.other))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("cancel another's: %v, want permission denied", err)
	}

	// Epochs and an epoch with its contributions.
	closed := yield.StoredEpoch{Number: 3, Start: testTime,
		End: testTime.Add(time.Hour), Closed: true, Seconds: 7800,
		Earned: 2_000_000, Fees: 500_000, Reward: 100_000,
		Issued: 99_000, NAVAssets: 1_000_000, NAVSupply: 990_000,
		Root: chainhash.Hash{1, 2, 3}}
	v.ExpectEpochs(0, 0, []yield.StoredEpoch{closed, open}, nil)
	er, err := c.ListEpochs(ctx, withMac(&sluicerpc.ListEpochsRequest{},
		d.provider))
	if err != nil || len(er.Msg.Epochs) != 2 {
		t.Fatalf("epochs: %v, %v", er, err)
	}
	e := er.Msg.Epochs[0]
	if e.Number != 3 || !e.Closed || e.Seconds != 7800 ||
		e.EarnedMsat != 2_000_000 || e.FeesMsat != 500_000 ||
		e.RewardMsat != 100_000 || e.IssuedUnits != 99_000 ||
		e.NavAssetsMsat != 1_000_000 || e.NavSupplyUnits != 990_000 ||
		!e.End.AsTime().Equal(testTime.Add(time.Hour)) ||
		hex.EncodeToString(e.Root) != hex.EncodeToString(closed.Root[:]) {

		t.Errorf("closed epoch %v", e)
	}
	if er.Msg.Epochs[1].Root != nil {
		t.Errorf("open epoch has a root: %v", er.Msg.Epochs[1])
	}
	v.ExpectEpoch(3, closed, []yield.Contribution{{Epoch: 3,
		ProviderID: "prov-1", Seconds: 3600, Earned: 1_200_000,
		Fees: 300_000, Shares: 60_000}}, nil)
	gr, err := c.GetEpoch(ctx, withMac(&sluicerpc.GetEpochRequest{
		Number: 3}, d.operator))
	if err != nil || len(gr.Msg.Contributions) != 1 {
		t.Fatalf("epoch: %v, %v", gr, err)
	}
	if cm := gr.Msg.Contributions[0]; cm.ProviderId != "prov-1" ||
		cm.Seconds != 3600 || cm.EarnedMsat != 1_200_000 ||
		cm.FeesMsat != 300_000 || cm.SharesUnits != 60_000 {

		t.Errorf("contribution %v", cm)
	}

	// Policy and shutdown.
	v.ExpectSetPolicy(500, map[string]ledger.MilliSatoshi{"routing": 7},
		yield.Policy{FloorBPS: 500,
			Caps: map[string]ledger.MilliSatoshi{"routing": 7}}, nil)
	pr, err := c.SetVaultPolicy(ctx, withMac(
		&sluicerpc.SetVaultPolicyRequest{FloorBps: 500,
			CapsMsat: map[string]int64{"routing": 7}}, d.operator))
	if err != nil || pr.Msg.Policy.FloorBps != 500 ||
		pr.Msg.Policy.CapsMsat["routing"] != 7 {

		t.Errorf("policy: %v, %v", pr, err)
	}
	v.ExpectShutdown(false, yield.Policy{FloorBPS: 500}, nil)
	sd, err := c.Shutdown(ctx, withMac(&sluicerpc.ShutdownRequest{},
		d.operator))
	if err != nil || sd.Msg.Policy.Shutdown ||
		sd.Msg.Policy.FloorBps != 500 {

		t.Errorf("shutdown off: %v, %v", sd, err)
	}
}

// TestListRedemptionsFilter checks who sees whose requests and that paid
// and finalized, one stored state, are told apart.
func TestListRedemptionsFilter(t *testing.T) {
	t.Parallel()
	v := vaulttest.New(t)
	d := startVaultDaemon(t, v)
	ctx := context.Background()

	stored := func(id int64, state yield.RedemptionState,
		paid bool) yield.Redemption {

		return yield.Redemption{StoredRedemption: yield.StoredRedemption{
			ID: id, ProviderID: "prov-1", State: state}, Paid: paid}
	}
	finalizedOrPaid := []yield.Redemption{
		stored(1, yield.RedemptionFinalized, true),
		stored(2, yield.RedemptionFinalized, false),
	}
	tests := []struct {
		name     string
		mac      string
		provider string
		statuses []string
		filter   yield.RedemptionFilter
		answer   []yield.Redemption
		want     []int64
	}{
		{"provider sees its own", d.provider, "", nil,
			yield.RedemptionFilter{ProviderID: "prov-1"},
			[]yield.Redemption{stored(4, yield.RedemptionPending,
				false)}, []int64{4}},
		{"operator sees all", d.operator, "", nil,
			yield.RedemptionFilter{},
			[]yield.Redemption{stored(4, yield.RedemptionPending,
				false)}, []int64{4}},
		{"paid only", d.provider, "prov-1", []string{"paid"},
			yield.RedemptionFilter{ProviderID: "prov-1",
				States: []yield.RedemptionState{
					yield.RedemptionFinalized}},
			finalizedOrPaid, []int64{1}},
		{"finalized only", d.operator, "prov-1",
			[]string{"finalized"},
			yield.RedemptionFilter{ProviderID: "prov-1",
				States: []yield.RedemptionState{
					yield.RedemptionFinalized}},
			finalizedOrPaid, []int64{2}},
		{"paid and pending", d.operator, "", []string{"paid",
			"pending", "finalized"},
			yield.RedemptionFilter{States: []yield.RedemptionState{
				yield.RedemptionFinalized,
				yield.RedemptionPending}},
			finalizedOrPaid, []int64{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v.ExpectRedemptions(tc.filter, tc.answer, nil)
			resp, err := d.client.ListRedemptions(ctx, withMac(
				&sluicerpc.ListRedemptionsRequest{
					FilterProviderId: tc.provider,
					Statuses:         tc.statuses,
				}, tc.mac))
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range resp.Msg.Redemptions {
				got = append(got, r.Id)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
		})
	}

	_, err := d.client.ListRedemptions(ctx, withMac(
		&sluicerpc.ListRedemptionsRequest{FilterProviderId: "prov-2"},
		d.provider))
	if connect.CodeOf(err) != connect.CodePermissionDenied ||
		!strings.Contains(err.Error(), ErrWrongProvider.Error()) {

		t.Fatalf("another provider's list: %v", err)
	}
}

// rewardProof is prov-1's proof in a three-provider epoch 3.
func rewardProof() yield.RewardProof {
	leaves := []yield.Leaf{
		{Epoch: 3, ProviderID: "prov-0", Seconds: 10, Earned: 100,
			Shares: 10},
		{Epoch: 3, ProviderID: "prov-1", Seconds: 20, Earned: 200,
			Shares: 20},
		{Epoch: 3, ProviderID: "prov-2", Seconds: 30, Earned: 300,
			Shares: 30},
	}
	root, err := yield.Root(leaves)
	if err != nil {
		panic(err)
	}
	proof, err := yield.Prove(leaves, "prov-1")
	if err != nil {
		panic(err)
	}
	return yield.RewardProof{
		Epoch: yield.StoredEpoch{Number: 3, Closed: true, Root: root},
		Leaf:  leaves[1], Proof: proof, Root: root,
	}
}

// TestGetRewardProof checks that the proof arrives whole and verifies
// from what the API shows alone: over gRPC as bytes, and over JSON as
// hex in SHA-256's byte order, not chainhash's reversed String.
func TestGetRewardProof(t *testing.T) {
	t.Parallel()
	v := vaulttest.New(t)
	d := startVaultDaemon(t, v)
	want := rewardProof()

	v.ExpectRewardProof(3, "prov-1", want, nil)
	resp, err := d.client.GetRewardProof(context.Background(), withMac(
		&sluicerpc.GetRewardProofRequest{Epoch: 3,
			ProviderId: "prov-1"}, d.provider))
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Msg
	leaf := yield.Leaf{Epoch: m.Leaf.Epoch, ProviderID: m.Leaf.ProviderId,
		Seconds: m.Leaf.Seconds, Earned: ledger.MilliSatoshi(
			m.Leaf.EarnedMsat),
		Shares: ledger.Shares(m.Leaf.SharesUnits)}
	proof := yield.Proof{Index: m.Index, Count: m.Count}
	for _, s := range m.Siblings {
		h, err := chainhash.NewHash(s)
		if err != nil {
			t.Fatal(err)
		}
		proof.Siblings = append(proof.Siblings, *h)
	}
	root, err := chainhash.NewHash(m.Root)
	if err != nil {
		t.Fatal(err)
	}
	if err := yield.Verify(*root, leaf, proof); err != nil {
		t.Fatalf("the API's proof does not verify: %v", err)
	}
	leafHash, _ := want.Leaf.Hash()
	if m.Index != 1 || m.Count != 3 || len(m.Siblings) != 2 ||
		hex.EncodeToString(m.LeafHash) != hex.EncodeToString(
			leafHash[:]) || !m.Epoch.Closed {

		t.Errorf("proof %v", m)
	}

	// The same over plain JSON.
	v.ExpectRewardProof(3, "prov-1", want, nil)
	req, err := http.NewRequest(http.MethodPost,
		d.url()+"/sluicerpc.VaultService/GetRewardProof",
		strings.NewReader(`{"epoch": 3, "provider_id": "prov-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("macaroon", d.provider)
	hr, err := httpClient(t, d.certPath(), false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	raw, err := io.ReadAll(hr.Body)
	if err != nil || hr.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s (%v)", hr.StatusCode, raw, err)
	}
	var body struct {
		Root     string   `json:"root"`
		Siblings []string `json:"siblings"`
		Leaf     struct {
			EarnedMsat string `json:"earned_msat"`
		} `json:"leaf"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if body.Root != hex.EncodeToString(want.Root[:]) ||
		body.Root == want.Root.String() {

		t.Errorf("JSON root %s, want %x (SHA-256 order)", body.Root,
			want.Root[:])
	}
	if len(body.Siblings) != 2 || body.Siblings[0] !=
		hex.EncodeToString(want.Proof.Siblings[0][:]) {

		t.Errorf("JSON siblings %v", body.Siblings)
	}
	if body.Leaf.EarnedMsat != "200" {
		t.Errorf("JSON leaf %s", raw)
	}
}
