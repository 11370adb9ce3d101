package hubnode

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnwire"
	"google.golang.org/grpc"
)

// forwardsClient fakes the lndclient client HubForwards uses: its raw
// client answers ForwardingHistory from log as lnd's forwarding log does
// (time range, then filters, then the offset, then the page size).
type forwardsClient struct {
	lndclient.LightningClient
	raw *rawForwards
}

func (f *forwardsClient) RawClientWithMacAuth(ctx context.Context) (
	context.Context, time.Duration, lnrpc.LightningClient) {

	return ctx, time.Minute, f.raw
}

// rawForwards is the raw lnrpc client; any other call panics on the nil
// embedded interface.
type rawForwards struct {
	lnrpc.LightningClient

	log []*lnrpc.ForwardingEvent
	err error

	// lastOffset, when set, is returned instead of the true last
	// offset, as a broken lnd would.
	lastOffset *uint32

	// reqs are the requests received, in order.
	reqs []*lnrpc.ForwardingHistoryRequest
}

func (r *rawForwards) ForwardingHistory(_ context.Context,
	req *lnrpc.ForwardingHistoryRequest, _ ...grpc.CallOption) (
	*lnrpc.ForwardingHistoryResponse, error) {

	r.reqs = append(r.reqs, req)
	if r.err != nil {
		return nil, r.err
	}
	end := uint64(time.Now().Unix())
	if req.EndTime != 0 {
		end = req.EndTime
	}
	resp := &lnrpc.ForwardingHistoryResponse{}
	skip := req.IndexOffset
	for _, ev := range r.log {
		if ev.TimestampNs < req.StartTime*1e9 ||
			ev.TimestampNs > end*1e9 {

			continue
		}
		if len(req.IncomingChanIds) > 0 &&
			!slices.Contains(req.IncomingChanIds, ev.ChanIdIn) {

			continue
		}
		if len(req.OutgoingChanIds) > 0 &&
			!slices.Contains(req.OutgoingChanIds, ev.ChanIdOut) {

			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if uint32(len(resp.ForwardingEvents)) >= req.NumMaxEvents {
			break
		}
		resp.ForwardingEvents = append(resp.ForwardingEvents, ev)
	}
	resp.LastOffsetIndex = req.IndexOffset +
		uint32(len(resp.ForwardingEvents))
	if r.lastOffset != nil {
		resp.LastOffsetIndex = *r.lastOffset
	}
	return resp, nil
}

// base is the time of the fake log's first forward.
var base = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// event is a forward at base+sec seconds (and ns nanoseconds), in on chan
// in and out on chan out, amount out amt msat and fee fee msat.
func event(sec, ns int64, in, out, amt,
	fee uint64) *lnrpc.ForwardingEvent {

	ts := base.Add(time.Duration(sec)*time.Second +
		time.Duration(ns)).UnixNano()
	return &lnrpc.ForwardingEvent{
		ChanIdIn:    in,
		ChanIdOut:   out,
		AmtInMsat:   amt + fee,
		AmtOutMsat:  amt,
		FeeMsat:     fee,
		TimestampNs: uint64(ts),
	}
}

// testLog has forwards 1 -> 2 and 1 -> 3 and back 2 -> 1.
func testLog() []*lnrpc.ForwardingEvent {
	return []*lnrpc.ForwardingEvent{
		event(0, 17, 1, 2, 1_000_000, 1001),
		event(1, 0, 1, 3, 1_000_000, 1001),
		event(2, 5, 2, 1, 500_000, 1000),
		event(3, 0, 1, 2, 2_000_000, 1002),
		event(4, 999, 1, 3, 1_000_000, 1001),
	}
}

// indexes returns the forwards' Index values.
func indexes(fs []Forward) []uint64 {
	out := make([]uint64, len(fs))
	for i, f := range fs {
		out[i] = f.Index
	}
	return out
}

// fees sums the forwards' fees.
func fees(fs []Forward) lnwire.MilliSatoshi {
	var sum lnwire.MilliSatoshi
	for _, f := range fs {
		sum += f.Fee
	}
	return sum
}

// TestForwardsPage maps one page of lnd's forwards field by field.
func TestForwardsPage(t *testing.T) {
	t.Parallel()
	raw := &rawForwards{log: testLog()}
	h := NewHubForwards(&forwardsClient{raw: raw})

	page, err := h.Page(context.Background(), ForwardQuery{
		Offset: 1, PageSize: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Forward{{
		Index:     2,
		Time:      base.Add(time.Second),
		ChanIn:    1,
		ChanOut:   3,
		AmountIn:  1_001_001,
		AmountOut: 1_000_000,
		Fee:       1001,
	}, {
		Index:     3,
		Time:      base.Add(2*time.Second + 5),
		ChanIn:    2,
		ChanOut:   1,
		AmountIn:  501_000,
		AmountOut: 500_000,
		Fee:       1000,
	}}
	if len(page.Forwards) != len(want) {
		t.Fatalf("page = %+v", page)
	}
	for i := range want {
		got := page.Forwards[i]
		if !got.Time.Equal(want[i].Time) {
			t.Errorf("forward %d time %v, want %v", i,
				got.Time, want[i].Time)
		}
		got.Time = want[i].Time
		if got != want[i] {
			t.Errorf("forward %d = %+v, want %+v", i, got,
				want[i])
		}
	}
	if page.NextOffset != 3 || !page.Full {
		t.Errorf("next %d full %v, want 3 true", page.NextOffset,
			page.Full)
	}
	if len(raw.reqs) != 1 {
		t.Fatalf("%d calls, want 1", len(raw.reqs))
	}
	if r := raw.reqs[0]; r.IndexOffset != 1 || r.NumMaxEvents != 2 ||
		r.StartTime != 0 || r.EndTime != 0 {

		t.Errorf("request = %+v", r)
	}
}

// TestForwardsAll reads every page, with and without filters and time
// bounds, and reads on incrementally from the offset it returned.
func TestForwardsAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		q         ForwardQuery
		wantIdx   []uint64
		wantFee   lnwire.MilliSatoshi
		wantNext  uint64
		wantCalls int
	}{{
		name:      "all in one page",
		q:         ForwardQuery{},
		wantIdx:   []uint64{1, 2, 3, 4, 5},
		wantFee:   5005,
		wantNext:  5,
		wantCalls: 1,
	}, {
		name:    "pages of two",
		q:       ForwardQuery{PageSize: 2},
		wantIdx: []uint64{1, 2, 3, 4, 5},
		wantFee: 5005, wantNext: 5,
		// 2 + 2 + 1: the short page ends it.
		wantCalls: 3,
	}, {
		name:    "pages that end full",
		q:       ForwardQuery{PageSize: 5},
		wantIdx: []uint64{1, 2, 3, 4, 5},
		wantFee: 5005, wantNext: 5,
		// A full page, then an empty one.
		wantCalls: 2,
	}, {
		name:    "from an offset",
		q:       ForwardQuery{Offset: 3, PageSize: 1},
		wantIdx: []uint64{4, 5},
		wantFee: 2003, wantNext: 5,
		wantCalls: 3,
	}, {
		name: "out on channel 2, numbered in the filtered series",
		q: ForwardQuery{
			OutgoingChanIDs: []uint64{2}, PageSize: 1,
		},
		wantIdx: []uint64{1, 2},
		wantFee: 2003, wantNext: 2,
		wantCalls: 3,
	}, {
		name: "in on channel 1 and out on 3",
		q: ForwardQuery{
			IncomingChanIDs: []uint64{1},
			OutgoingChanIDs: []uint64{3},
		},
		wantIdx: []uint64{1, 2},
		wantFee: 2002, wantNext: 2,
		wantCalls: 1,
	}, {
		name: "in a time range",
		q: ForwardQuery{
			Start: base.Add(time.Second),
			End:   base.Add(3*time.Second + 500*time.Millisecond),
		},
		// The end is read in whole seconds: base+3s is in.
		wantIdx: []uint64{1, 2, 3},
		wantFee: 3003, wantNext: 3,
		wantCalls: 1,
	}, {
		name:      "past the end",
		q:         ForwardQuery{Offset: 5},
		wantNext:  5,
		wantCalls: 1,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := &rawForwards{log: testLog()}
			h := NewHubForwards(&forwardsClient{raw: raw})
			fs, next, err := h.All(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := indexes(fs); !slices.Equal(got, tc.wantIdx) {
				t.Errorf("indexes %v, want %v", got,
					tc.wantIdx)
			}
			if got := fees(fs); got != tc.wantFee {
				t.Errorf("fees %v, want %v", got, tc.wantFee)
			}
			if next != tc.wantNext {
				t.Errorf("next %d, want %d", next, tc.wantNext)
			}
			if len(raw.reqs) != tc.wantCalls {
				t.Errorf("%d calls, want %d", len(raw.reqs),
					tc.wantCalls)
			}
			for _, r := range raw.reqs {
				if !slices.Equal(r.IncomingChanIds,
					tc.q.IncomingChanIDs) ||
					!slices.Equal(r.OutgoingChanIds,
						tc.q.OutgoingChanIDs) {

					t.Errorf("filters not sent: %+v", r)
				}
			}
		})
	}
}

// TestForwardsIncremental reads, lets the hub forward more, and reads on
// from the offset kept: only the new forwards come back, with the indexes
// a full read gives them.
func TestForwardsIncremental(t *testing.T) {
	t.Parallel()
	all := testLog()
	raw := &rawForwards{log: all[:3]}
	h := NewHubForwards(&forwardsClient{raw: raw})
	ctx := context.Background()

	first, next, err := h.All(ctx, ForwardQuery{})
	if err != nil || len(first) != 3 || next != 3 {
		t.Fatalf("first read: %v forwards, next %d, %v",
			indexes(first), next, err)
	}
	raw.log = all
	more, next, err := h.All(ctx, ForwardQuery{Offset: next})
	if err != nil {
		t.Fatal(err)
	}
	if got := indexes(more); !slices.Equal(got, []uint64{4, 5}) ||
		next != 5 {

		t.Errorf("second read: %v, next %d", got, next)
	}
	again, next2, err := h.All(ctx, ForwardQuery{Offset: next})
	if err != nil || len(again) != 0 || next2 != next {
		t.Errorf("third read: %v, next %d, %v", indexes(again), next2,
			err)
	}
}

// TestForwardsEmpty reads a node that never forwarded.
func TestForwardsEmpty(t *testing.T) {
	t.Parallel()
	raw := &rawForwards{}
	h := NewHubForwards(&forwardsClient{raw: raw})
	fs, next, err := h.All(context.Background(), ForwardQuery{})
	if err != nil || len(fs) != 0 || next != 0 {
		t.Errorf("All = %v, %d, %v", fs, next, err)
	}
	if len(raw.reqs) != 1 || raw.reqs[0].NumMaxEvents != MaxForwardsPage {
		t.Errorf("requests %+v", raw.reqs)
	}
}

// TestForwardsErrors covers lnd's errors, an answer that does not add up,
// and queries refused before lnd is asked.
func TestForwardsErrors(t *testing.T) {
	t.Parallel()
	lndErr := errors.New("unable to query forwarding log")
	raw := &rawForwards{log: testLog(), err: lndErr}
	h := NewHubForwards(&forwardsClient{raw: raw})
	_, _, err := h.All(context.Background(), ForwardQuery{Offset: 2})
	if !errors.Is(err, lndErr) {
		t.Errorf("lnd error: %v", err)
	}

	wrong := uint32(9)
	raw = &rawForwards{log: testLog(), lastOffset: &wrong}
	h = NewHubForwards(&forwardsClient{raw: raw})
	_, _, err = h.All(context.Background(), ForwardQuery{})
	if err == nil {
		t.Error("a last offset that disagrees was accepted")
	}

	bad := []struct {
		name string
		q    ForwardQuery
	}{
		{"page too big", ForwardQuery{PageSize: MaxForwardsPage + 1}},
		{"offset past 32 bits", ForwardQuery{Offset: 1 << 32}},
		{"end before start", ForwardQuery{
			Start: base.Add(time.Hour), End: base,
		}},
		{"start before the epoch", ForwardQuery{
			Start: time.Unix(-10, 0),
		}},
	}
	for _, tc := range bad {
		raw := &rawForwards{log: testLog()}
		h := NewHubForwards(&forwardsClient{raw: raw})
		_, err := h.Page(context.Background(), tc.q)
		if !errors.Is(err, ErrForwardQuery) {
			t.Errorf("%s: %v, want ErrForwardQuery", tc.name, err)
		}
		if len(raw.reqs) != 0 {
			t.Errorf("%s: lnd was asked", tc.name)
		}
	}
}
