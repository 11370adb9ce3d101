package devnet

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Provider counts of Options.Providers.
const (
	// DefaultProviders is how many provider nodes a network has unless
	// Options.Providers says otherwise.
	DefaultProviders = 2

	// MaxProviders is the most provider nodes a network can have: the
	// port plan has room for ten lnd nodes (hub, buyer and eight
	// providers), and each lnd takes about 300 MiB.
	MaxProviders = 8
)

// ProviderName is the node name of the i-th provider, counting from 1:
// provider1, provider2, ...
func ProviderName(i int) string { return fmt.Sprintf("provider%d", i) }

// lndSpec is one lnd node of the network.
type lndSpec struct {
	name string
	role Role

	// tapd says whether the node gets a tapd.
	tapd bool
}

// lndSpecs are the network's lnd nodes, in port order. The hub comes first:
// the miner pays its wallet and it funds the others.
var lndSpecs = []lndSpec{
	{name: NodeHub, role: RoleHub, tapd: true},
	{name: NodeProvider1, role: RoleProvider, tapd: true},
	{name: NodeProvider2, role: RoleProvider, tapd: true},
	{name: NodeBuyer, role: RoleBuyer},
}

// lndSpecsFor are the lnd nodes of a network with the given number of
// providers: lndSpecs, then provider3 and on. The extra providers come last
// so that the default nodes keep their ports. They run no tapd: they are
// there for payout benchmarks, where a tapd each would take memory and
// CPU from the lnd nodes being measured.
func lndSpecsFor(providers int) []lndSpec {
	specs := append([]lndSpec(nil), lndSpecs...)
	for i := DefaultProviders + 1; i <= providers; i++ {
		specs = append(specs, lndSpec{
			name: ProviderName(i), role: RoleProvider,
		})
	}
	return specs
}

// channelSpecsFor are the channels of a network with the given number of
// providers: channelSpecs and a hub -> provider channel for each extra one.
func channelSpecsFor(providers int) []channelSpec {
	specs := append([]channelSpec(nil), channelSpecs...)
	for i := DefaultProviders + 1; i <= providers; i++ {
		specs = append(specs, channelSpec{
			from: NodeHub, to: ProviderName(i),
		})
	}
	return specs
}

// channelSpec is a channel that bring-up opens; from funds it.
type channelSpec struct {
	from, to string
}

// channelSpecs are the channels of the network: the buyer pays into the
// hub, the hub pays out to the providers.
var channelSpecs = []channelSpec{
	{from: NodeBuyer, to: NodeHub},
	{from: NodeHub, to: NodeProvider1},
	{from: NodeHub, to: NodeProvider2},
}

// tapdName is the node name of an lnd node's tapd.
func tapdName(lndName string) string { return lndName + "-tapd" }

// member is one process of a network as Down and Status see it: enough to
// find its pid file and recognise the process, with no profile needed (a
// failed bring-up writes none).
type member struct {
	name   string
	dir    string
	bin    string
	marker string

	// tier orders shutdown: tapd (0) before lnd (1) before btcd (2).
	tier int
}

// members lists every process a network in dir has: the default nodes, and
// the extra providers (up to MaxProviders) whose directories exist, so Down
// and Status need no profile.
func members(dir string) []member {
	n := DefaultProviders
	for i := DefaultProviders + 1; i <= MaxProviders; i++ {
		_, err := os.Stat(filepath.Join(dir, ProviderName(i)))
		if err == nil {
			n = i
		}
	}
	return membersFor(dir, n)
}

// membersFor lists every process of a network in dir with the given number
// of providers.
func membersFor(dir string, providers int) []member {
	ms := []member{
		btcdMember(dir, NodeBtcd),
		btcdMember(dir, NodeMiner),
	}
	for _, s := range lndSpecsFor(providers) {
		ms = append(ms, member{
			name:   s.name,
			dir:    filepath.Join(dir, s.name),
			bin:    BinLnd,
			marker: "--lnddir=" + filepath.Join(dir, s.name),
			tier:   1,
		})
		if s.tapd {
			tdir := filepath.Join(dir, tapdName(s.name))
			ms = append(ms, member{
				name:   tapdName(s.name),
				dir:    tdir,
				bin:    BinTapd,
				marker: "--tapddir=" + tdir,
				tier:   0,
			})
		}
	}
	return ms
}

func btcdMember(dir, name string) member {
	d := filepath.Join(dir, name)
	return member{
		name:   name,
		dir:    d,
		bin:    BinBtcd,
		marker: "--datadir=" + filepath.Join(d, "data"),
		tier:   2,
	}
}

// btcdArgs are the flags of a btcd node: regtest, 127.0.0.1 only, every
// file under its own directory, and no reading of ~/.btcd.
func btcdArgs(m member, n BtcdNode) []string {
	return []string{
		"--regtest",
		"--configfile=" + filepath.Join(m.dir, "btcd.conf"),
		m.marker,
		"--logdir=" + filepath.Join(m.dir, "logs"),
		"--rpclisten=" + n.RPCHost,
		"--listen=" + n.P2PHost,
		"--rpcuser=" + n.RPCUser,
		"--rpcpass=" + n.RPCPass,
		"--rpccert=" + n.TLSCertPath,
		"--rpckey=" + filepath.Join(m.dir, "rpc.key"),
		"--miningaddr=" + n.MiningAddr,
		"--txindex",
		"--debuglevel=info",
		// Relay quickly, and never ban or drop the other btcd for
		// a slow answer: there is only one peer.
		"--trickleinterval=100ms",
		"--nobanning",
		"--nostalldetect",
		"--rpcmaxwebsockets=100",
	}
}

// lndArgs are the flags of an lnd node on the chain backend btcd.
func lndArgs(m member, n *LndNode, btcd BtcdNode) []string {
	return []string{
		m.marker,
		"--alias=" + n.Name,
		"--noseedbackup",
		"--nobootstrap",
		"--debuglevel=info",
		"--bitcoin.regtest",
		"--bitcoin.node=btcd",
		"--btcd.rpchost=" + btcd.RPCHost,
		"--btcd.rpcuser=" + btcd.RPCUser,
		"--btcd.rpcpass=" + btcd.RPCPass,
		"--btcd.rpccert=" + btcd.TLSCertPath,
		"--rpclisten=" + n.RPCHost,
		"--restlisten=" + n.RESTHost,
		"--listen=" + n.P2PHost,
		"--externalip=" + n.P2PHost,
		// Sluice pays providers by keysend; AMP costs nothing.
		"--accept-keysend",
		"--accept-amp",
		// The hub opens several channels at once.
		"--maxpendingchannels=10",
		// Gossip fast: tests wait for the graph.
		"--trickledelay=50",
		"--gossip.sub-batch-delay=5ms",
		"--caches.rpc-graph-cache-duration=100ms",
	}
}

// tapdArgs are the flags of a tapd on its lnd. Every tapd delivers proofs
// through the hub's tapd (the default courier is a public universe), the
// hub serves proofs and its universe to the others, and the others use it
// as their federation server.
func tapdArgs(m member, t *TapdNode, lnd *LndNode, hubTapd *TapdNode) []string {
	args := []string{
		m.marker,
		"--network=" + Network,
		"--debuglevel=info",
		"--rpclisten=" + t.RPCHost,
		"--restlisten=" + t.RESTHost,
		"--lnd.host=" + lnd.RPCHost,
		"--lnd.macaroonpath=" + lnd.AdminMacaroonPath,
		"--lnd.tlspath=" + lnd.TLSCertPath,
		"--proofcourieraddr=" + t.ProofCourierAddr,
		"--universe.no-default-federation",
		// Deliver and fetch proofs without the production delays.
		"--universerpccourier.skipinitdelay",
		"--universerpccourier.initialbackoff=300ms",
		"--universerpccourier.maxbackoff=2s",
		fmt.Sprintf("--custodianproofretrievaldelay=%v",
			200*time.Millisecond),
		// Lets other universes push issuance and transfer proofs
		// here: without it the hub's courier refuses the sender's
		// proofs ("proof insert is disabled for the given universe")
		// and receivers never see their assets.
		"--universe.sync-all-assets",
	}
	if t == hubTapd {
		return append(args,
			"--allow-public-uni-proof-courier",
			"--universe.public-access=rw",
		)
	}
	return append(args, "--universe.federationserver="+hubTapd.RPCHost)
}
