package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// MarketBackend is the market as the MarketService's handlers use it;
// *market.Market implements it. Errors wrap package market's sentinels,
// which marketCodes maps to status codes.
type MarketBackend interface {
	// Timeout is how long a provider stays online after a heartbeat.
	Timeout() time.Duration

	// Heartbeat records an offer: market.ErrInvalidOffer,
	// ErrNotLinked.
	Heartbeat(ctx context.Context, providerID string,
		offer market.Offer) (market.Presence, error)

	// Listings returns every linked provider's listing.
	Listings(ctx context.Context) ([]market.Listing, error)

	// Listing returns one provider's: market.ErrNotLinked.
	Listing(ctx context.Context, providerID string) (market.Listing,
		error)

	// Place places a request on the providers as they stand:
	// market.ErrInvalidRequest, or ErrNoFit with the reason's sentinel.
	Place(ctx context.Context, req market.Request) (market.Placement,
		error)
}

var _ MarketBackend = (*market.Market)(nil)

// ErrMarketNotServed is the message of every MarketService method of a
// server without a market (Config.Market nil), answered as unimplemented.
var ErrMarketNotServed = errors.New("this sluiced runs no market")

// marketCodes maps package market's refusals to status codes.
var marketCodes = errorCodes{
	{market.ErrInvalidOffer, connect.CodeInvalidArgument},
	{market.ErrInvalidRequest, connect.CodeInvalidArgument},
	{market.ErrNotLinked, connect.CodeFailedPrecondition},
	{market.ErrNoOffer, connect.CodeNotFound},
	{market.ErrNoFit, connect.CodeFailedPrecondition},
	{channels.ErrUnknownResource, connect.CodeInvalidArgument},
	{channels.ErrMalformedRate, connect.CodeInvalidArgument},
	{channels.ErrNegativeRate, connect.CodeInvalidArgument},
	{channels.ErrRateTooPrecise, connect.CodeInvalidArgument},
}

// marketService implements the MarketService.
type marketService struct {
	sluicerpcconnect.UnimplementedMarketServiceHandler

	// backend is the market; nil answers every method unimplemented.
	backend MarketBackend
}

var _ sluicerpcconnect.MarketServiceHandler = (*marketService)(nil)

// served returns an unimplemented error when there is no market.
func (s *marketService) served() error {
	if s.backend == nil {
		return connect.NewError(connect.CodeUnimplemented,
			ErrMarketNotServed)
	}
	return nil
}

// Heartbeat records a provider's offer. The interceptor has checked that
// a provider macaroon names its own provider_id.
func (s *marketService) Heartbeat(ctx context.Context,
	req *connect.Request[sluicerpc.HeartbeatRequest]) (
	*connect.Response[sluicerpc.HeartbeatResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	o := req.Msg.GetOffer()
	if o == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("%w: no offer", market.ErrInvalidOffer))
	}
	p, err := s.backend.Heartbeat(ctx, req.Msg.ProviderId, market.Offer{
		CPU: o.CpuCoreMs, Mem: o.MemMib, Slots: o.Slots,
		Version: o.AgentVersion,
	})
	if err != nil {
		return nil, marketCodes.connectError("heartbeat", err)
	}
	timeout := s.backend.Timeout()
	return connect.NewResponse(&sluicerpc.HeartbeatResponse{
		TimeoutMs:  timeout.Milliseconds(),
		FirstSeen:  ts(p.FirstSeen),
		LastSeen:   ts(p.LastSeen),
		Heartbeats: p.Heartbeats,
		UptimePpm:  p.UptimePPM(p.LastSeen, timeout),
	}), nil
}

// ListOffers returns the providers' offers.
func (s *marketService) ListOffers(ctx context.Context,
	req *connect.Request[sluicerpc.ListOffersRequest]) (
	*connect.Response[sluicerpc.ListOffersResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	ls, err := s.backend.Listings(ctx)
	if err != nil {
		return nil, marketCodes.connectError("list offers", err)
	}
	resp := &sluicerpc.ListOffersResponse{
		TimeoutMs: s.backend.Timeout().Milliseconds(),
	}
	for _, l := range ls {
		if l.Presence == nil && !req.Msg.IncludeSilent {
			continue
		}
		resp.Offers = append(resp.Offers, providerOfferProto(l))
	}
	return connect.NewResponse(resp), nil
}

// GetRecord returns one provider's offer and record.
func (s *marketService) GetRecord(ctx context.Context,
	req *connect.Request[sluicerpc.GetRecordRequest]) (
	*connect.Response[sluicerpc.GetRecordResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	l, err := s.backend.Listing(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, marketCodes.connectError("get record", err)
	}
	return connect.NewResponse(&sluicerpc.GetRecordResponse{
		Provider: providerOfferProto(l),
	}), nil
}

// PlaceDryRun places a spec without making a job.
func (s *marketService) PlaceDryRun(ctx context.Context,
	req *connect.Request[sluicerpc.PlaceDryRunRequest]) (
	*connect.Response[sluicerpc.PlaceDryRunResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	max, err := channels.ParseRateCard(req.Msg.MaxRates)
	if err != nil {
		return nil, marketCodes.connectError("place",
			fmt.Errorf("max_rates: %w", err))
	}
	p, err := s.backend.Place(ctx, market.Request{
		Spec: market.Spec{CPU: req.Msg.CpuCoreMs,
			Mem: req.Msg.MemMib},
		MaxRates: max,
	})
	resp := &sluicerpc.PlaceDryRunResponse{ProviderId: p.Chosen}
	switch {
	case errors.Is(err, market.ErrNoFit):
		resp.NoFit = err.Error()
		resp.NoFitReason = noFitReason(err)
	case err != nil:
		return nil, marketCodes.connectError("place", err)
	default:
		resp.PriceMsatPerSecond = p.Price.String()
	}
	resp.Verdicts = verdictsProto(p)
	return connect.NewResponse(resp), nil
}

// verdictsProto converts a placement's verdicts.
func verdictsProto(p market.Placement) []*sluicerpc.Verdict {
	out := make([]*sluicerpc.Verdict, 0, len(p.Verdicts))
	for _, v := range p.Verdicts {
		pv := &sluicerpc.Verdict{
			ProviderId: v.ProviderID,
			Taken:      v.Taken,
			Rank:       uint32(v.Rank),
			Details:    v.Details,
			Record:     recordProto(v.Record),
		}
		for _, r := range v.Reasons {
			pv.Reasons = append(pv.Reasons, string(r))
		}
		if !slices.Contains(v.Reasons, market.ReasonNotPriced) {
			pv.PriceMsatPerSecond = v.Price.String()
		}
		out = append(out, pv)
	}
	return out
}

// place chooses the provider of a job created without one: the market's
// placement of the job's spec within the buyer's maximum rates. A sluiced
// without a market refuses, as does a request no provider fits
// (FailedPrecondition, the message naming the constraint that excluded the
// most providers).
func place(ctx context.Context, m MarketBackend, spec map[string]int64,
	maxRates map[string]string) (market.Placement, error) {

	if m == nil {
		return market.Placement{}, connect.NewError(
			connect.CodeInvalidArgument, errors.New("provider_id is "+
				"empty and this sluiced runs no market to place "+
				"the job: name a provider"))
	}
	max, err := channels.ParseRateCard(maxRates)
	if err != nil {
		return market.Placement{}, marketCodes.connectError("place",
			fmt.Errorf("max_rates: %w", err))
	}
	var s market.Spec
	for r, n := range spec {
		if n < 0 {
			return market.Placement{}, connect.NewError(
				connect.CodeInvalidArgument, fmt.Errorf("spec "+
					"%s is negative", r))
		}
		switch channels.Resource(r) {
		case channels.ResourceCPU:
			s.CPU = uint64(n)
		case channels.ResourceMem:
			s.Mem = uint64(n)
		default:
			return market.Placement{}, marketCodes.connectError(
				"place", fmt.Errorf("spec: %w: %q",
					channels.ErrUnknownResource, r))
		}
	}
	p, err := m.Place(ctx, market.Request{Spec: s, MaxRates: max})
	if err != nil {
		return p, marketCodes.connectError("place", err)
	}
	return p, nil
}

// noFitReason names the sentinel a no-fit error wraps, as Verdict.reasons
// name them.
func noFitReason(err error) string {
	if errors.Is(err, market.ErrNoProviders) {
		return "no_providers"
	}
	for _, r := range []market.Reason{market.ReasonOffline,
		market.ReasonUnreachable, market.ReasonNoCapacity,
		market.ReasonNotPriced, market.ReasonAboveMax} {

		if errors.Is(err, r.Err()) {
			return string(r)
		}
	}
	return ""
}

// providerOfferProto converts a listing.
func providerOfferProto(l market.Listing) *sluicerpc.ProviderOffer {
	rates := make(map[string]string, len(l.Rates))
	for res, r := range l.Rates {
		rates[string(res)] = r.String()
	}
	out := &sluicerpc.ProviderOffer{
		ProviderId: l.ProviderID,
		Alias:      l.Alias,
		Online:     l.Online,
		Free:       capacityProto(l.Free),
		Reserved:   capacityProto(l.Reserved),
		Rates:      rates,
		Reach:      string(l.Reach),
		Record:     recordProto(l.Record),
	}
	if p := l.Presence; p != nil {
		out.Offer = &sluicerpc.Offer{
			CpuCoreMs: p.Offer.CPU, MemMib: p.Offer.Mem,
			Slots: p.Offer.Slots, AgentVersion: p.Offer.Version,
		}
		out.LastSeen = ts(p.LastSeen)
	}
	return out
}

// capacityProto converts a capacity.
func capacityProto(c market.Capacity) *sluicerpc.Capacity {
	return &sluicerpc.Capacity{CpuCoreMs: c.CPU, MemMib: c.Mem,
		Jobs: c.Jobs}
}

// recordProto converts a record.
func recordProto(r market.Record) *sluicerpc.Record {
	return &sluicerpc.Record{
		Completed:      r.Completed,
		Failed:         r.Failed,
		Abandoned:      r.Abandoned,
		Active:         r.Active,
		MeteredSeconds: r.MeteredSeconds,
		PayoutFailures: r.PayoutFailures,
		UptimePpm:      r.UptimePPM,
		Since:          ts(r.Since),
	}
}
