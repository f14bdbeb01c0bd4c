package etcdha

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pbxha/pbxha/coord"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/probe"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keys are the cluster's keys in etcd, under <prefix>/<cluster>/.
type keys struct{ base string }

func newKeys(prefix, cluster string) keys {
	return keys{base: strings.TrimRight(prefix, "/") + "/" + cluster + "/"}
}

func (k keys) leader() string            { return k.base + "leader" }
func (k keys) epoch() string             { return k.base + "epoch" }
func (k keys) optime() string            { return k.base + "optime" }
func (k keys) switchover() string        { return k.base + "switchover" }
func (k keys) members() string           { return k.base + "members/" }
func (k keys) member(node string) string { return k.base + "members/" + node }

// memberDoc is a node's member key: what it publishes of itself, kept
// alive by its lease.
type memberDoc struct {
	Node        string    `json:"node"`
	Role        string    `json:"role"`
	Health      string    `json:"health"`
	Eligible    bool      `json:"eligible"`
	Priority    int       `json:"priority"`
	DB          string    `json:"db,omitempty"`
	WAL         uint64    `json:"wal,omitempty"`
	Maintenance bool      `json:"maintenance,omitempty"`
	Probes      string    `json:"probes,omitempty"`
	PBX         string    `json:"pbx,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"` // when it was written, the writer's clock
}

// same reports whether a and b differ only in what is republished on a
// schedule (the position and the time).
func (a memberDoc) same(b memberDoc) bool {
	a.WAL, b.WAL, a.At, b.At = 0, 0, time.Time{}, time.Time{}
	return a == b
}

// requestDoc is the switchover key.
type requestDoc struct {
	ID    string    `json:"id"`
	To    string    `json:"to,omitempty"`
	Force bool      `json:"force,omitempty"`
	From  string    `json:"from"`           // the node that asked
	Away  string    `json:"away,omitempty"` // the leader when asked: with no target, the node to move away from
	At    time.Time `json:"at"`
}

// view is the cluster as the watch last showed it.
type view struct {
	rev         int64
	leader      string
	leaderLease clientv3.LeaseID
	epoch       uint64
	epochRev    int64 // the epoch key's mod revision (0: absent)
	optime      uint64
	switchover  requestDoc
	members     map[string]memberDoc
}

// apply updates the view with one key's new value (del: deleted).
func (v *view) apply(k keys, kv *mvccpb.KeyValue, del bool) error {
	key := string(kv.Key)
	switch {
	case key == k.leader():
		v.leader, v.leaderLease = "", 0
		if !del {
			v.leader, v.leaderLease = string(kv.Value), clientv3.LeaseID(kv.Lease)
		}
	case key == k.epoch():
		v.epoch, v.epochRev = 0, 0
		if !del {
			n, err := strconv.ParseUint(string(kv.Value), 10, 64)
			if err != nil {
				return fmt.Errorf("epoch %q: %w", kv.Value, err)
			}
			v.epoch, v.epochRev = n, kv.ModRevision
		}
	case key == k.optime():
		if !del {
			n, err := strconv.ParseUint(string(kv.Value), 10, 64)
			if err != nil {
				return fmt.Errorf("optime %q: %w", kv.Value, err)
			}
			v.optime = n
		}
	case key == k.switchover():
		v.switchover = requestDoc{}
		if !del {
			if err := json.Unmarshal(kv.Value, &v.switchover); err != nil {
				return fmt.Errorf("switchover: %w", err)
			}
		}
	case strings.HasPrefix(key, k.members()):
		node := strings.TrimPrefix(key, k.members())
		if del {
			delete(v.members, node)
			return nil
		}
		var m memberDoc
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return fmt.Errorf("member %s: %w", node, err)
		}
		m.Node = node
		v.members[node] = m
	}
	return nil
}

// member turns a member key into the decision's view of it.
func (m memberDoc) member(eligibleSince time.Time) coord.Member {
	return coord.Member{Node: m.Node, Role: parseRole(m.Role), Health: parseHealth(m.Health), Eligible: m.Eligible,
		Priority: m.Priority, DB: parseDBRole(m.DB), WAL: m.WAL, Maintenance: m.Maintenance, EligibleSince: eligibleSince}
}

func parseRole(s string) failover.Role {
	for r := failover.RoleInit; r <= failover.RoleMaintenance; r++ {
		if r.String() == s {
			return r
		}
	}
	return failover.RoleInit
}

func parseHealth(s string) probe.Health {
	for _, h := range []probe.Health{probe.Healthy, probe.HealthDegraded, probe.HealthFailed} {
		if h.String() == s {
			return h
		}
	}
	return probe.HealthUnknown
}

func parseDBRole(s string) failover.DBRole {
	for _, d := range []failover.DBRole{failover.DBPrimary, failover.DBStandby, failover.DBUnknown} {
		if d.String() == s {
			return d
		}
	}
	return failover.DBNone
}
