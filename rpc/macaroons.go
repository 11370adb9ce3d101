package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/keyfile"
	"gopkg.in/macaroon-bakery.v2/bakery/checkers"
	"gopkg.in/macaroon.v2"
)

// Files in Config.MacaroonDir.
const (
	// RootKeyFile holds the 32-byte secret every macaroon is derived
	// from. Deleting it (and restarting) revokes every macaroon ever
	// issued; the role macaroons are then baked anew.
	RootKeyFile = "macaroons.key"

	// OperatorMacaroonFile is the operator's macaroon: every method.
	// Buyer macaroons are not baked at start: the operator mints one per
	// buyer (OperatorService.AddBuyer), bound to the buyer's id.
	OperatorMacaroonFile = "operator.macaroon"
)

const (
	// rootKeyLen is the root key's length in bytes.
	rootKeyLen = 32

	// rootKeyID names the one root key in macaroon ids, so that a later
	// key rotation can tell old macaroons from new ones.
	rootKeyID = "0"

	// macaroonIDPrefix starts every macaroon id this server issues; the
	// id is "sluice-v1/<root key id>/<role>/<nonce hex>".
	macaroonIDPrefix = "sluice-v1"

	// macaroonLocation is the location field of issued macaroons.
	macaroonLocation = "sluice"

	// caveatProviderID binds a provider macaroon to one provider:
	// "provider_id <id>".
	caveatProviderID = "provider_id"

	// caveatAgentKey binds a provider macaroon to the link that minted
	// it, by that link's agent key: "agent_key <64 hex>". A re-link
	// rotates the key, and the macaroon stops working.
	caveatAgentKey = "agent_key"

	// caveatBuyerID binds a buyer macaroon to one buyer: "buyer_id <id>".
	caveatBuyerID = "buyer_id"

	// maxProviderIDLen bounds provider ids in caveats.
	maxProviderIDLen = 128
)

var (
	// ErrNoMacaroon is returned when a request carries no macaroon.
	ErrNoMacaroon = errors.New("no macaroon in the request's \"macaroon\" " +
		"header")

	// ErrMalformedMacaroon is returned for a macaroon header that is not
	// hex, not a macaroon, or not one this server's format knows.
	ErrMalformedMacaroon = errors.New("malformed macaroon")

	// ErrInvalidMacaroon is returned for a macaroon whose signature does
	// not verify against this server's root key: made by another server,
	// made before the root key was replaced, or tampered with.
	ErrInvalidMacaroon = errors.New("macaroon not valid for this server")

	// ErrCaveatFailed is returned when a macaroon's caveat does not hold
	// (it expired, or names a condition this server does not know).
	ErrCaveatFailed = errors.New("macaroon caveat not satisfied")

	// ErrInvalidProviderID is returned by BakeProviderMacaroon for a
	// provider id that cannot be put in a caveat.
	ErrInvalidProviderID = errors.New("invalid provider id")

	// ErrInvalidBuyerID is returned by BakeBuyerMacaroon for a buyer id
	// that cannot be put in a caveat.
	ErrInvalidBuyerID = errors.New("invalid buyer id")
)

// Role is what a macaroon allows its holder to be.
type Role string

// The roles. Every macaroon carries exactly one, in its signed id.
const (
	// RoleOperator runs sluiced: every method.
	RoleOperator Role = "operator"

	// RoleBuyer creates and funds jobs, for one buyer id only.
	RoleBuyer Role = "buyer"

	// RoleProvider runs jobs and receives payouts, for one provider id
	// only.
	RoleProvider Role = "provider"
)

// parseRole returns the role named s.
func parseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOperator, RoleBuyer, RoleProvider:
		return r, nil
	default:
		return "", fmt.Errorf("unknown role %q", s)
	}
}

// macaroonService bakes and verifies macaroons with one root key.
type macaroonService struct {
	rootKey []byte

	// checker checks first-party caveats; conditions are the ones it
	// knows.
	checker    *checkers.Checker
	conditions map[string]bool
}

// newMacaroonService loads the root key from dir, making it (and dir) if
// missing, and bakes the operator macaroon into dir when it is missing or
// the root key is new (a new key makes the old file useless).
func newMacaroonService(dir string) (*macaroonService, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create macaroon directory %s: %w", dir,
			err)
	}
	key, created, err := loadOrCreateRootKey(
		filepath.Join(dir, RootKeyFile),
	)
	if err != nil {
		return nil, err
	}
	checker, conditions := newCaveatChecker()
	svc := &macaroonService{
		rootKey:    key,
		checker:    checker,
		conditions: conditions,
	}

	roles := []struct {
		role Role
		file string
	}{
		{RoleOperator, OperatorMacaroonFile},
	}
	for _, r := range roles {
		path := filepath.Join(dir, r.file)
		absent, err := missing(path)
		if err != nil {
			return nil, err
		}
		if !absent && !created {
			continue
		}
		mac, err := svc.bake(r.role)
		if err != nil {
			return nil, err
		}
		raw, err := mac.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode %s macaroon: %w", r.role,
				err)
		}
		if err := keyfile.Write(path, raw); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		log.Infof("Baked %s macaroon at %s", r.role, path)
	}
	return svc, nil
}

// loadOrCreateRootKey reads the root key at path, or makes one there (mode
// 0600) if the file does not exist.
func loadOrCreateRootKey(path string) ([]byte, bool, error) {
	key, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(key) != rootKeyLen {
			return nil, false, fmt.Errorf("macaroon root key %s "+
				"has %d bytes, want %d", path, len(key),
				rootKeyLen)
		}
		return key, false, nil

	case !errors.Is(err, os.ErrNotExist):
		return nil, false, fmt.Errorf("read macaroon root key: %w", err)
	}

	key = make([]byte, rootKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("make macaroon root key: %w", err)
	}
	if err := keyfile.Write(path, key); err != nil {
		return nil, false, fmt.Errorf("write macaroon root key: %w", err)
	}
	log.Infof("Made a new macaroon root key at %s", path)
	return key, true, nil
}

// bake makes a macaroon for role with the given first-party caveats.
func (s *macaroonService) bake(role Role, caveats ...string) (
	*macaroon.Macaroon, error) {

	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("macaroon nonce: %w", err)
	}
	id := strings.Join([]string{
		macaroonIDPrefix, rootKeyID, string(role),
		hex.EncodeToString(nonce),
	}, "/")
	mac, err := macaroon.New(
		s.rootKey, []byte(id), macaroonLocation, macaroon.LatestVersion,
	)
	if err != nil {
		return nil, fmt.Errorf("bake %s macaroon: %w", role, err)
	}
	for _, c := range caveats {
		if err := mac.AddFirstPartyCaveat([]byte(c)); err != nil {
			return nil, fmt.Errorf("add caveat %q: %w", c, err)
		}
	}
	return mac, nil
}

// bakeProvider makes a provider macaroon bound to providerID and to the
// link whose agent key is agent.
func (s *macaroonService) bakeProvider(providerID string,
	agent channels.AgentKey) ([]byte, error) {

	if err := checkBoundID(providerID); err != nil {
		return nil, fmt.Errorf("%w: providerID %w", ErrInvalidProviderID,
			err)
	}
	if agent == (channels.AgentKey{}) {
		return nil, fmt.Errorf("%w: no agent key", ErrInvalidProviderID)
	}
	return s.bakeBound(RoleProvider, caveatProviderID+" "+providerID,
		caveatAgentKey+" "+agent.String())
}

// bakeBuyer makes a buyer macaroon bound to buyerID.
func (s *macaroonService) bakeBuyer(buyerID string) ([]byte, error) {
	if err := checkBoundID(buyerID); err != nil {
		return nil, fmt.Errorf("%w: buyerID %w", ErrInvalidBuyerID, err)
	}
	return s.bakeBound(RoleBuyer, caveatBuyerID+" "+buyerID)
}

// bakeBound makes a macaroon of role with the caveats, in binary form.
func (s *macaroonService) bakeBound(role Role, caveats ...string) ([]byte,
	error) {

	mac, err := s.bake(role, caveats...)
	if err != nil {
		return nil, err
	}
	raw, err := mac.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode %s macaroon: %w", role, err)
	}
	return raw, nil
}

// checkBoundID returns an error unless id can be bound in a caveat: 1 to
// 128 printable characters without spaces.
func checkBoundID(id string) error {
	if id == "" {
		return errors.New("is empty")
	}
	if len(id) > maxProviderIDLen {
		return fmt.Errorf("has %d bytes, at most %d", len(id),
			maxProviderIDLen)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%q holds %q; only printable "+
				"characters without spaces", id, r)
		}
	}
	return nil
}

// verify checks a macaroon as sent in the request header (hex) and returns
// who it speaks for. Each first-party caveat goes to the bakery checker
// (newCaveatChecker): macaroon-bakery's own for time-before, Sluice's for
// its role and id caveats; a condition neither knows refuses the macaroon,
// since caveats only narrow and an ignored one would widen.
func (s *macaroonService) verify(headerValue string, now time.Time) (Caller,
	error) {

	if headerValue == "" {
		return Caller{}, ErrNoMacaroon
	}
	raw, err := hex.DecodeString(strings.TrimSpace(headerValue))
	if err != nil {
		return Caller{}, fmt.Errorf("%w: header is not hex: %w",
			ErrMalformedMacaroon, err)
	}
	var mac macaroon.Macaroon
	if err := mac.UnmarshalBinary(raw); err != nil {
		return Caller{}, fmt.Errorf("%w: %w", ErrMalformedMacaroon, err)
	}
	role, err := parseMacaroonID(mac.Id())
	if err != nil {
		return Caller{}, err
	}

	conditions, err := mac.VerifySignature(s.rootKey, nil)
	if err != nil {
		return Caller{}, fmt.Errorf("%w: %w", ErrInvalidMacaroon, err)
	}

	caller := Caller{Role: role}
	ctx := context.WithValue(context.Background(), verifyingKey{},
		&caller)
	ctx = checkers.ContextWithClock(ctx, fixedClock(now))
	for _, cond := range conditions {
		name, _, err := checkers.ParseCaveat(cond)
		if err != nil || !s.conditions[name] {
			return Caller{}, fmt.Errorf("%w: unknown condition %q",
				ErrCaveatFailed, cond)
		}
		if err := s.checker.CheckFirstPartyCaveat(ctx, cond); err != nil {
			return Caller{}, fmt.Errorf("%w: %v", ErrCaveatFailed,
				err)
		}
	}
	if role == RoleProvider && caller.ProviderID == "" {
		return Caller{}, fmt.Errorf("%w: provider macaroon without a "+
			"provider_id caveat", ErrCaveatFailed)
	}
	if role == RoleProvider && caller.AgentKey == (channels.AgentKey{}) {
		return Caller{}, fmt.Errorf("%w: provider macaroon without an "+
			"agent_key caveat; link again (`sluice provider link`) "+
			"for a current one", ErrCaveatFailed)
	}
	if role == RoleBuyer && caller.BuyerID == "" {
		return Caller{}, fmt.Errorf("%w: buyer macaroon without a "+
			"buyer_id caveat (mint one with `sluice operator buyer "+
			"add`)", ErrCaveatFailed)
	}
	return caller, nil
}

// fixedClock is the time a verification happens at, as the bakery's
// time-before checker reads it from the context.
type fixedClock time.Time

// Now returns the verification's time.
func (c fixedClock) Now() time.Time {
	return time.Time(c)
}

// verifyingKey is the context key of the *Caller that Sluice's caveat
// checkers fill in while one macaroon is verified.
type verifyingKey struct{}

// newCaveatChecker returns the checker for every first-party caveat a
// Sluice macaroon may carry, and the set of their conditions: the
// bakery's standard ones and Sluice's id caveats. "time-before <RFC 3339
// time>" limits a macaroon's life; it is the condition lnd's
// TimeoutConstraint and lncli constrainmacaroon --timeout write, so those
// tools attenuate Sluice macaroons too. The bakery's "declared" and
// "error" always refuse here (nothing is declared).
func newCaveatChecker() (*checkers.Checker, map[string]bool) {
	c := checkers.New(nil)
	c.Register(caveatProviderID, checkers.StdNamespace, checkProviderID)
	c.Register(caveatAgentKey, checkers.StdNamespace, checkAgentKey)
	c.Register(caveatBuyerID, checkers.StdNamespace, checkBuyerID)

	known := make(map[string]bool)
	for _, info := range c.Info() {
		known[checkers.ConditionWithPrefix(info.Prefix, info.Name)] =
			true
	}
	return c, known
}

// verifyingCaller returns the caller being verified, and an error if
// there is none (a checker called outside verify) or its role is not
// role: an id caveat on another role's macaroon is refused.
func verifyingCaller(ctx context.Context, cond string, role Role) (*Caller,
	error) {

	caller, ok := ctx.Value(verifyingKey{}).(*Caller)
	if !ok {
		return nil, errors.New("no macaroon being verified")
	}
	if caller.Role != role {
		return nil, fmt.Errorf("%s on a %s macaroon", cond, caller.Role)
	}
	return caller, nil
}

// checkProviderID binds a provider macaroon to the provider arg names.
// Caveats only narrow: a second provider_id caveat naming another
// provider leaves no provider at all.
func checkProviderID(ctx context.Context, cond, arg string) error {
	caller, err := verifyingCaller(ctx, cond, RoleProvider)
	if err != nil {
		return err
	}
	if arg == "" {
		return errors.New("names no provider")
	}
	if caller.ProviderID != "" && caller.ProviderID != arg {
		return fmt.Errorf("provider_id caveats name both %q and %q",
			caller.ProviderID, arg)
	}
	caller.ProviderID = arg
	return nil
}

// checkAgentKey binds a provider macaroon to the link whose agent key arg
// names, in hex.
func checkAgentKey(ctx context.Context, cond, arg string) error {
	caller, err := verifyingCaller(ctx, cond, RoleProvider)
	if err != nil {
		return err
	}
	key, err := channels.ParseAgentKeyHex(arg)
	if err != nil {
		return err
	}
	if caller.AgentKey != (channels.AgentKey{}) && caller.AgentKey != key {
		return fmt.Errorf("agent_key caveats name both %v and %v",
			caller.AgentKey, key)
	}
	caller.AgentKey = key
	return nil
}

// checkBuyerID binds a buyer macaroon to the buyer arg names.
func checkBuyerID(ctx context.Context, cond, arg string) error {
	caller, err := verifyingCaller(ctx, cond, RoleBuyer)
	if err != nil {
		return err
	}
	if arg == "" {
		return errors.New("names no buyer")
	}
	if caller.BuyerID != "" && caller.BuyerID != arg {
		return fmt.Errorf("buyer_id caveats name both %q and %q",
			caller.BuyerID, arg)
	}
	caller.BuyerID = arg
	return nil
}

// parseMacaroonID returns the role in a macaroon id this server issued.
func parseMacaroonID(id []byte) (Role, error) {
	parts := bytes.Split(id, []byte("/"))
	if len(parts) != 4 || string(parts[0]) != macaroonIDPrefix {
		return "", fmt.Errorf("%w: id %q is not a Sluice macaroon id",
			ErrMalformedMacaroon, id)
	}
	if string(parts[1]) != rootKeyID {
		return "", fmt.Errorf("%w: unknown root key id %q",
			ErrInvalidMacaroon, parts[1])
	}
	role, err := parseRole(string(parts[2]))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformedMacaroon, err)
	}
	return role, nil
}
