package channels

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/sluice-ln/sluice/keyfile"
)

// AgentKeyFileName is the agent key file's name in the provider's
// <sluicedir>/<network> directory.
const AgentKeyFileName = "agent.key"

// ErrBadAgentKeyFile is returned by ReadAgentKeyFile for a file that does
// not hold a key in the agent key file format.
var ErrBadAgentKeyFile = errors.New("bad agent key file")

// The agent key file holds the agent's 32-byte secp256k1 secret key as 64
// lower-case hex characters and a newline, mode 0600. Its public half, as a
// BIP-340 x-only key, is the AgentKey a link authorises; the agent signs
// usage with schnorr.Sign and the secret key.

// ReadAgentKeyFile reads an agent key file and returns the secret key and
// its public AgentKey.
func ReadAgentKeyFile(path string) (*btcec.PrivateKey, AgentKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, AgentKey{}, fmt.Errorf("read agent key: %w", err)
	}
	text := strings.TrimSpace(string(raw))
	secret, err := hex.DecodeString(text)
	if err != nil || len(secret) != 32 {
		return nil, AgentKey{}, fmt.Errorf("%w: %s must hold 64 hex "+
			"characters", ErrBadAgentKeyFile, path)
	}
	priv, _ := btcec.PrivKeyFromBytes(secret)
	if priv.Key.IsZero() {
		return nil, AgentKey{}, fmt.Errorf("%w: %s holds a zero key",
			ErrBadAgentKeyFile, path)
	}
	pub, err := ParseAgentKey(schnorr.SerializePubKey(priv.PubKey()))
	if err != nil {
		return nil, AgentKey{}, fmt.Errorf("%w: %s: %w",
			ErrBadAgentKeyFile, path, err)
	}
	return priv, pub, nil
}

// NewAgentKeyFile makes a new agent key and writes it to path (mode 0600,
// through a temporary file and a rename, so a crash leaves the old file or
// the new one, never half of one). It refuses to replace an existing file
// unless replace is true.
func NewAgentKeyFile(path string, replace bool) (*btcec.PrivateKey,
	AgentKey, error) {

	if !replace {
		if _, err := os.Stat(path); err == nil {
			return nil, AgentKey{}, fmt.Errorf("agent key %s exists "+
				"already", path)
		}
	}
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, AgentKey{}, fmt.Errorf("new agent key: %w", err)
	}
	pub, err := ParseAgentKey(schnorr.SerializePubKey(priv.PubKey()))
	if err != nil {
		return nil, AgentKey{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, AgentKey{}, fmt.Errorf("agent key directory: %w",
			err)
	}
	data := []byte(hex.EncodeToString(priv.Serialize()) + "\n")
	if err := keyfile.Write(path, data); err != nil {
		return nil, AgentKey{}, fmt.Errorf("write agent key %s: %w",
			path, err)
	}
	return priv, pub, nil
}
