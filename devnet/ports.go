package devnet

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
)

// Port plan: each network takes one block of blockSize ports starting at a
// base picked from a hash of its directory, so the same directory gets the
// same ports each time and two directories rarely collide. When any port of
// the block is taken, the next block is tried.
//
// The blocks lie below Linux's ephemeral range (32768-60999 by default):
// there an outgoing connection's source port could take a listener's port
// between the check and the daemon's bind, which was seen in CI.
const (
	portRangeStart = 20000
	portBlocks     = 127 // blocks between 20000 and 32699
	blockSize      = 100
	maxBlockTries  = 20
)

// Offsets of each listener inside a network's port block.
const (
	offBtcdRPC      = 0
	offBtcdP2P      = 1
	offMinerRPC     = 2
	offMinerP2P     = 3
	offLndBase      = 10 // +5 per lnd node: rpc, rest, p2p; ten nodes
	offTapdBase     = 60 // +2 per tapd node: rpc, rest; ten nodes
	offSluicedRPC   = 80
	offLndStride    = 5
	offTapdStride   = 2
	offLndRPC       = 0
	offLndREST      = 1
	offLndP2P       = 2
	offTapdRPC      = 0
	offTapdREST     = 1
	loopbackAddress = "127.0.0.1"
)

// ErrNoFreePorts is returned when no block of ports is free.
var ErrNoFreePorts = errors.New("no free block of ports")

// ports is the port block of one network.
type ports struct {
	base int
}

func (p ports) addr(offset int) string {
	return net.JoinHostPort(loopbackAddress, strconv.Itoa(p.base+offset))
}

func (p ports) btcdRPC() string  { return p.addr(offBtcdRPC) }
func (p ports) btcdP2P() string  { return p.addr(offBtcdP2P) }
func (p ports) minerRPC() string { return p.addr(offMinerRPC) }
func (p ports) minerP2P() string { return p.addr(offMinerP2P) }
func (p ports) sluiced() string  { return p.addr(offSluicedRPC) }
func (p ports) lnd(i, off int) string {
	return p.addr(offLndBase + i*offLndStride + off)
}
func (p ports) tapd(i, off int) string {
	return p.addr(offTapdBase + i*offTapdStride + off)
}

// offsets lists every offset the network listens on.
func offsets(lndNodes, tapdNodes int) []int {
	offs := []int{
		offBtcdRPC, offBtcdP2P, offMinerRPC, offMinerP2P, offSluicedRPC,
	}
	for i := 0; i < lndNodes; i++ {
		for _, o := range []int{offLndRPC, offLndREST, offLndP2P} {
			offs = append(offs, offLndBase+i*offLndStride+o)
		}
	}
	for i := 0; i < tapdNodes; i++ {
		for _, o := range []int{offTapdRPC, offTapdREST} {
			offs = append(offs, offTapdBase+i*offTapdStride+o)
		}
	}
	return offs
}

// preferredBase is the first port of the block a directory hashes to.
func preferredBase(dir string) int {
	h := fnv.New32a()
	h.Write([]byte(dir))
	return portRangeStart + int(h.Sum32()%portBlocks)*blockSize
}

// pickPorts returns the first block, from the directory's preferred one on,
// whose listeners are all free on 127.0.0.1. isFree is a parameter so tests
// can simulate taken ports.
func pickPorts(dir string, offs []int, isFree func(port int) bool) (ports,
	error) {

	first := (preferredBase(dir) - portRangeStart) / blockSize
	for try := 0; try < maxBlockTries; try++ {
		base := portRangeStart + ((first+try)%portBlocks)*blockSize
		free := true
		for _, o := range offs {
			if !isFree(base + o) {
				free = false
				break
			}
		}
		if free {
			return ports{base: base}, nil
		}
	}
	return ports{}, fmt.Errorf("%w: tried %d blocks of %d from port %d",
		ErrNoFreePorts, maxBlockTries, blockSize, preferredBase(dir))
}

// portFree reports whether a TCP listener can bind 127.0.0.1:port now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(
		loopbackAddress, strconv.Itoa(port)),
	)
	if err != nil {
		return false
	}
	l.Close()
	return true
}
