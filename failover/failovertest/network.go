// Package failovertest provides an in-memory heartbeat network for tests of
// the failover package and its users: two endpoints joined by paths that can
// be cut, made lossy, delayed or partitioned, driven by a seeded random source
// and the caller's clock.
package failovertest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/pbxha/pbxha/failover"
)

// recvQueue bounds each endpoint's receive channel; packets beyond it are
// dropped and counted, as a real socket buffer would.
const recvQueue = 1024

// Network joins two endpoints (0 and 1) with a number of paths. All paths
// start connected, lossless and without delay. Its methods may be called
// concurrently.
type Network struct {
	mu     sync.Mutex
	rng    *rand.Rand
	now    func() time.Time
	paths  []pathState
	queue  []inflight
	ends   [2]*Endpoint
	closed [2]bool
}

type pathState struct {
	down  [2]bool // down[i]: packets from endpoint i are lost
	drop  float64 // probability a packet is lost
	delay time.Duration
}

type inflight struct {
	at  time.Time
	to  int
	pkt failover.Packet
}

// Stats counts one endpoint's traffic.
type Stats struct {
	Sent      uint64 // packets handed to a path (one per path per Send)
	Lost      uint64 // lost to a cut path or the drop rate
	Delivered uint64 // received by this endpoint
	Overflow  uint64 // dropped because this endpoint's queue was full
}

// NewNetwork returns a network of paths paths. seed makes loss reproducible;
// now is the clock that delays are measured against (a manual clock in
// simulations).
func NewNetwork(seed uint64, paths int, now func() time.Time) *Network {
	n := &Network{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: now, paths: make([]pathState, paths)}
	for i := range n.ends {
		n.ends[i] = &Endpoint{net: n, id: i, recv: make(chan failover.Packet, recvQueue)}
	}
	return n
}

// Endpoint returns endpoint i (0 or 1), a failover.Transport.
func (n *Network) Endpoint(i int) *Endpoint { return n.ends[i] }

// Disconnect cuts path in both directions.
func (n *Network) Disconnect(path int) {
	n.set(path, func(p *pathState) { p.down = [2]bool{true, true} })
}

// Connect restores path in both directions.
func (n *Network) Connect(path int) { n.set(path, func(p *pathState) { p.down = [2]bool{} }) }

// Block cuts path in one direction only: packets sent by endpoint from are lost.
func (n *Network) Block(path, from int) { n.set(path, func(p *pathState) { p.down[from] = true }) }

// Partition cuts every path; Heal connects every path again.
func (n *Network) Partition() {
	for i := range n.paths {
		n.Disconnect(i)
	}
}

// Heal connects every path.
func (n *Network) Heal() {
	for i := range n.paths {
		n.Connect(i)
	}
}

// SetDropRate makes path lose each packet with probability rate (0..1).
func (n *Network) SetDropRate(path int, rate float64) {
	n.set(path, func(p *pathState) { p.drop = rate })
}

// SetDelay delays every packet on path by d; delayed packets arrive when
// Deliver is called at or after their time.
func (n *Network) SetDelay(path int, d time.Duration) {
	n.set(path, func(p *pathState) { p.delay = d })
}

func (n *Network) set(path int, f func(*pathState)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(&n.paths[path])
}

// Deliver hands every delayed packet whose time has come to its endpoint and
// returns how many it delivered.
func (n *Network) Deliver() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	count := 0
	n.queue = slices.DeleteFunc(n.queue, func(f inflight) bool {
		if f.at.After(now) {
			return false
		}
		n.deliverLocked(f.to, f.pkt)
		count++
		return true
	})
	return count
}

// deliverLocked puts pkt into endpoint to's queue. n.mu is held.
func (n *Network) deliverLocked(to int, pkt failover.Packet) {
	e := n.ends[to]
	if n.closed[to] {
		return
	}
	select {
	case e.recv <- pkt:
		e.stats.Delivered++
	default:
		e.stats.Overflow++
	}
}

// Endpoint is one side of a Network; it implements failover.Transport.
type Endpoint struct {
	net   *Network
	id    int
	recv  chan failover.Packet
	stats Stats // guarded by net.mu
}

var _ failover.Transport = (*Endpoint)(nil)

// Send offers a copy of b to every path towards the other endpoint.
func (e *Endpoint) Send(b []byte) error {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed[e.id] {
		return fmt.Errorf("failovertest: send from endpoint %d: %w", e.id, errors.ErrUnsupported)
	}
	to := 1 - e.id
	now := n.now()
	for i, p := range n.paths {
		e.stats.Sent++
		lost := p.down[e.id] || (p.drop > 0 && n.rng.Float64() < p.drop)
		if lost {
			e.stats.Lost++
			continue
		}
		pkt := failover.Packet{Path: i, Data: append([]byte(nil), b...)}
		if p.delay <= 0 {
			n.deliverLocked(to, pkt)
			continue
		}
		n.queue = append(n.queue, inflight{at: now.Add(p.delay), to: to, pkt: pkt})
	}
	return nil
}

// Recv returns the endpoint's receive channel.
func (e *Endpoint) Recv() <-chan failover.Packet { return e.recv }

// Close closes the receive channel; later Sends fail and packets to this
// endpoint are discarded.
func (e *Endpoint) Close() error {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed[e.id] {
		n.closed[e.id] = true
		close(e.recv)
	}
	return nil
}

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() Stats {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	return e.stats
}
