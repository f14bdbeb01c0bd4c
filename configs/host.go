package configs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/filesync"
	"github.com/pbxha/pbxha/sipcheck"
)

// Preflight is Load followed by CheckHost: it returns every problem that
// would stop `pbxha run` from starting with the file, static and host ones
// together, as one *Error. `pbxha config check`, `pbxha run` and a SIGHUP
// reload all call it, so that config check accepts exactly what run
// accepts.
func Preflight(path string) (*Config, error) {
	return preflight(path, DefaultPath)
}

func preflight(path, defaultPath string) (*Config, error) {
	name, data, err := read(path, defaultPath)
	if err != nil {
		return nil, err
	}
	c, ps := parse(name, data)
	if c != nil {
		// Also on a config with problems, so that all of them come at once;
		// a key that already has a problem is not checked again.
		c.checkHost(ps)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckHost runs the checks of a loaded config that need this machine, the
// ones the daemon would otherwise meet only as it starts: files the config
// names exist and hold what they should (key_file as failover.LoadKey reads
// it, secret and password files as regular files, CA bundles), the
// supervised PBX's user and group exist, the heartbeat addresses belong to
// this host and no other user's process holds their ports, the control
// socket path holds nothing but a socket, the epoch file reads, state_dir
// is or can be made a writable directory with room, and the VIP's
// interface exists and the address would not vanish as a secondary one.
// It changes nothing. It returns an *Error listing every problem, or nil.
func (c *Config) CheckHost() error {
	ps := &problems{}
	c.checkHost(ps)
	return ps.err()
}

func (c *Config) checkHost(ps *problems) {
	file := c.Source
	if file == "" {
		file = "config"
	}
	ck := &checker{ps: ps, file: file, origins: c.origins}
	ck.stateDir(c.StateDir)
	if filepath.IsAbs(c.Control.Socket) {
		if err := control.CheckSocketPath(c.Control.Socket); err != nil {
			ck.bad("control.socket", "%s", err)
		}
	}
	for i, p := range c.Probes.SIP {
		t, err := sipcheck.ParseTarget(p.Target)
		if p.TLS.CAFile == "" || err != nil || t.Transport != sipcheck.TransportTLS {
			continue
		}
		if _, err := sipcheck.ReadCAFile(p.TLS.CAFile); err != nil {
			ck.bad(fmt.Sprintf("probes.sip[%d].tls.ca_file", i), "%s", fileMsg(err))
		}
	}
	for i, p := range c.Probes.ESL {
		ck.secretFile(fmt.Sprintf("probes.esl[%d].password_file", i), p.Password, p.PasswordFile, true)
	}
	for i, p := range c.Probes.AMI {
		ck.secretFile(fmt.Sprintf("probes.ami[%d].secret_file", i), p.Secret, p.SecretFile, true)
	}
	for _, p := range c.SupervisorConfig().CheckHost() {
		ck.bad("pbx.supervise."+p.Key, "%s", p.Msg)
	}
	for i, e := range c.Alerts.Endpoints {
		ck.secretFile(fmt.Sprintf("alerts.endpoints[%d].secret_file", i), e.Secret, e.SecretFile, false)
	}
	ck.etcdHost(c)
	if len(c.Peer.Paths) == 0 {
		return // mode single: no key, no heartbeat sockets, no epoch, no VIP
	}
	if filepath.IsAbs(c.Peer.KeyFile) {
		if _, err := failover.LoadKey(c.Peer.KeyFile); err != nil {
			ck.bad("peer.key_file", "%s", keyMsg(c.Peer.KeyFile, err))
		}
	}
	if filepath.IsAbs(c.Peer.NextKeyFile) {
		if _, err := failover.LoadKey(c.Peer.NextKeyFile); err != nil {
			ck.bad("peer.next_key_file", "%s", keyMsg(c.Peer.NextKeyFile, err))
		}
	}
	ck.localAddrs(c.Peer.Paths)
	if filepath.IsAbs(c.StateDir) {
		if _, err := failover.LoadEpoch(c.StateDir); err != nil {
			ck.bad("state_dir", "%s", strings.TrimPrefix(err.Error(), "failover: load epoch "))
		}
	}
	for _, p := range c.VIPConfig().CheckHost() {
		ck.bad(p.Key, "%s", p.Msg)
	}
	if len(c.Sync.Directories) > 0 {
		if filepath.IsAbs(c.Sync.SecretsFile) {
			if _, _, err := filesync.ReadSecrets(c.Sync.SecretsFile); err != nil {
				ck.bad("sync.secrets_file", "%s", strings.TrimPrefix(err.Error(), "filesync: secrets file "))
			}
		}
		if _, err := exec.LookPath("rsync"); err != nil {
			ck.bad("sync.directories", "need rsync, which is not installed (apt install rsync)")
		}
	}
	if c.Database.DSN != "" && c.RebuildConfig().Enabled() {
		for _, p := range c.RebuildConfig().CheckHost() {
			ck.bad("database."+p.Key, "%s", p.Msg)
		}
	}
}

// ReadSecret returns value, or the contents of file without its trailing
// line break when file is set. The daemon reads its secrets with it, and
// CheckHost checks the files with it.
func ReadSecret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := readRegular(file)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return v, nil
}

// maxSecretFile bounds what ReadSecret reads: a secret is a line.
const maxSecretFile = 64 << 10

// readRegular reads a regular file of at most maxSecretFile bytes. It opens
// without blocking, so a FIFO or a device at path is refused at once instead
// of hanging the start.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes, not a secret", path, maxSecretFile)
	}
	return b, nil
}

// secretFile checks a secret file as the daemon reads it; oneLine: the
// secret goes into a line-based protocol (ESL, AMI).
func (ck *checker) secretFile(key, value, file string, oneLine bool) {
	if file == "" || value != "" || !filepath.IsAbs(file) {
		return // none, or a static problem already
	}
	v, err := ReadSecret(value, file)
	switch {
	case err != nil:
		ck.bad(key, "%s", fileMsg(err))
	case oneLine && strings.ContainsAny(v, "\r\n"):
		ck.bad(key, "%s holds more than one line; the secret must be a single line", file)
	}
}

// stateDir checks that state_dir is, or can be made, a directory that takes
// writes and has room (failover.StateDirProblem: writable, at least
// failover.MinStateDirFree bytes free): the daemon creates it when it is
// missing, and keeps the epoch, the event log and the alert outbox there.
func (ck *checker) stateDir(dir string) {
	if !filepath.IsAbs(dir) {
		return
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && p != filepath.Dir(p):
			continue
		case err != nil:
			return // not knowable from here (permissions); the daemon will say
		case !fi.IsDir() && p == dir:
			ck.bad("state_dir", "%q is not a directory", dir)
		case !fi.IsDir():
			ck.bad("state_dir", "%q cannot be created: %s is not a directory", dir, p)
		default:
			err := failover.StateDirProblem(p)
			if err == nil || (errors.Is(err, fs.ErrPermission) && os.Geteuid() != 0) {
				return // a check by another user than root, who runs the daemon, cannot tell
			}
			msg := strings.TrimPrefix(err.Error(), "failover: state dir ")
			if p == dir {
				ck.bad("state_dir", "%s", msg)
			} else {
				ck.bad("state_dir", "%s cannot be created: %s", dir, msg)
			}
		}
		return
	}
}

// localAddrs checks that each heartbeat path's local address can be bound
// here, as the daemon binds it: the kernel is asked, with port 0 so that a
// running daemon's own sockets are no obstacle.
func (ck *checker) localAddrs(paths []PeerPath) {
	for i, p := range paths {
		ap, err := netip.ParseAddrPort(p.Local)
		if err != nil {
			continue // a static problem already
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), 0)))
		if err == nil {
			c.Close()
			ck.portTaken(fmt.Sprintf("peer.paths[%d].local", i), ap)
			continue
		}
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			ck.bad(fmt.Sprintf("peer.paths[%d].local", i),
				"%s is not an address of this host, so the heartbeat socket cannot be bound to it (is local swapped with peer?)", ap.Addr())
		}
	}
}

// portTaken reports a heartbeat port already bound by a process of another
// user, which would stop the daemon at start. A socket of the checking
// user or of root may be pbxha's own (a running daemon, with config check
// run beside it by root or another user, or the daemon's own reload) and is
// no problem here; if it is not pbxha, the start says so.
func (ck *checker) portTaken(key string, ap netip.AddrPort) {
	if ap.Port() == 0 {
		return
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err == nil {
		c.Close()
		return
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return
	}
	uid, ok := udpOwner(ap)
	if !ok || int(uid) == os.Geteuid() || uid == 0 {
		return
	}
	who := "uid " + strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		who = fmt.Sprintf("user %s (%s)", u.Username, who)
	}
	ck.bad(key, "port %d on %s is already bound by a process of %s, so the heartbeat socket cannot be bound; stop that process or choose another port (one below 1024, which only root may bind, cannot be taken first by an unprivileged user)",
		ap.Port(), ap.Addr(), who)
}

// fileMsg words an error about reading a file named by the config.
func fileMsg(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot read %s: %v", pe.Path, pe.Err)
	}
	return err.Error()
}

// keyMsg words failover.LoadKey's error about path without repeating its
// prefix.
func keyMsg(path string, err error) string {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("cannot read %s: %v (pbxha keygen writes a key)", pe.Path, pe.Err)
	case errors.As(err, &pe):
		return fmt.Sprintf("cannot read %s: %v", pe.Path, pe.Err)
	}
	return path + ": " + strings.TrimPrefix(err.Error(), "failover: load key "+path+": ")
}
