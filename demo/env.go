package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/internal/netlab"
)

// The netns mode's address plan, inside netlab's 198.18.0.0/24.
var (
	labVIP  = netlab.Addr(100)
	labPort = 5060 // the test PBXs' SIP port
	labHB   = 7946 // heartbeats
	labTB   = 7000 // the tie-breaker on the client host
)

// pairEnv is where the demo's two nodes run: on loopback with a simulated
// VIP, or in network namespaces with the real one.
type pairEnv struct {
	mode   string
	exe    string // this binary, run again for the nodes and the test PBXs
	dir    string // every file of the demo: configs, sockets, state, key
	lab    *netlab.Lab
	client *netlab.Host // netns: the client's namespace
	tb     net.Listener // the tie-breaker target
	nodes  []*demoNode
	out    *demoPrinter
	// defaults is the embedded default config, which the nodes' configs
	// start from.
	defaults *configs.Config
}

// demoNode is one node of the demo pair and its test PBX.
type demoNode struct {
	name   string
	host   *netlab.Host // netns only
	ip     netip.Addr
	hb     int    // heartbeat UDP port
	dir    string // its state_dir
	socket string // its control socket
	marker string // loopback: the simulated VIP, a file present while held
	pbxURI string // the SIP target its probe checks
	pbx    *child
	proc   *child
	ctl    *control.Client
}

// newPairEnv prepares the mode's network: on netns, the namespaces; on
// loopback, the addresses and free ports. Close it when done.
func newPairEnv(ctx context.Context, mode, dir, exe string, out *demoPrinter) (*pairEnv, error) {
	defaults, err := configs.Parse(configs.EmbeddedSource, configs.Default())
	if err != nil {
		return nil, fmt.Errorf("demo: embedded default config: %w", err)
	}
	e := &pairEnv{mode: mode, exe: exe, dir: dir, out: out, defaults: defaults}
	names := []string{"node-a", "node-b"}
	switch mode {
	case ModeNetns:
		err = e.buildLab(ctx, names)
	default:
		err = e.useLoopback(names)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	for _, n := range e.nodes {
		n.dir = filepath.Join(dir, n.name)
		n.socket = filepath.Join(n.dir, "pbxha.sock")
		n.ctl = control.NewClient(n.socket)
		if err := os.Mkdir(n.dir, 0o750); err != nil {
			e.close()
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	go serveTieBreaker(e.tb)
	return e, nil
}

// buildLab builds the namespaces n1, n2 and client on one bridge.
func (e *pairEnv) buildLab(ctx context.Context, names []string) error {
	if stale, err := netlab.RemoveStale(ctx); err != nil {
		return err
	} else if len(stale) > 0 {
		e.out.say("demo", "removed namespaces left by an earlier demo that was killed: %s", strings.Join(stale, " "))
	}
	lab, err := netlab.New(ctx, netlab.Options{Hosts: []string{"n1", "n2", "client"}})
	if err != nil {
		return err
	}
	e.lab, e.client = lab, lab.Host("client")
	for i, name := range names {
		h := lab.Hosts[i]
		// The test PBX listens on the VIP while another node holds it, as
		// a PBX of a pair does, so it answers there the moment this node
		// takes the VIP.
		if err := h.Sysctl("net.ipv4.ip_nonlocal_bind", "1"); err != nil {
			return err
		}
		e.nodes = append(e.nodes, &demoNode{name: name, host: h, ip: h.IP, hb: labHB})
	}
	return e.client.Do(func() (err error) {
		e.tb, err = net.Listen("tcp", netip.AddrPortFrom(e.client.IP, uint16(labTB)).String())
		return err
	})
}

// useLoopback puts node-a on 127.0.0.1 and node-b on 127.0.0.2, each on a
// free heartbeat port, and the tie-breaker on 127.0.0.1.
func (e *pairEnv) useLoopback(names []string) error {
	for i, name := range names {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i)})
		port, err := netlab.FreePort(ip)
		if err != nil {
			return fmt.Errorf("demo: heartbeat port for %s: %w", name, err)
		}
		e.nodes = append(e.nodes, &demoNode{name: name, ip: ip, hb: port, marker: filepath.Join(e.dir, "vip-held-by-"+name)})
	}
	var err error
	if e.tb, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fmt.Errorf("demo: tie-breaker: %w", err)
	}
	return nil
}

// serveTieBreaker accepts and closes connections, as a gateway that the
// tie-breaker check reaches would, until ln is closed.
func serveTieBreaker(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// vipText names the service address for people.
func (e *pairEnv) vipText() string {
	if e.mode == ModeNetns {
		return labVIP.String()
	}
	return "the simulated VIP"
}

// clientText says where the client sends its requests.
func (e *pairEnv) clientText() string {
	if e.mode == ModeNetns {
		return netip.AddrPortFrom(labVIP, uint16(labPort)).String() + " from the client namespace " + e.client.NS
	}
	return "the test PBX of the node holding the simulated VIP"
}

// command runs this binary with args, inside n's namespace in netns mode.
func (e *pairEnv) command(n *demoNode, args ...string) *exec.Cmd {
	if n.host != nil {
		return n.host.Command(e.exe, args...)
	}
	return exec.Command(e.exe, args...)
}

// startPBX starts n's test PBX and waits until it listens.
func (e *pairEnv) startPBX(ctx context.Context, n *demoNode) error {
	args := []string{"demo", "test-pbx", "--listen", netip.AddrPortFrom(n.ip, 0).String()}
	if e.mode == ModeNetns {
		args = []string{"demo", "test-pbx",
			"--listen", netip.AddrPortFrom(n.ip, uint16(labPort)).String(),
			"--listen", netip.AddrPortFrom(labVIP, uint16(labPort)).String()}
	}
	ready := make(chan string, 1)
	var once sync.Once
	c, err := startChild(n.name+" test PBX", e.command(n, args...), func(line string) {
		if addrs, ok := strings.CutPrefix(line, "ready "); ok {
			once.Do(func() { ready <- addrs })
			return
		}
		e.out.say(n.name+"-pbx", "%s", line)
	})
	if err != nil {
		return err
	}
	n.pbx = c
	select {
	case addrs := <-ready:
		first, _, _ := strings.Cut(addrs, " ")
		n.pbxURI = "sip:" + strings.TrimPrefix(first, "udp=") + ";transport=udp"
		return nil
	case <-c.done:
		return fmt.Errorf("demo: %s test PBX exited before it listened: %v", n.name, c.err)
	case <-time.After(15 * time.Second):
		return fmt.Errorf("demo: %s test PBX did not listen within 15s", n.name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// config is the embedded default config with only what the pair needs
// filled in. The probe, heartbeat and failover timings stay the defaults.
func (e *pairEnv) config(n, peer *demoNode, keyFile string) (*configs.Config, error) {
	cfg, err := configs.Parse(configs.EmbeddedSource, configs.Default())
	if err != nil {
		return nil, fmt.Errorf("demo: embedded default config: %w", err)
	}
	cfg.Node.Name, cfg.Node.Cluster = n.name, "demo"
	cfg.Control.Socket, cfg.StateDir = n.socket, n.dir
	for i := range cfg.Probes.SIP {
		cfg.Probes.SIP[i].Target = n.pbxURI
	}
	cfg.Peer.Paths = []configs.PeerPath{{
		Local: netip.AddrPortFrom(n.ip, uint16(n.hb)).String(),
		Peer:  netip.AddrPortFrom(peer.ip, uint16(peer.hb)).String(),
	}}
	cfg.Peer.KeyFile = keyFile
	cfg.Failover.TieBreakers = []string{e.tb.Addr().String()}
	if e.mode == ModeNetns {
		cfg.VIP.Mode, cfg.VIP.Interface, cfg.VIP.Label = "netlink", n.host.Link, n.host.Link+":vip"
		cfg.VIP.Address = labVIP.String() + "/32"
	} else {
		// The simulated VIP: a marker file that only the holder has.
		sh := func(name, script string) []string { return []string{"/bin/sh", "-c", script, name, n.marker} }
		cfg.VIP.Mode = "script"
		cfg.VIP.Script.Up = sh("vip-up", `: > "$1"`)
		cfg.VIP.Script.Down = sh("vip-down", `rm -f "$1"`)
		cfg.VIP.Script.Check = sh("vip-check", `test -e "$1"`)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo: %s config: %w", n.name, err)
	}
	return cfg, nil
}

// startNode writes n's config and runs `pbxha run -c` on it.
func (e *pairEnv) startNode(n, peer *demoNode, keyFile string) error {
	cfg, err := e.config(n, peer, keyFile)
	if err != nil {
		return err
	}
	b, err := configs.Marshal(cfg)
	if err != nil {
		return err
	}
	path := filepath.Join(n.dir, "pbxha.yaml")
	if err := os.WriteFile(path, b, 0o640); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	n.proc, err = startChild(n.name, e.command(n, "run", "-c", path), e.out.nodeLog(n.name))
	return err
}

// start runs both test PBXs, then both nodes, with a new shared key.
func (e *pairEnv) start(ctx context.Context) error {
	key := filepath.Join(e.dir, "pbxha.key")
	if err := failover.GenerateKey(key); err != nil {
		return err
	}
	for _, n := range e.nodes {
		if err := e.startPBX(ctx, n); err != nil {
			return err
		}
	}
	a, b := e.nodes[0], e.nodes[1]
	if err := e.startNode(a, b, key); err != nil {
		return err
	}
	return e.startNode(b, a, key)
}

// route is where the client's request goes: in netns mode the real VIP
// (the network decides who answers); on loopback the test PBX of the node
// whose marker file exists.
func (e *pairEnv) route() (target, via string, err error) {
	if e.mode == ModeNetns {
		return "sip:" + netip.AddrPortFrom(labVIP, uint16(labPort)).String() + ";transport=udp", "", nil
	}
	var holders []*demoNode
	for _, n := range e.nodes {
		if _, err := os.Stat(n.marker); err == nil {
			holders = append(holders, n)
		}
	}
	switch len(holders) {
	case 0:
		return "", "", errNoHolder
	case 1:
		return holders[0].pbxURI, holders[0].name + "'s PBX", nil
	}
	return "", "", errors.New("both nodes hold the VIP")
}

// within runs a client worker: inside the client namespace in netns mode.
func (e *pairEnv) within(fn func() error) error {
	if e.client != nil {
		return e.client.Do(fn)
	}
	return fn()
}

// close stops the nodes (each releases the VIP), then the test PBXs, by
// PID, and removes the namespaces.
func (e *pairEnv) close() error {
	var wg sync.WaitGroup
	for _, n := range e.nodes {
		if n.proc != nil {
			wg.Go(func() { n.proc.stop(10 * time.Second) })
		}
	}
	wg.Wait()
	for _, n := range e.nodes {
		if n.pbx != nil {
			wg.Go(func() { n.pbx.stop(5 * time.Second) })
		}
	}
	wg.Wait()
	if e.tb != nil {
		e.tb.Close()
	}
	if e.lab != nil {
		return e.lab.Close()
	}
	return nil
}

// other returns the node that is not n.
func (e *pairEnv) other(n *demoNode) *demoNode {
	if n == e.nodes[0] {
		return e.nodes[1]
	}
	return e.nodes[0]
}

// describe is one line per node for the start of the story.
func (e *pairEnv) describe(n *demoNode) string {
	where := "loopback"
	if n.host != nil {
		where = "namespace " + n.host.NS
	}
	return fmt.Sprintf("%s on %s (%s): test PBX %s, heartbeats on udp port %d, control socket %s",
		n.name, n.ip, where, n.pbxURI, n.hb, n.socket)
}

// node returns the node called name.
func (e *pairEnv) node(name string) *demoNode {
	for _, n := range e.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}
