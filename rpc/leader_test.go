package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/leader"
	"github.com/stretchr/testify/require"
)

// TestNotLeaderIsFailedPrecondition: a call refused because this instance
// does not lead answers FailedPrecondition naming the leader, whichever
// table its service maps errors with, and even when the service gave it
// another code.
func TestNotLeaderIsFailedPrecondition(t *testing.T) {
	fenced := fmt.Errorf("apply plan: %w", &leader.Fenced{
		Current: leader.Lease{Address: "127.0.0.1:10091", Token: 3},
	})

	err := errorCodes{}.connectError("apply plan", fenced)
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	require.Contains(t, err.Error(), "not the leader; the leader is "+
		"127.0.0.1:10091")

	wrapped := connect.NewError(connect.CodeInternal, fenced)
	unary := leaderInterceptor{}.WrapUnary(func(context.Context,
		connect.AnyRequest) (connect.AnyResponse, error) {

		return nil, wrapped
	})
	_, err = unary(context.Background(),
		connect.NewRequest(&struct{}{}))
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	require.True(t, errors.Is(err, leader.ErrNotLeader))

	// Other errors pass as they are.
	other := connect.NewError(connect.CodeNotFound, errors.New("no"))
	unary = leaderInterceptor{}.WrapUnary(func(context.Context,
		connect.AnyRequest) (connect.AnyResponse, error) {

		return nil, other
	})
	_, err = unary(context.Background(), connect.NewRequest(&struct{}{}))
	require.Same(t, other, err)
}
