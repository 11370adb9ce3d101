//go:build itest

package itest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/tv42/zbase32"
)

// providerFiles are where a test keeps one provider's agent key and
// macaroon, so that two providers on one machine do not share them.
type providerFiles struct {
	agentKey, macaroon string
}

func newProviderFiles(t testing.TB, name string) providerFiles {
	dir := filepath.Join(t.TempDir(), name)
	return providerFiles{
		agentKey: filepath.Join(dir, "agent.key"),
		macaroon: filepath.Join(dir, "provider.macaroon"),
	}
}

// linkArgs are `sluice provider link` flags for a devnet provider node.
func (n *network) linkArgs(node string, f providerFiles,
	extra ...string) []string {

	args := []string{"provider", "link", "--devnet", n.dir,
		"--node", node, "--agentkey", f.agentKey,
		"--macaroonout", f.macaroon, "--json"}
	return append(args, extra...)
}

// linkCLI runs `sluice provider link --json` and decodes the answer.
func (s *sluiced) linkCLI(args ...string) *sluicerpc.CompleteLinkResponse {
	s.t.Helper()
	out, err := s.cli(args...)
	if err != nil {
		s.t.Fatalf("provider link: %v\n%s", err, s.tail())
	}
	var resp sluicerpc.CompleteLinkResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal(
		[]byte(out), &resp); err != nil {

		s.t.Fatalf("provider link --json: %v\n%s", err, out)
	}
	return &resp
}

// providerAPI is a ProviderService client for this sluiced that sends no
// macaroon: what a provider that has not linked yet has.
func (s *sluiced) providerAPI() sluicerpcconnect.ProviderServiceClient {
	s.t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(s.dir, "tls.cert"))
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		s.t.Fatal("no certificate in sluiced's tls.cert")
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		Protocols:       protocols,
	}}
	return sluicerpcconnect.NewProviderServiceClient(client,
		"https://"+s.rpcListen, connect.WithGRPC())
}

// signMessage has the node's lnd sign msg with SignMessage.
func (l *lndNode) signMessage(t testing.TB, msg []byte) string {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := l.ln.SignMessage(ctx, &lnrpc.SignMessageRequest{Msg: msg})
	if err != nil {
		t.Fatalf("%s: sign message: %v", l.Name, err)
	}
	return resp.Signature
}

// verifyMessage asks the node's lnd to verify sig over msg.
func (l *lndNode) verifyMessage(t testing.TB, msg []byte,
	sig string) *lnrpc.VerifyMessageResponse {

	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := l.ln.VerifyMessage(ctx, &lnrpc.VerifyMessageRequest{
		Msg: msg, Signature: sig,
	})
	if err != nil {
		t.Fatalf("%s: verify message: %v", l.Name, err)
	}
	return resp
}

// alias is the alias the node's lnd reports.
func (l *lndNode) alias(t testing.TB) string {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	info, err := l.ln.GetInfo(ctx, &lnrpc.GetInfoRequest{})
	if err != nil {
		t.Fatalf("%s: getinfo: %v", l.Name, err)
	}
	return info.Alias
}

// TestProviderLink links provider1 through the real CLI (its lnd signs the
// challenge with SignMessage) against a real sluiced; shows it; refuses a
// forged signature, another node's signature and a replayed challenge,
// each with its own code; re-links with a new agent key; links provider2,
// which the hub reaches; and links the buyer node, which it cannot.
func TestProviderLink(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)
	p1 := net.lnd(devnet.NodeProvider1)
	p2 := net.lnd(devnet.NodeProvider2)
	buyer := net.lnd(devnet.NodeBuyer)

	s := net.newSluiced()
	s.start()

	// Link provider1 with the CLI.
	f1 := newProviderFiles(t, "provider1")
	linked := s.linkCLI(net.linkArgs(devnet.NodeProvider1, f1,
		"--hub", hub.PubKey)...)
	prov := linked.Provider
	switch {
	case hex.EncodeToString(prov.NodePubkey) != p1.PubKey:
		t.Fatalf("linked node %x, want provider1 %s", prov.NodePubkey,
			p1.PubKey)
	case linked.Relinked || len(linked.RevokedAgentPubkey) != 0:
		t.Fatalf("first link reported as a re-link: %+v", linked)
	case prov.Alias != p1.alias(t):
		t.Fatalf("alias %q, want provider1's %q", prov.Alias,
			p1.alias(t))
	case prov.Reach.GetState() != "reachable":
		t.Fatalf("provider1 reach %+v, want reachable", prov.Reach)
	}
	_, agent1, err := channels.ReadAgentKeyFile(f1.agentKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(prov.AgentPubkey, agent1[:]) {
		t.Fatalf("linked agent key %x, file holds %v", prov.AgentPubkey,
			agent1)
	}
	for _, path := range []string{f1.agentKey, f1.macaroon} {
		info, err := os.Stat(path)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", path, err, info.Mode())
		}
	}

	// The minted macaroon shows the provider.
	out, err := s.cli("--macaroonpath="+f1.macaroon, "provider", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{prov.ProviderId, p1.PubKey,
		"reachable"} {

		if !strings.Contains(out, want) {
			t.Fatalf("provider show lacks %q:\n%s", want, out)
		}
	}
	out, err = s.cli("--macaroonpath="+f1.macaroon, "provider", "rates",
		"--cpu", "0.000125", "--mem", "0.002")
	if err != nil || !strings.Contains(out, "cpu 0.000125 msat per "+
		"core-millisecond") {

		t.Fatalf("provider rates: %v\n%s", err, out)
	}

	// Refusals through the API, as a provider without a macaroon would
	// meet them.
	api := s.providerAPI()
	ask := func() *sluicerpc.CreateLinkChallengeResponse {
		t.Helper()
		ctx, cancel := rpcContext(t)
		defer cancel()
		resp, err := api.CreateLinkChallenge(ctx, connect.NewRequest(
			&sluicerpc.CreateLinkChallengeRequest{
				NodePubkey:  p1.pubKey(t),
				AgentPubkey: agent1[:],
			}))
		if err != nil {
			t.Fatalf("create link challenge: %v", err)
		}
		return resp.Msg
	}
	complete := func(id, sig string) error {
		ctx, cancel := rpcContext(t)
		defer cancel()
		_, err := api.CompleteLink(ctx, connect.NewRequest(
			&sluicerpc.CompleteLinkRequest{
				ChallengeId: id, Signature: sig,
			}))
		return err
	}
	ch := ask()
	msg := []byte(ch.Message)

	forger, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	forged := channels.SignNodeMessage(forger, msg)
	err = complete(ch.ChallengeId, forged)
	if connect.CodeOf(err) != connect.CodeUnauthenticated ||
		!strings.Contains(err.Error(), "signature does not verify") {

		t.Fatalf("forged signature: %v, want unauthenticated", err)
	}
	err = complete(ch.ChallengeId, p2.signMessage(t, msg))
	if connect.CodeOf(err) != connect.CodePermissionDenied ||
		!strings.Contains(err.Error(), "signed by another node") {

		t.Fatalf("provider2's signature: %v, want permission_denied",
			err)
	}
	good := p1.signMessage(t, msg)
	if err := complete(ch.ChallengeId, good); err != nil {
		t.Fatalf("provider1's signature after refused ones: %v", err)
	}
	err = complete(ch.ChallengeId, good)
	if connect.CodeOf(err) != connect.CodeAlreadyExists ||
		!strings.Contains(err.Error(), "already used") {

		t.Fatalf("replayed challenge: %v, want already_exists", err)
	}

	// The hub's lnd and the local verifier agree: on provider1's real
	// signature, on the forgery, on provider2's signature and on a
	// signature with a bit flipped.
	raw, err := zbase32.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	raw[40] ^= 1
	p1Key, err := channels.ParseNodeKeyHex(p1.PubKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, sig := range map[string]string{
		"provider1": good,
		"forged":    forged,
		"provider2": p2.signMessage(t, msg),
		"flipped":   zbase32.EncodeToString(raw),
	} {
		hubSays := hub.verifyMessage(t, msg, sig)
		local, err := channels.RecoverNodeKey(msg, sig)
		localOK := channels.VerifyNodeSignature(msg, sig, p1Key) == nil
		hubOK := hubSays.Valid && hubSays.Pubkey == p1.PubKey
		if err == nil && local.String() != hubSays.Pubkey {
			t.Errorf("%s: local verifier recovers %v, the hub %s",
				name, local, hubSays.Pubkey)
		}
		if localOK != hubOK || localOK != (name == "provider1") {
			t.Errorf("%s: local says provider1 signed: %v, hub "+
				"says %v (%+v)", name, localOK, hubOK, hubSays)
		}
	}

	// Re-link with a new agent key: same provider, old key revoked.
	firstMac := f1.macaroon + ".first"
	firstRaw, err := os.ReadFile(f1.macaroon)
	if err == nil {
		err = os.WriteFile(firstMac, firstRaw, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	relinked := s.linkCLI(net.linkArgs(devnet.NodeProvider1, f1,
		"--new-agent-key")...)
	_, agent1b, err := channels.ReadAgentKeyFile(f1.agentKey)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !relinked.Relinked ||
		relinked.Provider.ProviderId != prov.ProviderId:
		t.Fatalf("re-link: %+v", relinked)
	case !bytes.Equal(relinked.RevokedAgentPubkey, agent1[:]):
		t.Fatalf("revoked %x, want the first key %v",
			relinked.RevokedAgentPubkey, agent1)
	case agent1b == agent1 ||
		!bytes.Equal(relinked.Provider.AgentPubkey, agent1b[:]):
		t.Fatalf("agent key after re-link %x, file %v",
			relinked.Provider.AgentPubkey, agent1b)
	case relinked.Provider.Rates["cpu"] != "0.000125":
		t.Fatalf("rates lost in the re-link: %v",
			relinked.Provider.Rates)
	}
	// The first link's macaroon went with its agent key; the new one
	// works.
	out, err = s.cli("--macaroonpath="+firstMac, "provider", "show")
	if err == nil || !strings.Contains(err.Error(), "earlier link") {
		t.Fatalf("provider show with the first link's macaroon: %v\n%s",
			err, out)
	}
	if out, err := s.cli("--macaroonpath="+f1.macaroon, "provider",
		"show"); err != nil {

		t.Fatalf("provider show after the re-link: %v\n%s", err, out)
	}
	// The revoked key cannot be linked again.
	ctx, cancel := rpcContext(t)
	_, err = api.CreateLinkChallenge(ctx, connect.NewRequest(
		&sluicerpc.CreateLinkChallengeRequest{
			NodePubkey: p1.pubKey(t), AgentPubkey: agent1[:],
		}))
	cancel()
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("challenge for a revoked agent key: %v", err)
	}

	// provider2 links too, and the hub reaches it.
	f2 := newProviderFiles(t, "provider2")
	linked2 := s.linkCLI(net.linkArgs(devnet.NodeProvider2, f2)...)
	if linked2.Provider.Reach.GetState() != "reachable" {
		t.Fatalf("provider2 reach %+v", linked2.Provider.Reach)
	}
	out, err = s.cli("--macaroonpath="+f2.macaroon, "provider", "show",
		"--check")
	if err != nil || !strings.Contains(out, "reachable") ||
		!strings.Contains(out, p2.PubKey) {

		t.Fatalf("provider2 show --check: %v\n%s", err, out)
	}

	// The buyer's node has only the channel it opened to the hub, so the
	// hub has nothing to send it: linked, but unreachable, and it says
	// why.
	fb := newProviderFiles(t, "buyer")
	linkedB := s.linkCLI("provider", "link",
		"--lnd.host", buyer.RPCHost,
		"--lnd.tlspath", buyer.TLSCertPath,
		"--lnd.macaroonpath", buyer.AdminMacaroonPath,
		"--agentkey", fb.agentKey, "--macaroonout", fb.macaroon,
		"--json")
	reach := linkedB.Provider.Reach
	if reach.GetState() != "unreachable" ||
		!strings.Contains(reach.GetReason(), "no route") {

		t.Fatalf("buyer node reach %+v, want unreachable with a "+
			"reason", reach)
	}
	t.Logf("buyer node: %s", reach.GetReason())

	// The operator sees all three.
	out, err = s.cli("provider", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{prov.ProviderId,
		linked2.Provider.ProviderId, linkedB.Provider.ProviderId} {

		if !strings.Contains(out, id) {
			t.Fatalf("provider list lacks %s:\n%s", id, out)
		}
	}
	if channels.ProviderID(route.Vertex(p1Key)) != prov.ProviderId {
		t.Fatalf("provider id %s is not derived from the node key",
			prov.ProviderId)
	}
	s.stop()
}
