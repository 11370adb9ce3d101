package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

var operatorReconcileCommand = cli.Command{
	Name:  "reconcile",
	Usage: "compare the ledger with the hub's lnd, to the millisatoshi",
	Description: `Compares Sluice's books with the hub's lnd: every job invoice lnd
settled against the escrow credit the ledger holds for it, every payout
and refund against lnd's payment of its hash (amount and fee), and the
totals of both sides. Prints every difference (none is expected) and the
totals compared. Exits 1 when there is a difference. docs/operations.md
says what to do about one.`,
	Flags:  []cli.Flag{jsonFlag},
	Action: operatorReconcile,
}

// errNotReconciled is returned (exit status 1) when the books and lnd
// differ.
var errNotReconciled = errors.New("the ledger and lnd differ")

func operatorReconcile(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.operator.Reconcile(ctx, connect.NewRequest(
		&sluicerpc.ReconcileRequest{}))
	if err != nil {
		return client.callError("operator reconcile", err)
	}
	if wantJSON(c) {
		err = printJSON(c.App.Writer, resp.Msg)
	} else {
		err = printReconcile(c.App.Writer, resp.Msg)
	}
	if err != nil {
		return err
	}
	if !resp.Msg.Ok {
		return fmt.Errorf("%w: %d differences", errNotReconciled,
			len(resp.Msg.Differences))
	}
	return nil
}

// printReconcile prints a reconciliation for a person: the totals side by
// side, what was compared, and every difference.
func printReconcile(out io.Writer, r *sluicerpc.ReconcileResponse) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "TOTAL (msat)\tLEDGER\tLND\t\t")
	for _, t := range []struct {
		name        string
		ledger, lnd int64
	}{
		{"settled invoices vs escrow credits", r.Ledger.GetFundedMsat(),
			r.Lnd.GetFundedMsat()},
		{"payouts vs succeeded payments", r.Ledger.GetPaidOutMsat(),
			r.Lnd.GetPaidOutMsat()},
		{"refunds vs succeeded payments", r.Ledger.GetRefundedMsat(),
			r.Lnd.GetRefundedMsat()},
		{"routing fees vs payment fees", r.Ledger.GetRoutingFeesMsat(),
			r.Lnd.GetRoutingFeesMsat()},
		{"held for the books vs what lnd's leave",
			r.Ledger.GetHeldMsat(), r.Lnd.GetHeldMsat()},
	} {
		mark := "ok"
		if t.ledger != t.lnd {
			mark = "DIFFERS"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t\n", t.name, t.ledger, t.lnd,
			mark)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "held includes the vault's %d msat (idle and "+
		"allocated to strategies)\n", r.VaultMsat)
	printShareCheck(out, r.ShareAsset)
	fmt.Fprintf(out, "\ncompared %d settled job invoices, %d payouts, %d "+
		"refunds (%d still resolving); left alone %d invoices and %d "+
		"payments of the hub that are not Sluice's\n", r.Invoices,
		r.Payouts, r.Refunds, r.Resolving, r.ForeignInvoices,
		r.ForeignPayments)
	if r.Ok {
		fmt.Fprintf(out, "reconciled at %s: no difference\n",
			showTime(r.At))
		return nil
	}
	fmt.Fprintf(out, "%d differences at %s:\n", len(r.Differences),
		showTime(r.At))
	for _, d := range r.Differences {
		fmt.Fprintf(out, "  %s %s: sluice has %s, lnd has %s\n", d.Kind,
			d.Subject, d.Sluice, d.Lnd)
	}
	return nil
}

// printShareCheck says how the share asset in tapd compares with the
// ledger, when sluiced has tapd.
func printShareCheck(out io.Writer, c *sluicerpc.ShareAssetCheck) {
	switch {
	case c == nil:
		fmt.Fprintln(out, "share asset: not checked (sluiced runs "+
			"without tapd)")
		return

	case !c.Genesis:
		fmt.Fprintln(out, "share asset: no genesis yet")
		return
	}
	at := "the genesis"
	if c.Epoch > 0 {
		at = fmt.Sprintf("epoch %d's close", c.Epoch)
	}
	mark := "ok"
	if !c.Matches {
		mark = "DIFFERS"
	}
	fmt.Fprintf(out, "share asset: tapd %d units issued - %d burned, the "+
		"ledger's supply at %s %d: %s (hub's tapd holds %d)\n",
		c.TapdIssuedUnits, c.TapdBurnedUnits, at, c.LedgerSupplyUnits,
		mark, c.TapdHeldUnits)
	switch {
	case c.HeldCompared && c.HeldWantUnits == c.TapdHeldUnits:
		fmt.Fprintf(out, "share asset: the hub's tapd holds the %d "+
			"units custody should: ok\n", c.HeldWantUnits)

	case c.HeldCompared:
		fmt.Fprintf(out, "share asset: the hub's tapd holds %d units, "+
			"custody should be %d: DIFFERS\n", c.TapdHeldUnits,
			c.HeldWantUnits)

	case len(c.InFlight) > 0:
		fmt.Fprintf(out, "share asset: holdings not compared while "+
			"in flight: %s\n", strings.Join(c.InFlight, ", "))
	}
}
