package outputtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestWaitFor checks that WaitFor returns once another goroutine wrote
// the text, and fails with what was written when the context ends first.
func TestWaitFor(t *testing.T) {
	var b Buffer
	release := make(chan struct{})
	go func() {
		fmt.Fprint(&b, "starting\n")
		<-release
		fmt.Fprint(&b, "waiting for the invoice\n")
	}()

	ctx, cancel := context.WithTimeout(context.Background(),
		50*time.Millisecond)
	defer cancel()
	err := b.WaitFor(ctx, "waiting for")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("before the write: %v", err)
	}

	close(release)
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.WaitFor(ctx, "waiting for"); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "starting\nwaiting for the invoice\n" {
		t.Fatalf("got %q", got)
	}
}
