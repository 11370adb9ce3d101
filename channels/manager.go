package channels

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
)

const (
	// DefaultChallengeTTL is how long a link challenge is accepted.
	DefaultChallengeTTL = 10 * time.Minute

	// DefaultReachProbe is the amount the reachability check asks the
	// hub to route to a provider: about a payout's size.
	DefaultReachProbe = lnwire.MilliSatoshi(1_000_000)

	// DefaultReachTimeout bounds one reachability check.
	DefaultReachTimeout = 20 * time.Second

	// challengeRetention is how long after expiry an unused challenge is
	// kept (for "why was my link refused" questions) before it is
	// swept.
	challengeRetention = 24 * time.Hour

	// MaxOpenChallengesPerNode is how many unexpired, unused challenges
	// one node may have: a provider asking again after a failed try
	// needs a few.
	MaxOpenChallengesPerNode = 5

	// MaxStoredChallenges bounds the unused challenges stored (open, or
	// expired and not yet swept): anyone who reaches the API can ask
	// for one.
	MaxStoredChallenges = 10_000

	// idBytes is the size of challenge ids and of the hash part of
	// provider ids.
	idBytes = 16

	// providerIDPrefix starts every provider id.
	providerIDPrefix = "prov-"
)

// ErrInvalidConfig is returned by NewManager for a Config it cannot use.
var ErrInvalidConfig = errors.New("invalid channels config")

// Config is what a Manager needs.
type Config struct {
	// Store holds challenges, providers, agent keys and rate cards.
	Store Store

	// Hub is the hub's lnd: its graph, channels and path finding.
	Hub Hub

	// HubNode is the hub's node key, named in every challenge.
	HubNode route.Vertex

	// Network is the Bitcoin network, named in every challenge.
	Network string

	// ChallengeTTL is how long a challenge is accepted;
	// DefaultChallengeTTL when zero.
	ChallengeTTL time.Duration

	// ReachProbe is the amount the reachability check routes;
	// DefaultReachProbe when zero.
	ReachProbe lnwire.MilliSatoshi

	// ReachTimeout bounds a reachability check; DefaultReachTimeout when
	// zero.
	ReachTimeout time.Duration

	// Clock gives the time; the wall clock when nil.
	Clock clock.Clock

	// Rand is the source of challenge ids and nonces; crypto/rand when
	// nil.
	Rand io.Reader
}

// Status is a provider's standing.
type Status string

// StatusLinked is a provider whose node proved itself and whose current
// agent key may sign usage.
const StatusLinked Status = "linked"

// ReachState is the outcome of a reachability check.
type ReachState string

const (
	// ReachUnknown means no check has finished: none ran yet, or lnd
	// could not answer.
	ReachUnknown ReachState = "unknown"

	// ReachReachable means the hub can pay the node: an active channel
	// with enough to send, or a route.
	ReachReachable ReachState = "reachable"

	// ReachUnreachable means the hub cannot pay the node now; the reason
	// says why.
	ReachUnreachable ReachState = "unreachable"
)

// Reach is the last reachability check of a provider's node.
type Reach struct {
	State ReachState

	// Reason says how the node was reached, or why not.
	Reason string

	// CheckedAt is when the check ran; zero if none did.
	CheckedAt time.Time
}

// Provider is a linked provider.
type Provider struct {
	// ID is derived from the node key (ProviderID): a re-link keeps it.
	ID string

	// Node is the provider's Lightning node, which payouts go to.
	Node route.Vertex

	// Agent is the current metering agent key; earlier ones are revoked.
	Agent AgentKey

	// Alias is the node's alias as the hub's graph knows it, else as the
	// provider gave it.
	Alias string

	Status Status

	// Rates is the rate card; empty until the provider sets one.
	Rates RateCard

	// Reach is the last reachability check.
	Reach Reach

	// LinkedAt is when the node last linked; CreatedAt when it first
	// did.
	LinkedAt  time.Time
	CreatedAt time.Time
}

// ChallengeRequest is what a provider asks a challenge for.
type ChallengeRequest struct {
	// Node is the node that will sign.
	Node route.Vertex

	// Agent is the metering agent key the node authorises.
	Agent AgentKey

	// Alias is used when the hub's graph does not know the node; may be
	// empty.
	Alias string
}

// Challenge is an issued link challenge.
type Challenge struct {
	ChallengeFields

	// ID names the challenge in CompleteLink.
	ID string

	// Alias is the alias the request gave.
	Alias string

	// Message is the text the node signs: ChallengeFields.Message().
	Message string

	CreatedAt time.Time
}

// Link is the result of a completed link.
type Link struct {
	// Provider is the provider as linked, with the reachability check
	// that followed.
	Provider Provider

	// Relinked is true when the node was linked before: the provider id
	// and rate card stay, the agent key may have changed.
	Relinked bool

	// Revoked is the agent key this link replaced; nil when the key did
	// not change or the provider is new.
	Revoked *AgentKey
}

// Manager links provider nodes and answers questions about providers. It
// is safe for concurrent use; all state is in the store.
type Manager struct {
	cfg Config
}

// NewManager checks cfg and fills in its defaults.
func NewManager(cfg Config) (*Manager, error) {
	switch {
	case cfg.Store == nil:
		return nil, fmt.Errorf("%w: Store is nil", ErrInvalidConfig)
	case cfg.Hub == nil:
		return nil, fmt.Errorf("%w: Hub is nil", ErrInvalidConfig)
	case cfg.HubNode == route.Vertex{}:
		return nil, fmt.Errorf("%w: HubNode is empty", ErrInvalidConfig)
	case cfg.Network == "":
		return nil, fmt.Errorf("%w: Network is empty", ErrInvalidConfig)
	case cfg.ChallengeTTL < 0:
		return nil, fmt.Errorf("%w: ChallengeTTL %v is negative",
			ErrInvalidConfig, cfg.ChallengeTTL)
	case cfg.ReachTimeout < 0:
		return nil, fmt.Errorf("%w: ReachTimeout %v is negative",
			ErrInvalidConfig, cfg.ReachTimeout)
	}
	if cfg.ChallengeTTL == 0 {
		cfg.ChallengeTTL = DefaultChallengeTTL
	}
	if cfg.ReachProbe == 0 {
		cfg.ReachProbe = DefaultReachProbe
	}
	if cfg.ReachTimeout == 0 {
		cfg.ReachTimeout = DefaultReachTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Manager{cfg: cfg}, nil
}

// ProviderID is the id of the provider that links node: derived from the
// key, so the same node always gets the same id, on every hub.
func ProviderID(node route.Vertex) string {
	h := sha256.Sum256(append([]byte("sluice/provider-id/v1:"), node[:]...))
	return providerIDPrefix + hex.EncodeToString(h[:idBytes/2])
}

// randomHex returns n random bytes as hex.
func (m *Manager) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(m.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// CreateChallenge issues a challenge for req's node to sign. It refuses the
// hub's own node, a bad alias, and an agent key that cannot be linked
// (another provider's, or one a re-link of this node revoked) before
// anything is signed.
func (m *Manager) CreateChallenge(ctx context.Context,
	req ChallengeRequest) (Challenge, error) {

	if req.Node == m.cfg.HubNode {
		return Challenge{}, fmt.Errorf("%w: node_pubkey %v is the hub",
			ErrHubNode, req.Node)
	}
	if err := CheckAlias(req.Alias); err != nil {
		return Challenge{}, err
	}
	id, err := m.randomHex(idBytes)
	if err != nil {
		return Challenge{}, err
	}
	nonce, err := m.randomHex(32)
	if err != nil {
		return Challenge{}, err
	}

	now := m.cfg.Clock.Now().UTC()
	ch := Challenge{
		ChallengeFields: ChallengeFields{
			Network: m.cfg.Network,
			Hub:     m.cfg.HubNode,
			Node:    req.Node,
			Agent:   req.Agent,
			Nonce:   nonce,
			// The message states whole seconds; the challenge
			// expires when it says.
			Expires: now.Add(m.cfg.ChallengeTTL).Truncate(time.Second),
		},
		ID:        id,
		Alias:     req.Alias,
		CreatedAt: now.Truncate(time.Microsecond),
	}
	ch.Message = ch.ChallengeFields.Message()

	err = m.cfg.Store.ExecChannels(ctx, readWrite, func(tx StoreTx) error {
		err := checkAgentKeyFree(ctx, tx, ProviderID(req.Node),
			req.Agent)
		if err != nil {
			return err
		}
		swept, err := tx.DeleteExpiredChallenges(
			ctx, now.Add(-challengeRetention),
		)
		if err != nil {
			return err
		}
		if swept > 0 {
			log.Debugf("Swept %d expired link challenges", swept)
		}
		stored, open, err := tx.UnusedChallenges(ctx,
			ch.Node.String(), now)
		switch {
		case err != nil:
			return err
		case open >= MaxOpenChallengesPerNode:
			return fmt.Errorf("%w: node %v has %d open; use one, "+
				"or wait until they expire (%v after issue)",
				ErrTooManyChallenges, req.Node, open,
				m.cfg.ChallengeTTL)
		case stored >= MaxStoredChallenges:
			log.Warnf("Refusing a link challenge: %d unused "+
				"challenges stored", stored)
			return fmt.Errorf("%w: %d unused challenges are "+
				"stored; try again later", ErrTooManyChallenges,
				stored)
		}
		return tx.InsertLinkChallenge(ctx, StoredChallenge{
			ID:          ch.ID,
			NodePubkey:  ch.Node.String(),
			AgentPubkey: ch.Agent.String(),
			Alias:       ch.Alias,
			Message:     ch.Message,
			CreatedAt:   ch.CreatedAt,
			ExpiresAt:   ch.Expires,
		})
	})
	if err != nil {
		return Challenge{}, fmt.Errorf("create link challenge: %w", err)
	}

	log.Infof("Issued link challenge %s for node %v (agent %v), "+
		"expires %v", ch.ID, ch.Node, ch.Agent,
		ch.Expires.Format(time.RFC3339))
	return ch, nil
}

// checkAgentKeyFree returns ErrAgentKeyInUse when another provider has
// linked agent, and ErrAgentKeyRevoked when a re-link of providerID
// replaced it.
func checkAgentKeyFree(ctx context.Context, tx StoreTx, providerID string,
	agent AgentKey) error {

	keys, err := tx.AgentKeys(ctx, "", agent.String())
	if err != nil {
		return err
	}
	for _, k := range keys {
		switch {
		case k.ProviderID != providerID:
			return fmt.Errorf("%w: agent_pubkey %v is linked to "+
				"provider %s", ErrAgentKeyInUse, agent,
				k.ProviderID)

		case !k.RevokedAt.IsZero():
			return fmt.Errorf("%w: agent_pubkey %v was replaced at "+
				"%v; link a new agent key", ErrAgentKeyRevoked,
				agent, k.RevokedAt.Format(time.RFC3339))
		}
	}
	return nil
}

// CompleteLink checks signature, the node's lnd signature over the
// challenge's message, and links the node: a new provider, or a re-link of
// the one the node linked before (same id and rate card, the agent key
// rotated when it changed). The challenge is used up in the same
// transaction. Then the hub's reach to the node is checked and recorded; a
// failed check does not undo the link.
//
// Refusals: ErrChallengeNotFound, ErrChallengeUsed, ErrChallengeExpired,
// ErrMalformedSignature, ErrWrongNode (signed by another node the hub's
// graph knows), ErrForgedSignature (any other signature that does not
// verify), ErrAgentKeyInUse, ErrAgentKeyRevoked.
func (m *Manager) CompleteLink(ctx context.Context, challengeID,
	signature string) (Link, error) {

	ch, err := m.loadChallenge(ctx, challengeID)
	if err != nil {
		return Link{}, err
	}
	now := m.cfg.Clock.Now().UTC()
	switch {
	case !ch.UsedAt.IsZero():
		return Link{}, fmt.Errorf("%w: challenge %s linked provider "+
			"%s at %v; ask for a new one", ErrChallengeUsed,
			challengeID, ch.ProviderID,
			ch.UsedAt.Format(time.RFC3339))

	case !now.Before(ch.ExpiresAt):
		return Link{}, fmt.Errorf("%w: challenge %s expired at %v; "+
			"ask for a new one", ErrChallengeExpired, challengeID,
			ch.ExpiresAt.Format(time.RFC3339))
	}

	node, err := ParseNodeKeyHex(ch.NodePubkey)
	if err != nil {
		return Link{}, fmt.Errorf("challenge %s: stored %w",
			challengeID, err)
	}
	agent, err := ParseAgentKeyHex(ch.AgentPubkey)
	if err != nil {
		return Link{}, fmt.Errorf("challenge %s: stored %w",
			challengeID, err)
	}
	if err := m.checkSignature(ctx, ch.Message, signature, node); err != nil {
		log.Infof("Refused link of node %v (challenge %s): %v", node,
			challengeID, err)
		return Link{}, err
	}

	alias := m.graphAlias(ctx, node)
	if alias == "" {
		alias = ch.Alias
	}

	link, err := m.recordLink(ctx, ch, node, agent, alias, now)
	if err != nil {
		return Link{}, err
	}
	if link.Revoked != nil {
		log.Infof("Re-linked provider %s (node %v): agent key %v "+
			"replaces %v", link.Provider.ID, node, agent,
			*link.Revoked)
	} else {
		log.Infof("Linked provider %s (node %v, alias %q, agent %v, "+
			"re-link %v)", link.Provider.ID, node, alias, agent,
			link.Relinked)
	}

	reach, err := m.CheckReach(ctx, link.Provider.ID)
	if err != nil {
		log.Warnf("Reachability of provider %s not recorded: %v",
			link.Provider.ID, err)
	} else {
		link.Provider.Reach = reach
	}
	return link, nil
}

// loadChallenge reads a challenge, mapping the store's not-found.
func (m *Manager) loadChallenge(ctx context.Context,
	id string) (StoredChallenge, error) {

	var ch StoredChallenge
	err := m.cfg.Store.ExecChannels(ctx, readOnly,
		func(tx StoreTx) error {
			var err error
			ch, err = tx.LinkChallenge(ctx, id)
			return err
		})
	switch {
	case errors.Is(err, ErrChallengeNotFound):
		return ch, fmt.Errorf("%w: challenge_id %q", ErrChallengeNotFound,
			id)
	case err != nil:
		return ch, fmt.Errorf("load challenge %s: %w", id, err)
	}
	return ch, nil
}

// checkSignature verifies sig over msg for node, telling a signature by
// another node the hub knows (ErrWrongNode) from any other that does not
// verify (ErrForgedSignature).
func (m *Manager) checkSignature(ctx context.Context, msg, sig string,
	node route.Vertex) error {

	signer, err := RecoverNodeKey([]byte(msg), sig)
	if err != nil {
		return err
	}
	if signer == node {
		return nil
	}

	info, err := m.cfg.Hub.NodeInfo(ctx, signer)
	if err == nil {
		return fmt.Errorf("%w: the challenge names node %v but was "+
			"signed by node %v (alias %q); sign with the lnd of the "+
			"node you link", ErrWrongNode, node, signer, info.Alias)
	}
	if !errors.Is(err, lightning.ErrNodeNotFound) {
		log.Debugf("Looking up signer %v: %v", signer, err)
	}
	return fmt.Errorf("%w: the signature is not node %v's over the "+
		"challenge", ErrForgedSignature, node)
}

// graphAlias is the node's alias in the hub's graph; empty when the graph
// does not know it or lnd fails (linking does not depend on it).
func (m *Manager) graphAlias(ctx context.Context, node route.Vertex) string {
	info, err := m.cfg.Hub.NodeInfo(ctx, node)
	switch {
	case errors.Is(err, lightning.ErrNodeNotFound):
		return ""
	case err != nil:
		log.Warnf("Alias of node %v from the hub's graph: %v", node, err)
		return ""
	}
	return info.Alias
}

// recordLink writes the provider, its agent key and the used challenge in
// one transaction.
func (m *Manager) recordLink(ctx context.Context, ch StoredChallenge,
	node route.Vertex, agent AgentKey, alias string,
	now time.Time) (Link, error) {

	id := ProviderID(node)
	var link Link
	err := m.cfg.Store.ExecChannels(ctx, readWrite, func(tx StoreTx) error {
		link = Link{}
		if err := checkAgentKeyFree(ctx, tx, id, agent); err != nil {
			return err
		}

		prev, err := tx.Provider(ctx, id)
		switch {
		case errors.Is(err, ErrProviderNotFound):
			err = tx.InsertProvider(ctx, StoredProvider{
				ID:          id,
				NodePubkey:  node.String(),
				AgentPubkey: agent.String(),
				Alias:       alias,
				Status:      StatusLinked,
				LinkedAt:    now,
				CreatedAt:   now,
			})
			if err != nil {
				return err
			}
			if err := tx.AddAgentKey(ctx, id, agent.String(),
				now); err != nil {

				return err
			}

		case err != nil:
			return err

		default:
			link.Relinked = true
			err := tx.RelinkProvider(ctx, id, agent.String(), alias,
				StatusLinked, now)
			if err != nil {
				return err
			}
			if prev.AgentPubkey != agent.String() {
				old, err := ParseAgentKeyHex(prev.AgentPubkey)
				if err != nil {
					return fmt.Errorf("provider %s: stored "+
						"%w", id, err)
				}
				_, err = tx.RevokeAgentKeys(ctx, id, now)
				if err != nil {
					return err
				}
				err = tx.AddAgentKey(ctx, id, agent.String(),
					now)
				if err != nil {
					return err
				}
				link.Revoked = &old
			}
		}

		err = tx.UseLinkChallenge(ctx, ch.ID, id, now)
		if errors.Is(err, ErrChallengeUsed) {
			return fmt.Errorf("%w: challenge %s was used by a "+
				"concurrent link", ErrChallengeUsed, ch.ID)
		}
		if err != nil {
			return err
		}

		link.Provider, err = loadProvider(ctx, tx, id)
		return err
	})
	if err != nil {
		return Link{}, fmt.Errorf("link node %v: %w", node, err)
	}
	return link, nil
}

// loadProvider reads a provider and its rate card.
func loadProvider(ctx context.Context, tx StoreTx,
	id string) (Provider, error) {

	row, err := tx.Provider(ctx, id)
	if errors.Is(err, ErrProviderNotFound) {
		return Provider{}, fmt.Errorf("%w: provider_id %q",
			ErrProviderNotFound, id)
	}
	if err != nil {
		return Provider{}, err
	}
	rates, err := tx.ProviderRates(ctx, id)
	if err != nil {
		return Provider{}, err
	}
	return providerFromRow(row, rates)
}

// providerFromRow parses a stored provider.
func providerFromRow(row StoredProvider,
	rates map[string]string) (Provider, error) {

	node, err := ParseNodeKeyHex(row.NodePubkey)
	if err != nil {
		return Provider{}, fmt.Errorf("provider %s: stored %w", row.ID,
			err)
	}
	agent, err := ParseAgentKeyHex(row.AgentPubkey)
	if err != nil {
		return Provider{}, fmt.Errorf("provider %s: stored %w", row.ID,
			err)
	}
	card, err := ParseRateCard(rates)
	if err != nil {
		return Provider{}, fmt.Errorf("provider %s: stored %w", row.ID,
			err)
	}
	return Provider{
		ID:     row.ID,
		Node:   node,
		Agent:  agent,
		Alias:  row.Alias,
		Status: row.Status,
		Rates:  card,
		Reach: Reach{
			State:     row.Reach,
			Reason:    row.ReachReason,
			CheckedAt: row.ReachCheckedAt,
		},
		LinkedAt:  row.LinkedAt,
		CreatedAt: row.CreatedAt,
	}, nil
}

// Provider returns the provider with the id, or ErrProviderNotFound.
func (m *Manager) Provider(ctx context.Context, id string) (Provider, error) {
	var p Provider
	err := m.cfg.Store.ExecChannels(ctx, readOnly,
		func(tx StoreTx) error {
			var err error
			p, err = loadProvider(ctx, tx, id)
			return err
		})
	return p, err
}

// Providers returns every provider, oldest first.
func (m *Manager) Providers(ctx context.Context) ([]Provider, error) {
	var out []Provider
	err := m.cfg.Store.ExecChannels(ctx, readOnly,
		func(tx StoreTx) error {
			out = nil
			rows, err := tx.Providers(ctx)
			if err != nil {
				return err
			}
			for _, row := range rows {
				rates, err := tx.ProviderRates(ctx, row.ID)
				if err != nil {
					return err
				}
				p, err := providerFromRow(row, rates)
				if err != nil {
					return err
				}
				out = append(out, p)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list providers: %w", err)
	}
	return out, nil
}

// SetRates replaces the provider's rate card with card (an empty card
// offers nothing) and returns the provider. Running jobs keep the card
// they copied.
func (m *Manager) SetRates(ctx context.Context, id string,
	card RateCard) (Provider, error) {

	var p Provider
	err := m.cfg.Store.ExecChannels(ctx, readWrite, func(tx StoreTx) error {
		err := tx.SetProviderRates(ctx, id, card.Strings(),
			m.cfg.Clock.Now())
		if errors.Is(err, ErrProviderNotFound) {
			return fmt.Errorf("%w: provider_id %q",
				ErrProviderNotFound, id)
		}
		if err != nil {
			return err
		}
		p, err = loadProvider(ctx, tx, id)
		return err
	})
	if err != nil {
		return Provider{}, fmt.Errorf("set rates: %w", err)
	}
	log.Infof("Provider %s set its rate card: %v", id, card.Strings())
	return p, nil
}

// AgentKey returns the provider's current agent key, the only one
// VerifyAgent accepts.
func (m *Manager) AgentKey(ctx context.Context, providerID string) (AgentKey,
	error) {

	p, err := m.Provider(ctx, providerID)
	if err != nil {
		return AgentKey{}, err
	}
	return p.Agent, nil
}

// VerifyAgent returns nil if key is the provider's current agent key;
// ErrAgentKeyRevoked for a key a re-link replaced, ErrUnknownAgentKey for
// one the provider never linked, ErrProviderNotFound for an unknown
// provider.
func (m *Manager) VerifyAgent(ctx context.Context, providerID string,
	key AgentKey) error {

	return m.cfg.Store.ExecChannels(ctx, readOnly,
		func(tx StoreTx) error {
			keys, err := tx.AgentKeys(ctx, providerID, key.String())
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				if _, err := loadProvider(ctx, tx,
					providerID); err != nil {

					return err
				}
				return fmt.Errorf("%w: %v is not an agent key "+
					"of provider %s", ErrUnknownAgentKey,
					key, providerID)
			}
			if !keys[0].RevokedAt.IsZero() {
				return fmt.Errorf("%w: agent key %v of "+
					"provider %s was replaced at %v",
					ErrAgentKeyRevoked, key, providerID,
					keys[0].RevokedAt.Format(time.RFC3339))
			}
			return nil
		})
}
