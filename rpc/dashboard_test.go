package rpc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// TestVerifyOperatorMacaroon: the dashboard's login takes the operator
// macaroon and nothing else.
func TestVerifyOperatorMacaroon(t *testing.T) {
	d := startDaemon(t, "", &fakeInfo{})
	if err := d.srv.VerifyOperatorMacaroon(
		d.macaroonHex(t, OperatorMacaroonFile)); err != nil {

		t.Fatalf("operator: %v", err)
	}
	for name, tc := range map[string]struct {
		mac  string
		want error
	}{
		"buyer":    {d.buyerHex(t, "b1"), ErrNotOperator},
		"provider": {d.providerHex(t, "p1"), ErrNotOperator},
		"empty":    {"", ErrNoMacaroon},
		"not hex":  {"zz", ErrMalformedMacaroon},
	} {
		if err := d.srv.VerifyOperatorMacaroon(tc.mac); !errors.Is(err,
			tc.want) {

			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	other := startDaemon(t, "", &fakeInfo{})
	err := d.srv.VerifyOperatorMacaroon(other.macaroonHex(t,
		OperatorMacaroonFile))
	if !errors.Is(err, ErrInvalidMacaroon) {
		t.Errorf("another server's operator macaroon: %v", err)
	}
	if err := d.srv.Handle("/x/", http.NotFoundHandler()); !errors.Is(err,
		ErrAlreadyStarted) {

		t.Errorf("Handle after Start: %v", err)
	}
}

// fakeDashboardLinks mints one fixed token.
type fakeDashboardLinks struct{ at time.Time }

func (f fakeDashboardLinks) NewLink() (string, time.Time, error) {
	return "tok", f.at, nil
}

// TestCreateDashboardLink: the link's path carries the token; without a
// dashboard the call is unimplemented.
func TestCreateDashboardLink(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &operatorService{dashboard: fakeDashboardLinks{at: at}}
	resp, err := s.CreateDashboardLink(context.Background(),
		connect.NewRequest(&sluicerpc.CreateDashboardLinkRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.Path != "/dashboard/link?token=tok" ||
		!resp.Msg.ExpiresAt.AsTime().Equal(at) {

		t.Fatalf("link: %v", resp.Msg)
	}
	_, err = (&operatorService{}).CreateDashboardLink(context.Background(),
		connect.NewRequest(&sluicerpc.CreateDashboardLinkRequest{}))
	if connect.CodeOf(err) != connect.CodeUnimplemented ||
		!strings.Contains(err.Error(), "dashboard") {

		t.Fatalf("without a dashboard: %v", err)
	}
}
