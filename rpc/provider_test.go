package rpc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// fakeProviders is a ProviderBackend with set answers that records calls.
type fakeProviders struct {
	mu    sync.Mutex
	calls []string

	challenge channels.Challenge
	link      channels.Link
	provider  channels.Provider
	err       error
}

var _ ProviderBackend = (*fakeProviders)(nil)

func (f *fakeProviders) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// setErr makes every method fail with err from now on.
func (f *fakeProviders) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// failure is the error every method answers with.
func (f *fakeProviders) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeProviders) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeProviders) CreateChallenge(_ context.Context,
	req channels.ChallengeRequest) (channels.Challenge, error) {

	f.record(fmt.Sprintf("CreateChallenge %v %v %s", req.Node, req.Agent,
		req.Alias))
	return f.challenge, f.failure()
}

func (f *fakeProviders) CompleteLink(_ context.Context, id,
	sig string) (channels.Link, error) {

	f.record("CompleteLink " + id + " " + sig)
	return f.link, f.failure()
}

func (f *fakeProviders) Provider(_ context.Context,
	id string) (channels.Provider, error) {

	f.record("Provider " + id)
	return f.provider, f.failure()
}

func (f *fakeProviders) Providers(context.Context) ([]channels.Provider,
	error) {

	f.record("Providers")
	return []channels.Provider{f.provider, f.provider}, f.failure()
}

func (f *fakeProviders) SetRates(_ context.Context, id string,
	card channels.RateCard) (channels.Provider, error) {

	f.record(fmt.Sprintf("SetRates %s %v", id, card.Strings()))
	p := f.provider
	p.Rates = card
	return p, f.failure()
}

func (f *fakeProviders) CheckReach(_ context.Context,
	id string) (channels.Reach, error) {

	f.record("CheckReach " + id)
	return f.provider.Reach, f.failure()
}

// testKeys are a node key and an agent key for requests.
func testKeys(t testing.TB) (route.Vertex, channels.AgentKey) {
	t.Helper()
	_, nodePub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{3}, 32))
	_, agentPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{4}, 32))
	agent, err := channels.ParseAgentKey(
		agentPub.SerializeCompressed()[1:])
	if err != nil {
		t.Fatal(err)
	}
	return route.NewVertex(nodePub), agent
}

// testProvider is what the fake backend answers.
func testProviderRecord(t *testing.T) channels.Provider {
	t.Helper()
	node, agent := testKeys(t)
	card, err := channels.ParseRateCard(map[string]string{"cpu": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	return channels.Provider{
		ID: "prov-1", Node: node, Agent: agent, Alias: "p1",
		Status: channels.StatusLinked, Rates: card,
		Reach: channels.Reach{State: channels.ReachReachable,
			Reason: "direct channel", CheckedAt: at},
		LinkedAt: at, CreatedAt: at,
	}
}

// startProviderDaemon starts a server whose ProviderService uses fake.
func startProviderDaemon(t *testing.T, fake *fakeProviders) (*testDaemon,
	sluicerpcconnect.ProviderServiceClient) {

	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	cfg.Providers = fake
	d := startServer(t, dir, cfg)
	client := sluicerpcconnect.NewProviderServiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC(),
	)
	return d, client
}

// withMac is a request carrying mac (none when empty).
func withMac[T any](msg *T, mac string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if mac != "" {
		req.Header().Set(sluicerpc.MacaroonHeader, mac)
	}
	return req
}

// TestLinkWithoutMacaroon links through the open procedures and uses the
// minted provider macaroon: own id yes, another id and operator calls no.
func TestLinkWithoutMacaroon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := testProviderRecord(t)
	old := channels.AgentKey{9}
	fake := &fakeProviders{
		challenge: channels.Challenge{
			ChallengeFields: channels.ChallengeFields{
				Expires: p.LinkedAt.Add(10 * time.Minute),
			},
			ID: "c1", Message: "sign this",
		},
		link:     channels.Link{Provider: p, Relinked: true, Revoked: &old},
		provider: p,
	}
	_, client := startProviderDaemon(t, fake)

	ch, err := client.CreateLinkChallenge(ctx, withMac(
		&sluicerpc.CreateLinkChallengeRequest{
			NodePubkey: p.Node[:], AgentPubkey: p.Agent[:],
			Alias: "given",
		}, ""))
	if err != nil {
		t.Fatalf("CreateLinkChallenge without a macaroon: %v", err)
	}
	if ch.Msg.ChallengeId != "c1" || ch.Msg.Message != "sign this" ||
		!ch.Msg.ExpiresAt.AsTime().Equal(fake.challenge.Expires) {

		t.Errorf("challenge %+v", ch.Msg)
	}

	done, err := client.CompleteLink(ctx, withMac(
		&sluicerpc.CompleteLinkRequest{
			ChallengeId: "c1", Signature: " zsig\n",
		}, ""))
	if err != nil {
		t.Fatalf("CompleteLink without a macaroon: %v", err)
	}
	got := done.Msg
	switch {
	case got.Provider.ProviderId != "prov-1" ||
		!bytes.Equal(got.Provider.NodePubkey, p.Node[:]) ||
		!bytes.Equal(got.Provider.AgentPubkey, p.Agent[:]) ||
		got.Provider.Rates["cpu"] != "0.5" ||
		got.Provider.Reach.State != "reachable" ||
		got.Provider.Reach.CheckedAt == nil:
		t.Errorf("provider %+v", got.Provider)
	case !got.Relinked || !bytes.Equal(got.RevokedAgentPubkey, old[:]):
		t.Errorf("relinked %v, revoked %x", got.Relinked,
			got.RevokedAgentPubkey)
	case len(got.ProviderMacaroon) == 0:
		t.Fatal("no provider macaroon")
	}
	wantCalls := []string{
		fmt.Sprintf("CreateChallenge %v %v given", p.Node, p.Agent),
		"CompleteLink c1 zsig",
	}
	if calls := fake.called(); strings.Join(calls, "|") !=
		strings.Join(wantCalls, "|") {

		t.Errorf("backend calls %q, want %q", calls, wantCalls)
	}

	mac := hex.EncodeToString(got.ProviderMacaroon)
	_, err = client.GetProvider(ctx, withMac(
		&sluicerpc.GetProviderRequest{ProviderId: "prov-1"}, mac))
	if err != nil {
		t.Errorf("GetProvider with the minted macaroon: %v", err)
	}
	_, err = client.GetProvider(ctx, withMac(
		&sluicerpc.GetProviderRequest{ProviderId: "prov-2"}, mac))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("GetProvider of another provider: %v", err)
	}
	_, err = client.ListProviders(ctx, withMac(
		&sluicerpc.ListProvidersRequest{}, mac))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("ListProviders as a provider: %v", err)
	}
}

// TestProviderPermissions checks every method against every kind of
// caller.
func TestProviderPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := testProviderRecord(t)
	d, client := startProviderDaemon(t, &fakeProviders{provider: p})

	macs := map[string]string{
		"none":     "",
		"operator": d.macaroonHex(t, OperatorMacaroonFile),
		"buyer":    d.buyerHex(t, "buyer-1"),
		"provider": d.providerHex(t, "prov-1"),
		"invalid":  strings.Repeat("ab", 40),
	}
	calls := map[string]func(mac string) error{
		"CreateLinkChallenge": func(mac string) error {
			_, err := client.CreateLinkChallenge(ctx, withMac(
				&sluicerpc.CreateLinkChallengeRequest{
					NodePubkey:  p.Node[:],
					AgentPubkey: p.Agent[:],
				}, mac))
			return err
		},
		"GetProvider": func(mac string) error {
			_, err := client.GetProvider(ctx, withMac(
				&sluicerpc.GetProviderRequest{
					ProviderId: "prov-1"}, mac))
			return err
		},
		"SetRates": func(mac string) error {
			_, err := client.SetRates(ctx, withMac(
				&sluicerpc.SetRatesRequest{
					ProviderId: "prov-1",
					Rates:      map[string]string{"cpu": "1"},
				}, mac))
			return err
		},
		"ListProviders": func(mac string) error {
			_, err := client.ListProviders(ctx, withMac(
				&sluicerpc.ListProvidersRequest{}, mac))
			return err
		},
	}
	const (
		ok     = connect.Code(0)
		unauth = connect.CodeUnauthenticated
		denied = connect.CodePermissionDenied
	)
	want := map[string]map[string]connect.Code{
		"CreateLinkChallenge": {"none": ok, "operator": ok, "buyer": ok,
			"provider": ok, "invalid": unauth},
		"GetProvider": {"none": unauth, "operator": ok, "buyer": denied,
			"provider": ok, "invalid": unauth},
		"SetRates": {"none": unauth, "operator": ok, "buyer": denied,
			"provider": ok, "invalid": unauth},
		"ListProviders": {"none": unauth, "operator": ok,
			"buyer": denied, "provider": denied, "invalid": unauth},
	}
	for method, byCaller := range want {
		for caller, code := range byCaller {
			err := calls[method](macs[caller])
			if connect.CodeOf(err) != code && !(code == ok &&
				err == nil) {

				t.Errorf("%s as %s: %v, want %v", method,
					caller, err, code)
			}
		}
	}
}

// TestProviderErrorCodes maps each backend error to its own status code;
// the four refused links each have a different one.
func TestProviderErrorCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	tests := []struct {
		err  error
		code connect.Code
	}{
		{channels.ErrChallengeNotFound, connect.CodeNotFound},
		{channels.ErrChallengeExpired, connect.CodeFailedPrecondition},
		{channels.ErrChallengeUsed, connect.CodeAlreadyExists},
		{channels.ErrMalformedSignature, connect.CodeInvalidArgument},
		{channels.ErrForgedSignature, connect.CodeUnauthenticated},
		{channels.ErrWrongNode, connect.CodePermissionDenied},
		{channels.ErrAgentKeyRevoked, connect.CodeFailedPrecondition},
		{channels.ErrAgentKeyInUse, connect.CodeFailedPrecondition},
		{channels.ErrTooManyChallenges, connect.CodeResourceExhausted},
		{channels.ErrProviderNotFound, connect.CodeNotFound},
		{errors.New("disk on fire"), connect.CodeInternal},
	}
	fake := &fakeProviders{}
	_, client := startProviderDaemon(t, fake)
	for _, tc := range tests {
		fake.setErr(fmt.Errorf("wrapped: %w", tc.err))
		_, err := client.CompleteLink(ctx, withMac(
			&sluicerpc.CompleteLinkRequest{
				ChallengeId: "c1", Signature: "s",
			}, ""))
		if connect.CodeOf(err) != tc.code {
			t.Errorf("%v: %v, want %v", tc.err, err, tc.code)
		}
		if !strings.Contains(err.Error(), tc.err.Error()) {
			t.Errorf("%v: message %q lost the cause", tc.err, err)
		}
	}
}

// TestProviderBadInput refuses bad requests before the backend sees them,
// naming the field.
func TestProviderBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := testProviderRecord(t)
	fake := &fakeProviders{provider: p}
	d, client := startProviderDaemon(t, fake)
	mac := d.macaroonHex(t, OperatorMacaroonFile)

	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"short node key", func() error {
			_, err := client.CreateLinkChallenge(ctx, withMac(
				&sluicerpc.CreateLinkChallengeRequest{
					NodePubkey:  p.Node[1:],
					AgentPubkey: p.Agent[:]}, ""))
			return err
		}, "node_pubkey"},
		{"compressed agent key", func() error {
			_, err := client.CreateLinkChallenge(ctx, withMac(
				&sluicerpc.CreateLinkChallengeRequest{
					NodePubkey:  p.Node[:],
					AgentPubkey: p.Node[:]}, ""))
			return err
		}, "agent_pubkey"},
		{"no challenge id", func() error {
			_, err := client.CompleteLink(ctx, withMac(
				&sluicerpc.CompleteLinkRequest{Signature: "s"},
				""))
			return err
		}, "challenge_id"},
		{"no provider id", func() error {
			_, err := client.GetProvider(ctx, withMac(
				&sluicerpc.GetProviderRequest{}, mac))
			return err
		}, "provider_id"},
		{"unknown resource", func() error {
			_, err := client.SetRates(ctx, withMac(
				&sluicerpc.SetRatesRequest{ProviderId: "prov-1",
					Rates: map[string]string{"gpu": "1"}},
				mac))
			return err
		}, "gpu"},
		{"negative rate", func() error {
			_, err := client.SetRates(ctx, withMac(
				&sluicerpc.SetRatesRequest{ProviderId: "prov-1",
					Rates: map[string]string{"mem": "-1"}},
				mac))
			return err
		}, "mem"},
	}
	for _, tc := range tests {
		err := tc.call()
		if connect.CodeOf(err) != connect.CodeInvalidArgument ||
			!strings.Contains(err.Error(), tc.field) {

			t.Errorf("%s: %v, want invalid_argument naming %s",
				tc.name, err, tc.field)
		}
	}
	if calls := fake.called(); len(calls) != 0 {
		t.Errorf("backend called for bad input: %q", calls)
	}
}

// TestGetProviderCheckReach checks reach first when asked, and SetRates
// passes the parsed card.
func TestGetProviderCheckReach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := &fakeProviders{provider: testProviderRecord(t)}
	d, client := startProviderDaemon(t, fake)
	mac := d.providerHex(t, "prov-1")

	_, err := client.GetProvider(ctx, withMac(&sluicerpc.GetProviderRequest{
		ProviderId: "prov-1", CheckReach: true}, mac))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.SetRates(ctx, withMac(&sluicerpc.SetRatesRequest{
		ProviderId: "prov-1",
		Rates:      map[string]string{"cpu": "1.50", "mem": "0.002"},
	}, mac))
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Msg.Provider.Rates; r["cpu"] != "1.5" || r["mem"] != "0.002" {
		t.Errorf("rates %v", r)
	}
	want := "CheckReach prov-1|Provider prov-1|SetRates prov-1 " +
		"map[cpu:1.5 mem:0.002]"
	if got := strings.Join(fake.called(), "|"); got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestProviderJSON answers plain JSON with hex keys, as curl users see it.
func TestProviderJSON(t *testing.T) {
	t.Parallel()
	p := testProviderRecord(t)
	d, _ := startProviderDaemon(t, &fakeProviders{provider: p})

	body := strings.NewReader(`{"provider_id": "prov-1"}`)
	req, err := http.NewRequest(http.MethodPost, d.url()+
		sluicerpcconnect.ProviderServiceGetProviderProcedure, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sluicerpc.MacaroonHeader,
		d.macaroonHex(t, OperatorMacaroonFile))
	resp, err := httpClient(t, d.certPath(), false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if resp.StatusCode != http.StatusOK ||
		!strings.Contains(out, `"node_pubkey":"`+p.Node.String()+`"`) ||
		!strings.Contains(out, `"rates":{"cpu":"0.5"}`) {

		t.Errorf("status %d, body %s", resp.StatusCode, out)
	}
}

// fakeLinks answers the current agent key of one provider.
type fakeLinks struct {
	mu    sync.Mutex
	id    string
	agent channels.AgentKey
	reads int
}

func (f *fakeLinks) AgentKey(_ context.Context, id string) (
	channels.AgentKey, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if id != f.id {
		return channels.AgentKey{}, fmt.Errorf("%w: %q",
			channels.ErrProviderNotFound, id)
	}
	return f.agent, nil
}

func (f *fakeLinks) set(agent channels.AgentKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agent = agent
}

// TestRelinkRetiresOldMacaroon links a provider, links it again with a new
// agent key, and checks that the first link's macaroon is refused from then
// on with ErrStaleLink while the second one works; a macaroon of a provider
// that is not linked is refused too.
func TestRelinkRetiresOldMacaroon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := testProviderRecord(t)
	fake := &fakeProviders{link: channels.Link{Provider: p}, provider: p}
	links := &fakeLinks{id: p.ID, agent: p.Agent}

	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	cfg.Providers = fake
	cfg.ProviderLinks = links
	d := startServer(t, dir, cfg)
	client := sluicerpcconnect.NewProviderServiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC(),
	)

	link := func() string {
		t.Helper()
		done, err := client.CompleteLink(ctx, withMac(
			&sluicerpc.CompleteLinkRequest{ChallengeId: "c1",
				Signature: "sig"}, ""))
		if err != nil {
			t.Fatalf("CompleteLink: %v", err)
		}
		return hex.EncodeToString(done.Msg.ProviderMacaroon)
	}
	get := func(mac string) error {
		_, err := client.GetProvider(ctx, withMac(
			&sluicerpc.GetProviderRequest{ProviderId: p.ID}, mac))
		return err
	}

	first := link()
	if err := get(first); err != nil {
		t.Fatalf("the first link's macaroon: %v", err)
	}

	// The provider links again with a new agent key.
	sum := sha256.Sum256([]byte("second agent"))
	_, pub := btcec.PrivKeyFromBytes(sum[:])
	newAgent, err := channels.ParseAgentKey(pub.SerializeCompressed()[1:])
	if err != nil {
		t.Fatal(err)
	}
	relinked := p
	relinked.Agent = newAgent
	fake.mu.Lock()
	fake.link = channels.Link{Provider: relinked, Relinked: true,
		Revoked: &p.Agent}
	fake.mu.Unlock()
	links.set(newAgent)
	second := link()

	err = get(first)
	if connect.CodeOf(err) != connect.CodeUnauthenticated ||
		!strings.Contains(err.Error(), "earlier link") {

		t.Fatalf("the first link's macaroon after a re-link: %v, want "+
			"unauthenticated, from an earlier link", err)
	}
	if err := get(second); err != nil {
		t.Fatalf("the second link's macaroon: %v", err)
	}

	// Calls in a row read the key once.
	links.mu.Lock()
	before := links.reads
	links.mu.Unlock()
	for range 5 {
		if err := get(second); err != nil {
			t.Fatal(err)
		}
	}
	links.mu.Lock()
	after := links.reads
	links.mu.Unlock()
	if after != before {
		t.Errorf("5 calls read the agent key %d times, want 0 (cached)",
			after-before)
	}

	// A provider the store does not know.
	raw, err := d.srv.BakeProviderMacaroon("prov-gone", newAgent)
	if err != nil {
		t.Fatal(err)
	}
	err = get(hex.EncodeToString(raw))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("macaroon of an unknown provider: %v", err)
	}
}
