package devnet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/lnwire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Bounds and defaults of TrafficOptions. They keep one run of traffic
// within what a laptop's network carries and what its channels hold.
const (
	// DefaultTrafficAmount is what each payment delivers unless told.
	DefaultTrafficAmount btcutil.Amount = 1000

	// MaxTrafficAmount is the most one payment may deliver: a fiftieth of
	// a default channel, so that many fit before a channel runs dry.
	MaxTrafficAmount btcutil.Amount = DefaultChannelSat / 50

	// MaxTrafficRate is the most payments a second Traffic starts.
	MaxTrafficRate = 50

	// MaxTrafficDuration is the longest Traffic sends.
	MaxTrafficDuration = time.Hour

	// MaxTrafficInFlight is how many payments may be in flight at once;
	// the next one waits for a slot.
	MaxTrafficInFlight = 16

	// DefaultTrafficPaymentTimeout bounds each payment's attempts.
	DefaultTrafficPaymentTimeout = 30 * time.Second

	// trafficGraphTimeout bounds the wait for every sender's graph to
	// hold the hub's channels to every receiver.
	trafficGraphTimeout = 90 * time.Second

	// trafficProgressEvery is how often progress is printed.
	trafficProgressEvery = 5 * time.Second

	// trafficMemo marks the invoices traffic makes.
	trafficMemo = "sluice devnet traffic"
)

// ErrTrafficOptions is returned for TrafficOptions out of their bounds; the
// error names the field.
var ErrTrafficOptions = errors.New("invalid traffic options")

// Rate is a number of events per period, as "5/s" says.
type Rate struct {
	Count int
	Per   time.Duration
}

// ParseRate reads a rate written N/s, N/m or N/h, N a whole number of at
// least 1 ("5/s" is five a second).
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/s, N/m or N/h", s)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return Rate{}, fmt.Errorf("rate %q: N must be a whole number "+
			"of at least 1", s)
	}
	per := map[string]time.Duration{
		"s": time.Second, "m": time.Minute, "h": time.Hour,
	}[unit]
	if per == 0 {
		return Rate{}, fmt.Errorf("rate %q: unit %q: want s, m or h",
			s, unit)
	}
	return Rate{Count: n, Per: per}, nil
}

// String writes the rate as ParseRate reads it.
func (r Rate) String() string {
	unit := map[time.Duration]string{
		time.Second: "s", time.Minute: "m", time.Hour: "h",
	}[r.Per]
	if unit == "" {
		return fmt.Sprintf("%d/%v", r.Count, r.Per)
	}
	return fmt.Sprintf("%d/%s", r.Count, unit)
}

// interval is the time between two payments at the rate.
func (r Rate) interval() time.Duration {
	return r.Per / time.Duration(r.Count)
}

// TrafficOptions configure Traffic.
type TrafficOptions struct {
	// Rate is how many payments to start a period; at most
	// MaxTrafficRate a second.
	Rate Rate

	// For is how long to send, at most MaxTrafficDuration. Traffic
	// starts Rate × For payments at most, then waits for those in
	// flight and returns.
	For time.Duration

	// Amount is what each payment delivers; zero means
	// DefaultTrafficAmount, at most MaxTrafficAmount.
	Amount btcutil.Amount

	// PaymentTimeout bounds each payment's attempts; zero means
	// DefaultTrafficPaymentTimeout.
	PaymentTimeout time.Duration

	// Out receives a progress line every few seconds. Nil discards.
	Out io.Writer

	// Clock is the time source; nil is the wall clock.
	Clock clock.Clock
}

// planned is how many payments the options ask for: Rate × For, rounded
// up, in whole nanoseconds so that 3/s for 5s is 15 (an interval of
// 333,333,333 ns would fit a sixteenth). check bounds the product.
func (o TrafficOptions) planned() int {
	n := int64(o.For) * int64(o.Rate.Count)
	per := int64(o.Rate.Per)
	return int((n + per - 1) / per)
}

// check fills the defaults and refuses what is out of bounds.
func (o *TrafficOptions) check() error {
	if o.Rate.Count < 1 || o.Rate.Per <= 0 || o.Rate.Per > time.Hour {
		return fmt.Errorf("%w: Rate: %v is not a rate of at least "+
			"one an hour", ErrTrafficOptions, o.Rate)
	}
	if o.Rate.interval() < time.Second/MaxTrafficRate {
		return fmt.Errorf("%w: Rate: %v is above %d/s",
			ErrTrafficOptions, o.Rate, MaxTrafficRate)
	}
	if o.For <= 0 || o.For > MaxTrafficDuration {
		return fmt.Errorf("%w: For: %v must be above 0 and at most %v",
			ErrTrafficOptions, o.For, MaxTrafficDuration)
	}
	if o.Amount == 0 {
		o.Amount = DefaultTrafficAmount
	}
	if o.Amount < 0 || o.Amount > MaxTrafficAmount {
		return fmt.Errorf("%w: Amount: %d sat must be 1 to %d",
			ErrTrafficOptions, o.Amount, MaxTrafficAmount)
	}
	if o.PaymentTimeout == 0 {
		o.PaymentTimeout = DefaultTrafficPaymentTimeout
	}
	if o.PaymentTimeout < time.Second {
		return fmt.Errorf("%w: PaymentTimeout: %v is under a second",
			ErrTrafficOptions, o.PaymentTimeout)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Clock == nil {
		o.Clock = clock.NewDefaultClock()
	}
	return nil
}

// TrafficReport is what one run of Traffic did. Every amount comes from
// the sending nodes' lnd: the payments' value_msat and fee_msat.
type TrafficReport struct {
	// Planned is how many payments the rate and duration asked for;
	// Sent how many were started (fewer when no flow had the balance
	// or the network could not keep up).
	Planned int `json:"planned"`
	Sent    int `json:"sent"`

	// Succeeded and Failed count the payments sent by how they ended.
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`

	// NoBalance counts the turns when no flow had the balance for a
	// payment, so none was sent.
	NoBalance int `json:"no_balance"`

	// Amount is what the succeeded payments delivered, Fees what their
	// senders paid for routing: the hub's income.
	Amount lnwire.MilliSatoshi `json:"amount_msat"`
	Fees   lnwire.MilliSatoshi `json:"fees_msat"`

	// Flows break the payments down by sender and receiver.
	Flows []FlowReport `json:"flows"`

	// Failures count the failed payments by lnd's failure reason, or by
	// the call that failed.
	Failures map[string]int `json:"failures"`

	// Elapsed is from the first payment to the end of the last.
	Elapsed time.Duration `json:"elapsed_ns"`

	// HubPolicies are the hub's fee policies on its channels, as lnd's
	// FeeReport gave them when traffic began.
	HubPolicies []HubPolicy `json:"hub_policies"`
}

// FlowReport is the traffic from one node to another, through the hub.
type FlowReport struct {
	From      string              `json:"from"`
	To        string              `json:"to"`
	Sent      int                 `json:"sent"`
	Succeeded int                 `json:"succeeded"`
	Failed    int                 `json:"failed"`
	Amount    lnwire.MilliSatoshi `json:"amount_msat"`
	Fees      lnwire.MilliSatoshi `json:"fees_msat"`
}

// HubPolicy is the hub's routing fee on one of its channels.
type HubPolicy struct {
	ChanID      uint64 `json:"chan_id"`
	BaseFeeMsat int64  `json:"base_fee_msat"`
	FeePPM      int64  `json:"fee_ppm"`
}

// Traffic sends real payments between the network's buyer and provider
// nodes through the hub, at about opts.Rate for opts.For, and reports what
// they did. Each payment is an invoice the receiving node adds and the
// sending node pays with its router, the route ending at the hub
// (last_hop_pubkey), so that the hub forwards it and earns its fee. The
// flows are every ordered pair of those nodes, taken in turn; a flow whose
// sender lacks the outbound balance, or whose receiver the inbound, for one
// more payment (beyond the channel reserves and a margin for fees) is
// passed over, by balances read at the start and followed since. Before
// the first payment Traffic waits until every node's graph holds the hub's
// channels to the others: a network just brought up may still be gossiping
// them. It returns once every payment started has ended; when ctx ends it
// starts no more and waits for those in flight.
func Traffic(ctx context.Context, prof *Profile,
	opts TrafficOptions) (*TrafficReport, error) {

	if err := opts.check(); err != nil {
		return nil, err
	}
	hub, err := prof.Hub()
	if err != nil {
		return nil, err
	}
	hubConn, err := hub.Dial()
	if err != nil {
		return nil, err
	}
	defer hubConn.Close()
	policies, err := hubPolicies(ctx, lnrpc.NewLightningClient(hubConn))
	if err != nil {
		return nil, fmt.Errorf("traffic: hub: %w", err)
	}

	var nodes []*trafficNode
	for _, role := range []Role{RoleBuyer, RoleProvider} {
		for _, n := range prof.NodesWithRole(role) {
			tn, err := dialTrafficNode(ctx, n, hub)
			if err != nil {
				return nil, fmt.Errorf("traffic: %w", err)
			}
			defer tn.conn.Close()
			nodes = append(nodes, tn)
		}
	}
	hubKey, err := hex.DecodeString(hub.PubKey)
	if err != nil {
		return nil, fmt.Errorf("traffic: hub pubkey: %w", err)
	}
	if err := waitGraph(ctx, nodes, hub.PubKey, opts.Out); err != nil {
		return nil, fmt.Errorf("traffic: %w", err)
	}
	p := &lndTrafficPayer{hub: hubKey, timeout: opts.PaymentTimeout}
	rep := runTraffic(ctx, opts, newBook(nodes), p)
	rep.HubPolicies = policies
	return rep, nil
}

// trafficNode is a buyer or provider node that sends and receives
// traffic, with what it holds on its channels with the hub.
type trafficNode struct {
	name string
	conn *grpc.ClientConn

	// chans are the node's channels with the hub.
	chans []uint64

	ln     lnrpc.LightningClient
	router routerrpc.RouterClient

	// local and remote are the node's and the hub's balances on their
	// channels; localFloor and remoteFloor are what each must keep:
	// its reserve and a margin for commitment fees.
	local, remote           lnwire.MilliSatoshi
	localFloor, remoteFloor lnwire.MilliSatoshi
}

// dialTrafficNode connects to n and reads its channels with the hub.
func dialTrafficNode(ctx context.Context, n *LndNode,
	hub *LndNode) (*trafficNode, error) {

	conn, err := n.Dial()
	if err != nil {
		return nil, err
	}
	tn := &trafficNode{
		name:   n.Name,
		conn:   conn,
		ln:     lnrpc.NewLightningClient(conn),
		router: routerrpc.NewRouterClient(conn),
	}
	hubKey, err := hex.DecodeString(hub.PubKey)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("hub pubkey: %w", err)
	}
	resp, err := tn.ln.ListChannels(ctx, &lnrpc.ListChannelsRequest{
		ActiveOnly: true,
		Peer:       hubKey,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: list channels: %w", n.Name, err)
	}
	for _, c := range resp.Channels {
		// A margin of 1% of the capacity beside the reserve covers
		// the commitment fees of the HTLCs in flight.
		margin := c.Capacity / 100
		tn.chans = append(tn.chans, c.ChanId)
		tn.local += satMsat(c.LocalBalance)
		tn.remote += satMsat(c.RemoteBalance)
		if lc := c.LocalConstraints; lc != nil {
			tn.localFloor += satMsat(int64(lc.ChanReserveSat) +
				margin)
		}
		if rc := c.RemoteConstraints; rc != nil {
			tn.remoteFloor += satMsat(int64(rc.ChanReserveSat) +
				margin)
		}
	}
	return tn, nil
}

// waitGraph waits until every node's graph holds the hub's policy on the
// channels of every other node: a payment to a node whose channel the
// sender has not heard of yet fails for want of a route. A network just
// brought up can still be gossiping those channels; `devnet up` only waits
// for the routes over each node's own channels.
func waitGraph(ctx context.Context, nodes []*trafficNode, hub string,
	out io.Writer) error {

	began := time.Now()
	for _, s := range nodes {
		for _, r := range nodes {
			if r == s {
				continue
			}
			for _, id := range r.chans {
				err := poll(ctx, trafficGraphTimeout,
					fmt.Sprintf("%s to know the hub's "+
						"channel %d to %s", s.name, id,
						r.name),
					func(ctx context.Context) error {
						return hubPolicyKnown(ctx, s,
							id, hub)
					})
				if err != nil {
					return err
				}
			}
		}
	}
	if d := time.Since(began); d > time.Second {
		fmt.Fprintf(out, "waited %v for the graph to hold every "+
			"channel of the hub\n", roundDur(d))
	}
	return nil
}

// hubPolicyKnown returns nil when s's graph has the channel id with the
// hub's policy on it, enabled.
func hubPolicyKnown(ctx context.Context, s *trafficNode, id uint64,
	hub string) error {

	edge, err := s.ln.GetChanInfo(ctx, &lnrpc.ChanInfoRequest{ChanId: id})
	if err != nil {
		return err
	}
	pol := edge.Node2Policy
	if edge.Node1Pub == hub {
		pol = edge.Node1Policy
	}
	if pol == nil || pol.Disabled {
		return errors.New("no enabled policy of the hub yet")
	}
	return nil
}

// satMsat converts satoshis lnd reported (never negative) to msat.
func satMsat(sat int64) lnwire.MilliSatoshi {
	if sat < 0 {
		return 0
	}
	return lnwire.NewMSatFromSatoshis(btcutil.Amount(sat))
}

// hubPolicies reads the hub's fee policy on each of its channels.
func hubPolicies(ctx context.Context, ln lnrpc.LightningClient) (
	[]HubPolicy, error) {

	resp, err := ln.FeeReport(ctx, &lnrpc.FeeReportRequest{})
	if err != nil {
		return nil, fmt.Errorf("fee report: %w", err)
	}
	out := make([]HubPolicy, 0, len(resp.ChannelFees))
	for _, c := range resp.ChannelFees {
		out = append(out, HubPolicy{
			ChanID:      c.ChanId,
			BaseFeeMsat: c.BaseFeeMsat,
			FeePPM:      c.FeePerMil,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].ChanID < out[j].ChanID
	})
	return out, nil
}

// flow is traffic from one node to another.
type flow struct {
	from, to *trafficNode
}

// book follows the balances of the traffic nodes on their channels with
// the hub, to pick flows that can carry one more payment. lnd decides; the
// book only keeps Traffic from sending what cannot pass.
type book struct {
	mu    sync.Mutex
	flows []flow
	next  int
}

// newBook lists every ordered pair of nodes as a flow, each pair's two
// directions side by side.
func newBook(nodes []*trafficNode) *book {
	b := &book{}
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			b.flows = append(b.flows,
				flow{from: nodes[i], to: nodes[j]},
				flow{from: nodes[j], to: nodes[i]},
			)
		}
	}
	return b
}

// take picks the next flow, in turn, that can carry amt with up to
// feeLimit in fees, and sets the amounts aside until settle. False when no
// flow can.
func (b *book) take(amt, feeLimit lnwire.MilliSatoshi) (flow, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.flows {
		i := (b.next + k) % len(b.flows)
		f := b.flows[i]
		if f.from.local < f.from.localFloor+amt+feeLimit ||
			f.to.remote < f.to.remoteFloor+amt {

			continue
		}
		f.from.local -= amt + feeLimit
		f.to.remote -= amt
		b.next = i + 1
		return f, true
	}
	return flow{}, false
}

// settle gives back what take set aside, and moves what a payment that
// succeeded moved: amt and fee from the sender to the hub, amt from the hub
// to the receiver.
func (b *book) settle(f flow, amt, feeLimit lnwire.MilliSatoshi,
	res payResult) {

	b.mu.Lock()
	defer b.mu.Unlock()
	f.from.local += amt + feeLimit
	f.to.remote += amt
	if !res.ok {
		return
	}
	f.from.local -= res.amount + res.fee
	f.from.remote += res.amount + res.fee
	f.to.remote -= res.amount
	f.to.local += res.amount
}

// payResult is how one payment ended.
type payResult struct {
	ok bool

	// amount and fee are lnd's value_msat and fee_msat of a payment
	// that succeeded.
	amount lnwire.MilliSatoshi
	fee    lnwire.MilliSatoshi

	// failure is lnd's failure reason, or the call that failed.
	failure string
}

// trafficPayer makes one payment of a flow.
type trafficPayer interface {
	pay(ctx context.Context, f flow, amt,
		feeLimit lnwire.MilliSatoshi) payResult
}

// feeLimitFor is the most a payment of amt may pay in fees: 1% and 10 sat.
func feeLimitFor(amt lnwire.MilliSatoshi) lnwire.MilliSatoshi {
	return amt/100 + 10_000
}

// runTraffic starts payments at the options' rate until the planned count
// or the duration is reached or ctx ends, then waits for them all.
func runTraffic(ctx context.Context, opts TrafficOptions, b *book,
	p trafficPayer) *TrafficReport {

	clk := opts.Clock
	amt := lnwire.NewMSatFromSatoshis(opts.Amount)
	feeLimit := feeLimitFor(amt)
	rep := &TrafficReport{
		Planned:  opts.planned(),
		Failures: map[string]int{},
	}
	flows := map[flow]*FlowReport{}
	for _, f := range b.flows {
		flows[f] = &FlowReport{From: f.from.name, To: f.to.name}
	}

	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		inFlight int
		slots    = make(chan struct{}, MaxTrafficInFlight)
	)
	progress := func(prefix string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(opts.Out, "%s sent %d of %d, succeeded %d, failed "+
			"%d, in flight %d, fees %s\n", prefix, rep.Sent,
			rep.Planned, rep.Succeeded, rep.Failed, inFlight,
			fmtMsat(rep.Fees))
	}

	start := clk.Now()
	due := start
	lastProgress := start
	for rep.Sent+rep.NoBalance < rep.Planned {
		if wait := due.Sub(clk.Now()); wait > 0 {
			select {
			case <-ctx.Done():
			case <-clk.TickAfter(wait):
			}
		}
		if ctx.Err() != nil || clk.Now().Sub(start) >= opts.For {
			break
		}
		// The next payment is due one interval after this one was;
		// a late payment moves the schedule instead of bunching the
		// ones after it.
		due = due.Add(opts.Rate.interval())
		if now := clk.Now(); due.Before(now) {
			due = now
		}
		if now := clk.Now(); now.Sub(lastProgress) >=
			trafficProgressEvery {

			lastProgress = now
			progress(fmt.Sprintf("[%6.1fs]",
				now.Sub(start).Seconds()))
		}

		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		f, ok := b.take(amt, feeLimit)
		if !ok {
			<-slots
			mu.Lock()
			rep.NoBalance++
			mu.Unlock()
			continue
		}
		mu.Lock()
		rep.Sent++
		inFlight++
		flows[f].Sent++
		mu.Unlock()

		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()

			// A payment started is followed to its end even when
			// ctx ends: the payer bounds it by its own timeout.
			res := p.pay(context.WithoutCancel(ctx), f, amt,
				feeLimit)
			b.settle(f, amt, feeLimit, res)

			mu.Lock()
			defer mu.Unlock()
			inFlight--
			fr := flows[f]
			if !res.ok {
				rep.Failed++
				fr.Failed++
				rep.Failures[res.failure]++
				return
			}
			rep.Succeeded++
			fr.Succeeded++
			rep.Amount += res.amount
			rep.Fees += res.fee
			fr.Amount += res.amount
			fr.Fees += res.fee
		}()
	}
	wg.Wait()
	rep.Elapsed = clk.Now().Sub(start)
	progress(fmt.Sprintf("[%6.1fs] done:", rep.Elapsed.Seconds()))

	for _, f := range b.flows {
		rep.Flows = append(rep.Flows, *flows[f])
	}
	return rep
}

// fmtMsat writes an amount in sat with its millisatoshis.
func fmtMsat(m lnwire.MilliSatoshi) string {
	return fmt.Sprintf("%d.%03d sat", m/1000, m%1000)
}

// lndTrafficPayer pays through the nodes' lnd: an invoice on the receiver,
// paid by the sender's router over a route whose last hop is the hub.
type lndTrafficPayer struct {
	hub     []byte
	timeout time.Duration
}

var _ trafficPayer = (*lndTrafficPayer)(nil)

// pay adds the invoice and pays it, and reads how the payment ended.
func (l *lndTrafficPayer) pay(ctx context.Context, f flow, amt,
	feeLimit lnwire.MilliSatoshi) payResult {

	// The payment's own timeout, and time to hear how it ended.
	ctx, cancel := context.WithTimeout(ctx, l.timeout+10*time.Second)
	defer cancel()

	inv, err := f.to.ln.AddInvoice(ctx, &lnrpc.Invoice{
		Memo:      trafficMemo,
		ValueMsat: int64(amt),
	})
	if err != nil {
		return payResult{failure: "add invoice: " + rpcCode(err)}
	}
	stream, err := f.from.router.SendPaymentV2(ctx,
		&routerrpc.SendPaymentRequest{
			PaymentRequest:    inv.PaymentRequest,
			FeeLimitMsat:      int64(feeLimit),
			TimeoutSeconds:    int32(l.timeout / time.Second),
			LastHopPubkey:     l.hub,
			NoInflightUpdates: true,
		})
	if err != nil {
		return payResult{failure: "send payment: " + rpcCode(err)}
	}
	for {
		pay, err := stream.Recv()
		if err != nil {
			return payResult{failure: "payment stream: " +
				rpcCode(err)}
		}
		switch pay.Status {
		case lnrpc.Payment_SUCCEEDED:
			return payResult{
				ok:     true,
				amount: lnwire.MilliSatoshi(pay.ValueMsat),
				fee:    lnwire.MilliSatoshi(pay.FeeMsat),
			}
		case lnrpc.Payment_FAILED:
			return payResult{failure: pay.FailureReason.String()}
		}
	}
}

// rpcCode names a gRPC error by its status code, so failures group.
func rpcCode(err error) string {
	return status.Code(err).String()
}
