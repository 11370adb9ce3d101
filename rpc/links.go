package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-ln/sluice/channels"
)

// ErrStaleLink is returned for a provider macaroon minted by a link the
// provider has replaced since: a re-link rotates the agent key, and the
// macaroons of earlier links stop working with it.
var ErrStaleLink = errors.New("provider macaroon from an earlier link")

// linkTTL is how long linkCache trusts a provider's agent key before asking
// again: a re-link through another sluiced on the same database takes
// effect here within it; through this one, at once.
const linkTTL = 2 * time.Second

// linkCache checks provider macaroons against the provider's current link,
// remembering each provider's agent key for linkTTL so that agents'
// frequent calls do not each read the store.
type linkCache struct {
	links ProviderLinks
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]cachedKey
}

// cachedKey is a provider's agent key and when it was read.
type cachedKey struct {
	key channels.AgentKey
	at  time.Time
}

func newLinkCache(links ProviderLinks, now func() time.Time) *linkCache {
	return &linkCache{links: links, now: now,
		keys: make(map[string]cachedKey)}
}

// check returns nil if c's provider macaroon was minted by the provider's
// current link; an error wrapping ErrStaleLink if the provider has linked
// again since, or channels.ErrProviderNotFound.
func (l *linkCache) check(ctx context.Context, c Caller) error {
	key, err := l.current(ctx, c.ProviderID)
	if err != nil {
		return fmt.Errorf("provider %s: %w", c.ProviderID, err)
	}
	if key != c.AgentKey {
		return fmt.Errorf("%w: it was minted with agent key %v, and "+
			"provider %s has linked again since (agent key %v); "+
			"use the macaroon of the latest link", ErrStaleLink,
			c.AgentKey, c.ProviderID, key)
	}
	return nil
}

// current returns the provider's agent key, from the cache when fresh.
func (l *linkCache) current(ctx context.Context,
	providerID string) (channels.AgentKey, error) {

	now := l.now()
	l.mu.Lock()
	k, ok := l.keys[providerID]
	l.mu.Unlock()
	if ok && now.Sub(k.at) < linkTTL {
		return k.key, nil
	}

	key, err := l.links.AgentKey(ctx, providerID)
	if err != nil {
		return channels.AgentKey{}, err
	}
	l.mu.Lock()
	l.keys[providerID] = cachedKey{key: key, at: now}
	l.mu.Unlock()
	return key, nil
}

// forget drops a provider's cached key: it has just linked again.
func (l *linkCache) forget(providerID string) {
	l.mu.Lock()
	delete(l.keys, providerID)
	l.mu.Unlock()
}
