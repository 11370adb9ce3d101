package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lifetimes of what Sessions hands out.
const (
	// LinkTTL is how long a one-time link works.
	LinkTTL = 5 * time.Minute

	// SessionTTL is how long a session cookie works.
	SessionTTL = 12 * time.Hour

	// maxLinks and maxSessions bound what is kept in memory; the oldest
	// go first.
	maxLinks    = 64
	maxSessions = 256

	// tokenBytes is the length of links' and sessions' random tokens.
	tokenBytes = 32
)

// ErrLinkNotValid is returned for a link token that was never minted, was
// used already, or expired.
var ErrLinkNotValid = errors.New("dashboard link not valid: used, " +
	"expired or never issued")

// Sessions holds the dashboard's one-time link tokens and session tokens,
// in memory: a restart of sluiced logs everyone out. It is safe for
// concurrent use.
type Sessions struct {
	now func() time.Time

	mu       sync.Mutex
	links    map[string]time.Time
	sessions map[string]time.Time
}

// NewSessions returns an empty set of sessions read against now.
func NewSessions(now func() time.Time) *Sessions {
	return &Sessions{
		now:      now,
		links:    make(map[string]time.Time),
		sessions: make(map[string]time.Time),
	}
}

// NewLink mints a one-time link token that works once until the returned
// time. The caller (the operator-only API call) has checked the operator.
func (s *Sessions) NewLink() (string, time.Time, error) {
	return s.mint(s.links, LinkTTL, maxLinks)
}

// mint adds a new random token to m (links or sessions), live for ttl from
// now, after pruning m to at most limit live tokens.
func (s *Sessions) mint(m map[string]time.Time, ttl time.Duration,
	limit int) (string, time.Time, error) {

	tok, err := newToken()
	if err != nil {
		return "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	expires := now.Add(ttl)
	prune(m, now, limit)
	m[tok] = expires
	return tok, expires, nil
}

// useLink spends a link token: ErrLinkNotValid unless it was minted and has
// neither been used nor expired. It is spent either way.
func (s *Sessions) useLink(tok string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	expires, ok := s.links[tok]
	delete(s.links, tok)
	if !ok || !s.now().Before(expires) {
		return ErrLinkNotValid
	}
	return nil
}

// newSession starts a session and returns its token and expiry.
func (s *Sessions) newSession() (string, time.Time, error) {
	return s.mint(s.sessions, SessionTTL, maxSessions)
}

// valid says whether tok is a live session.
func (s *Sessions) valid(tok string) bool {
	if tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for t, expires := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
			return now.Before(expires)
		}
	}
	return false
}

// end ends a session.
func (s *Sessions) end(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, tok)
}

// prune drops expired tokens from m and, when it still holds max or more,
// the ones expiring first, so that one more fits.
func prune(m map[string]time.Time, now time.Time, max int) {
	for t, expires := range m {
		if !now.Before(expires) {
			delete(m, t)
		}
	}
	for len(m) >= max {
		var first string
		var at time.Time
		for t, expires := range m {
			if first == "" || expires.Before(at) {
				first, at = t, expires
			}
		}
		delete(m, first)
	}
}

// newToken returns a random token in hex.
func newToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("dashboard token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
