package configs

import "reflect"

// restartOnly lists the keys a reload cannot change (peer.key_file and
// peer.next_key_file can: a SIGHUP reads the keys again), with where each
// lives:
// the parts of the daemon built from them at start (the sockets, the
// supervised PBX, alert delivery, the pair, its resources and hooks, the
// state directory and the node's identity in heartbeats and events) keep
// the value they started with until the next start.
var restartOnly = []struct {
	key string
	at  func(*Config) any // a pointer to the key's value
}{
	{"node.name", func(c *Config) any { return &c.Node.Name }},
	{"node.cluster", func(c *Config) any { return &c.Node.Cluster }},
	{"log.format", func(c *Config) any { return &c.Log.Format }},
	{"control.socket", func(c *Config) any { return &c.Control.Socket }},
	{"metrics.listen", func(c *Config) any { return &c.Metrics.Listen }},
	{"state_dir", func(c *Config) any { return &c.StateDir }},
	{"events", func(c *Config) any { return &c.Events }},
	{"pbx.supervise", func(c *Config) any { return &c.PBX.Supervise }},
	{"pbx.takeover_esl", func(c *Config) any { return &c.PBX.TakeoverESL }},
	{"pbx.takeover_esl_timeout", func(c *Config) any { return &c.PBX.TakeoverESLTimeout }},
	{"pbx.takeover_ami", func(c *Config) any { return &c.PBX.TakeoverAMI }},
	{"pbx.takeover_ami_timeout", func(c *Config) any { return &c.PBX.TakeoverAMITimeout }},
	{"alerts", func(c *Config) any { return &c.Alerts }},
	{"peer.paths", func(c *Config) any { return &c.Peer.Paths }},
	{"peer.interval", func(c *Config) any { return &c.Peer.Interval }},
	{"peer.dead_after", func(c *Config) any { return &c.Peer.DeadAfter }},
	{"peer.init_dead", func(c *Config) any { return &c.Peer.InitDead }},
	{"coordination", func(c *Config) any { return &c.Coordination }},
	{"etcd", func(c *Config) any { return &c.Etcd }},
	{"failover", func(c *Config) any { return &c.Failover }},
	{"vip", func(c *Config) any { return &c.VIP }},
	{"database", func(c *Config) any { return &c.Database }},
	{"hooks", func(c *Config) any { return &c.Hooks }},
	{"sync", func(c *Config) any { return &c.Sync }},
}

// RestartOnlyKeys lists the keys that take effect only at the next start,
// in the order of the file.
func RestartOnlyKeys() []string {
	out := make([]string, len(restartOnly))
	for i, r := range restartOnly {
		out[i] = r.key
	}
	return out
}

// KeepRestartOnly prepares next, a reloaded config, to replace running: it
// puts back running's value of every key a reload cannot change and returns
// those keys whose value in next differed (pending a restart), without
// their values, which may hold secrets.
func KeepRestartOnly(running, next *Config) (pending []string) {
	for _, r := range restartOnly {
		was, now := reflect.ValueOf(r.at(running)).Elem(), reflect.ValueOf(r.at(next)).Elem()
		if !reflect.DeepEqual(was.Interface(), now.Interface()) {
			pending = append(pending, r.key)
		}
		now.Set(was)
	}
	return pending
}
