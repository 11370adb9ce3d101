package hubnode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnwire"
)

// MaxForwardsPage is the most forwards one ForwardingHistory call returns:
// the page size lnd documents, and what a page asks for unless told less.
const MaxForwardsPage = 50_000

// Forward is one HTLC the hub forwarded and settled, as lnd's forwarding
// log records it. Forwards that failed leave no record there.
type Forward struct {
	// Index is the forward's place in the series of one ForwardQuery
	// (its time range and channel filters), counting from 1: the same
	// query read later gives the same forward the same Index, so a
	// caller that reads incrementally deduplicates by it.
	Index uint64

	// Time is when the circuit completed, to the nanosecond lnd keeps
	// (timestamp_ns).
	Time time.Time

	// ChanIn and ChanOut are the short channel ids the HTLC came in on
	// and went out on.
	ChanIn  uint64
	ChanOut uint64

	// AmountIn came in, AmountOut went out; Fee is what the hub earned
	// (lnd's fee_msat, AmountIn - AmountOut).
	AmountIn  lnwire.MilliSatoshi
	AmountOut lnwire.MilliSatoshi
	Fee       lnwire.MilliSatoshi
}

// ForwardQuery selects the hub's forwards and where to start reading them.
//
// lnd numbers forwards by their place in the series a query selects: the
// forwards in [Start, End] that pass both channel filters, oldest first.
// Offsets and Forward.Index are only comparable between queries with the
// same Start and filters; End may grow (zero reads up to now). Deleting
// forwarding history on the node (DeleteForwardingHistory) renumbers the
// series.
type ForwardQuery struct {
	// Start and End bound the forwards' times; lnd reads them in whole
	// seconds (rounded down). A zero Start is the Unix epoch, a zero End
	// is now.
	Start time.Time
	End   time.Time

	// IncomingChanIDs and OutgoingChanIDs keep only forwards that came
	// in, or went out, on one of the listed short channel ids; empty
	// keeps all.
	IncomingChanIDs []uint64
	OutgoingChanIDs []uint64

	// Offset is how many forwards of the series were read already: the
	// first forward returned has Index Offset+1.
	Offset uint64

	// PageSize is how many forwards one call asks lnd for, 1 to
	// MaxForwardsPage; zero means MaxForwardsPage.
	PageSize uint32
}

// ForwardPage is one page of forwards.
type ForwardPage struct {
	// Forwards are in the order of the series, Index rising by one.
	Forwards []Forward

	// NextOffset is the Offset that reads on after this page: the Index
	// of its last forward, or the query's Offset when it has none.
	NextOffset uint64

	// Full says the page held as many forwards as were asked for, so
	// more may follow.
	Full bool
}

// ErrForwardQuery is returned for a ForwardQuery lnd cannot answer as
// asked; the error says which field and why.
var ErrForwardQuery = errors.New("invalid forward query")

// HubForwards reads the hub's forwarding log, for accounting of routing
// income. It uses lnd's raw ForwardingHistory: lndclient's wrapper drops
// the channel filters and timestamp_ns. FeeReport is not a substitute: it
// rounds to satoshis over rolling windows.
type HubForwards struct {
	client lndclient.LightningClient
}

// NewHubForwards returns the forwarding log reader over the hub's lnd.
func NewHubForwards(client lndclient.LightningClient) *HubForwards {
	return &HubForwards{client: client}
}

// Page reads one page of forwards, from q.Offset on. Reading changes
// nothing on the node.
func (h *HubForwards) Page(ctx context.Context, q ForwardQuery) (
	ForwardPage, error) {

	req, err := forwardRequest(q)
	if err != nil {
		return ForwardPage{}, err
	}
	rpcCtx, timeout, client := h.client.RawClientWithMacAuth(ctx)
	rpcCtx, cancel := context.WithTimeout(rpcCtx, timeout)
	defer cancel()
	resp, err := client.ForwardingHistory(rpcCtx, req)
	if err != nil {
		return ForwardPage{}, fmt.Errorf("forwarding history after "+
			"%d: %w", q.Offset, err)
	}

	page := ForwardPage{
		Forwards:   make([]Forward, 0, len(resp.ForwardingEvents)),
		NextOffset: q.Offset,
		Full: uint32(len(resp.ForwardingEvents)) >=
			req.NumMaxEvents,
	}
	for i, ev := range resp.ForwardingEvents {
		page.Forwards = append(page.Forwards, Forward{
			Index:     q.Offset + uint64(i) + 1,
			Time:      time.Unix(0, int64(ev.TimestampNs)),
			ChanIn:    ev.ChanIdIn,
			ChanOut:   ev.ChanIdOut,
			AmountIn:  lnwire.MilliSatoshi(ev.AmtInMsat),
			AmountOut: lnwire.MilliSatoshi(ev.AmtOutMsat),
			Fee:       lnwire.MilliSatoshi(ev.FeeMsat),
		})
	}
	page.NextOffset = q.Offset + uint64(len(page.Forwards))

	// lnd's own count of where the page ended must agree with ours, or
	// the indexes handed out would not be the ones lnd pages by.
	if uint64(resp.LastOffsetIndex) != page.NextOffset {
		return ForwardPage{}, fmt.Errorf("forwarding history after "+
			"%d: lnd returned %d forwards but last offset %d",
			q.Offset, len(page.Forwards), resp.LastOffsetIndex)
	}
	return page, nil
}

// All reads every forward from q.Offset on, page by page, and returns them
// with the offset that reads on after the last (q.Offset when there are
// none). A caller that keeps the offset reads only new forwards next time.
func (h *HubForwards) All(ctx context.Context, q ForwardQuery) ([]Forward,
	uint64, error) {

	var out []Forward
	for {
		page, err := h.Page(ctx, q)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, page.Forwards...)
		if !page.Full || page.NextOffset == q.Offset {
			return out, page.NextOffset, nil
		}
		q.Offset = page.NextOffset
	}
}

// forwardRequest checks q and makes lnd's request of it.
func forwardRequest(q ForwardQuery) (*lnrpc.ForwardingHistoryRequest,
	error) {

	size := q.PageSize
	switch {
	case size == 0:
		size = MaxForwardsPage

	case size > MaxForwardsPage:
		return nil, fmt.Errorf("%w: PageSize: %d is above lnd's "+
			"page of %d", ErrForwardQuery, size, MaxForwardsPage)
	}
	if q.Offset > math.MaxUint32-uint64(size) {
		return nil, fmt.Errorf("%w: Offset: %d is past lnd's 32-bit "+
			"index", ErrForwardQuery, q.Offset)
	}
	start, err := unixSeconds("Start", q.Start)
	if err != nil {
		return nil, err
	}
	end, err := unixSeconds("End", q.End)
	if err != nil {
		return nil, err
	}
	if end != 0 && end < start {
		return nil, fmt.Errorf("%w: End: %v is before Start %v",
			ErrForwardQuery, q.End, q.Start)
	}
	return &lnrpc.ForwardingHistoryRequest{
		StartTime:       start,
		EndTime:         end,
		IndexOffset:     uint32(q.Offset),
		NumMaxEvents:    size,
		IncomingChanIds: q.IncomingChanIDs,
		OutgoingChanIds: q.OutgoingChanIDs,
	}, nil
}

// unixSeconds is t in whole Unix seconds, rounded down, for lnd's time
// fields; zero for the zero time. A time before the epoch is refused.
func unixSeconds(field string, t time.Time) (uint64, error) {
	if t.IsZero() {
		return 0, nil
	}
	if t.Unix() < 0 {
		return 0, fmt.Errorf("%w: %s: %v is before the Unix epoch",
			ErrForwardQuery, field, t)
	}
	return uint64(t.Unix()), nil
}
