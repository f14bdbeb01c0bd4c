package configs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxha/pbxha/coord"
	"github.com/pbxha/pbxha/failover"
)

// Spellings of coordination.
const (
	CoordinationPeer = "peer"
	CoordinationEtcd = "etcd"
)

// UsesEtcd reports whether the nodes are coordinated through etcd.
func (c *Config) UsesEtcd() bool { return c.Coordination == CoordinationEtcd }

// etcd checks coordination and the etcd section.
func (ck *checker) etcd(c *Config) {
	oneOf(ck, "coordination", c.Coordination, CoordinationPeer, CoordinationEtcd)
	if c.Coordination != CoordinationEtcd {
		return
	}
	e := &c.Etcd
	if len(c.Peer.Paths) > 0 {
		ck.bad("peer.paths", "is set with coordination etcd: the nodes are coordinated either by heartbeats between two of them or through etcd, not both")
	}
	if len(c.Failover.FenceCommand) > 0 {
		ck.bad("failover.fence_command", "is not used with coordination etcd: etcd hands the leader key over only after the old leader's lease expired, and the old leader stepped down before")
	}
	// File sync and the standby rebuild pull from the peer of a pair
	// (sync.peer, the first heartbeat path); with etcd no node has one
	// peer, so they would do nothing: refuse them rather than ignore them.
	if len(c.Sync.Directories) > 0 {
		ck.bad("sync.directories", "is not built for coordination etcd: the standby of a pair pulls them from its peer, and with etcd no node has one peer; keep them in step by other means (docs/etcd.md)")
	}
	if db := c.Database; db.DataDir != "" || len(db.StartCommand) > 0 || db.RebuildOnRewindFailure {
		ck.bad("database.data_dir", "and the other standby rebuild keys are not built for coordination etcd: pbxha standby rebuild clones from the peer of a pair; rebuild a standby by hand (docs/etcd.md)")
	}
	if len(e.Endpoints) == 0 {
		ck.bad("etcd.endpoints", "must list at least one etcd client URL with coordination etcd, e.g. https://10.1.1.11:2379")
	}
	for i, ep := range e.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			ck.bad(fmt.Sprintf("etcd.endpoints[%d]", i), "%q must be an http:// or https:// URL with a host and a port, e.g. https://10.1.1.11:2379", ep)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") || strings.ContainsAny(e.Prefix, " \t\r\n") {
		ck.bad("etcd.prefix", "%q must start with / and hold no blanks, e.g. /pbxha", e.Prefix)
	}
	p := c.CoordPolicy()
	switch {
	case e.LeaseTTL < time.Second || e.LeaseTTL%time.Second != 0:
		ck.bad("etcd.lease_ttl", "%s must be a whole number of seconds, at least 1s: etcd counts lease TTLs in seconds", ck.show("etcd.lease_ttl", e.LeaseTTL))
	case p.StepDownAt(time.Time{}.Add(e.LeaseTTL)).Sub(time.Time{}) < e.LeaseTTL/2:
		ck.bad("etcd.lease_ttl", "%s leaves too little room: a leader starts stepping down %s before its lease can expire (step-down budget %s plus %s margin), which must be at most half the TTL so that a renewal can fail and be tried again first; raise lease_ttl or lower failover.step_down_budget",
			ck.show("etcd.lease_ttl", e.LeaseTTL), p.StepDown+p.Margin(), p.StepDown, p.Margin())
	}
	if e.Priority < 0 {
		ck.bad("etcd.priority", "%d must not be negative (0: never leads)", e.Priority)
	}
	for _, f := range []struct{ key, path string }{{"etcd.ca_file", e.CAFile}, {"etcd.cert_file", e.CertFile}, {"etcd.key_file", e.KeyFile}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			ck.bad(f.key, "%q must be an absolute path", f.path)
		}
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		ck.bad("etcd.cert_file", "and etcd.key_file go together: a client certificate needs its key")
	}
}

// etcdHost checks on this host what coordination etcd needs: the TLS files
// load, and the VIP can be added here, as in a pair.
func (ck *checker) etcdHost(c *Config) {
	if !c.UsesEtcd() {
		return
	}
	if _, key, err := c.etcdTLS(); err != nil {
		ck.bad("etcd."+key, "%s", fileMsg(err))
	}
	for _, p := range c.VIPConfig().CheckHost() {
		ck.bad(p.Key, "%s", p.Msg)
	}
}

// CoordPolicy is the decision policy of a node coordinated through etcd,
// from etcd, failover and database.
func (c *Config) CoordPolicy() coord.Policy {
	p := coord.Policy{LeaseTTL: c.Etcd.LeaseTTL, StepDown: c.StepDownBudget(), RestartGrace: c.Failover.RestartGrace,
		FailbackDelay: c.Failover.FailbackDelay}
	p.Mode, _ = failover.ParseMode(c.Failover.Mode)
	p.Failback, _ = failover.ParseFailback(c.Failover.Failback)
	if c.Database.DSN != "" {
		p.MaxLagBytes, p.AllowLag = c.maxLag(), c.Database.AllowLag
		p.LagTransactions = c.DatabaseKind().MySQLFamily()
	}
	return p
}

// EtcdTLS returns the TLS settings for the etcd client: nil with plain
// http endpoints and no TLS files.
func (c *Config) EtcdTLS() (*tls.Config, error) {
	cfg, key, err := c.etcdTLS()
	if err != nil {
		return nil, fmt.Errorf("etcd.%s: %s", key, fileMsg(err))
	}
	return cfg, nil
}

// etcdTLS is EtcdTLS, the failure's key (ca_file, cert_file) apart.
func (c *Config) etcdTLS() (*tls.Config, string, error) {
	e := c.Etcd
	https := false
	for _, ep := range e.Endpoints {
		https = https || strings.HasPrefix(ep, "https://")
	}
	if !https && e.CAFile == "" && e.CertFile == "" {
		return nil, "", nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		b, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, "ca_file", err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, "ca_file", fmt.Errorf("%s holds no PEM certificate", e.CAFile)
		}
		cfg.RootCAs = pool
	}
	if e.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, "cert_file", err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, "", nil
}
