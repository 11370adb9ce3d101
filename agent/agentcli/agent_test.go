package agentcli

import (
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/agent"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
)

// TestMeteringErr checks that the agent gets metering's sentinels back
// from the status the server sent, and transport failures unchanged.
func TestMeteringErr(t *testing.T) {
	plain := errors.New("connection refused")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"suspended", connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("%w: job j is suspended",
				metering.ErrJobNotRunning)), metering.ErrJobNotRunning},
		{"gap", connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("%w: first new seq 5, want 3",
				metering.ErrSeqGap)), metering.ErrSeqGap},
		{"escrow", connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("seq 4: %w", metering.ErrInsufficientEscrow)),
			metering.ErrInsufficientEscrow},
		{"future", connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("job j seq 3: %w", metering.ErrFutureSecond)),
			metering.ErrFutureSecond},
		{"conflict", connect.NewError(connect.CodeAlreadyExists,
			metering.ErrConflict), metering.ErrConflict},
		{"macaroon", connect.NewError(connect.CodeUnauthenticated,
			errors.New("bad macaroon")), metering.ErrForeignJob},
		{"unavailable", connect.NewError(connect.CodeUnavailable,
			plain), nil},
		{"not a connect error", plain, nil},
		{"moved", &rpcclient.MovedError{From: "a:1", To: "b:2",
			Err: connect.NewError(connect.CodeUnavailable, plain)},
			agent.ErrMoved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := meteringErr(tc.err)
			if tc.want == nil {
				if got != tc.err {
					t.Fatalf("got %v, want it unchanged", got)
				}
				return
			}
			if !errors.Is(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
