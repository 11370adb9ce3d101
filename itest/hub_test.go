//go:build itest

package itest

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/store"
)

// lndActivity counts what an lnd sent and received: its payments (any
// state) and its settled invoices.
func lndActivity(t *testing.T, node *lndNode) (payments, settled int) {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	pays, err := node.ln.ListPayments(ctx, &lnrpc.ListPaymentsRequest{
		IncludeIncomplete: true, MaxPayments: 100_000,
	})
	if err != nil {
		t.Fatalf("%s: list payments: %v", node.Name, err)
	}
	invs, err := node.ln.ListInvoices(ctx,
		&lnrpc.ListInvoiceRequest{NumMaxInvoices: 100_000})
	if err != nil {
		t.Fatalf("%s: list invoices: %v", node.Name, err)
	}
	for _, inv := range invs.Invoices {
		if inv.State == lnrpc.Invoice_SETTLED {
			settled++
		}
	}
	return len(pays.Payments), settled
}

// TestSluicedRefusesAnotherHub: a store that holds a pending payout, made
// by sluiced on the hub, is refused by sluiced pointed at another node of
// the network (provider2's lnd), naming both nodes, before any payout is
// resumed: neither provider2's lnd nor the payout's destination saw a
// payment, and the payout is still pending. Started again on the hub,
// sluiced resumes it and pays it once.
func TestSluicedRefusesAnotherHub(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)
	other := net.lnd(devnet.NodeProvider2)
	dest := net.lnd(devnet.NodeProvider1)

	s := net.newSluiced()
	book := openBook(t, s)
	book.addProvider("provider1", dest)

	// The first start records the hub; the payout's intent is stored,
	// and sluiced dies before lnd sees it.
	t.Setenv(failpoint.EnvVar, payout.FailpointAfterIntent)
	s.start()
	book.earn("provider1", 50_000)
	eventually(t, payoutWait, "sluiced to kill itself at "+
		payout.FailpointAfterIntent, func() error {
		if s.running() {
			return errors.New("still running")
		}
		return nil
	})
	var exitErr *exec.ExitError
	if !errors.As(s.err, &exitErr) || exitErr.Sys().(syscall.
		WaitStatus).Signal() != syscall.SIGKILL {

		t.Fatalf("sluiced exited with %v, want SIGKILL\n%s", s.err,
			s.tail())
	}
	pending := book.payouts()
	if len(pending) != 1 || pending[0].State != store.PayoutPending {
		t.Fatalf("payouts %+v, want one pending", pending)
	}
	t.Setenv(failpoint.EnvVar, "")

	otherPays, otherSettled := lndActivity(t, other)
	destPays, destSettled := lndActivity(t, dest)

	// The same data directory and conf, with lnd.* pointing at
	// provider2's lnd: flags win over the conf.
	ctx, cancel := context.WithTimeout(context.Background(),
		sluicedStartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaries.sluiced,
		"--configfile="+s.confPath,
		"--lnd.host="+other.RPCHost,
		"--lnd.tlspath="+other.TLSCertPath,
		"--lnd.macaroonpath="+other.AdminMacaroonPath,
	)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("sluiced on another node: %v, want exit status 1\n%s",
			err, out)
	}
	for _, want := range []string{
		"the store belongs to another hub",
		hub.PubKey, other.PubKey, other.RPCHost, "--hub.allowchange",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("refusal does not name %q:\n%s", want, out)
		}
	}
	for _, never := range []string{"Resuming payout", "API listening"} {
		if strings.Contains(string(out), never) {
			t.Errorf("refused sluiced logged %q:\n%s", never, out)
		}
	}

	// Nothing was resumed: no payment left provider2's node or reached
	// provider1's, and the payout is still pending.
	for _, c := range []struct {
		node              *lndNode
		payments, settled int
	}{
		{other, otherPays, otherSettled},
		{dest, destPays, destSettled},
	} {
		pays, settled := lndActivity(t, c.node)
		if pays != c.payments || settled != c.settled {
			t.Errorf("%s: payments %d→%d, settled invoices "+
				"%d→%d; want no change", c.node.Name,
				c.payments, pays, c.settled, settled)
		}
	}
	if ps := book.payouts(); len(ps) != 1 ||
		ps[0].State != store.PayoutPending {

		t.Fatalf("after the refusal: payouts %+v, want the one "+
			"pending", ps)
	}

	// Back on the hub, the payout is resumed and paid once.
	s.start()
	book.drained("provider1")
	s.stop()
	book.reconcile(net, map[string]*lndNode{"provider1": dest})
}
