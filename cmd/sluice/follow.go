package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"connectrpc.com/connect"
)

// followInterval is how often a live view refreshes.
const followInterval = time.Second

// errFollowDone is returned by a frame to end the live view after
// printing it (a job that ended, say).
var errFollowDone = errors.New("nothing more to follow")

// frame renders one snapshot of a live view into w. It returns
// errFollowDone to stop after this frame.
type frame func(ctx context.Context, w io.Writer) error

// follow prints a frame every interval until Ctrl-C (SIGINT, SIGTERM) or
// ctx ends, or a frame says it is the last. On a terminal each frame
// replaces the one before; otherwise frames follow each other, separated
// by a blank line. A frame that fails because sluiced cannot be reached
// (restarting, say) shows the error and is tried again; any other error
// ends the view.
func follow(ctx context.Context, out io.Writer, interval time.Duration,
	render frame) error {

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	clear := isTerminal(out)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for first := true; ; first = false {
		var buf bytes.Buffer
		err := render(ctx, &buf)
		switch {
		case err == nil, errors.Is(err, errFollowDone):
		case ctx.Err() != nil:
			return nil
		case transient(err):
			buf.Reset()
			fmt.Fprintf(&buf, "%s  %v (retrying)\n",
				time.Now().Format(time.TimeOnly), err)
		default:
			return err
		}
		switch {
		case clear:
			// Home the cursor and clear the screen, then draw.
			io.WriteString(out, "\033[H\033[2J")
		case !first:
			io.WriteString(out, "\n")
		}
		if _, werr := buf.WriteTo(out); werr != nil {
			return werr
		}
		if errors.Is(err, errFollowDone) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// transient reports whether err is sluiced being out of reach for a
// moment, so a live view should try again.
func transient(err error) bool {
	var te transientError
	if errors.As(err, &te) {
		return true
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		return true
	}
	return false
}

// transientError marks an explained error (callError's) as transient.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// frameError explains a failed call in a live view, keeping whether it is
// worth trying again.
func (a *apiClient) frameError(method string, err error) error {
	explained := a.callError(method, err)
	if transient(err) {
		return transientError{explained}
	}
	return explained
}

// isTerminal reports whether out is a character device (a terminal).
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// since formats how long ago t was, in whole seconds.
func since(t time.Time, now time.Time) string {
	d := now.Sub(t).Truncate(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}
