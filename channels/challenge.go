package channels

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lightningnetwork/lnd/routing/route"
)

// ChallengeTitle is the first line of every link challenge message.
const ChallengeTitle = "Sluice provider link"

// challengeVersion is the message format's version, in its "version" line.
const challengeVersion = "1"

// challengeStatement is the second line: what signing means, for the
// person whose node signs it.
const challengeStatement = "By signing this message, the Lightning node " +
	"below links itself to the Sluice hub below as a compute provider " +
	"and authorises the agent key below to sign its usage."

// ErrMalformedChallenge is returned by ParseChallengeMessage for text that
// is not a link challenge in this format.
var ErrMalformedChallenge = errors.New("malformed link challenge message")

// ChallengeFields are what a link challenge message states.
type ChallengeFields struct {
	// Network is the Bitcoin network the hub runs on.
	Network string

	// Hub is the hub's node key.
	Hub route.Vertex

	// Node is the provider's node key: the node that must sign.
	Node route.Vertex

	// Agent is the metering agent key the node authorises.
	Agent AgentKey

	// Nonce is 32 random bytes, hex, that make every message unique.
	Nonce string

	// Expires is when the challenge stops being accepted, in whole
	// seconds, UTC.
	Expires time.Time
}

// challengeKeys are the "key: value" lines of a message, in order.
var challengeKeys = []string{
	"version", "service", "network", "hub", "node", "agent", "nonce",
	"expires",
}

// Message renders the fields as the text the node signs:
//
//	Sluice provider link
//	By signing this message, the Lightning node below links itself to ...
//	version: 1
//	service: sluice
//	network: regtest
//	hub: <hub node key, 66 hex>
//	node: <provider node key, 66 hex>
//	agent: <agent key, 64 hex, BIP-340 x-only>
//	nonce: <64 hex>
//	expires: <RFC 3339 UTC, whole seconds>
//
// Lines end with "\n", the last one too. docs/providers.md documents the
// format.
func (f ChallengeFields) Message() string {
	values := []string{
		challengeVersion, "sluice", f.Network, f.Hub.String(),
		f.Node.String(), f.Agent.String(), f.Nonce,
		f.Expires.UTC().Format(time.RFC3339),
	}
	var b strings.Builder
	b.WriteString(ChallengeTitle + "\n")
	b.WriteString(challengeStatement + "\n")
	for i, k := range challengeKeys {
		fmt.Fprintf(&b, "%s: %s\n", k, values[i])
	}
	return b.String()
}

// ParseChallengeMessage reads a message Message wrote. The provider's CLI
// parses the challenge it is asked to sign and checks that it names its
// own node, its agent key and the hub it meant, before its lnd signs: a
// node's signature should never be given to text it has not read.
func ParseChallengeMessage(msg string) (ChallengeFields, error) {
	bad := func(format string, args ...any) (ChallengeFields, error) {
		return ChallengeFields{}, fmt.Errorf("%w: %s",
			ErrMalformedChallenge, fmt.Sprintf(format, args...))
	}

	lines := strings.Split(msg, "\n")
	want := 2 + len(challengeKeys) + 1
	if len(lines) != want || lines[len(lines)-1] != "" {
		return bad("%d lines, want %d ending in a newline",
			len(lines)-1, want-1)
	}
	if lines[0] != ChallengeTitle {
		return bad("first line %q, want %q", lines[0], ChallengeTitle)
	}
	if lines[1] != challengeStatement {
		return bad("second line is not the link statement")
	}

	values := make(map[string]string, len(challengeKeys))
	for i, k := range challengeKeys {
		line := lines[2+i]
		v, ok := strings.CutPrefix(line, k+": ")
		if !ok {
			return bad("line %d is %q, want %q", 3+i, line,
				k+": ...")
		}
		values[k] = v
	}
	if values["version"] != challengeVersion {
		return bad("version %q, this client knows %q",
			values["version"], challengeVersion)
	}
	if values["service"] != "sluice" {
		return bad("service %q, want sluice", values["service"])
	}

	var (
		f   ChallengeFields
		err error
	)
	f.Network = values["network"]
	if f.Network == "" {
		return bad("empty network")
	}
	if f.Hub, err = ParseNodeKeyHex(values["hub"]); err != nil {
		return bad("hub: %v", err)
	}
	if f.Node, err = ParseNodeKeyHex(values["node"]); err != nil {
		return bad("node: %v", err)
	}
	if f.Agent, err = ParseAgentKeyHex(values["agent"]); err != nil {
		return bad("agent: %v", err)
	}
	f.Nonce = values["nonce"]
	if len(f.Nonce) != 64 || strings.Trim(f.Nonce, "0123456789abcdef") != "" {
		return bad("nonce %q is not 64 lower-case hex characters",
			f.Nonce)
	}
	f.Expires, err = time.Parse(time.RFC3339, values["expires"])
	if err != nil {
		return bad("expires: %v", err)
	}
	f.Expires = f.Expires.UTC()

	// A message that does not render back the same has something this
	// parser let through (another time zone, upper-case hex).
	if f.Message() != msg {
		return bad("not in canonical form")
	}
	return f, nil
}
