package lndtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/verrpc"
	"github.com/lightningnetwork/lnd/rpcperms"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// ErrMacaroonRefused is what GetInfo answers when Options.RefuseMacaroon is
// set; the text is what lnd answers for a macaroon it did not bake.
var ErrMacaroonRefused = errors.New("verification failed: signature " +
	"mismatch after caveat verification")

// Options choose the fake lnd's answers. The zero value is a healthy
// regtest lnd v0.21.0-beta with every sub-server and an unlocked wallet.
type Options struct {
	// Network is what GetInfo reports; regtest when empty.
	Network string

	// Version is what GetVersion reports; DefaultVersion when nil.
	Version *verrpc.Version

	// WalletState is lnd's state. Its zero value, NON_EXISTING, stands
	// for SERVER_ACTIVE here so that the zero Options are healthy; set
	// NoWallet for an lnd without a wallet.
	WalletState lnrpc.WalletState

	// NoWallet makes the fake an lnd that has no wallet yet.
	NoWallet bool

	// RefuseMacaroon makes GetInfo fail as lnd does for a macaroon it
	// did not bake.
	RefuseMacaroon bool

	// VersionUnimplemented makes GetVersion unimplemented, as in lnd
	// before v0.10.0.
	VersionUnimplemented bool

	// TapdNetwork, when set, makes the fake a tapd too: taprpc's GetInfo
	// answers it as tapd's network.
	TapdNetwork string

	// NodeKey is the node's identity key; a fresh one when nil. A
	// caller that signs as the node (invoices) passes its own.
	NodeKey *btcec.PrivateKey

	// Lightning, when set, answers every Lightning call but GetInfo,
	// which stays the fake's own; unimplemented otherwise.
	Lightning lnrpc.LightningServer

	// Register, when set, registers more services (routerrpc,
	// invoicesrpc, ...) on the fake's gRPC server before it serves.
	Register func(*grpc.Server)
}

// DefaultVersion is lnd v0.21.0-beta as built by devnet.
func DefaultVersion() *verrpc.Version {
	return &verrpc.Version{
		Version:       "0.21.0-beta",
		AppMajor:      0,
		AppMinor:      21,
		AppPatch:      0,
		AppPreRelease: "beta",
		BuildTags: []string{
			"signrpc", "walletrpc", "chainrpc", "invoicesrpc",
			"routerrpc", "peersrpc",
		},
	}
}

// Server is a running fake lnd.
type Server struct {
	// Host is its gRPC address, 127.0.0.1:port.
	Host string

	// TLSCertPath is its TLS certificate.
	TLSCertPath string

	// MacaroonDir holds admin.macaroon and readonly.macaroon (opaque
	// bytes: the fake checks none).
	MacaroonDir string

	// MacaroonPath is MacaroonDir/admin.macaroon.
	MacaroonPath string

	// Pubkey is the node's compressed identity key.
	Pubkey [33]byte

	opts Options
	grpc *grpc.Server

	mu    sync.Mutex
	calls map[string]int
}

// Start runs a fake lnd on 127.0.0.1 with its files in a temporary
// directory; it stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()

	if opts.Network == "" {
		opts.Network = "regtest"
	}
	if opts.Version == nil {
		opts.Version = DefaultVersion()
	}
	switch {
	case opts.NoWallet:
		opts.WalletState = lnrpc.WalletState_NON_EXISTING
	case opts.WalletState == lnrpc.WalletState_NON_EXISTING:
		opts.WalletState = lnrpc.WalletState_SERVER_ACTIVE
	}

	dir := t.TempDir()
	s := &Server{
		TLSCertPath:  filepath.Join(dir, "tls.cert"),
		MacaroonDir:  filepath.Join(dir, "macaroons"),
		MacaroonPath: filepath.Join(dir, "macaroons", "admin.macaroon"),
		opts:         opts,
		calls:        make(map[string]int),
	}

	cert, err := writeSelfSignedCert(s.TLSCertPath)
	if err != nil {
		t.Fatalf("lndtest: TLS certificate: %v", err)
	}
	if err := os.MkdirAll(s.MacaroonDir, 0o700); err != nil {
		t.Fatalf("lndtest: %v", err)
	}
	for _, name := range []string{"admin.macaroon", "readonly.macaroon"} {
		err := os.WriteFile(
			filepath.Join(s.MacaroonDir, name), []byte(name), 0o600,
		)
		if err != nil {
			t.Fatalf("lndtest: %v", err)
		}
	}

	key := opts.NodeKey
	if key == nil {
		key, err = btcec.NewPrivateKey()
		if err != nil {
			t.Fatalf("lndtest: node key: %v", err)
		}
	}
	copy(s.Pubkey[:], key.PubKey().SerializeCompressed())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("lndtest: listen: %v", err)
	}
	s.Host = ln.Addr().String()

	s.grpc = grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(
		&cert,
	)))
	lnrpc.RegisterStateServer(s.grpc, &stateServer{s: s})
	var rest lnrpc.LightningServer = lnrpc.UnimplementedLightningServer{}
	if opts.Lightning != nil {
		rest = opts.Lightning
	}
	lnrpc.RegisterLightningServer(s.grpc, &lightningServer{
		LightningServer: rest, s: s,
	})
	verrpc.RegisterVersionerServer(s.grpc, &versionServer{s: s})
	if opts.TapdNetwork != "" {
		taprpc.RegisterTaprootAssetsServer(s.grpc, &tapdServer{s: s})
	}
	if opts.Register != nil {
		opts.Register(s.grpc)
	}

	go func() { _ = s.grpc.Serve(ln) }()
	t.Cleanup(s.grpc.Stop)

	return s
}

// Calls is how often the fake answered the named method ("GetInfo",
// "GetVersion", "SubscribeState", "GetState").
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.calls[method]
}

func (s *Server) count(method string) {
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
}

// stateErr is lnd's answer to a non-State call in the current wallet
// state, as lnd's rpcperms interceptor gives it; nil once the RPC server is
// active.
func (s *Server) stateErr() error {
	switch s.opts.WalletState {
	case lnrpc.WalletState_WAITING_TO_START:
		return rpcperms.ErrWaitingToStart
	case lnrpc.WalletState_NON_EXISTING:
		return rpcperms.ErrNoWallet
	case lnrpc.WalletState_LOCKED:
		return rpcperms.ErrWalletLocked
	case lnrpc.WalletState_UNLOCKED:
		return rpcperms.ErrRPCStarting
	}

	return nil
}

type stateServer struct {
	lnrpc.UnimplementedStateServer
	s *Server
}

// SubscribeState sends the wallet state and waits for the client to go.
func (st *stateServer) SubscribeState(_ *lnrpc.SubscribeStateRequest,
	stream lnrpc.State_SubscribeStateServer) error {

	st.s.count("SubscribeState")
	err := stream.Send(&lnrpc.SubscribeStateResponse{
		State: st.s.opts.WalletState,
	})
	if err != nil {
		return err
	}
	<-stream.Context().Done()

	return nil
}

// GetState returns the wallet state.
func (st *stateServer) GetState(context.Context,
	*lnrpc.GetStateRequest) (*lnrpc.GetStateResponse, error) {

	st.s.count("GetState")

	return &lnrpc.GetStateResponse{State: st.s.opts.WalletState}, nil
}

// lightningServer answers GetInfo itself and passes every other call to
// Options.Lightning.
type lightningServer struct {
	lnrpc.LightningServer
	s *Server
}

// GetInfo describes the fake node, or fails as lnd would in its state.
func (l *lightningServer) GetInfo(context.Context,
	*lnrpc.GetInfoRequest) (*lnrpc.GetInfoResponse, error) {

	l.s.count("GetInfo")
	if err := l.s.stateErr(); err != nil {
		return nil, err
	}
	if l.s.opts.RefuseMacaroon {
		return nil, ErrMacaroonRefused
	}

	return &lnrpc.GetInfoResponse{
		Version:        l.s.opts.Version.Version,
		IdentityPubkey: hex.EncodeToString(l.s.Pubkey[:]),
		Alias:          "lndtest",
		Color:          "#3399ff",
		BlockHeight:    550,
		BlockHash:      hex.EncodeToString(make([]byte, 32)),
		SyncedToChain:  true,
		SyncedToGraph:  true,
		Chains: []*lnrpc.Chain{{
			Chain:   "bitcoin",
			Network: l.s.opts.Network,
		}},
	}, nil
}

type versionServer struct {
	verrpc.UnimplementedVersionerServer
	s *Server
}

// GetVersion reports the configured version.
func (v *versionServer) GetVersion(context.Context,
	*verrpc.VersionRequest) (*verrpc.Version, error) {

	v.s.count("GetVersion")
	if v.s.opts.VersionUnimplemented {
		return nil, status.Error(codes.Unimplemented, "unknown service "+
			"verrpc.Versioner")
	}

	return v.s.opts.Version, nil
}

// tapdServer is the fake's tapd: GetInfo only.
type tapdServer struct {
	taprpc.UnimplementedTaprootAssetsServer
	s *Server
}

func (td *tapdServer) GetInfo(context.Context, *taprpc.GetInfoRequest) (
	*taprpc.GetInfoResponse, error) {

	td.s.count("tapd.GetInfo")
	return &taprpc.GetInfoResponse{Version: "0.8.0-alpha",
		Network: td.s.opts.TapdNetwork}, nil
}

// writeSelfSignedCert makes an ECDSA certificate for 127.0.0.1 and
// localhost, writes it in PEM to path and returns it with its key.
func writeSelfSignedCert(path string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"lndtest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})

	return tls.X509KeyPair(certPEM, keyPEM)
}

// FreeAddr returns a 127.0.0.1 address where nothing listens now: for the
// API, a second sluiced, or an address to find dead, beside a fake lnd.
func FreeAddr(t testing.TB) string {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	return addr
}
