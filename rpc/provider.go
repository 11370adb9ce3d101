package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ProviderBackend links provider nodes and keeps their rate cards; the
// ProviderService's handlers call it. channels.Manager implements it.
type ProviderBackend interface {
	// CreateChallenge issues a link challenge.
	CreateChallenge(ctx context.Context,
		req channels.ChallengeRequest) (channels.Challenge, error)

	// CompleteLink checks a challenge's signature and links the node.
	CompleteLink(ctx context.Context, challengeID,
		signature string) (channels.Link, error)

	// Provider returns one provider, or channels.ErrProviderNotFound.
	Provider(ctx context.Context, id string) (channels.Provider, error)

	// Providers returns every provider.
	Providers(ctx context.Context) ([]channels.Provider, error)

	// SetRates replaces a provider's rate card.
	SetRates(ctx context.Context, id string,
		card channels.RateCard) (channels.Provider, error)

	// CheckReach checks and records whether the hub reaches the node.
	CheckReach(ctx context.Context, id string) (channels.Reach, error)
}

var _ ProviderBackend = (*channels.Manager)(nil)

// providerService implements the ProviderService.
type providerService struct {
	sluicerpcconnect.UnimplementedProviderServiceHandler

	backend ProviderBackend

	// payouts serves GetProviderStatus; nil answers unimplemented.
	payouts PayoutBackend

	// bake mints a provider macaroon for a provider id and the agent
	// key of its link.
	bake func(providerID string, agent channels.AgentKey) ([]byte, error)

	// linked is told of every completed link; nil when no one listens.
	linked func(providerID string)
}

var _ sluicerpcconnect.ProviderServiceHandler = (*providerService)(nil)

// CreateLinkChallenge issues a challenge for the node to sign.
func (s *providerService) CreateLinkChallenge(ctx context.Context,
	req *connect.Request[sluicerpc.CreateLinkChallengeRequest]) (
	*connect.Response[sluicerpc.CreateLinkChallengeResponse], error) {

	node, err := channels.ParseNodeKey(req.Msg.NodePubkey)
	if err != nil {
		return nil, providerCodes.connectError("create link challenge", err)
	}
	agent, err := channels.ParseAgentKey(req.Msg.AgentPubkey)
	if err != nil {
		return nil, providerCodes.connectError("create link challenge", err)
	}
	ch, err := s.backend.CreateChallenge(ctx, channels.ChallengeRequest{
		Node: node, Agent: agent, Alias: req.Msg.Alias,
	})
	if err != nil {
		return nil, providerCodes.connectError("create link challenge", err)
	}
	return connect.NewResponse(&sluicerpc.CreateLinkChallengeResponse{
		ChallengeId: ch.ID,
		Message:     ch.Message,
		ExpiresAt:   timestamppb.New(ch.Expires),
	}), nil
}

// CompleteLink links the node whose signature completes the challenge and
// mints its provider macaroon.
func (s *providerService) CompleteLink(ctx context.Context,
	req *connect.Request[sluicerpc.CompleteLinkRequest]) (
	*connect.Response[sluicerpc.CompleteLinkResponse], error) {

	if req.Msg.ChallengeId == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("challenge_id is empty"))
	}
	link, err := s.backend.CompleteLink(ctx, req.Msg.ChallengeId,
		strings.TrimSpace(req.Msg.Signature))
	if err != nil {
		return nil, providerCodes.connectError("complete link", err)
	}
	if s.linked != nil {
		s.linked(link.Provider.ID)
	}
	mac, err := s.bake(link.Provider.ID, link.Provider.Agent)
	if err != nil {
		log.Errorf("Provider macaroon for %s: %v", link.Provider.ID,
			err)
		return nil, connect.NewError(connect.CodeInternal,
			fmt.Errorf("provider macaroon: %w", err))
	}
	resp := &sluicerpc.CompleteLinkResponse{
		Provider:         providerProto(link.Provider),
		ProviderMacaroon: mac,
		Relinked:         link.Relinked,
	}
	if link.Revoked != nil {
		resp.RevokedAgentPubkey = link.Revoked[:]
	}
	return connect.NewResponse(resp), nil
}

// GetProvider returns one provider, checking its reach first when asked.
func (s *providerService) GetProvider(ctx context.Context,
	req *connect.Request[sluicerpc.GetProviderRequest]) (
	*connect.Response[sluicerpc.GetProviderResponse], error) {

	id := req.Msg.ProviderId
	if id == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("provider_id is empty"))
	}
	if req.Msg.CheckReach {
		if _, err := s.backend.CheckReach(ctx, id); err != nil {
			return nil, providerCodes.connectError("check reach", err)
		}
	}
	p, err := s.backend.Provider(ctx, id)
	if err != nil {
		return nil, providerCodes.connectError("get provider", err)
	}
	return connect.NewResponse(&sluicerpc.GetProviderResponse{
		Provider: providerProto(p),
	}), nil
}

// SetRates replaces a provider's rate card.
func (s *providerService) SetRates(ctx context.Context,
	req *connect.Request[sluicerpc.SetRatesRequest]) (
	*connect.Response[sluicerpc.SetRatesResponse], error) {

	id := req.Msg.ProviderId
	if id == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("provider_id is empty"))
	}
	card, err := channels.ParseRateCard(req.Msg.Rates)
	if err != nil {
		return nil, providerCodes.connectError("set rates", err)
	}
	p, err := s.backend.SetRates(ctx, id, card)
	if err != nil {
		return nil, providerCodes.connectError("set rates", err)
	}
	return connect.NewResponse(&sluicerpc.SetRatesResponse{
		Provider: providerProto(p),
	}), nil
}

// ListProviders returns every provider.
func (s *providerService) ListProviders(ctx context.Context,
	_ *connect.Request[sluicerpc.ListProvidersRequest]) (
	*connect.Response[sluicerpc.ListProvidersResponse], error) {

	ps, err := s.backend.Providers(ctx)
	if err != nil {
		return nil, providerCodes.connectError("list providers", err)
	}
	resp := &sluicerpc.ListProvidersResponse{
		Providers: make([]*sluicerpc.Provider, len(ps)),
	}
	for i, p := range ps {
		resp.Providers[i] = providerProto(p)
	}
	return connect.NewResponse(resp), nil
}

// providerCodes maps the channels package's errors to status codes. Each
// refused link has its own code, so a client can tell them apart without
// reading the message.
var providerCodes = errorCodes{
	{channels.ErrInvalidNodeKey, connect.CodeInvalidArgument},
	{channels.ErrInvalidAgentKey, connect.CodeInvalidArgument},
	{channels.ErrInvalidAlias, connect.CodeInvalidArgument},
	{channels.ErrHubNode, connect.CodeInvalidArgument},
	{channels.ErrUnknownResource, connect.CodeInvalidArgument},
	{channels.ErrMalformedRate, connect.CodeInvalidArgument},
	{channels.ErrNegativeRate, connect.CodeInvalidArgument},
	{channels.ErrRateTooPrecise, connect.CodeInvalidArgument},

	{channels.ErrChallengeNotFound, connect.CodeNotFound},
	{channels.ErrProviderNotFound, connect.CodeNotFound},
	{channels.ErrChallengeExpired, connect.CodeFailedPrecondition},
	{channels.ErrChallengeUsed, connect.CodeAlreadyExists},
	{channels.ErrMalformedSignature, connect.CodeInvalidArgument},
	{channels.ErrForgedSignature, connect.CodeUnauthenticated},
	{channels.ErrWrongNode, connect.CodePermissionDenied},
	{channels.ErrAgentKeyRevoked, connect.CodeFailedPrecondition},
	{channels.ErrAgentKeyInUse, connect.CodeFailedPrecondition},
	{channels.ErrTooManyChallenges, connect.CodeResourceExhausted},
}

// providerProto is a provider as the API shows it.
func providerProto(p channels.Provider) *sluicerpc.Provider {
	out := &sluicerpc.Provider{
		ProviderId:  p.ID,
		NodePubkey:  p.Node[:],
		AgentPubkey: p.Agent[:],
		Alias:       p.Alias,
		Status:      string(p.Status),
		Rates:       p.Rates.Strings(),
		Reach: &sluicerpc.Reachability{
			State:  string(p.Reach.State),
			Reason: p.Reach.Reason,
		},
		LinkedAt:  providerTime(p.LinkedAt),
		CreatedAt: providerTime(p.CreatedAt),
	}
	out.Reach.CheckedAt = providerTime(p.Reach.CheckedAt)
	return out
}

// providerTime is t as a protobuf timestamp; nil for the zero time.
func providerTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
