//go:build itest

package itest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/mintrpc"
	"github.com/lightninglabs/taproot-assets/taprpc/universerpc"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/record"
	"github.com/sluice-ln/sluice/devnet"
	"google.golang.org/grpc"
)

// Timeouts of the harness.
const (
	// upTimeout bounds a network's bring-up (about 16 s when idle).
	upTimeout = 3 * time.Minute

	// rpcTimeout bounds one call to a daemon.
	rpcTimeout = 30 * time.Second

	// waitTimeout is the default for eventually.
	waitTimeout = 60 * time.Second

	// pollEvery is how often eventually checks.
	pollEvery = 200 * time.Millisecond
)

// network is a fresh devnet of one test, with clients to its daemons.
type network struct {
	t       testing.TB
	dir     string
	profile *devnet.Profile

	lnds  map[string]*lndNode
	tapds map[string]*tapdNode
}

// lndNode is one lnd of the network and clients to it.
type lndNode struct {
	*devnet.LndNode
	conn   *grpc.ClientConn
	ln     lnrpc.LightningClient
	router routerrpc.RouterClient
}

// tapdNode is one tapd of the network and clients to it.
type tapdNode struct {
	*devnet.TapdNode
	conn     *grpc.ClientConn
	assets   taprpc.TaprootAssetsClient
	mint     mintrpc.MintClient
	universe universerpc.UniverseClient
}

// upAttempts is how many times newNetwork tries to bring a network up.
const upAttempts = 2

// newNetwork brings up a fresh network for t in its own directory and
// stops and removes it when t ends. The directory of a failed test (or of
// every test with SLUICE_ITEST_KEEP=1) stays on disk, and its path and
// logs are named in the test output.
func newNetwork(t testing.TB) *network {
	t.Helper()
	return newNetworkProviders(t, devnet.DefaultProviders)
}

// newNetworkProviders is newNetwork with the given number of provider
// nodes (devnet.Options.Providers), each with a channel from the hub.
func newNetworkProviders(t testing.TB, providers int) *network {
	t.Helper()
	n := &network{
		t:     t,
		lnds:  map[string]*lndNode{},
		tapds: map[string]*tapdNode{},
	}
	t.Cleanup(n.cleanup)

	// A bring-up that fails (a daemon of the pinned versions stalling
	// on a loaded machine) is tried once more in a fresh directory; the
	// failed one stays on disk and is named. devnet's own tests bring
	// networks up without this second chance.
	for attempt := 1; ; attempt++ {
		dir, err := os.MkdirTemp("", "sluice-itest-"+
			safeName(t.Name())+"-")
		if err != nil {
			t.Fatal(err)
		}
		n.dir = dir
		ctx, cancel := context.WithTimeout(t.Context(), upTimeout)
		start := time.Now()
		prof, err := devnet.Up(ctx, devnet.Options{
			Dir:       dir,
			Binaries:  binaries.daemons,
			Out:       testWriter{t},
			Providers: providers,
		})
		cancel()
		if err == nil {
			n.profile = prof
			t.Logf("network up in %s (%s)", dir,
				time.Since(start).Round(100*time.Millisecond))
			break
		}
		if attempt == upAttempts || t.Context().Err() != nil {
			t.Fatalf("devnet up in %s: %v", dir, err)
		}
		t.Logf("devnet up in %s failed; trying once more in a fresh "+
			"directory, and keeping this one: %v", dir, err)
		if err := devnet.Down(dir, false); err != nil {
			t.Fatalf("devnet down in %s: %v", dir, err)
		}
	}
	prof := n.profile

	for i := range prof.Nodes {
		node := &prof.Nodes[i]
		conn, err := node.Dial()
		if err != nil {
			t.Fatal(err)
		}
		n.lnds[node.Name] = &lndNode{
			LndNode: node,
			conn:    conn,
			ln:      lnrpc.NewLightningClient(conn),
			router:  routerrpc.NewRouterClient(conn),
		}
		if node.Tapd == nil {
			continue
		}
		tconn, err := node.Tapd.Dial()
		if err != nil {
			t.Fatal(err)
		}
		n.tapds[node.Name] = &tapdNode{
			TapdNode: node.Tapd,
			conn:     tconn,
			assets:   taprpc.NewTaprootAssetsClient(tconn),
			mint:     mintrpc.NewMintClient(tconn),
			universe: universerpc.NewUniverseClient(tconn),
		}
	}
	return n
}

// cleanup closes the clients and stops the network. It keeps the
// directory when the test failed and says where the logs are.
func (n *network) cleanup() {
	for _, l := range n.lnds {
		l.conn.Close()
	}
	for _, td := range n.tapds {
		td.conn.Close()
	}
	if n.dir == "" {
		return
	}
	keep := n.t.Failed() || os.Getenv(envKeep) == "1"
	if err := devnet.Down(n.dir, false); err != nil {
		n.t.Errorf("devnet down in %s: %v", n.dir, err)
		keep = true
	}
	if keep {
		n.t.Logf("network directory kept: %s", n.dir)
		n.logPaths()
		return
	}
	if err := devnet.Down(n.dir, true); err != nil {
		n.t.Errorf("devnet down --purge %s: %v", n.dir, err)
	}
}

// logPaths names every log of the network in the test output.
func (n *network) logPaths() {
	logs, _ := filepath.Glob(filepath.Join(n.dir, "*", "output.log"))
	for _, l := range logs {
		n.t.Logf("  log: %s", l)
	}
}

// lnd returns the named lnd node.
func (n *network) lnd(name string) *lndNode {
	n.t.Helper()
	l, ok := n.lnds[name]
	if !ok {
		n.t.Fatalf("no lnd node %q in the network", name)
	}
	return l
}

// tapd returns the tapd of the named lnd node.
func (n *network) tapd(name string) *tapdNode {
	n.t.Helper()
	td, ok := n.tapds[name]
	if !ok {
		n.t.Fatalf("node %q has no tapd", name)
	}
	return td
}

// mine mines blocks and waits until the chain backend has them.
func (n *network) mine(blocks int) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(n.t.Context(), waitTimeout)
	defer cancel()
	if _, err := n.profile.MineBlocks(ctx, blocks); err != nil {
		n.t.Fatalf("mine %d blocks: %v", blocks, err)
	}
}

// rpcContext bounds one call to a daemon.
func rpcContext(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), rpcTimeout)
}

// pubKey returns the node's identity key as bytes.
func (l *lndNode) pubKey(t testing.TB) []byte {
	t.Helper()
	pk, err := hex.DecodeString(l.PubKey)
	if err != nil || len(pk) != 33 {
		t.Fatalf("%s: pubkey %q in the profile: %v", l.Name, l.PubKey,
			err)
	}
	return pk
}

// addInvoice creates an invoice for amtMsat on the node.
func (l *lndNode) addInvoice(t testing.TB, amtMsat int64,
	memo string) *lnrpc.AddInvoiceResponse {

	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	inv, err := l.ln.AddInvoice(ctx, &lnrpc.Invoice{
		ValueMsat: amtMsat,
		Memo:      memo,
	})
	if err != nil {
		t.Fatalf("%s: add invoice: %v", l.Name, err)
	}
	return inv
}

// lookupInvoice returns the node's invoice with the payment hash.
func (l *lndNode) lookupInvoice(t testing.TB, hash []byte) *lnrpc.Invoice {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	inv, err := l.ln.LookupInvoice(ctx, &lnrpc.PaymentHash{RHash: hash})
	if err != nil {
		t.Fatalf("%s: lookup invoice %x: %v", l.Name, hash, err)
	}
	return inv
}

// payInvoice pays a BOLT11 invoice from the node and waits until it
// succeeded.
func (l *lndNode) payInvoice(t testing.TB, payReq string) *lnrpc.Payment {
	t.Helper()
	p, err := l.payInvoiceErr(t, payReq)
	if err != nil {
		t.Fatalf("%s: pay invoice: %v", l.Name, err)
	}
	return p
}

// payInvoiceErr is payInvoice returning the failure.
func (l *lndNode) payInvoiceErr(t testing.TB, payReq string) (*lnrpc.Payment,
	error) {

	ctx, cancel := rpcContext(t)
	defer cancel()
	return SendPayment(ctx, l.router, &routerrpc.SendPaymentRequest{
		PaymentRequest:    payReq,
		TimeoutSeconds:    int32(rpcTimeout / time.Second),
		FeeLimitSat:       100,
		NoInflightUpdates: true,
	})
}

// keysend pays dest amtMsat by keysend with extra custom records (besides
// the preimage record) and waits until it succeeded. It returns the
// payment and its preimage.
func (l *lndNode) keysend(t testing.TB, dest []byte, amtMsat int64,
	records map[uint64][]byte) (*lnrpc.Payment, [32]byte) {

	t.Helper()
	p, preimage, err := l.keysendErr(t, dest, amtMsat, records)
	if err != nil {
		t.Fatalf("%s: keysend %d msat to %x: %v", l.Name, amtMsat,
			dest, err)
	}
	return p, preimage
}

// keysendErr is keysend returning the failure.
func (l *lndNode) keysendErr(t testing.TB, dest []byte, amtMsat int64,
	records map[uint64][]byte) (*lnrpc.Payment, [32]byte, error) {

	var preimage [32]byte
	if _, err := rand.Read(preimage[:]); err != nil {
		return nil, preimage, err
	}
	hash := sha256.Sum256(preimage[:])
	custom := map[uint64][]byte{record.KeySendType: preimage[:]}
	for k, v := range records {
		custom[k] = v
	}
	ctx, cancel := rpcContext(t)
	defer cancel()
	p, err := SendPayment(ctx, l.router, &routerrpc.SendPaymentRequest{
		Dest:              dest,
		AmtMsat:           amtMsat,
		PaymentHash:       hash[:],
		DestCustomRecords: custom,
		TimeoutSeconds:    int32(rpcTimeout / time.Second),
		FeeLimitSat:       100,
		NoInflightUpdates: true,
	})
	return p, preimage, err
}

// errPermanent marks a check error that waiting cannot fix.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// permanent makes eventually stop at once with err.
func permanent(err error) error { return errPermanent{err} }

// eventually calls check every 200 ms until it returns nil, and fails the
// test, naming what it waited for and the last error, when timeout passes
// or check returns an error made by permanent.
func eventually(t testing.TB, timeout time.Duration, what string,
	check func() error) {

	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		var perm errPermanent
		if errors.As(err, &perm) {
			t.Fatalf("waiting for %s: gave up after %v: %v", what,
				time.Since(start).Round(time.Millisecond), err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not done after %v; last: %v",
				what, timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: test ended; last: %v", what,
				err)
		case <-time.After(pollEvery):
		}
	}
}

// testWriter sends bring-up progress to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// safeName makes a test name usable in a directory name.
func safeName(name string) string {
	s := unsafeChars.ReplaceAllString(name, "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}
