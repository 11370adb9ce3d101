// Package outputtest lets a test watch what a program or command writes
// while it runs: a Buffer takes the writes of one goroutine (or a child
// process's pipe) while the test waits for a text to appear in it, so that
// the test acts after the program said something rather than after a
// guessed time.
package outputtest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// pollEvery is how often WaitFor looks at the buffer.
const pollEvery = 5 * time.Millisecond

// Buffer is a bytes.Buffer safe for a writer and concurrent readers. The
// zero Buffer is empty and ready.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor returns once the buffer holds text, or an error with what it
// holds when ctx ends first.
func (b *Buffer) WaitFor(ctx context.Context, text string) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for !strings.Contains(b.String(), text) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%q not written: %w; written:\n%s",
				text, ctx.Err(), b.String())
		case <-t.C:
		}
	}
	return nil
}
