package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
)

// MaxOutputBytes is the default cap on a workload's stdout, and
// MaxStderrBytes on its stderr. What a workload writes beyond them is read
// and dropped, so that it does not block on a full pipe: truncation is
// reported, it is not an error of the job.
const (
	MaxOutputBytes = 1 << 20
	MaxStderrBytes = 64 << 10
)

// Output is one captured stream.
type Output struct {
	// Path is the file holding the kept bytes.
	Path string

	// Kept is how many bytes the file holds, at most the cap.
	Kept int64

	// Written is how many bytes the workload wrote.
	Written int64

	// Truncated is true when Written exceeded the cap.
	Truncated bool

	// SHA256 is the hash of the kept bytes, the file's content.
	SHA256 [sha256.Size]byte
}

// Hex returns the output's SHA-256 in hex.
func (o Output) Hex() string {
	return hex.EncodeToString(o.SHA256[:])
}

// capped writes up to limit bytes to a file and a hash and counts, but
// drops, the rest. It never returns a short write: the workload's pipe is
// drained to the end whatever happens to the file.
type capped struct {
	f       *os.File
	h       hash.Hash
	limit   int64
	kept    int64
	written int64
	err     error
}

func (c *capped) Write(p []byte) (int, error) {
	c.written += int64(len(p))
	keep := p
	if room := c.limit - c.kept; int64(len(keep)) > room {
		keep = keep[:max(room, 0)]
	}
	if len(keep) > 0 && c.err == nil {
		n, err := c.f.Write(keep)
		c.h.Write(keep[:n])
		c.kept += int64(n)
		c.err = err
	}

	return len(p), nil
}

// capture copies r into path until r ends, keeping at most limit bytes.
func capture(r io.Reader, path string, limit int64) (Output, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		// Drain anyway: the workload must not block on its output.
		_, _ = io.Copy(io.Discard, r)
		return Output{}, err
	}
	c := &capped{f: f, h: sha256.New(), limit: limit}
	_, err = io.Copy(c, r)
	if cerr := f.Close(); c.err == nil {
		c.err = cerr
	}
	out := Output{
		Path:      path,
		Kept:      c.kept,
		Written:   c.written,
		Truncated: c.written > c.kept,
	}
	copy(out.SHA256[:], c.h.Sum(nil))
	if err == nil {
		err = c.err
	}

	return out, err
}
