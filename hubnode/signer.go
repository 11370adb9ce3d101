package hubnode

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/routing/route"
	"google.golang.org/grpc"
)

// NodeSigner signs messages with a Lightning node's identity key through
// its lnd's SignMessage. The provider's CLI uses it to prove to Sluice that
// it controls the node it links; it is a plain lnd connection, without the
// version and sub-server checks sluiced's own hub connection makes.
type NodeSigner struct {
	conn   *grpc.ClientConn
	client lnrpc.LightningClient
}

// DialNodeSigner connects to the lnd at host (host:port) with its TLS
// certificate and a macaroon that may call GetInfo and SignMessage (the
// admin macaroon, or one baked for message:write and info:read). network is
// lnd's network (regtest, testnet, mainnet, ...). Nothing is sent until the
// first call.
func DialNodeSigner(host, tlsPath, macaroonPath, network string) (
	*NodeSigner, error) {

	conn, err := lndclient.NewBasicConn(
		host, tlsPath, filepath.Dir(macaroonPath), network,
		lndclient.MacFilename(filepath.Base(macaroonPath)),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to lnd at %s: %w", host, err)
	}
	return &NodeSigner{conn: conn, client: lnrpc.NewLightningClient(conn)}, nil
}

// IdentityPubkey returns the node's identity key, as GetInfo reports it.
func (s *NodeSigner) IdentityPubkey(ctx context.Context) (route.Vertex,
	error) {

	info, err := s.client.GetInfo(ctx, &lnrpc.GetInfoRequest{})
	if err != nil {
		return route.Vertex{}, fmt.Errorf("lnd getinfo: %w", err)
	}
	raw, err := hex.DecodeString(info.IdentityPubkey)
	if err != nil {
		return route.Vertex{}, fmt.Errorf("lnd getinfo: identity "+
			"pubkey %q: %w", info.IdentityPubkey, err)
	}
	v, err := route.NewVertexFromBytes(raw)
	if err != nil {
		return route.Vertex{}, fmt.Errorf("lnd getinfo: identity "+
			"pubkey: %w", err)
	}
	return v, nil
}

// Alias returns the alias the node announces.
func (s *NodeSigner) Alias(ctx context.Context) (string, error) {
	info, err := s.client.GetInfo(ctx, &lnrpc.GetInfoRequest{})
	if err != nil {
		return "", fmt.Errorf("lnd getinfo: %w", err)
	}
	return info.Alias, nil
}

// SignMessage signs msg with the node's identity key in lnd's signed-message
// format and returns the zbase32 signature lnd answers with.
func (s *NodeSigner) SignMessage(ctx context.Context, msg []byte) (string,
	error) {

	resp, err := s.client.SignMessage(ctx, &lnrpc.SignMessageRequest{
		Msg: msg,
	})
	if err != nil {
		return "", fmt.Errorf("lnd signmessage: %w", err)
	}
	return resp.Signature, nil
}

// Close closes the connection.
func (s *NodeSigner) Close() error {
	return s.conn.Close()
}
