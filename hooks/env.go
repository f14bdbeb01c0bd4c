package hooks

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Names of the environment variables pbxha passes to the commands it runs
// (hooks, the fence command, VIP scripts, database demote and stop
// commands). A variable is only set when the caller knows its value. Every
// name is in Reserved: the config loader never reads one as an override,
// so that a command can run any pbxha command with them set.
const (
	EnvEvent  = "PBXHA_EVENT"  // takeover, release, fence
	EnvNode   = "PBXHA_NODE"   // this node's name
	EnvPeer   = "PBXHA_PEER"   // the peer node's name
	EnvRole   = "PBXHA_ROLE"   // the role this node is moving to: primary, standby
	EnvEpoch  = "PBXHA_EPOCH"  // the epoch of the transition (decimal)
	EnvVIP    = "PBXHA_VIP"    // the service address, CIDR form (192.0.2.10/24)
	EnvReason = "PBXHA_REASON" // the one-line reason of the decision
	// EnvPeerHost is the peer's address on the first heartbeat path (an IP),
	// for commands that reach the peer: a fence agent, a database demotion.
	EnvPeerHost = "PBXHA_PEER_HOST"
	EnvPeerPort = "PBXHA_PEER_PORT" // database commands: the new primary's database port
	EnvAction   = "PBXHA_ACTION"    // VIP scripts: up, down, check; database commands: demote, stop, rejoin
	EnvVIPCIDR  = "PBXHA_VIP_CIDR"  // VIP scripts: the address with its prefix length
	EnvIface    = "PBXHA_INTERFACE" // VIP scripts: vip.interface
	// EnvConfig and EnvSocket name the config file and the control socket
	// of the daemon that runs the command: the daemon sets them in its own
	// environment at start, and they are the one pair of PBXHA_ variables a
	// command inherits, so that `pbxha status` in a hook reaches the daemon
	// that ran it. The CLI reads them as the defaults of -c and --socket.
	EnvConfig = "PBXHA_CONFIG"
	EnvSocket = "PBXHA_SOCKET"
)

// Reserved lists every variable name above, sorted: pbxha sets them for the
// commands it runs, and the config loader leaves them alone. No config key
// may have one of these names as its override (configs tests it).
func Reserved() []string {
	r := []string{EnvEvent, EnvNode, EnvPeer, EnvRole, EnvEpoch, EnvVIP, EnvReason, EnvPeerHost,
		EnvPeerPort, EnvAction, EnvVIPCIDR, EnvIface, EnvConfig, EnvSocket}
	slices.Sort(r)
	return r
}

// IsReserved reports whether name is one of Reserved.
func IsReserved(name string) bool {
	_, ok := slices.BinarySearch(Reserved(), name)
	return ok
}

// envPrefix marks pbxha's own variables, which are not inherited by hooks:
// configuration overrides (PBXHA_DATABASE_DSN...) may hold secrets.
const envPrefix = "PBXHA_"

// Vars is the event a hook runs for. Map turns it into environment
// variables; empty fields are left out.
type Vars struct {
	Event    string
	Node     string
	Peer     string
	PeerHost string
	Role     string
	Epoch    uint64
	VIP      string
	Reason   string
}

// Map returns the non-empty fields as PBXHA_* variables. Epoch 0 is left
// out (no takeover has happened yet).
func (v Vars) Map() map[string]string {
	m := map[string]string{}
	for k, val := range map[string]string{
		EnvEvent: v.Event, EnvNode: v.Node, EnvPeer: v.Peer, EnvPeerHost: v.PeerHost,
		EnvRole: v.Role, EnvVIP: v.VIP, EnvReason: v.Reason,
	} {
		if val != "" {
			m[k] = val
		}
	}
	if v.Epoch != 0 {
		m[EnvEpoch] = strconv.FormatUint(v.Epoch, 10)
	}
	return m
}

// Environ builds a hook's environment: base without PBXHA_* entries (but
// EnvConfig and EnvSocket), then vars in key order. A vars key overrides a
// base entry of the same name. Keys must be non-empty and hold neither "="
// nor NUL, and a PBXHA_ key must be Reserved; values must not hold NUL.
func Environ(base []string, vars map[string]string) ([]string, error) {
	for k, v := range vars {
		if err := checkVar(k, v); err != nil {
			return nil, err
		}
		if strings.HasPrefix(k, envPrefix) && !IsReserved(k) {
			return nil, fmt.Errorf("hooks: env %s: not a reserved name (hooks.Reserved); the config loader would read it as an override", k)
		}
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, envPrefix) && k != EnvConfig && k != EnvSocket {
			continue
		}
		if _, ok := vars[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// ParseEnv turns KEY=VALUE entries (a config file's env list) into a map,
// checking each entry as Environ does. Later entries win.
func ParseEnv(entries []string) (map[string]string, error) {
	m := make(map[string]string, len(entries))
	for i, kv := range entries {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			// Not quoted: an entry may hold a secret (PGPASSWORD:...).
			return nil, fmt.Errorf("hooks: env entry %d: want KEY=VALUE", i)
		}
		if err := checkVar(k, v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

func checkVar(k, v string) error {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		return fmt.Errorf("hooks: env name %q: must be non-empty without '=' or NUL", k)
	}
	if strings.ContainsRune(v, 0) {
		return fmt.Errorf("hooks: env %s: value holds a NUL byte", k)
	}
	return nil
}

// environ is Environ over pbxha's own environment.
func environ(vars map[string]string) ([]string, error) {
	return Environ(os.Environ(), vars)
}
