package devnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lightninglabs/lndclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ProfileName is the file, inside a network's directory, that describes the
// running network.
const ProfileName = "profile.json"

// Network is the only bitcoin network a devnet runs.
const Network = "regtest"

// Role is what a Lightning node is for in the network.
type Role string

// The roles of the network's lnd nodes.
const (
	// RoleHub is the node sluiced uses: buyers pay it, it pays providers.
	RoleHub Role = "hub"

	// RoleProvider is a compute provider's node, paid by the hub.
	RoleProvider Role = "provider"

	// RoleBuyer is a job buyer's node, which pays the hub's invoices.
	RoleBuyer Role = "buyer"
)

// Names of the nodes every network has.
const (
	NodeBtcd      = "btcd"
	NodeMiner     = "miner"
	NodeHub       = "hub"
	NodeProvider1 = "provider1"
	NodeProvider2 = "provider2"
	NodeBuyer     = "buyer"
)

// ErrNoProfile is returned by LoadProfile when the directory holds no
// profile: no network was brought up there, or bring-up did not finish.
var ErrNoProfile = errors.New("no devnet profile")

// ErrUnknownNode is returned when a profile has no node of a given name.
var ErrUnknownNode = errors.New("unknown devnet node")

// Profile describes a running network: where each daemon listens and the
// files a client needs to talk to it. sluiced, the sluice CLI and the tests
// read it instead of copying paths by hand.
type Profile struct {
	// Dir is the network's directory; all its data lives below it.
	Dir string `json:"dir"`

	// Network is the bitcoin network, always "regtest".
	Network string `json:"network"`

	// CreatedAt is when bring-up finished.
	CreatedAt time.Time `json:"created_at"`

	// PortBase is the first port of the network's block of ports.
	PortBase int `json:"port_base"`

	// Btcd is the chain backend every lnd uses.
	Btcd BtcdNode `json:"btcd"`

	// Miner is a second btcd, connected to Btcd over p2p, that mines
	// blocks paying the hub's wallet.
	Miner BtcdNode `json:"miner"`

	// Nodes are the lnd nodes: hub, provider1, provider2, buyer.
	Nodes []LndNode `json:"nodes"`

	// Sluiced suggests where a sluiced on this network keeps its data and
	// listens.
	Sluiced SluicedConfig `json:"sluiced"`
}

// BtcdNode is one btcd process.
type BtcdNode struct {
	Name        string `json:"name"`
	RPCHost     string `json:"rpc_host"`
	P2PHost     string `json:"p2p_host"`
	RPCUser     string `json:"rpc_user"`
	RPCPass     string `json:"rpc_pass"`
	TLSCertPath string `json:"tls_cert_path"`
	Dir         string `json:"dir"`
	LogPath     string `json:"log_path"`

	// MiningAddr is where generated blocks pay (the miner: the hub's
	// wallet).
	MiningAddr string `json:"mining_addr,omitempty"`
}

// LndNode is one lnd process and, when it has one, its tapd.
type LndNode struct {
	Name              string `json:"name"`
	Role              Role   `json:"role"`
	PubKey            string `json:"pubkey"`
	RPCHost           string `json:"rpc_host"`
	RESTHost          string `json:"rest_host"`
	P2PHost           string `json:"p2p_host"`
	TLSCertPath       string `json:"tls_cert_path"`
	AdminMacaroonPath string `json:"admin_macaroon_path"`
	Dir               string `json:"dir"`
	LogPath           string `json:"log_path"`

	// Tapd is the node's Taproot Assets daemon; nil when it has none.
	Tapd *TapdNode `json:"tapd,omitempty"`
}

// TapdNode is one tapd process.
type TapdNode struct {
	Name              string `json:"name"`
	RPCHost           string `json:"rpc_host"`
	RESTHost          string `json:"rest_host"`
	TLSCertPath       string `json:"tls_cert_path"`
	AdminMacaroonPath string `json:"admin_macaroon_path"`
	Dir               string `json:"dir"`
	LogPath           string `json:"log_path"`

	// ProofCourierAddr is the universerpc:// address every tapd of the
	// network delivers proofs through (the hub's tapd).
	ProofCourierAddr string `json:"proof_courier_addr"`
}

// SluicedConfig is where a sluiced on this network should live. Nothing is
// started there by bring-up.
type SluicedConfig struct {
	// Dir is a data directory reserved for sluiced.
	Dir string `json:"dir"`

	// ConfigPath is the suggested sluice.conf path.
	ConfigPath string `json:"config_path"`

	// RPCListen is a free 127.0.0.1 port in the network's block.
	RPCListen string `json:"rpc_listen"`
}

// LoadProfile reads dir/profile.json. It returns ErrNoProfile when there is
// none.
func LoadProfile(dir string) (*Profile, error) {
	path := filepath.Join(dir, ProfileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (run `sluice devnet up`)",
			ErrNoProfile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load profile: %w", err)
	}
	var p Profile
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("load profile %s: %w", path, err)
	}
	return &p, nil
}

// write stores the profile atomically as dir/profile.json.
func (p *Profile) write() error {
	raw, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	path := filepath.Join(p.Dir, ProfileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	return nil
}

// Node returns the lnd node with the given name.
func (p *Profile) Node(name string) (*LndNode, error) {
	for i := range p.Nodes {
		if p.Nodes[i].Name == name {
			return &p.Nodes[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownNode, name)
}

// Hub returns the hub node, the one sluiced uses.
func (p *Profile) Hub() (*LndNode, error) {
	return p.Node(NodeHub)
}

// NodesWithRole returns the lnd nodes that have the given role, in profile
// order.
func (p *Profile) NodesWithRole(role Role) []*LndNode {
	var nodes []*LndNode
	for i := range p.Nodes {
		if p.Nodes[i].Role == role {
			nodes = append(nodes, &p.Nodes[i])
		}
	}
	return nodes
}

// Dial opens a gRPC connection to the node's lnd with its TLS certificate and
// admin macaroon. Use it with lnrpc.NewLightningClient and the sub-server
// clients. The caller closes the connection.
func (n *LndNode) Dial() (*grpc.ClientConn, error) {
	conn, err := dialTLS(n.RPCHost, n.TLSCertPath, n.AdminMacaroonPath)
	if err != nil {
		return nil, fmt.Errorf("dial lnd %s: %w", n.Name, err)
	}
	return conn, nil
}

// Services connects lndclient to the node, as sluiced does. The caller
// calls Close on the result.
func (n *LndNode) Services(ctx context.Context) (*lndclient.GrpcLndServices,
	error) {

	svc, err := lndclient.NewLndServices(&lndclient.LndServicesConfig{
		LndAddress:         n.RPCHost,
		Network:            lndclient.NetworkRegtest,
		CustomMacaroonPath: n.AdminMacaroonPath,
		TLSPath:            n.TLSCertPath,
		CallerCtx:          ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("lndclient for %s: %w", n.Name, err)
	}
	return svc, nil
}

// Dial opens a gRPC connection to the tapd with its TLS certificate and
// admin macaroon. Use it with taprpc.NewTaprootAssetsClient and friends.
func (t *TapdNode) Dial() (*grpc.ClientConn, error) {
	conn, err := dialTLS(t.RPCHost, t.TLSCertPath, t.AdminMacaroonPath)
	if err != nil {
		return nil, fmt.Errorf("dial tapd %s: %w", t.Name, err)
	}
	return conn, nil
}

// maxMsgSize lets large answers (the graph, long payment lists) through.
const maxMsgSize = 64 << 20

// dialTLS connects to a gRPC server on host with a certificate file and a
// macaroon file. The connection is lazy: errors of the server show on the
// first call.
func dialTLS(host, certPath, macPath string) (*grpc.ClientConn, error) {
	creds, err := credentials.NewClientTLSFromFile(certPath, "")
	if err != nil {
		return nil, fmt.Errorf("tls cert: %w", err)
	}
	mac, err := os.ReadFile(macPath)
	if err != nil {
		return nil, fmt.Errorf("macaroon: %w", err)
	}
	return grpc.NewClient(host,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(macaroonCred(hex.EncodeToString(mac))),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize)),
	)
}

// macaroonCred sends a hex macaroon in the "macaroon" metadata, as lnd and
// tapd expect.
type macaroonCred string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (m macaroonCred) GetRequestMetadata(context.Context, ...string) (
	map[string]string, error) {

	return map[string]string{"macaroon": string(m)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (m macaroonCred) RequireTransportSecurity() bool { return true }

// SluicedArgs are the command-line flags that run sluiced on this network:
// its data directory and API port from the Sluiced section, the hub's lnd,
// and the hub's tapd.
func (p *Profile) SluicedArgs() ([]string, error) {
	hub, err := p.Hub()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--datadir=" + p.Sluiced.Dir,
		"--network=" + p.Network,
		"--rpclisten=" + p.Sluiced.RPCListen,
		"--lnd.host=" + hub.RPCHost,
		"--lnd.tlspath=" + hub.TLSCertPath,
		"--lnd.macaroonpath=" + hub.AdminMacaroonPath,
	}
	if hub.Tapd != nil {
		args = append(args,
			"--tapd.host="+hub.Tapd.RPCHost,
			"--tapd.tlspath="+hub.Tapd.TLSCertPath,
			"--tapd.macaroonpath="+hub.Tapd.AdminMacaroonPath,
		)
	}
	return args, nil
}
