package devnet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightningnetwork/lnd/lnrpc"
	"google.golang.org/grpc"
)

// feeRate is the fee rate, in sat/vbyte, of the transactions bring-up makes.
// btcd gives no fee estimates on a fresh regtest chain.
const feeRate = 5

// routeProbeSat is the amount of the route queries that prove a channel
// can carry a payment.
const routeProbeSat = 1000

// network is one bring-up in progress.
type network struct {
	opts    Options
	dir     string
	ports   ports
	members []member
	start   time.Time

	// specs and chans are the lnd nodes and channels of this network.
	specs []lndSpec
	chans []channelSpec

	profile Profile
	procs   map[string]*process
	lnds    map[string]*lndConn
	chain   *Chain

	// nudgeMu guards lastNudge, when a block was last mined for an lnd
	// that would not call itself synced.
	nudgeMu   sync.Mutex
	lastNudge time.Time
}

// lndConn is a running lnd of the network and a client to it.
type lndConn struct {
	node   *LndNode
	proc   *process
	conn   *grpc.ClientConn
	client lnrpc.LightningClient
}

// stepf prints one line of progress with the time since bring-up started.
func (n *network) stepf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(n.opts.Out, "[%6.1fs] %s\n", time.Since(n.start).Seconds(),
		msg)
	log.Infof("%s", msg)
}

func (n *network) member(name string) member {
	for _, m := range n.members {
		if m.name == name {
			return m
		}
	}
	panic("devnet: no member " + name)
}

// up runs bring-up; the caller stops the processes when it fails.
func (n *network) up(ctx context.Context) (*Profile, error) {
	defer n.closeClients()
	n.procs = map[string]*process{}
	n.lnds = map[string]*lndConn{}

	if err := n.plan(); err != nil {
		return nil, err
	}
	n.stepf("network in %s, ports %d-%d on 127.0.0.1", n.dir,
		n.ports.base, n.ports.base+blockSize-1)

	// The chain backend mines the first block itself: lnd does not start
	// on a chain at genesis, and the miner can only be started once the
	// hub has an address for it to pay.
	if err := n.startBtcd(ctx, &n.profile.Btcd, nil); err != nil {
		return nil, err
	}
	backend, err := btcdClient(n.profile.Btcd)
	if err != nil {
		return nil, n.procs[NodeBtcd].nodeErr(err)
	}
	_, err = backend.Generate(initialBlocks)
	backend.Shutdown()
	if err != nil {
		return nil, n.procs[NodeBtcd].nodeErr(
			fmt.Errorf("mine first block: %w", err))
	}
	n.stepf("btcd mined block 1")

	if err := n.startLnds(ctx); err != nil {
		return nil, err
	}

	hub := n.lnds[NodeHub]
	addr, err := hub.client.NewAddress(ctx, &lnrpc.NewAddressRequest{
		Type: lnrpc.AddressType_WITNESS_PUBKEY_HASH,
	})
	if err != nil {
		return nil, hub.proc.nodeErr(fmt.Errorf("new address: %w", err))
	}
	n.profile.Miner.MiningAddr = addr.Address
	err = n.startBtcd(ctx, &n.profile.Miner, []string{
		"--connect=" + n.profile.Btcd.P2PHost,
	})
	if err != nil {
		return nil, err
	}
	n.chain, err = newChain(n.profile.Btcd, n.profile.Miner)
	if err != nil {
		return nil, n.procs[NodeMiner].nodeErr(err)
	}
	err = poll(ctx, n.opts.StartTimeout, "miner to sync block 1",
		func(ctx context.Context) error {
			if err := n.procs[NodeMiner].alive(); err != nil {
				return &stopPolling{err}
			}
			h, err := n.chain.miner.GetBlockCount()
			if err != nil {
				return err
			}
			if h < initialBlocks {
				return fmt.Errorf("miner at height %d", h)
			}
			return nil
		})
	if err != nil {
		return nil, n.procs[NodeMiner].nodeErr(err)
	}

	if err := n.mine(ctx, matureBlocks, "to the hub"); err != nil {
		return nil, err
	}
	if err := n.waitLndsSynced(ctx); err != nil {
		return nil, err
	}

	// tapd comes up while the wallets are funded and channels open.
	if err := n.startTapds(); err != nil {
		return nil, err
	}

	if err := n.fund(ctx); err != nil {
		return nil, err
	}
	if err := n.openChannels(ctx); err != nil {
		return nil, err
	}
	if err := n.waitTapds(ctx); err != nil {
		return nil, err
	}
	if err := n.waitRoutes(ctx); err != nil {
		return nil, err
	}

	n.profile.CreatedAt = time.Now().UTC()
	if err := n.profile.write(); err != nil {
		return nil, err
	}
	if _, err := n.profile.WriteSluicedConf(); err != nil {
		return nil, err
	}
	n.stepf("network up; profile %s", filepath.Join(n.dir, ProfileName))
	return &n.profile, nil
}

// plan fills the profile with every address and path before anything
// starts.
func (n *network) plan() error {
	user, err := randomSecret()
	if err != nil {
		return err
	}
	pass, err := randomSecret()
	if err != nil {
		return err
	}
	// Block 1 pays an address nobody holds: those coins are never needed.
	burn, err := btcutil.NewAddressWitnessPubKeyHash(
		make([]byte, 20), &chaincfg.RegressionNetParams,
	)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}

	btcdNode := func(name, rpc, p2p string) BtcdNode {
		m := n.member(name)
		return BtcdNode{
			Name:        name,
			RPCHost:     rpc,
			P2PHost:     p2p,
			RPCUser:     user,
			RPCPass:     pass,
			TLSCertPath: filepath.Join(m.dir, "rpc.cert"),
			Dir:         m.dir,
			LogPath:     filepath.Join(m.dir, outputLogName),
		}
	}
	n.profile = Profile{
		Dir:      n.dir,
		Network:  Network,
		PortBase: n.ports.base,
		Btcd: btcdNode(
			NodeBtcd, n.ports.btcdRPC(), n.ports.btcdP2P(),
		),
		Miner: btcdNode(
			NodeMiner, n.ports.minerRPC(), n.ports.minerP2P(),
		),
		Sluiced: SluicedConfig{
			Dir: filepath.Join(n.dir, sluicedDirName),
			ConfigPath: filepath.Join(
				n.dir, sluicedDirName, "sluice.conf",
			),
			RPCListen: n.ports.sluiced(),
		},
	}
	n.profile.Btcd.MiningAddr = burn.EncodeAddress()

	var hubTapdRPC string
	tapdIdx := 0
	for i, s := range n.specs {
		m := n.member(s.name)
		node := LndNode{
			Name:        s.name,
			Role:        s.role,
			RPCHost:     n.ports.lnd(i, offLndRPC),
			RESTHost:    n.ports.lnd(i, offLndREST),
			P2PHost:     n.ports.lnd(i, offLndP2P),
			TLSCertPath: filepath.Join(m.dir, "tls.cert"),
			AdminMacaroonPath: filepath.Join(
				m.dir, "data", "chain", "bitcoin", Network,
				"admin.macaroon",
			),
			Dir:     m.dir,
			LogPath: filepath.Join(m.dir, outputLogName),
		}
		if s.tapd {
			tm := n.member(tapdName(s.name))
			rpc := n.ports.tapd(tapdIdx, offTapdRPC)
			if s.role == RoleHub {
				hubTapdRPC = rpc
			}
			node.Tapd = &TapdNode{
				Name:        tm.name,
				RPCHost:     rpc,
				RESTHost:    n.ports.tapd(tapdIdx, offTapdREST),
				TLSCertPath: filepath.Join(tm.dir, "tls.cert"),
				AdminMacaroonPath: filepath.Join(
					tm.dir, "data", Network,
					"admin.macaroon",
				),
				Dir:     tm.dir,
				LogPath: filepath.Join(tm.dir, outputLogName),
			}
			tapdIdx++
		}
		n.profile.Nodes = append(n.profile.Nodes, node)
	}
	for i := range n.profile.Nodes {
		if t := n.profile.Nodes[i].Tapd; t != nil {
			t.ProofCourierAddr = "universerpc://" + hubTapdRPC
		}
	}
	return os.MkdirAll(n.profile.Sluiced.Dir, 0o700)
}

// startBtcd starts a btcd and waits until its RPC answers.
func (n *network) startBtcd(ctx context.Context, node *BtcdNode,
	extra []string) error {

	m := n.member(node.Name)
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return err
	}
	// An empty config file keeps ~/.btcd/btcd.conf out.
	conf := filepath.Join(m.dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return err
	}
	p := &process{
		name:   m.name,
		dir:    m.dir,
		bin:    n.opts.Binaries.Path(BinBtcd),
		args:   append(btcdArgs(m, *node), extra...),
		marker: m.marker,
	}
	began := time.Now()
	if err := p.start(); err != nil {
		return err
	}
	n.procs[m.name] = p

	err := poll(ctx, n.opts.StartTimeout, m.name+" RPC", func(ctx context.Context) error {
		if err := p.alive(); err != nil {
			return &stopPolling{err}
		}
		if _, err := os.Stat(node.TLSCertPath); err != nil {
			return err
		}
		c, err := btcdClient(*node)
		if err != nil {
			return err
		}
		defer c.Shutdown()
		_, err = c.GetBlockCount()
		return err
	})
	if err != nil {
		return p.nodeErr(err)
	}
	n.stepf("%s ready on %s (pid %d, %s)", m.name, node.RPCHost,
		p.cmd.Process.Pid, roundDur(time.Since(began)))
	return nil
}

// startLnds starts every lnd at once and waits until each answers and is
// synced to the chain.
func (n *network) startLnds(ctx context.Context) error {
	began := time.Now()
	for i := range n.profile.Nodes {
		node := &n.profile.Nodes[i]
		m := n.member(node.Name)
		p := &process{
			name:   m.name,
			dir:    m.dir,
			bin:    n.opts.Binaries.Path(BinLnd),
			args:   lndArgs(m, node, n.profile.Btcd),
			marker: m.marker,
		}
		if err := p.start(); err != nil {
			return err
		}
		n.procs[m.name] = p
		n.lnds[node.Name] = &lndConn{node: node, proc: p}
	}
	names := make([]string, len(n.profile.Nodes))
	for i, node := range n.profile.Nodes {
		names[i] = node.Name
	}
	n.stepf("starting lnd %s", strings.Join(names, ", "))

	err := n.eachLnd(func(l *lndConn) error {
		return n.waitLndReady(ctx, l)
	})
	if err != nil {
		return err
	}
	n.stepf("lnd nodes ready and synced (%s)", roundDur(time.Since(began)))
	return nil
}

// eachLnd runs f for every lnd node in parallel and returns the first error
// in node order.
func (n *network) eachLnd(f func(l *lndConn) error) error {
	errs := make([]error, len(n.profile.Nodes))
	var wg sync.WaitGroup
	for i, node := range n.profile.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n.lnds[node.Name])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// waitLndReady waits for an lnd's TLS certificate and macaroon, connects,
// and waits until GetInfo says it is synced to the chain; it records the
// node's pubkey.
func (n *network) waitLndReady(ctx context.Context, l *lndConn) error {
	err := poll(ctx, n.opts.StartTimeout, l.node.Name+" to start",
		func(ctx context.Context) error {
			if err := l.proc.alive(); err != nil {
				return &stopPolling{err}
			}
			for _, f := range []string{
				l.node.TLSCertPath, l.node.AdminMacaroonPath,
			} {
				if _, err := os.Stat(f); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return l.proc.nodeErr(err)
	}
	l.conn, err = l.node.Dial()
	if err != nil {
		return l.proc.nodeErr(err)
	}
	l.client = lnrpc.NewLightningClient(l.conn)
	info, err := n.waitLndSynced(ctx, l, 0)
	if err != nil {
		return err
	}
	l.node.PubKey = info.IdentityPubkey
	return nil
}

// waitLndSynced waits until the lnd is synced to the chain at height or
// above.
func (n *network) waitLndSynced(ctx context.Context, l *lndConn,
	height uint32) (*lnrpc.GetInfoResponse, error) {

	var info *lnrpc.GetInfoResponse
	began := time.Now()
	what := fmt.Sprintf("%s to sync to chain height %d", l.node.Name,
		height)
	err := poll(ctx, n.opts.StartTimeout, what, func(ctx context.Context) error {
		if err := l.proc.alive(); err != nil {
			return &stopPolling{err}
		}
		var err error
		info, err = l.client.GetInfo(ctx, &lnrpc.GetInfoRequest{})
		switch {
		case err != nil:
			return err
		case !info.SyncedToChain:
			if time.Since(began) > nudgeAfter {
				n.nudge(l.node.Name)
			}
			return fmt.Errorf("at height %d, not synced",
				info.BlockHeight)
		case info.BlockHeight < height:
			return fmt.Errorf("at height %d", info.BlockHeight)
		}
		return nil
	})
	if err != nil {
		return nil, l.proc.nodeErr(err)
	}
	return info, nil
}

// nudgeAfter is how long an lnd may say it is not synced to the chain
// before a block is mined for it: its wallet can wait for a block newer than
// the one it started on (lnd issues 2544 and 5144), and on regtest none
// comes unless someone mines it.
const nudgeAfter = 10 * time.Second

// nudge mines one block on the chain backend, to its burn address, for the
// named lnd that will not call itself synced; at most one every nudgeAfter
// for the whole network. A failure is only logged: the wait goes on and
// names the node when it times out.
func (n *network) nudge(node string) {
	n.nudgeMu.Lock()
	defer n.nudgeMu.Unlock()
	if time.Since(n.lastNudge) < nudgeAfter {
		return
	}
	n.lastNudge = time.Now()
	backend, err := btcdClient(n.profile.Btcd)
	if err != nil {
		log.Warnf("Nudging %s: %v", node, err)
		return
	}
	defer backend.Shutdown()
	if _, err := backend.Generate(1); err != nil {
		log.Warnf("Nudging %s: mine a block: %v", node, err)
		return
	}
	n.stepf("%s not synced to the chain after %s; mined a block for it",
		node, nudgeAfter)
}

// waitLndsSynced waits until every lnd has the backend's best block.
func (n *network) waitLndsSynced(ctx context.Context) error {
	height, err := n.chain.Height()
	if err != nil {
		return n.procs[NodeBtcd].nodeErr(err)
	}
	return n.eachLnd(func(l *lndConn) error {
		_, err := n.waitLndSynced(ctx, l, uint32(height))
		return err
	})
}

// mine mines blocks with a progress line per batch and waits until every
// lnd has seen them.
func (n *network) mine(ctx context.Context, blocks int, why string) error {
	began := time.Now()
	if blocks >= 2*maxGenerate {
		n.chain.progress = func(mined, total int) {
			n.stepf("  mined %d/%d", mined, total)
		}
		defer func() { n.chain.progress = nil }()
	}
	if _, err := n.chain.MineBlocks(ctx, blocks); err != nil {
		return n.procs[NodeMiner].nodeErr(err)
	}
	if err := n.waitLndsSynced(ctx); err != nil {
		return err
	}
	n.stepf("mined %d blocks %s (%s)", blocks, why,
		roundDur(time.Since(began)))
	return nil
}

// fund sends FundSat from the hub to every other node in one transaction
// and confirms it.
func (n *network) fund(ctx context.Context) error {
	hub := n.lnds[NodeHub]
	amounts := map[string]int64{}
	for _, node := range n.profile.Nodes {
		if node.Name == NodeHub {
			continue
		}
		l := n.lnds[node.Name]
		addr, err := l.client.NewAddress(ctx, &lnrpc.NewAddressRequest{
			Type: lnrpc.AddressType_WITNESS_PUBKEY_HASH,
		})
		if err != nil {
			return l.proc.nodeErr(fmt.Errorf("new address: %w", err))
		}
		amounts[addr.Address] = n.opts.FundSat
	}
	// The hub's wallet may not have seen its coinbase mature yet.
	err := poll(ctx, n.opts.StartTimeout, "hub wallet to send the "+
		"funding", func(ctx context.Context) error {

		if err := hub.proc.alive(); err != nil {
			return &stopPolling{err}
		}
		_, err := hub.client.SendMany(ctx, &lnrpc.SendManyRequest{
			AddrToAmount: amounts,
			SatPerVbyte:  feeRate,
			Label:        "devnet funding",
		})
		return err
	})
	if err != nil {
		return hub.proc.nodeErr(err)
	}
	if err := n.mine(ctx, 1, "to confirm the funding"); err != nil {
		return err
	}
	return n.eachLnd(func(l *lndConn) error {
		if l.node.Name == NodeHub {
			return nil
		}
		err := poll(ctx, n.opts.StartTimeout, l.node.Name+
			" wallet balance", func(ctx context.Context) error {

			b, err := l.client.WalletBalance(
				ctx, &lnrpc.WalletBalanceRequest{},
			)
			if err != nil {
				return err
			}
			if b.ConfirmedBalance < n.opts.FundSat {
				return fmt.Errorf("confirmed balance %d sat",
					b.ConfirmedBalance)
			}
			return nil
		})
		if err != nil {
			return l.proc.nodeErr(err)
		}
		return nil
	})
}

// openChannels connects the peers, opens every channel, confirms them and
// waits until both ends call them active.
func (n *network) openChannels(ctx context.Context) error {
	began := time.Now()
	for _, c := range n.chans {
		from, to := n.lnds[c.from], n.lnds[c.to]
		_, err := from.client.ConnectPeer(ctx, &lnrpc.ConnectPeerRequest{
			Addr: &lnrpc.LightningAddress{
				Pubkey: to.node.PubKey,
				Host:   to.node.P2PHost,
			},
			Timeout: 30,
		})
		if err != nil && !strings.Contains(err.Error(),
			"already connected") {

			return from.proc.nodeErr(fmt.Errorf("connect to %s: %w",
				c.to, err))
		}
		// The peer may still be finishing its handshake: retry the
		// open for a short while.
		err = poll(ctx, n.opts.StartTimeout, fmt.Sprintf("%s to "+
			"open a channel to %s", c.from, c.to), func(ctx context.Context) error {

			if err := from.proc.alive(); err != nil {
				return &stopPolling{err}
			}
			pub, err := hex.DecodeString(to.node.PubKey)
			if err != nil {
				return &stopPolling{err}
			}
			_, err = from.client.OpenChannelSync(ctx,
				&lnrpc.OpenChannelRequest{
					NodePubkey:         pub,
					LocalFundingAmount: n.opts.ChannelSat,
					SatPerVbyte:        feeRate,
				})
			return err
		})
		if err != nil {
			return from.proc.nodeErr(err)
		}
		n.stepf("opening channel %s -> %s, %d sat", c.from, c.to,
			n.opts.ChannelSat)
	}
	if err := n.mine(ctx, channelConfs, "to confirm the channels"); err != nil {
		return err
	}

	for _, c := range n.chans {
		for _, end := range [][2]string{{c.from, c.to}, {c.to, c.from}} {
			l, peer := n.lnds[end[0]], n.lnds[end[1]]
			pub, err := hex.DecodeString(peer.node.PubKey)
			if err != nil {
				return err
			}
			err = poll(ctx, n.opts.StartTimeout, fmt.Sprintf(
				"channel %s -> %s to be active on %s", c.from,
				c.to, end[0]), func(ctx context.Context) error {

				if err := l.proc.alive(); err != nil {
					return &stopPolling{err}
				}
				resp, err := l.client.ListChannels(ctx,
					&lnrpc.ListChannelsRequest{
						ActiveOnly: true,
						Peer:       pub,
					})
				if err != nil {
					return err
				}
				if len(resp.Channels) == 0 {
					return errors.New("not active yet")
				}
				return nil
			})
			if err != nil {
				return l.proc.nodeErr(err)
			}
		}
	}
	n.stepf("channels active (%s)", roundDur(time.Since(began)))
	return nil
}

// waitRoutes waits until every node is synced to the graph and a route
// query over each channel, in its funding direction, succeeds: a channel
// reported active can still fail a payment for about a second.
func (n *network) waitRoutes(ctx context.Context) error {
	began := time.Now()
	err := n.eachLnd(func(l *lndConn) error {
		err := poll(ctx, n.opts.StartTimeout, l.node.Name+
			" to sync to the graph", func(ctx context.Context) error {

			if err := l.proc.alive(); err != nil {
				return &stopPolling{err}
			}
			info, err := l.client.GetInfo(ctx, &lnrpc.GetInfoRequest{})
			if err != nil {
				return err
			}
			if !info.SyncedToChain || !info.SyncedToGraph {
				return fmt.Errorf("synced to chain %v, graph %v",
					info.SyncedToChain, info.SyncedToGraph)
			}
			return nil
		})
		if err != nil {
			return l.proc.nodeErr(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range n.chans {
		from, to := n.lnds[c.from], n.lnds[c.to]
		err := poll(ctx, n.opts.StartTimeout, fmt.Sprintf("a route "+
			"%s -> %s", c.from, c.to), func(ctx context.Context) error {

			if err := from.proc.alive(); err != nil {
				return &stopPolling{err}
			}
			resp, err := from.client.QueryRoutes(ctx,
				&lnrpc.QueryRoutesRequest{
					PubKey: to.node.PubKey,
					Amt:    routeProbeSat,
				})
			if err != nil {
				return err
			}
			if len(resp.Routes) == 0 {
				return errors.New("no route")
			}
			return nil
		})
		if err != nil {
			return from.proc.nodeErr(err)
		}
	}
	n.stepf("graph synced, routes ready (%s)", roundDur(time.Since(began)))
	return nil
}

// startTapds starts tapd on every node that has one, without waiting.
func (n *network) startTapds() error {
	hub, err := n.profile.Hub()
	if err != nil {
		return err
	}
	for i := range n.profile.Nodes {
		node := &n.profile.Nodes[i]
		if node.Tapd == nil {
			continue
		}
		m := n.member(node.Tapd.Name)
		p := &process{
			name:   m.name,
			dir:    m.dir,
			bin:    n.opts.Binaries.Path(BinTapd),
			args:   tapdArgs(m, node.Tapd, node, hub.Tapd),
			marker: m.marker,
		}
		if err := p.start(); err != nil {
			return err
		}
		n.procs[m.name] = p
		n.stepf("starting %s on %s", m.name, node.Tapd.RPCHost)
	}
	return nil
}

// waitTapds waits until every tapd answers GetInfo.
func (n *network) waitTapds(ctx context.Context) error {
	began := time.Now()
	for _, node := range n.profile.Nodes {
		if node.Tapd == nil {
			continue
		}
		t := node.Tapd
		p := n.procs[t.Name]
		err := poll(ctx, n.opts.StartTimeout, t.Name+" to start",
			func(ctx context.Context) error {
				if err := p.alive(); err != nil {
					return &stopPolling{err}
				}
				for _, f := range []string{
					t.TLSCertPath, t.AdminMacaroonPath,
				} {
					if _, err := os.Stat(f); err != nil {
						return err
					}
				}
				conn, err := t.Dial()
				if err != nil {
					return err
				}
				defer conn.Close()
				_, err = taprpc.NewTaprootAssetsClient(conn).GetInfo(
					ctx, &taprpc.GetInfoRequest{},
				)
				return err
			})
		if err != nil {
			return p.nodeErr(err)
		}
	}
	n.stepf("tapd ready (%s)", roundDur(time.Since(began)))
	return nil
}

// closeClients closes the RPC clients bring-up opened.
func (n *network) closeClients() {
	for _, l := range n.lnds {
		if l.conn != nil {
			l.conn.Close()
		}
	}
	if n.chain != nil {
		n.chain.Close()
	}
}
