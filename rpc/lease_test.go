package rpc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/lease"
)

// fakeLeases is the lease strategy: it answers with err when set, else
// with one lease, and records the requests and filters.
type fakeLeases struct {
	mu      sync.Mutex
	err     error
	lease   lease.Lease
	req     lease.Request
	filter  lease.Filter
	calls   int
	ids     []string
	cfg     lease.Config
	infoErr error
}

var _ LeaseBackend = (*fakeLeases)(nil)

func (f *fakeLeases) Config() lease.Config { return f.cfg }

func (f *fakeLeases) Info(context.Context) (lease.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return lease.Info{MinCapacity: 20_000, MaxCapacity: 1_000_000,
		MinBlocks: 10, MaxBlocks: 1000, RatePPB: 5, Floor: 1000,
		FundingConfirms: 6, Available: 300_000}, f.infoErr
}

func (f *fakeLeases) Request(_ context.Context, r lease.Request) (
	lease.Lease, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.req = r
	return f.lease, f.err
}

func (f *fakeLeases) Lease(_ context.Context, id string) (lease.Lease,
	error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.ids = append(f.ids, id)
	return f.lease, f.err
}

func (f *fakeLeases) Leases(_ context.Context, fl lease.Filter) (
	[]lease.Lease, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.filter = fl
	return []lease.Lease{f.lease}, f.err
}

// leaseDaemon serves the LeaseService over a fake strategy.
type leaseDaemon struct {
	*testDaemon
	client                    sluicerpcconnect.LeaseServiceClient
	operator, buyer, provider string
}

func startLeaseDaemon(t *testing.T, b LeaseBackend) leaseDaemon {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	if b != nil {
		cfg.Leases = b
	}
	d := startServer(t, dir, cfg)
	return leaseDaemon{
		testDaemon: d,
		client: sluicerpcconnect.NewLeaseServiceClient(
			httpClient(t, d.certPath(), true), d.url(),
			connect.WithGRPC()),
		operator: d.macaroonHex(t, OperatorMacaroonFile),
		buyer:    d.buyerHex(t, "buyer-1"),
		provider: d.providerHex(t, "prov-1"),
	}
}

var testNode = route.Vertex{0x02, 0xaa, 0xbb}

// leaseMethods calls each method with a macaroon.
var leaseMethods = map[string]func(context.Context,
	sluicerpcconnect.LeaseServiceClient, string) error{

	"GetLeaseInfo": func(ctx context.Context,
		c sluicerpcconnect.LeaseServiceClient, mac string) error {

		_, err := c.GetLeaseInfo(ctx, withMac(
			&sluicerpc.GetLeaseInfoRequest{}, mac))
		return err
	},
	"CreateLease": func(ctx context.Context,
		c sluicerpcconnect.LeaseServiceClient, mac string) error {

		_, err := c.CreateLease(ctx, withMac(
			&sluicerpc.CreateLeaseRequest{NodePubkey: testNode[:],
				LspBalanceSat: 50_000, ChannelExpiryBlocks: 10,
				Key: "k"}, mac))
		return err
	},
	"GetLease": func(ctx context.Context,
		c sluicerpcconnect.LeaseServiceClient, mac string) error {

		_, err := c.GetLease(ctx, withMac(
			&sluicerpc.GetLeaseRequest{Id: "ab"}, mac))
		return err
	},
	"ListLeases": func(ctx context.Context,
		c sluicerpcconnect.LeaseServiceClient, mac string) error {

		_, err := c.ListLeases(ctx, withMac(
			&sluicerpc.ListLeasesRequest{}, mac))
		return err
	},
}

// TestLeaseRoles: the operator may call every method, a buyer all but
// ListLeases, a provider and no macaroon none; a refused call never
// reaches the strategy.
func TestLeaseRoles(t *testing.T) {
	t.Parallel()
	f := &fakeLeases{lease: lease.Lease{ID: "ab", Node: testNode}}
	d := startLeaseDaemon(t, f)
	for method, do := range leaseMethods {
		for _, tc := range []struct {
			role, mac string
			want      connect.Code
		}{
			{"operator", d.operator, 0},
			{"buyer", d.buyer, 0},
			{"provider", d.provider, connect.CodePermissionDenied},
			{"none", "", connect.CodeUnauthenticated},
		} {
			want := tc.want
			if method == "ListLeases" && tc.role == "buyer" {
				want = connect.CodePermissionDenied
			}
			f.mu.Lock()
			before := f.calls
			f.mu.Unlock()
			err := do(context.Background(), d.client, tc.mac)
			f.mu.Lock()
			reached := f.calls > before
			f.mu.Unlock()
			switch {
			case want == 0 && err != nil:
				t.Errorf("%s as %s: %v", method, tc.role, err)
			case want != 0 && (connect.CodeOf(err) != want ||
				reached):

				t.Errorf("%s as %s: %v (reached %v), want %v",
					method, tc.role, err, reached, want)
			}
		}
	}
}

// TestLeaseNotServed answers unimplemented without a strategy.
func TestLeaseNotServed(t *testing.T) {
	t.Parallel()
	d := startLeaseDaemon(t, nil)
	for method, do := range leaseMethods {
		err := do(context.Background(), d.client, d.operator)
		if connect.CodeOf(err) != connect.CodeUnimplemented ||
			!strings.Contains(err.Error(), "sells no leases") {

			t.Errorf("%s: %v", method, err)
		}
	}
}

// TestLeaseErrorCodes maps each refusal to its code, keeping its message.
func TestLeaseErrorCodes(t *testing.T) {
	t.Parallel()
	f := &fakeLeases{}
	d := startLeaseDaemon(t, f)
	limit := &yield.LimitError{Limit: "cap of lease", Unit: "msat",
		Have: 1000, Want: 5000}
	for _, tc := range []struct {
		err  error
		want connect.Code
	}{
		{lease.ErrInvalidRequest, connect.CodeInvalidArgument},
		{lease.ErrCapacityTooSmall, connect.CodeOutOfRange},
		{lease.ErrCapacityTooLarge, connect.CodeOutOfRange},
		{lease.ErrBlocksOutOfRange, connect.CodeOutOfRange},
		{lease.ErrUnknownPeer, connect.CodeNotFound},
		{fmt.Errorf("%w: %w", lease.ErrNoRoom, limit),
			connect.CodeResourceExhausted},
		{lease.ErrKilled, connect.CodeUnavailable},
		{lease.ErrKeyReused, connect.CodeAlreadyExists},
		{errors.New("lnd broke"), connect.CodeInternal},
	} {
		f.mu.Lock()
		f.err = tc.err
		f.mu.Unlock()
		err := leaseMethods["CreateLease"](context.Background(),
			d.client, d.buyer)
		if connect.CodeOf(err) != tc.want ||
			!strings.Contains(err.Error(), tc.err.Error()) {

			t.Errorf("%v: %v, want %v", tc.err, err, tc.want)
		}
	}
	f.mu.Lock()
	f.err = fmt.Errorf("%w: zz", lease.ErrLeaseNotFound)
	f.mu.Unlock()
	err := leaseMethods["GetLease"](context.Background(), d.client,
		d.buyer)
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("unknown lease: %v", err)
	}

	// Checked before the strategy: a node key of the wrong length.
	_, err = d.client.CreateLease(context.Background(), withMac(
		&sluicerpc.CreateLeaseRequest{NodePubkey: []byte{2, 3},
			LspBalanceSat: 50_000, ChannelExpiryBlocks: 10},
		d.buyer))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("short node key: %v", err)
	}
	_, err = d.client.ListLeases(context.Background(), withMac(
		&sluicerpc.ListLeasesRequest{States: []string{"nope"}},
		d.operator))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("unknown state: %v", err)
	}
}

// TestLeaseOrder checks the request reaching the strategy and the order
// the buyer gets back, LSPS1-shaped.
func TestLeaseOrder(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	pre := lntypes.Preimage{7}
	f := &fakeLeases{cfg: lease.Config{FundingConfirms: 6},
		lease: lease.Lease{
			ID: "ab12", Node: testNode, Capacity: 50_000,
			Blocks: 10, RatePPB: 100_000, Premium: 50_000,
			Hash: pre.Hash(), PayReq: "lnbcrt500n1",
			InvoiceExpiresAt: at.Add(time.Hour),
			State:            lease.StateActive, Settled: true,
			ChanPoint: "aa:0", StartHeight: 500,
			ExpiryHeight: 510, Recognised: 20_000,
			RecognisedHeight: 504, CreatedAt: at, UpdatedAt: at,
		}}
	d := startLeaseDaemon(t, f)
	resp, err := d.client.CreateLease(context.Background(), withMac(
		&sluicerpc.CreateLeaseRequest{NodePubkey: testNode[:],
			LspBalanceSat: 50_000, ChannelExpiryBlocks: 10,
			Key: "k9"}, d.buyer))
	if err != nil {
		t.Fatal(err)
	}
	if f.req != (lease.Request{Node: testNode.String(), Capacity: 50_000,
		Blocks: 10, Key: "k9"}) {

		t.Errorf("request %+v", f.req)
	}
	l := resp.Msg.Lease
	if l.Id != "ab12" || l.LspBalanceSat != 50_000 ||
		l.ClientBalanceSat != 0 || l.ChannelExpiryBlocks != 10 ||
		l.FundingConfirmsWithinBlocks != 6 || l.PremiumMsat != 50_000 ||
		l.Bolt11 != "lnbcrt500n1" || l.State != "active" ||
		l.Expired || l.RecognisedMsat != 20_000 ||
		l.ExpiryHeight != 510 ||
		hex.EncodeToString(l.PaymentHash) != pre.Hash().String() ||
		!l.InvoiceExpiresAt.AsTime().Equal(at.Add(time.Hour)) {

		t.Errorf("order %+v", l)
	}

	info, err := d.client.GetLeaseInfo(context.Background(), withMac(
		&sluicerpc.GetLeaseInfoRequest{}, d.buyer))
	if err != nil || info.Msg.MinLspBalanceSat != 20_000 ||
		info.Msg.AvailableSat != 300_000 || info.Msg.RatePpb != 5 {

		t.Errorf("info %+v, %v", info, err)
	}

	_, err = d.client.ListLeases(context.Background(), withMac(
		&sluicerpc.ListLeasesRequest{NodePubkey: testNode[:],
			States: []string{"active", "paid", "active"}},
		d.operator))
	if err != nil || f.filter.Node == nil || *f.filter.Node != testNode ||
		len(f.filter.States) != 2 {

		t.Errorf("list: %+v, %v", f.filter, err)
	}
}
