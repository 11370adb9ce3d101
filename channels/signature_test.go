package channels_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/keychain"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/tv42/zbase32"
)

// keyOf returns the private key whose 32 bytes all equal b, and its node
// key.
func keyOf(b byte) (*btcec.PrivateKey, route.Vertex) {
	priv, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{b}, 32))
	return priv, route.NewVertex(pub)
}

// signatureVectors are signatures in lnd's signed-message format, made once
// with SignNodeMessage (RFC 6979 signatures are deterministic) and checked
// against lnd's own signer by TestSignNodeMessageMatchesLnd.
var signatureVectors = []struct {
	key  byte
	node string
	msg  string
	sig  string
}{
	{0x01, "031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f",
		"", "rbr96u1krn98kzxtspe73t77sa5cbkuoz9pxrxn6zsxdhytj176p4yrebibud7zc1c54qtu3aexdz1tw4pqmxp1i75drwwdtmpdar3oy"},
	{0x01, "031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f",
		"hello", "d94xfniumtgd4d1rzysuui3asezad6boswomooa4gykdkusuxbqkk7jkras6e3tpd6rtxuzepqhzpgxi1hqqwhtcp4e4sn5dnkutb8t7"},
	{0x02, "024d4b6cd1361032ca9bd2aeb9d900aa4d45d9ead80ac9423374c451a7254d0766",
		"hello", "dha7muqsjw89jbb51ozmyhtzmt3u5s1jgrf3yq98hnj3ehyb8ig66gkfo7xsnui9bkwu16ingciqkqe4amwoa6xfthhnwnue4s4baaty"},
	{0x02, "024d4b6cd1361032ca9bd2aeb9d900aa4d45d9ead80ac9423374c451a7254d0766",
		"Sluice provider link\n", "rnm6h1hwppmtuncso58zcu9jz6dz1ozrnc9p57pkaxnc8g7yz3r8chr157i7gay89phiz4p8zd9d8jr3uq7ntic56qepwjgs9zpnidbo"},
	{0xff, "039166c289b9f905e55f9e3df9f69d7f356b4a22095f894f4715714aa4b56606af",
		"Sluice provider link\n", "rn9frridrm6wssisaiotdkzsyhcjpgrcaper9jr5tnpbc55dxrq1afi1koque76wgzqaw4x733khfze4rzt9oushdqpc5wat148bk54q"},
}

// TestSignNodeMessageMatchesLnd signs with lnd's own node signer (the code
// behind lnd's SignMessage RPC) and with SignNodeMessage: the two must give
// the same signature, and the vectors must be what both give.
func TestSignNodeMessageMatchesLnd(t *testing.T) {
	t.Parallel()

	for _, v := range signatureVectors {
		priv, node := keyOf(v.key)
		if node.String() != v.node {
			t.Fatalf("key %02x: node %v, vector says %s", v.key,
				node, v.node)
		}

		lndSigner := keychain.NewPrivKeyMessageSigner(
			priv, keychain.KeyLocator{},
		)
		raw, err := lndSigner.SignMessageCompact(
			[]byte(channels.SignedMessagePrefix+v.msg), true,
		)
		if err != nil {
			t.Fatal(err)
		}
		lndSig := zbase32.EncodeToString(raw)

		ours := channels.SignNodeMessage(priv, []byte(v.msg))
		if ours != lndSig {
			t.Errorf("key %02x, %q: SignNodeMessage = %s, lnd "+
				"signs %s", v.key, v.msg, ours, lndSig)
		}
		if ours != v.sig {
			t.Errorf("key %02x, %q: SignNodeMessage = %s, vector "+
				"%s", v.key, v.msg, ours, v.sig)
		}
	}
}

// TestVerifyNodeSignature checks the vectors, and refuses changed messages,
// other nodes and signatures that are not signatures, each with its error.
func TestVerifyNodeSignature(t *testing.T) {
	t.Parallel()

	v := signatureVectors[3]
	node, err := channels.ParseNodeKeyHex(v.node)
	if err != nil {
		t.Fatal(err)
	}
	_, other := keyOf(0x01)
	raw, err := zbase32.DecodeString(v.sig)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(raw)
	flipped[40] ^= 0x01
	badRecovery := bytes.Clone(raw)
	badRecovery[0] = 0

	tests := []struct {
		name string
		msg  string
		sig  string
		node route.Vertex
		want error
	}{
		{"good", v.msg, v.sig, node, nil},
		{"other message", v.msg + " ", v.sig, node,
			channels.ErrForgedSignature},
		{"other node", v.msg, v.sig, other,
			channels.ErrForgedSignature},
		{"flipped bit", v.msg, zbase32.EncodeToString(flipped), node,
			channels.ErrForgedSignature},
		{"bad recovery byte", v.msg,
			zbase32.EncodeToString(badRecovery), node,
			channels.ErrMalformedSignature},
		{"empty", v.msg, "", node, channels.ErrMalformedSignature},
		{"not zbase32", v.msg, "0" + v.sig[1:], node,
			channels.ErrMalformedSignature},
		{"hex instead", v.msg, hex.EncodeToString(raw), node,
			channels.ErrMalformedSignature},
		{"short", v.msg, zbase32.EncodeToString(raw[:64]), node,
			channels.ErrMalformedSignature},
		{"long", v.msg, zbase32.EncodeToString(append(raw, 0)), node,
			channels.ErrMalformedSignature},
		{"huge", v.msg, strings.Repeat("y", 10_000), node,
			channels.ErrMalformedSignature},
	}
	for _, tc := range tests {
		err := channels.VerifyNodeSignature([]byte(tc.msg), tc.sig,
			tc.node)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: VerifyNodeSignature = %v, want %v",
				tc.name, err, tc.want)
		}
	}

	for _, v := range signatureVectors {
		got, err := channels.RecoverNodeKey([]byte(v.msg), v.sig)
		if err != nil || got.String() != v.node {
			t.Errorf("RecoverNodeKey(%q) = %v, %v, want %s", v.msg,
				got, err, v.node)
		}
	}
}

// FuzzRecoverNodeKey feeds arbitrary signatures and messages: no panic, and
// any key recovered verifies.
func FuzzRecoverNodeKey(f *testing.F) {
	for _, v := range signatureVectors {
		f.Add([]byte(v.msg), v.sig)
	}
	f.Add([]byte("x"), "")
	f.Add([]byte("x"), "yyyy")
	f.Fuzz(func(t *testing.T, msg []byte, sig string) {
		node, err := channels.RecoverNodeKey(msg, sig)
		if err != nil {
			if !errors.Is(err, channels.ErrMalformedSignature) {
				t.Fatalf("error %v is not ErrMalformedSignature",
					err)
			}
			return
		}
		if err := channels.VerifyNodeSignature(msg, sig, node); err != nil {
			t.Fatalf("recovered %v but it does not verify: %v",
				node, err)
		}
	})
}

// TestParseKeys accepts keys on the curve of the right size and refuses the
// rest with the field named.
func TestParseKeys(t *testing.T) {
	t.Parallel()

	_, node := keyOf(0x07)
	agentPriv, _ := keyOf(0x08)
	agent := agentPriv.PubKey().SerializeCompressed()[1:]
	notOnCurve := bytes.Repeat([]byte{0xff}, 32)

	nodeTests := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"good", node[:], true},
		{"x-only", node[1:], false},
		{"uncompressed prefix", append([]byte{0x04}, node[1:]...), false},
		{"not on curve", append([]byte{0x02}, notOnCurve...), false},
		{"empty", nil, false},
	}
	for _, tc := range nodeTests {
		got, err := channels.ParseNodeKey(tc.raw)
		switch {
		case tc.ok && (err != nil || got != node):
			t.Errorf("ParseNodeKey %s = %v, %v", tc.name, got, err)
		case !tc.ok && !errors.Is(err, channels.ErrInvalidNodeKey):
			t.Errorf("ParseNodeKey %s: %v, want ErrInvalidNodeKey",
				tc.name, err)
		case !tc.ok && !strings.Contains(err.Error(), "node_pubkey"):
			t.Errorf("ParseNodeKey %s: %v does not name the field",
				tc.name, err)
		}
	}

	agentTests := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"good", agent, true},
		{"compressed", node[:], false},
		{"not on curve", notOnCurve, false},
		{"short", agent[:31], false},
	}
	for _, tc := range agentTests {
		got, err := channels.ParseAgentKey(tc.raw)
		switch {
		case tc.ok && (err != nil || !bytes.Equal(got[:], agent)):
			t.Errorf("ParseAgentKey %s = %v, %v", tc.name, got, err)
		case !tc.ok && !errors.Is(err, channels.ErrInvalidAgentKey):
			t.Errorf("ParseAgentKey %s: %v, want "+
				"ErrInvalidAgentKey", tc.name, err)
		case !tc.ok && !strings.Contains(err.Error(), "agent_pubkey"):
			t.Errorf("ParseAgentKey %s: %v does not name the "+
				"field", tc.name, err)
		}
	}
	if _, err := channels.ParseAgentKeyHex("zz"); !errors.Is(err,
		channels.ErrInvalidAgentKey) {

		t.Errorf("ParseAgentKeyHex(zz): %v", err)
	}
	if _, err := channels.ParseNodeKeyHex("zz"); !errors.Is(err,
		channels.ErrInvalidNodeKey) {

		t.Errorf("ParseNodeKeyHex(zz): %v", err)
	}
}

// TestCheckAlias takes BOLT 7 sized printable aliases only.
func TestCheckAlias(t *testing.T) {
	t.Parallel()

	tests := []struct {
		alias string
		ok    bool
	}{
		{"", true},
		{"provider1", true},
		{"⚡ fast node ⚡", true},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"bell\a", false},
		{"new\nline", false},
		{"\xff\xfe", false},
	}
	for _, tc := range tests {
		err := channels.CheckAlias(tc.alias)
		if tc.ok != (err == nil) ||
			!tc.ok && !errors.Is(err, channels.ErrInvalidAlias) {

			t.Errorf("CheckAlias(%q) = %v, want ok %v", tc.alias,
				err, tc.ok)
		}
	}
}

// TestAgentKeyFile writes a new key, reads it back, refuses to overwrite
// unless asked, and refuses files that are not keys.
func TestAgentKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dir + "/sub/agent.key"

	priv, pub, err := channels.NewAgentKeyFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", info.Mode(), err)
	}
	gotPriv, gotPub, err := channels.ReadAgentKeyFile(path)
	if err != nil || gotPub != pub || !gotPriv.Key.Equals(&priv.Key) {
		t.Fatalf("ReadAgentKeyFile = %v, %v; wrote %v", gotPub, err, pub)
	}
	if _, _, err := channels.NewAgentKeyFile(path, false); err == nil {
		t.Error("NewAgentKeyFile replaced an existing key")
	}
	_, again, err := channels.NewAgentKeyFile(path, true)
	if err != nil || again == pub {
		t.Errorf("replacing: %v, %v", again, err)
	}

	for name, content := range map[string]string{
		"empty": "", "short": "abcd\n", "not hex": strings.Repeat("z", 64),
		"zero": strings.Repeat("0", 64),
	} {
		bad := dir + "/" + strings.ReplaceAll(name, " ", "-")
		if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := channels.ReadAgentKeyFile(bad)
		if !errors.Is(err, channels.ErrBadAgentKeyFile) {
			t.Errorf("%s: %v, want ErrBadAgentKeyFile", name, err)
		}
	}
}
