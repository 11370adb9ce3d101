package rpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Test-only procedures, served through the real auth interceptor with the
// test permission table below.
const (
	procOperatorOnly = "/sluicerpc.Test/OperatorOnly"
	procProviderEcho = "/sluicerpc.Test/ProviderEcho"
	procUnlisted     = "/sluicerpc.Test/Unlisted"
)

var testPermissions = map[string][]Role{
	procOperatorOnly: {RoleOperator},
	procProviderEcho: {RoleOperator, RoleProvider},
}

// echoRequest stands for a provider-scoped request message.
type echoRequest struct {
	ProviderID string `json:"provider_id"`
}

// GetProviderId makes echoRequest ProviderScoped, as the generated getter
// does for protobuf messages with a provider_id field.
func (r *echoRequest) GetProviderId() string { return r.ProviderID }

// echoResponse reports the caller the handler saw.
type echoResponse struct {
	Role       string `json:"role"`
	ProviderID string `json:"provider_id"`
}

// plainJSONCodec lets the test methods use Go structs instead of protobuf
// messages.
type plainJSONCodec struct{}

func (plainJSONCodec) Name() string                  { return "json" }
func (plainJSONCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }
func (plainJSONCodec) Unmarshal(b []byte, v any) error {
	return json.Unmarshal(b, v)
}

// startAuthTestServer serves the test procedures through an authInterceptor
// over plain HTTP (TLS is not what this test is about).
func startAuthTestServer(t *testing.T, macs *macaroonService) string {
	t.Helper()
	auth := &authInterceptor{
		macaroons:   macs,
		permissions: testPermissions,
		now:         time.Now,
	}
	echo := func(ctx context.Context, _ *connect.Request[echoRequest]) (
		*connect.Response[echoResponse], error) {

		c, ok := CallerFrom(ctx)
		if !ok {
			return nil, errors.New("handler ran without a caller")
		}
		return connect.NewResponse(&echoResponse{
			Role: string(c.Role), ProviderID: c.ProviderID,
		}), nil
	}
	opts := []connect.HandlerOption{
		connect.WithInterceptors(auth), connect.WithCodec(plainJSONCodec{}),
	}
	mux := http.NewServeMux()
	for _, p := range []string{procOperatorOnly, procProviderEcho, procUnlisted} {
		mux.Handle(p, connect.NewUnaryHandler(p, echo, opts...))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAuthInterceptor checks the permission table and the provider binding
// through the interceptor, end to end over HTTP.
func TestAuthInterceptor(t *testing.T) {
	macs, err := newMacaroonService(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	url := startAuthTestServer(t, macs)

	bake := func(role Role) string {
		m, err := macs.bake(role)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		return hex.EncodeToString(raw)
	}
	provider := func(id string) string {
		_, agent := testKeys(t)
		raw, err := macs.bakeProvider(id, agent)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(raw)
	}
	operator := bake(RoleOperator)
	rawBuyer, err := macs.bakeBuyer("buyer-1")
	if err != nil {
		t.Fatal(err)
	}
	buyer := hex.EncodeToString(rawBuyer)
	providerA := provider("A")

	tests := []struct {
		name       string
		procedure  string
		mac        string
		providerID string
		wantCode   connect.Code
		wantErr    error
		wantRole   Role
	}{
		{"operator may call operator-only", procOperatorOnly,
			operator, "", 0, nil, RoleOperator},
		{"buyer may not call operator-only", procOperatorOnly,
			buyer, "", connect.CodePermissionDenied,
			ErrRoleNotAllowed, ""},
		{"provider may not call operator-only", procOperatorOnly,
			providerA, "", connect.CodePermissionDenied,
			ErrRoleNotAllowed, ""},
		{"provider A acts for A", procProviderEcho,
			providerA, "A", 0, nil, RoleProvider},
		{"provider A acts for B", procProviderEcho,
			providerA, "B", connect.CodePermissionDenied,
			ErrWrongProvider, ""},
		{"provider A names no provider", procProviderEcho,
			providerA, "", connect.CodePermissionDenied,
			ErrWrongProvider, ""},
		{"operator acts for any provider", procProviderEcho,
			operator, "B", 0, nil, RoleOperator},
		{"buyer not allowed on provider method", procProviderEcho,
			buyer, "A", connect.CodePermissionDenied,
			ErrRoleNotAllowed, ""},
		{"unlisted method closed to operator", procUnlisted,
			operator, "", connect.CodePermissionDenied,
			ErrRoleNotAllowed, ""},
		{"no macaroon", procOperatorOnly,
			"", "", connect.CodeUnauthenticated, ErrNoMacaroon, ""},
		{"provider A's caveat edited to B", procProviderEcho,
			strings.Replace(providerA,
				hex.EncodeToString([]byte("provider_id A")),
				hex.EncodeToString([]byte("provider_id B")), 1),
			"B", connect.CodeUnauthenticated, ErrInvalidMacaroon, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := connect.NewClient[echoRequest, echoResponse](
				http.DefaultClient, url+tc.procedure,
				connect.WithCodec(plainJSONCodec{}),
			)
			req := connect.NewRequest(&echoRequest{
				ProviderID: tc.providerID,
			})
			if tc.mac != "" {
				req.Header().Set(sluicerpc.MacaroonHeader, tc.mac)
			}
			resp, err := client.CallUnary(context.Background(), req)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				if resp.Msg.Role != string(tc.wantRole) {
					t.Errorf("handler saw role %q, want %q",
						resp.Msg.Role, tc.wantRole)
				}
				return
			}
			if got := connect.CodeOf(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err,
					tc.wantCode)
			}
			if tc.wantErr != nil &&
				!strings.Contains(err.Error(), tc.wantErr.Error()) {

				t.Errorf("error %q does not say %q", err,
					tc.wantErr)
			}
		})
	}
}

// TestCheckProviderScope unit-tests the provider binding.
func TestCheckProviderScope(t *testing.T) {
	tests := []struct {
		name   string
		caller Caller
		id     string
		ok     bool
	}{
		{"provider own id", Caller{Role: RoleProvider, ProviderID: "A"}, "A", true},
		{"provider other id", Caller{Role: RoleProvider, ProviderID: "A"}, "B", false},
		{"provider empty id", Caller{Role: RoleProvider, ProviderID: "A"}, "", false},
		{"provider id prefix", Caller{Role: RoleProvider, ProviderID: "A"}, "AA", false},
		{"operator any id", Caller{Role: RoleOperator}, "B", true},
		{"buyer any id", Caller{Role: RoleBuyer}, "B", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := AuthorizeProvider(
				withCaller(context.Background(), tc.caller), tc.id,
			)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if connect.CodeOf(err) != connect.CodePermissionDenied ||
				!errors.Is(err, ErrWrongProvider) {

				t.Fatalf("err %v, want permission denied", err)
			}
		})
	}

	err := AuthorizeProvider(context.Background(), "A")
	if !errors.Is(err, ErrNoCaller) {
		t.Errorf("without a caller: %v, want ErrNoCaller", err)
	}
}

// TestBakeProviderMacaroonID checks which provider ids can be baked.
func TestBakeProviderMacaroonID(t *testing.T) {
	macs, err := newMacaroonService(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id string
		ok bool
	}{
		{"A", true},
		{"02" + strings.Repeat("ab", 32), true},
		{"prov_1-x.y:z", true},
		{strings.Repeat("x", maxProviderIDLen), true},
		{"", false},
		{strings.Repeat("x", maxProviderIDLen+1), false},
		{"a b", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"tab\t", false},
	}
	for _, tc := range tests {
		_, agent := testKeys(t)
		raw, err := macs.bakeProvider(tc.id, agent)
		if !tc.ok {
			if !errors.Is(err, ErrInvalidProviderID) {
				t.Errorf("%q: err %v, want ErrInvalidProviderID",
					tc.id, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.id, err)
			continue
		}
		caller, err := macs.verify(hex.EncodeToString(raw), time.Now())
		if err != nil {
			t.Errorf("%q: baked macaroon does not verify: %v", tc.id,
				err)
			continue
		}
		if caller != (Caller{Role: RoleProvider, ProviderID: tc.id,
			AgentKey: agent}) {
			t.Errorf("%q: caller %+v", tc.id, caller)
		}
	}
}

// TestPermissionsCoverEveryMethod fails when a method of a service has no
// entry in the permission table (it would be closed to everyone) or the
// table names a method that does not exist.
func TestPermissionsCoverEveryMethod(t *testing.T) {
	seen := map[string]bool{}
	files := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("sluicerpc",
		func(f protoreflect.FileDescriptor) bool {
			files++
			services := f.Services()
			for i := 0; i < services.Len(); i++ {
				svc := services.Get(i)
				methods := svc.Methods()
				for j := 0; j < methods.Len(); j++ {
					proc := procedure(svc, methods.Get(j))
					seen[proc] = true
					if len(permissions[proc]) == 0 {
						t.Errorf("%s has no roles in "+
							"the permission table",
							proc)
					}
				}
			}
			return true
		})
	// Every .proto of the package registers itself; sluice.proto and
	// provider.proto at least.
	if files < 2 {
		t.Errorf("found %d files of package sluicerpc", files)
	}
	_ = sluicerpc.File_sluicerpc_sluice_proto
	for proc := range permissions {
		if !seen[proc] {
			t.Errorf("permission table names %s, which no service "+
				"has", proc)
		}
	}
}

func procedure(svc protoreflect.ServiceDescriptor,
	m protoreflect.MethodDescriptor) string {

	return "/" + string(svc.FullName()) + "/" + string(m.Name())
}

// TestProviderMacaroonNeedsAgentKey checks the agent_key caveat: a provider
// macaroon without one, with two that disagree, or with a key that is not
// one, is refused, and so is the caveat on another role's macaroon.
func TestProviderMacaroonNeedsAgentKey(t *testing.T) {
	macs, err := newMacaroonService(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, agent := testKeys(t)
	tests := []struct {
		name    string
		role    Role
		caveats []string
	}{
		{"no agent_key", RoleProvider, []string{"provider_id p1"}},
		{"two agent keys", RoleProvider, []string{"provider_id p1",
			"agent_key " + agent.String(),
			"agent_key " + strings.Repeat("ab", 32)}},
		{"not a key", RoleProvider, []string{"provider_id p1",
			"agent_key nothex"}},
		{"on a buyer macaroon", RoleBuyer, []string{"buyer_id b1",
			"agent_key " + agent.String()}},
	}
	for _, tc := range tests {
		m, err := macs.bake(tc.role, tc.caveats...)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		_, err = macs.verify(hex.EncodeToString(raw), time.Now())
		if !errors.Is(err, ErrCaveatFailed) {
			t.Errorf("%s: %v, want ErrCaveatFailed", tc.name, err)
		}
	}
}
