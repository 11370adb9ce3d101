package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

var (
	// ErrRoleNotAllowed is returned when the caller's role may not call
	// the method.
	ErrRoleNotAllowed = errors.New("role not allowed")

	// ErrWrongProvider is returned when a provider acts on another
	// provider's data.
	ErrWrongProvider = errors.New("macaroon is for another provider")

	// ErrNoCaller is returned by AuthorizeProvider when the context holds
	// no caller: the call did not pass through the auth interceptor.
	ErrNoCaller = errors.New("no authenticated caller")
)

// RoleAnonymous is the role of a caller that sent no macaroon. No macaroon
// carries it. A procedure lists it in the permission table only when it is
// open on purpose: provider linking, where the node's signature is the
// proof. An open procedure takes callers with any valid macaroon too; an
// invalid one is still refused.
const RoleAnonymous Role = "anonymous"

// open marks a procedure in the permission table as callable without a
// macaroon.
var open = []Role{RoleAnonymous}

// permissions says which roles may call each procedure. A procedure missing
// here is refused to everyone, so a new method is closed until it is added;
// TestPermissionsCoverEveryMethod fails until it is.
var permissions = map[string][]Role{
	sluicerpcconnect.SluiceGetInfoProcedure: {
		RoleOperator, RoleBuyer, RoleProvider,
	},

	// Linking: open, the node's signature is the proof.
	sluicerpcconnect.ProviderServiceCreateLinkChallengeProcedure: open,
	sluicerpcconnect.ProviderServiceCompleteLinkProcedure:        open,
	sluicerpcconnect.ProviderServiceGetProviderProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.ProviderServiceSetRatesProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.ProviderServiceListProvidersProcedure: {
		RoleOperator,
	},
	sluicerpcconnect.ProviderServiceGetProviderStatusProcedure: {
		RoleOperator, RoleProvider,
	},

	// Metering: a provider's agent submits usage for its own jobs (the
	// handler and metering check the job's provider).
	sluicerpcconnect.MeteringServiceSubmitUsageProcedure: {
		RoleProvider,
	},
	sluicerpcconnect.MeteringServiceGetMeterProcedure: {
		RoleOperator, RoleProvider,
	},

	// Jobs: a buyer on its own jobs, a provider on the jobs assigned to
	// it (the handlers check the job's buyer and provider).
	sluicerpcconnect.JobServiceCreateJobProcedure: {
		RoleOperator, RoleBuyer,
	},
	sluicerpcconnect.JobServiceGetJobProcedure: {
		RoleOperator, RoleBuyer, RoleProvider,
	},
	sluicerpcconnect.JobServiceListJobsProcedure: {
		RoleOperator, RoleBuyer, RoleProvider,
	},
	sluicerpcconnect.JobServiceTopUpJobProcedure: {
		RoleOperator, RoleBuyer,
	},
	sluicerpcconnect.JobServiceEndJobProcedure: {
		RoleOperator, RoleBuyer, RoleProvider,
	},
	// Workloads: the job's provider fetches what to run and submits
	// how it ended, its buyer reads the output (the handlers check the
	// job's provider and buyer).
	sluicerpcconnect.JobServiceGetJobWorkloadProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.JobServiceSubmitJobResultProcedure: {
		RoleProvider,
	},
	sluicerpcconnect.JobServiceGetJobOutputProcedure: {
		RoleOperator, RoleBuyer,
	},

	// The operator's own.
	sluicerpcconnect.OperatorServiceAddBuyerProcedure: {
		RoleOperator,
	},
	sluicerpcconnect.OperatorServiceListBuyersProcedure: {
		RoleOperator,
	},
	sluicerpcconnect.OperatorServiceReconcileProcedure: {
		RoleOperator,
	},
	sluicerpcconnect.OperatorServiceCreateDashboardLinkProcedure: {
		RoleOperator,
	},

	// The share asset: the operator mints it, providers see it.
	sluicerpcconnect.SharesServiceGenesisProcedure: {RoleOperator},
	sluicerpcconnect.SharesServiceGetSharesProcedure: {
		RoleOperator, RoleProvider,
	},
	// Withdrawals: a provider its own (provider_id is checked), the
	// operator any provider's.
	sluicerpcconnect.SharesServiceSetWithdrawAddressProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.SharesServiceWithdrawProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.SharesServiceListWithdrawalsProcedure: {
		RoleOperator, RoleProvider,
	},
	// Deposits: likewise.
	sluicerpcconnect.SharesServiceGetDepositAddressProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.SharesServiceListDepositsProcedure: {
		RoleOperator, RoleProvider,
	},

	// The vault: the whole is open to the operator and providers, a
	// provider acts on and sees its own shares only (the interceptor
	// checks provider_id, the handlers the rest); policy and shutdown
	// are the operator's.
	sluicerpcconnect.VaultServiceGetVaultProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceListEpochsProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceGetEpochProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceGetHoldingProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceStakeProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceSetAutoStakeProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceRedeemProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceCancelRedeemProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceListRedemptionsProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceGetRewardProofProcedure: {
		RoleOperator, RoleProvider,
	},
	sluicerpcconnect.VaultServiceSetVaultPolicyProcedure: {
		RoleOperator,
	},
	sluicerpcconnect.VaultServiceShutdownProcedure: {
		RoleOperator,
	},

	// The yield strategies: the operator's alone.
	sluicerpcconnect.YieldServicePlanProcedure:           {RoleOperator},
	sluicerpcconnect.YieldServiceGetPlanProcedure:        {RoleOperator},
	sluicerpcconnect.YieldServiceApplyProcedure:          {RoleOperator},
	sluicerpcconnect.YieldServiceListActionsProcedure:    {RoleOperator},
	sluicerpcconnect.YieldServiceReportProcedure:         {RoleOperator},
	sluicerpcconnect.YieldServiceSetStrategyProcedure:    {RoleOperator},
	sluicerpcconnect.YieldServiceListStrategiesProcedure: {RoleOperator},
	// Leases: any buyer may ask for the terms, order a lease for any
	// node and read a lease by its id (the id is the order's secret);
	// the operator alone lists them.
	sluicerpcconnect.LeaseServiceGetLeaseInfoProcedure: {
		RoleOperator, RoleBuyer,
	},
	sluicerpcconnect.LeaseServiceCreateLeaseProcedure: {
		RoleOperator, RoleBuyer,
	},
	sluicerpcconnect.LeaseServiceGetLeaseProcedure: {
		RoleOperator, RoleBuyer,
	},
	sluicerpcconnect.LeaseServiceListLeasesProcedure: {
		RoleOperator,
	},

	// The market: a provider's agent heartbeats for its own provider
	// (provider_id is checked); buyers and the operator see the offers
	// and ask for dry-run placements; a record is anyone's to read (a
	// provider's own only, by provider_id).
	sluicerpcconnect.MarketServiceHeartbeatProcedure: {RoleProvider},
	sluicerpcconnect.MarketServiceListOffersProcedure: {
		RoleOperator, RoleBuyer,
	},
	sluicerpcconnect.MarketServiceGetRecordProcedure: {
		RoleOperator, RoleBuyer, RoleProvider,
	},
	sluicerpcconnect.MarketServicePlaceDryRunProcedure: {
		RoleOperator, RoleBuyer,
	},
}

// Caller is who made a call, as its macaroon says.
type Caller struct {
	// Role is the macaroon's role.
	Role Role

	// ProviderID is the provider a provider macaroon is bound to; empty
	// for other roles.
	ProviderID string

	// BuyerID is the buyer a buyer macaroon is bound to; empty for other
	// roles.
	BuyerID string

	// AgentKey is the agent key of the link that minted a provider
	// macaroon; zero for other roles.
	AgentKey channels.AgentKey
}

// callerKey is the context key of the Caller.
type callerKey struct{}

// CallerFrom returns the authenticated caller of the call whose context this
// is; false outside a call that passed the auth interceptor.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// withCaller returns ctx carrying c.
func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// ProviderScoped is met by request messages that act on one provider's
// data: every message with a `string provider_id` field. For unary calls the
// auth interceptor checks the field against a provider macaroon's caveat
// before the handler runs.
type ProviderScoped interface {
	GetProviderId() string
}

// AuthorizeProvider returns nil if the caller of ctx may act on providerID:
// operators and buyers may (the permission table has already decided
// whether their role may call the method at all), a provider only on its
// own id. Unary requests with a provider_id field are checked automatically;
// handlers call this for ids that arrive otherwise, such as in the messages
// of a stream. The error is a connect error, ready to return.
func AuthorizeProvider(ctx context.Context, providerID string) error {
	c, ok := CallerFrom(ctx)
	if !ok {
		return connect.NewError(connect.CodeInternal, ErrNoCaller)
	}
	return checkProviderScope(c, providerID)
}

// checkProviderScope returns a PermissionDenied error when c is a provider
// and providerID is not its own.
func checkProviderScope(c Caller, providerID string) error {
	if c.Role != RoleProvider || providerID == c.ProviderID {
		return nil
	}
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
		"%w: the request names provider_id %q, the macaroon is bound "+
			"to %q", ErrWrongProvider, providerID, c.ProviderID,
	))
}

// authInterceptor authenticates every call by its macaroon, refuses roles
// the permission table does not allow, puts the Caller in the context, and
// checks provider-scoped requests against a provider macaroon.
type authInterceptor struct {
	macaroons   *macaroonService
	permissions map[string][]Role
	now         func() time.Time

	// links checks provider macaroons against the provider's current
	// link; nil checks nothing.
	links *linkCache
}

var _ connect.Interceptor = (*authInterceptor)(nil)

// forgetLink drops what is known of a provider's link: it has just linked
// again.
func (a *authInterceptor) forgetLink(providerID string) {
	if a.links != nil {
		a.links.forget(providerID)
	}
}

// authorize returns ctx with the caller of procedure added, or a connect
// error saying why the call is refused.
func (a *authInterceptor) authorize(ctx context.Context, procedure string,
	header http.Header) (context.Context, Caller, error) {

	roles, known := a.permissions[procedure]
	isOpen := slices.Contains(roles, RoleAnonymous)
	macHeader := header.Get(sluicerpc.MacaroonHeader)
	if isOpen && macHeader == "" {
		caller := Caller{Role: RoleAnonymous}
		return withCaller(ctx, caller), caller, nil
	}

	caller, err := a.macaroons.verify(macHeader, a.now())
	if err != nil {
		log.Debugf("Refused %s: %v", procedure, err)
		return ctx, Caller{}, connect.NewError(
			connect.CodeUnauthenticated, err,
		)
	}

	if caller.Role == RoleProvider && a.links != nil {
		if err := a.links.check(ctx, caller); err != nil {
			log.Debugf("Refused %s: %v", procedure, err)
			return ctx, Caller{}, connect.NewError(
				connect.CodeUnauthenticated, err,
			)
		}
	}

	if !known {
		log.Errorf("Refused %s: no entry in the permission table",
			procedure)
		return ctx, Caller{}, connect.NewError(
			connect.CodePermissionDenied, fmt.Errorf("%w: %s is "+
				"open to no role", ErrRoleNotAllowed, procedure),
		)
	}
	if !isOpen && !slices.Contains(roles, caller.Role) {
		log.Debugf("Refused %s to role %s", procedure, caller.Role)
		return ctx, Caller{}, connect.NewError(
			connect.CodePermissionDenied, fmt.Errorf("%w: a %s "+
				"macaroon may not call %s (allowed: %v)",
				ErrRoleNotAllowed, caller.Role, procedure,
				roles),
		)
	}
	return withCaller(ctx, caller), caller, nil
}

// WrapUnary authenticates a unary call and checks a provider-scoped request.
func (a *authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (
		connect.AnyResponse, error) {

		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, caller, err := a.authorize(
			ctx, req.Spec().Procedure, req.Header(),
		)
		if err != nil {
			return nil, err
		}
		if scoped, ok := req.Any().(ProviderScoped); ok {
			err := checkProviderScope(caller, scoped.GetProviderId())
			if err != nil {
				log.Debugf("Refused %s: %v", req.Spec().Procedure,
					err)
				return nil, err
			}
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient leaves client streams alone: this interceptor is for
// the server.
func (a *authInterceptor) WrapStreamingClient(
	next connect.StreamingClientFunc) connect.StreamingClientFunc {

	return next
}

// WrapStreamingHandler authenticates a stream when it opens. Messages
// arrive later, so a streaming handler checks provider ids itself with
// AuthorizeProvider.
func (a *authInterceptor) WrapStreamingHandler(
	next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {

	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, _, err := a.authorize(
			ctx, conn.Spec().Procedure, conn.RequestHeader(),
		)
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
