// Package configs defines pbxha's configuration file: its schema, the embedded
// default, loading with viper (YAML plus PBXHA_ environment overrides) and
// validation that reports every problem with file, key and reason.
package configs

import "time"

// Config is the whole pbxha.yaml. Only cmd/pbxha, daemon (which wires it)
// and this package know it; every other package takes its own small config
// struct.
type Config struct {
	Node     Node    `mapstructure:"node" yaml:"node" json:"node"`                // this server and the pair it belongs to
	Log      Log     `mapstructure:"log" yaml:"log" json:"log"`                   // log format and level
	Control  Control `mapstructure:"control" yaml:"control" json:"control"`       // the local control API
	Metrics  Metrics `mapstructure:"metrics" yaml:"metrics" json:"metrics"`       // the optional Prometheus listener
	StateDir string  `mapstructure:"state_dir" yaml:"state_dir" json:"state_dir"` // where the epoch, the event log and the alert outbox are kept; an absolute path
	History  int     `mapstructure:"history" yaml:"history" json:"history"`       // how many past results of each probe status keeps (probes[].history), 1 to 1000
	Events   Events  `mapstructure:"events" yaml:"events" json:"events"`          // the local event log behind `pbxha events`
	Probes   Probes  `mapstructure:"probes" yaml:"probes" json:"probes"`          // the health checks, a list per kind
	PBX      PBX     `mapstructure:"pbx" yaml:"pbx" json:"pbx"`                   // the local PBX process and how pbxha keeps it running
	Alerts   Alerts  `mapstructure:"alerts" yaml:"alerts" json:"alerts"`          // webhook alerts and their durable outbox
	Peer     Peer    `mapstructure:"peer" yaml:"peer" json:"peer"`                // the other node of the pair; without paths this node runs alone
	// Coordination is peer (two nodes over heartbeats, peer.paths) or etcd
	// (any number of nodes through an etcd cluster, etcd).
	Coordination string   `mapstructure:"coordination" yaml:"coordination" json:"coordination"`
	Etcd         Etcd     `mapstructure:"etcd" yaml:"etcd" json:"etcd"`             // the etcd cluster that coordinates the nodes (coordination etcd)
	Failover     Failover `mapstructure:"failover" yaml:"failover" json:"failover"` // the failover policy, the same on both nodes
	VIP          VIP      `mapstructure:"vip" yaml:"vip" json:"vip"`                // the service address the primary holds
	Database     Database `mapstructure:"database" yaml:"database" json:"database"` // the PostgreSQL, MariaDB or MySQL server whose primary role moves with the VIP
	Hooks        Hooks    `mapstructure:"hooks" yaml:"hooks" json:"hooks"`          // commands run on takeover and release
	Sync         Sync     `mapstructure:"sync" yaml:"sync" json:"sync"`             // directories (recordings, voicemail, prompts) the standby pulls from the primary with rsync

	// Source names where the file came from: its path, or "embedded default".
	Source string `mapstructure:"-" yaml:"-" json:"-"`
	// Env lists the PBXHA_ environment variables that overrode keys, sorted.
	Env []string `mapstructure:"-" yaml:"-" json:"-"`

	origins map[string]string // key path -> source of its value; absent means the default
}

// Node names this server of the pair.
type Node struct {
	Name    string `mapstructure:"name" yaml:"name" json:"name"`          // this server's name in the pair, e.g. node-a; empty: the host name
	Cluster string `mapstructure:"cluster" yaml:"cluster" json:"cluster"` // the pair's name, the same on both nodes
}

// Log selects the log format and level.
type Log struct {
	Format string `mapstructure:"format" yaml:"format" json:"format"` // text (logfmt-like lines) or json
	Level  string `mapstructure:"level" yaml:"level" json:"level"`    // debug, info, warn or error
}

// Control is the local control API.
type Control struct {
	Socket string `mapstructure:"socket" yaml:"socket" json:"socket"` // unix socket of the control API (mode 0660), used by status, switchover and maintenance; an absolute path
}

// Metrics is the optional Prometheus listener.
type Metrics struct {
	Listen string `mapstructure:"listen" yaml:"listen" json:"listen"` // host:port of the Prometheus listener, e.g. 127.0.0.1:9464; empty: off
}

// Events is the local event log's retention.
type Events struct {
	Keep   int           `mapstructure:"keep" yaml:"keep" json:"keep"`          // the newest events the log keeps, 1 to 1000000
	MaxAge time.Duration `mapstructure:"max_age" yaml:"max_age" json:"max_age"` // events older than this are dropped; 0: kept until keep pushes them out
}

// Probes lists the checks, by kind.
type Probes struct {
	SIP   []SIPProbe   `mapstructure:"sip" yaml:"sip" json:"sip"`       // SIP OPTIONS pings
	ESL   []ESLProbe   `mapstructure:"esl" yaml:"esl" json:"esl"`       // FreeSWITCH event socket checks
	PG    []PGProbe    `mapstructure:"pg" yaml:"pg" json:"pg"`          // PostgreSQL checks: role, a write on the primary, replication positions
	MySQL []MySQLProbe `mapstructure:"mysql" yaml:"mysql" json:"mysql"` // MariaDB/MySQL checks: role (read_only), a write on the primary, GTID position, replication threads
	AMI   []AMIProbe   `mapstructure:"ami" yaml:"ami" json:"ami"`       // Asterisk manager interface checks
	TCP   []TCPProbe   `mapstructure:"tcp" yaml:"tcp" json:"tcp"`       // TCP connects
	Exec  []ExecProbe  `mapstructure:"exec" yaml:"exec" json:"exec"`    // Nagios-style plugins
}

// Schedule is shared by every probe kind (squashed into each).
type Schedule struct {
	Name     string        `mapstructure:"name" yaml:"name" json:"name"`             // unique across all probes: lowercase letters, digits, "_", "." and "-"; default: the kind, or kind-N for the N-th of several
	Interval time.Duration `mapstructure:"interval" yaml:"interval" json:"interval"` // time between the starts of two checks, at least 10ms
	Timeout  time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"`    // deadline of one check, not longer than interval
	Rise     int           `mapstructure:"rise" yaml:"rise" json:"rise"`             // consecutive passes before the probe counts as ok
	Fall     int           `mapstructure:"fall" yaml:"fall" json:"fall"`             // consecutive failures before the probe counts as failed
	Critical bool          `mapstructure:"critical" yaml:"critical" json:"critical"` // whether a failure of this probe fails the node (else it degrades it)
}

// TLS configures a TLS client.
type TLS struct {
	CAFile     string `mapstructure:"ca_file" yaml:"ca_file" json:"ca_file"`             // PEM bundle of the CAs the server certificate must chain to; empty: the system roots
	ServerName string `mapstructure:"server_name" yaml:"server_name" json:"server_name"` // name to verify in the server's certificate; empty: the target host
	Insecure   bool   `mapstructure:"insecure" yaml:"insecure" json:"insecure"`          // skip certificate checks (lab setups; not with ca_file)
}

// SIPProbe is an OPTIONS ping.
type SIPProbe struct {
	Schedule        `mapstructure:",squash" yaml:",inline"`
	Target          string `mapstructure:"target" yaml:"target" json:"target"`                               // sip:host[:port][;transport=udp|tcp|tls] or sips:host[:port]; IPv6 in brackets
	Accept          string `mapstructure:"accept" yaml:"accept" json:"accept"`                               // final status codes that pass: codes, classes and ranges, e.g. "2xx,401,403,404" or "200-299"
	Degraded        string `mapstructure:"degraded" yaml:"degraded" json:"degraded"`                         // codes that mean degraded rather than failed, "none" for none; must not overlap accept
	FromUser        string `mapstructure:"from_user" yaml:"from_user" json:"from_user"`                      // user part of the From header
	UserAgent       string `mapstructure:"user_agent" yaml:"user_agent" json:"user_agent"`                   // User-Agent header
	LocalHost       string `mapstructure:"local_host" yaml:"local_host" json:"local_host"`                   // host in Via and From; empty: the source address towards the target
	FreshConnection bool   `mapstructure:"fresh_connection" yaml:"fresh_connection" json:"fresh_connection"` // tcp and tls: dial a new connection for every check
	TLS             TLS    `mapstructure:"tls" yaml:"tls" json:"tls"`                                        // TLS settings of a tls or sips: target
}

// ESLProbe checks FreeSWITCH through its event socket.
type ESLProbe struct {
	Schedule         `mapstructure:",squash" yaml:",inline"`
	Address          string   `mapstructure:"address" yaml:"address" json:"address"`                                  // host:port of mod_event_socket
	Password         string   `mapstructure:"password" yaml:"password" json:"-"`                                      // the event socket password (set it or password_file)
	PasswordFile     string   `mapstructure:"password_file" yaml:"password_file" json:"password_file"`                // file holding the password, one line; an absolute path
	Profiles         []string `mapstructure:"profiles" yaml:"profiles" json:"profiles"`                               // sofia profiles that must be RUNNING
	CountCalls       bool     `mapstructure:"count_calls" yaml:"count_calls" json:"count_calls"`                      // also run "show calls count" and report the call count
	MaxSessionsShare float64  `mapstructure:"max_sessions_share" yaml:"max_sessions_share" json:"max_sessions_share"` // degraded above this share of max-sessions, 0 to 1; 0: off
	MinIdleCPU       float64  `mapstructure:"min_idle_cpu" yaml:"min_idle_cpu" json:"min_idle_cpu"`                   // degraded below this idle CPU percentage, 0 to 100; 0: off
}

// PGProbe checks PostgreSQL: role, write check on a primary, replication positions.
type PGProbe struct {
	Schedule       `mapstructure:",squash" yaml:",inline"`
	DSN            string        `mapstructure:"dsn" yaml:"dsn" json:"-"`                                          // libpq URL or key=value string of the server to check
	ExpectRole     string        `mapstructure:"expect_role" yaml:"expect_role" json:"expect_role"`                // primary, standby or any: the role the server must have
	Table          string        `mapstructure:"table" yaml:"table" json:"table"`                                  // heartbeat table of the write check, a plain lowercase identifier
	FreshConnEvery time.Duration `mapstructure:"fresh_conn_every" yaml:"fresh_conn_every" json:"fresh_conn_every"` // open a new connection this often, to notice a hung postmaster; 0: off
}

// MySQLProbe checks MariaDB or MySQL: role, write check on a primary, GTID
// position and replication threads.
type MySQLProbe struct {
	Schedule   `mapstructure:",squash" yaml:",inline"`
	DSN        string `mapstructure:"dsn" yaml:"dsn" json:"-"`                           // Go MySQL driver DSN of the server to check, e.g. "pbxha:secret@tcp(127.0.0.1:3306)/pbxha"
	ExpectRole string `mapstructure:"expect_role" yaml:"expect_role" json:"expect_role"` // primary, replica or any: the role the server must have (primary: read_only off)
	Table      string `mapstructure:"table" yaml:"table" json:"table"`                   // heartbeat table of the write check, in the dsn's database or as database.table; plain lowercase identifiers
}

// AMIProbe checks Asterisk through the manager interface.
type AMIProbe struct {
	Schedule   `mapstructure:",squash" yaml:",inline"`
	Address    string `mapstructure:"address" yaml:"address" json:"address"`             // host:port of the manager interface
	Username   string `mapstructure:"username" yaml:"username" json:"username"`          // a user from Asterisk's manager.conf (required)
	Secret     string `mapstructure:"secret" yaml:"secret" json:"-"`                     // the user's secret (set it or secret_file)
	SecretFile string `mapstructure:"secret_file" yaml:"secret_file" json:"secret_file"` // file holding the secret, one line; an absolute path
	MaxCalls   int    `mapstructure:"max_calls" yaml:"max_calls" json:"max_calls"`       // degraded at or above this many calls; 0: off
}

// TCPProbe connects to host:port.
type TCPProbe struct {
	Schedule `mapstructure:",squash" yaml:",inline"`
	Address  string `mapstructure:"address" yaml:"address" json:"address"` // host:port to connect to (required)
}

// ExecProbe runs a Nagios-style plugin.
type ExecProbe struct {
	Schedule `mapstructure:",squash" yaml:",inline"`
	Command  []string `mapstructure:"command" yaml:"command" json:"command"` // the plugin and its arguments as a list, run without a shell; exit 0 ok, 1 degraded, 2 failed, 3 unknown
}

// PBX is the local PBX process.
type PBX struct {
	Supervise Supervise `mapstructure:"supervise" yaml:"supervise" json:"supervise"` // how pbxha keeps the local PBX process running

	// TakeoverESL lists FreeSWITCH API commands ("sofia recover") sent in
	// order over the first esl probe's event socket after a takeover made
	// sure the PBX runs, before the takeover hooks. A failure is alerted,
	// never a failed takeover.
	TakeoverESL        []string      `mapstructure:"takeover_esl" yaml:"takeover_esl" json:"takeover_esl"`                         // FreeSWITCH API commands ("sofia recover") sent in order over the first esl probe's event socket after a takeover, before the takeover hooks; a failure is alerted, never a failed takeover
	TakeoverESLTimeout time.Duration `mapstructure:"takeover_esl_timeout" yaml:"takeover_esl_timeout" json:"takeover_esl_timeout"` // bound on connecting (retried) and sending every takeover_esl command, in all
	TakeoverAMI        []string      `mapstructure:"takeover_ami" yaml:"takeover_ami" json:"takeover_ami"`                         // Asterisk CLI commands ("pjsip send register *all") run in order with Action: Command as the first ami probe's user after a takeover, before the takeover hooks; a failure is alerted, never a failed takeover
	TakeoverAMITimeout time.Duration `mapstructure:"takeover_ami_timeout" yaml:"takeover_ami_timeout" json:"takeover_ami_timeout"` // bound on connecting (retried) and sending every takeover_ami command, in all
}

// Supervise says how pbxha keeps the local PBX process running.
type Supervise struct {
	Mode string `mapstructure:"mode" yaml:"mode" json:"mode"` // exec (pbxha starts the PBX), pidfile (pbxha watches a pid file), systemd (a unit) or none (observe only)

	// exec: pbxha starts the PBX itself.
	Command []string `mapstructure:"command" yaml:"command" json:"command"` // exec: the PBX's program and arguments as a list, run without a shell
	Env     []string `mapstructure:"env" yaml:"env" json:"env"`             // exec: KEY=VALUE entries on top of pbxha's environment
	Dir     string   `mapstructure:"dir" yaml:"dir" json:"dir"`             // exec: working directory, an absolute path
	User    string   `mapstructure:"user" yaml:"user" json:"user"`          // exec: run the PBX as this user (name or id)
	Group   string   `mapstructure:"group" yaml:"group" json:"group"`       // exec: and this group; empty: the user's primary group

	// pidfile: someone else starts the PBX.
	PIDFile      string   `mapstructure:"pidfile" yaml:"pidfile" json:"pidfile"`                   // pidfile: the PBX's pid file, an absolute path
	Match        string   `mapstructure:"match" yaml:"match" json:"match"`                         // pidfile: text in the process's command line or executable path that identifies the PBX
	StartCommand []string `mapstructure:"start_command" yaml:"start_command" json:"start_command"` // pidfile: command that starts the PBX, as a list
	StopCommand  []string `mapstructure:"stop_command" yaml:"stop_command" json:"stop_command"`    // pidfile: command that stops the PBX, as a list; empty: SIGTERM

	// systemd: the PBX is a unit.
	Unit string `mapstructure:"unit" yaml:"unit" json:"unit"` // systemd: the unit, e.g. freeswitch.service

	StopTimeout    time.Duration `mapstructure:"stop_timeout" yaml:"stop_timeout" json:"stop_timeout"`          // SIGTERM, then SIGKILL after this
	HangGrace      time.Duration `mapstructure:"hang_grace" yaml:"hang_grace" json:"hang_grace"`                // a critical probe failed this long while the process lives: kill and restart it; 0: off
	BackoffInitial time.Duration `mapstructure:"backoff_initial" yaml:"backoff_initial" json:"backoff_initial"` // wait before a restart, times backoff_factor for each further one
	BackoffMax     time.Duration `mapstructure:"backoff_max" yaml:"backoff_max" json:"backoff_max"`             // longest wait before a restart
	BackoffFactor  float64       `mapstructure:"backoff_factor" yaml:"backoff_factor" json:"backoff_factor"`    // growth of the wait from one restart to the next, at least 1
	MaxRestarts    int           `mapstructure:"max_restarts" yaml:"max_restarts" json:"max_restarts"`          // more restarts than this within window: the node goes fault
	Window         time.Duration `mapstructure:"window" yaml:"window" json:"window"`                            // the span max_restarts counts in
	StopOnExit     bool          `mapstructure:"stop_on_exit" yaml:"stop_on_exit" json:"stop_on_exit"`          // stop the PBX when pbxha stops (default: it keeps running)
}

// Alerts configures webhook alerts and their durable outbox.
type Alerts struct {
	Endpoints      []Endpoint    `mapstructure:"endpoints" yaml:"endpoints" json:"endpoints"`                   // webhook receivers; every event goes to each that wants it
	MaxAge         time.Duration `mapstructure:"max_age" yaml:"max_age" json:"max_age"`                         // undelivered events older than this are dropped
	BackoffInitial time.Duration `mapstructure:"backoff_initial" yaml:"backoff_initial" json:"backoff_initial"` // first retry delay, doubling with jitter up to backoff_max
	BackoffMax     time.Duration `mapstructure:"backoff_max" yaml:"backoff_max" json:"backoff_max"`             // longest retry delay
	MaxQueued      int           `mapstructure:"max_queued" yaml:"max_queued" json:"max_queued"`                // events queued per endpoint; past it the oldest low-severity ones are dropped first
	FlapWindow     time.Duration `mapstructure:"flap_window" yaml:"flap_window" json:"flap_window"`             // a probe changing state more than flap_threshold times within this window...
	FlapThreshold  int           `mapstructure:"flap_threshold" yaml:"flap_threshold" json:"flap_threshold"`    // ...becomes one summary alert; at least 2
	ExternalURL    string        `mapstructure:"external_url" yaml:"external_url" json:"external_url"`          // link put into slack and alertmanager payloads (a status page, a dashboard)
}

// Endpoint is one webhook receiver.
type Endpoint struct {
	Name        string        `mapstructure:"name" yaml:"name" json:"name"`                         // unique name, also of its outbox folder: 1-64 lowercase letters, digits, "_", "." and "-"; default: endpoint, or endpoint-N
	URL         string        `mapstructure:"url" yaml:"url" json:"url"`                            // where to POST, an http:// or https:// URL (required)
	Format      string        `mapstructure:"format" yaml:"format" json:"format"`                   // json (pbxha's schema), slack (also Mattermost, Rocket.Chat) or alertmanager (webhook v4)
	Kinds       []string      `mapstructure:"kinds" yaml:"kinds" json:"kinds"`                      // event kinds to send; empty: all
	MinSeverity string        `mapstructure:"min_severity" yaml:"min_severity" json:"min_severity"` // info, warning or critical: events below it are not sent
	Timeout     time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"`                // bound on one POST, connect to last byte
	Headers     []string      `mapstructure:"headers" yaml:"headers" json:"headers"`                // extra headers, "Name: value" each, e.g. "Authorization: Bearer abc"
	Secret      string        `mapstructure:"secret" yaml:"secret" json:"-"`                        // HMAC-SHA256 key that signs X-Pbxha-Signature (set it or secret_file); empty: unsigned
	SecretFile  string        `mapstructure:"secret_file" yaml:"secret_file" json:"secret_file"`    // file holding the signing key; an absolute path
}

// Peer is the link to the other node of the pair. With no paths the node
// runs alone (mode single).
type Peer struct {
	Paths       []PeerPath    `mapstructure:"paths" yaml:"paths" json:"paths"`                         // heartbeat paths, e.g. a back-to-back link and the service network; heartbeats go over all
	KeyFile     string        `mapstructure:"key_file" yaml:"key_file" json:"key_file"`                // shared HMAC key, the same file on both nodes, mode 0600 (pbxha keygen writes one); it signs what this node sends
	NextKeyFile string        `mapstructure:"next_key_file" yaml:"next_key_file" json:"next_key_file"` // during a key change only: a second key accepted beside key_file (reloaded on SIGHUP, like key_file)
	Interval    time.Duration `mapstructure:"interval" yaml:"interval" json:"interval"`                // heartbeat interval
	DeadAfter   time.Duration `mapstructure:"dead_after" yaml:"dead_after" json:"dead_after"`          // the peer is dead after this long without a valid heartbeat on any path; at least twice interval
	InitDead    time.Duration `mapstructure:"init_dead" yaml:"init_dead" json:"init_dead"`             // at start-up, wait this long to hear the peer before claiming anything
}

// PeerPath is one heartbeat path: this node's UDP address and the peer's.
type PeerPath struct {
	Local string `mapstructure:"local" yaml:"local" json:"local"` // this node's ip:port on the path, bound here
	Peer  string `mapstructure:"peer" yaml:"peer" json:"peer"`    // the peer's ip:port on the path
}

// Etcd is the etcd cluster that coordinates the nodes (coordination etcd):
// the leader holds a key bound to a lease it renews, and steps down before
// the lease can expire when it cannot renew it (docs/etcd.md).
type Etcd struct {
	Endpoints []string      `mapstructure:"endpoints" yaml:"endpoints" json:"endpoints"` // the etcd members' client URLs, e.g. https://10.1.1.11:2379 (required with coordination etcd)
	Prefix    string        `mapstructure:"prefix" yaml:"prefix" json:"prefix"`          // the keys live under <prefix>/<node.cluster>/; starts with /
	LeaseTTL  time.Duration `mapstructure:"lease_ttl" yaml:"lease_ttl" json:"lease_ttl"` // the lease's time to live, whole seconds: a lost leader is replaced about this long after its last renewal; at least twice the step-down budget plus 0.2s
	Priority  int           `mapstructure:"priority" yaml:"priority" json:"priority"`    // this node's priority: the highest healthy node leads (then the least lag); 0: never leads
	CAFile    string        `mapstructure:"ca_file" yaml:"ca_file" json:"ca_file"`       // PEM CA bundle that signs the etcd servers' certificates; empty: the system's
	CertFile  string        `mapstructure:"cert_file" yaml:"cert_file" json:"cert_file"` // PEM client certificate for etcd (with key_file); empty: none
	KeyFile   string        `mapstructure:"key_file" yaml:"key_file" json:"key_file"`    // PEM private key of cert_file
}

// Failover is the policy both nodes of the pair share.
type Failover struct {
	Profile          string        `mapstructure:"profile" yaml:"profile" json:"profile"`                               // default, or fast: the defaults of peer.interval (50ms), peer.dead_after (150ms), isolation_after (100ms), step_down_budget (20ms; 1s with a database) and the sip probes' interval and timeout (100ms, 80ms) for a takeover under 0.3s; keys set explicitly still win
	Mode             string        `mapstructure:"mode" yaml:"mode" json:"mode"`                                        // failover_first (move the VIP, then restart the PBX) or restart_first (restart first, fail over after restart_grace)
	RestartGrace     time.Duration `mapstructure:"restart_grace" yaml:"restart_grace" json:"restart_grace"`             // restart_first: how long the local restart gets
	Failback         string        `mapstructure:"failback" yaml:"failback" json:"failback"`                            // off (a recovered node stays standby) or auto (the role goes back to preferred_node)
	FailbackDelay    time.Duration `mapstructure:"failback_delay" yaml:"failback_delay" json:"failback_delay"`          // auto: how long the preferred node must be healthy first
	PreferredNode    string        `mapstructure:"preferred_node" yaml:"preferred_node" json:"preferred_node"`          // the node that wins ties and failback; empty: none
	TieBreakers      []string      `mapstructure:"tie_breakers" yaml:"tie_breakers" json:"tie_breakers"`                // host:port reached by TCP; a node that reaches none never takes over (required with peer.paths)
	FenceCommand     []string      `mapstructure:"fence_command" yaml:"fence_command" json:"fence_command"`             // command, as a list, that makes a silent peer unable to serve before a takeover (power it off); exit 0: fenced
	FenceTimeout     time.Duration `mapstructure:"fence_timeout" yaml:"fence_timeout" json:"fence_timeout"`             // the fence command's process group is killed after this
	IsolationAfter   time.Duration `mapstructure:"isolation_after" yaml:"isolation_after" json:"isolation_after"`       // a primary unheard by its peer and cut off from every tie-breaker this long steps down, database first
	StepDownBudget   time.Duration `mapstructure:"step_down_budget" yaml:"step_down_budget" json:"step_down_budget"`    // the longest this node's step-down (database stopped, VIP removed) takes; the peer waits that long more before it takes over; 0: 100ms, or 1s with a database
	Witness          string        `mapstructure:"witness" yaml:"witness" json:"witness"`                               // auto (on with a netlink IPv4 VIP), on or off: before taking over from a silent peer, ask by ARP whether another node still answers on the VIP
	TrackInterfaces  []string      `mapstructure:"track_interfaces" yaml:"track_interfaces" json:"track_interfaces"`    // interfaces whose carrier the service needs: a primary without it hands over, a standby without it is not eligible
	FailbackDrain    time.Duration `mapstructure:"failback_drain" yaml:"failback_drain" json:"failback_drain"`          // auto: how long a failback waits for the active calls to end
	FailbackWindow   string        `mapstructure:"failback_window" yaml:"failback_window" json:"failback_window"`       // auto: HH:MM-HH:MM, local time of day when a failback may happen (may span midnight); empty: any time
	RestartHold      time.Duration `mapstructure:"restart_hold" yaml:"restart_hold" json:"restart_hold"`                // a standby holds off a takeover this long from a primary whose sidecar restarts keeping the role (systemctl restart, an upgrade)
	UnprotectedGrace time.Duration `mapstructure:"unprotected_grace" yaml:"unprotected_grace" json:"unprotected_grace"` // pair_unprotected is raised when the pair could not survive the next fault for this long
	MaxClockOffset   time.Duration `mapstructure:"max_clock_offset" yaml:"max_clock_offset" json:"max_clock_offset"`    // clock_offset is raised when the peer's clock is off by more than this
}

// VIP is the service address the primary holds.
type VIP struct {
	Mode         string        `mapstructure:"mode" yaml:"mode" json:"mode"`                            // netlink (add the address on an interface here), script (run commands) or none
	Interface    string        `mapstructure:"interface" yaml:"interface" json:"interface"`             // netlink: the interface that carries the address, e.g. eth0
	Address      string        `mapstructure:"address" yaml:"address" json:"address"`                   // the address with its prefix length, e.g. 192.0.2.100/32 (a /32 survives the loss of the interface's own address)
	Label        string        `mapstructure:"label" yaml:"label" json:"label"`                         // IPv4 address label, at most 15 bytes; empty: the interface name and ":vip" (eth0:vip), or "vip" when that is longer
	GARPCount    int           `mapstructure:"garp_count" yaml:"garp_count" json:"garp_count"`          // gratuitous ARPs (IPv4) or neighbour advertisements (IPv6) after taking the address
	GARPInterval time.Duration `mapstructure:"garp_interval" yaml:"garp_interval" json:"garp_interval"` // time between those announcements
	Refresh      time.Duration `mapstructure:"refresh" yaml:"refresh" json:"refresh"`                   // re-announce this often while held, at least 100ms; 0: never
	Script       VIPScript     `mapstructure:"script" yaml:"script" json:"script"`                      // script mode: the commands that move the address
}

// VIPScript moves the address with commands (clouds: elastic IP, DNS).
type VIPScript struct {
	Up      []string      `mapstructure:"up" yaml:"up" json:"up"`                // takes the address over, as a list (required with mode script)
	Down    []string      `mapstructure:"down" yaml:"down" json:"down"`          // releases it, as a list; must be idempotent (required with mode script)
	Check   []string      `mapstructure:"check" yaml:"check" json:"check"`       // optional: exit 0 the address is held here, 1 it is not
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"` // each command's process group is killed after this
}

// Database is the PostgreSQL, MariaDB or MySQL server whose primary role
// moves with the VIP. Without a DSN the pair moves no database role.
type Database struct {
	Kind               string        `mapstructure:"kind" yaml:"kind" json:"kind"`                                                 // postgresql, mariadb or mysql: which server the dsn names, and how its role moves
	DSN                string        `mapstructure:"dsn" yaml:"dsn" json:"-"`                                                      // the local server: postgresql, a libpq URL or key=value string whose user may run pg_promote(); mariadb and mysql, a Go MySQL driver DSN whose user has the grants docs/mysql.md lists; empty: no database role moves
	MaxLagBytes        int           `mapstructure:"max_lag_bytes" yaml:"max_lag_bytes" json:"max_lag_bytes"`                      // postgresql: a standby further behind the peer's last announced WAL position than this is not promoted
	MaxLagTransactions int           `mapstructure:"max_lag_transactions" yaml:"max_lag_transactions" json:"max_lag_transactions"` // mariadb and mysql: a replica lacking more transactions of the peer's last announced GTID position than this is not promoted
	AllowLag           bool          `mapstructure:"allow_lag" yaml:"allow_lag" json:"allow_lag"`                                  // promote however far behind (availability over data)
	PromoteTimeout     time.Duration `mapstructure:"promote_timeout" yaml:"promote_timeout" json:"promote_timeout"`                // postgresql: how long the server may take to finish recovery after pg_promote(); mariadb and mysql: to receive what the peer announced, apply the relay log and open writes
	DemoteCommand      []string      `mapstructure:"demote_command" yaml:"demote_command" json:"demote_command"`                   // postgresql: command that turns the released primary into a standby of the new one (configs/pg-demote.sh); mariadb and mysql need none
	DemoteTimeout      time.Duration `mapstructure:"demote_timeout" yaml:"demote_timeout" json:"demote_timeout"`                   // postgresql: the demote command's process group is killed after this; mariadb and mysql: bound on a rejoin (waiting for the new primary, starting replication)
	StopCommand        []string      `mapstructure:"stop_command" yaml:"stop_command" json:"stop_command"`                         // command that stops the server when demotion failed (mariadb and mysql: when it cannot be made read-only)
	StopTimeout        time.Duration `mapstructure:"stop_timeout" yaml:"stop_timeout" json:"stop_timeout"`                         // the stop command's process group is killed after this; mariadb and mysql: also the bound on setting read_only and sending the replicas the rest of the binlog
	Env                []string      `mapstructure:"env" yaml:"env" json:"env"`                                                    // KEY=VALUE entries for the commands (PGDATA, PRIMARY_CONNINFO...)
	PeerHost           string        `mapstructure:"peer_host" yaml:"peer_host" json:"peer_host"`                                  // mariadb and mysql: the peer's server address to replicate from; empty: the peer's address on the first heartbeat path
	PeerPort           int           `mapstructure:"peer_port" yaml:"peer_port" json:"peer_port"`                                  // mariadb and mysql: the peer's server port; 0: the dsn's port

	// The standby rebuild (pbxha standby rebuild), kind postgresql only: on
	// with data_dir and start_command.
	DataDir                string        `mapstructure:"data_dir" yaml:"data_dir" json:"data_dir"`                                                    // postgresql: the local server's data directory (PGDATA), which a standby rebuild replaces; empty: no rebuilds
	StartCommand           []string      `mapstructure:"start_command" yaml:"start_command" json:"start_command"`                                     // command that starts the local server after a rebuild (or the old one again after a failed rebuild), as a list
	StartTimeout           time.Duration `mapstructure:"start_timeout" yaml:"start_timeout" json:"start_timeout"`                                     // the started server must accept connections within this
	PrimaryConninfo        string        `mapstructure:"primary_conninfo" yaml:"primary_conninfo" json:"-"`                                           // libpq key=value string that reaches the primary for pg_basebackup and becomes primary_conninfo; empty: host=<peer> port=5432 user=postgres
	RebuildMaxRate         int           `mapstructure:"rebuild_max_rate" yaml:"rebuild_max_rate" json:"rebuild_max_rate"`                            // cap on pg_basebackup's transfer in kB/s (at least 32); 0: no cap
	RebuildTimeout         time.Duration `mapstructure:"rebuild_timeout" yaml:"rebuild_timeout" json:"rebuild_timeout"`                               // a whole rebuild, pg_basebackup included, is given up (and the old directory put back) after this
	RebuildOnRewindFailure bool          `mapstructure:"rebuild_on_rewind_failure" yaml:"rebuild_on_rewind_failure" json:"rebuild_on_rewind_failure"` // when the background rejoin after a release fails (pg_rewind), start a standby rebuild by itself
}

// Hooks are operator commands run around takeover and release (pair mode).
type Hooks struct {
	Takeover []Hook `mapstructure:"takeover" yaml:"takeover" json:"takeover"` // run after the PBX is up on takeover; the first failure stops the rest and fails the takeover
	Release  []Hook `mapstructure:"release" yaml:"release" json:"release"`    // run before the VIP goes on release; every hook runs, failures are logged
}

// Hook is one command.
type Hook struct {
	Name    string        `mapstructure:"name" yaml:"name" json:"name"`          // names the hook in logs and events; default: takeover-hook or release-hook, -N for several
	Command []string      `mapstructure:"command" yaml:"command" json:"command"` // the program and its arguments as a list, run without a shell
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"` // the hook's process group is killed after this
}

// Sync is file sync: directories the standby pulls from the primary with
// rsync, from an rsync daemon each node runs for its peer.
type Sync struct {
	Listen      string        `mapstructure:"listen" yaml:"listen" json:"listen"`                   // this node's ip:port for its rsync daemon (TCP) and for change notices from the peer (UDP), e.g. the dedicated link's 10.1.1.1:8873
	Peer        string        `mapstructure:"peer" yaml:"peer" json:"peer"`                         // the peer's sync.listen
	SecretsFile string        `mapstructure:"secrets_file" yaml:"secrets_file" json:"secrets_file"` // rsync secrets file, user:password on its first line, mode 0600, the same file on both nodes; an absolute path
	LagAlert    time.Duration `mapstructure:"lag_alert" yaml:"lag_alert" json:"lag_alert"`          // alert sync_lagging when a standby's copy of a directory is older than this
	Directories []SyncDir     `mapstructure:"directories" yaml:"directories" json:"directories"`    // the directories kept in step; empty: no file sync
}

// SyncDir is one directory kept in step.
type SyncDir struct {
	Name         string        `mapstructure:"name" yaml:"name" json:"name"`                            // the rsync module, the same on both nodes: lowercase letters, digits, "_", "." and "-"; default: dir, or dir-N for the N-th of several
	Source       string        `mapstructure:"source" yaml:"source" json:"source"`                      // the directory this node serves while primary, an absolute path (required)
	Destination  string        `mapstructure:"destination" yaml:"destination" json:"destination"`       // where this node writes while standby; empty: source (what a standby receives is what it serves after a takeover)
	Exclude      []string      `mapstructure:"exclude" yaml:"exclude" json:"exclude"`                   // rsync exclude patterns, e.g. "*.tmp"
	BWLimit      int           `mapstructure:"bwlimit" yaml:"bwlimit" json:"bwlimit"`                   // bandwidth cap of a pull in KiB/s; 0: no cap
	Interval     time.Duration `mapstructure:"interval" yaml:"interval" json:"interval"`                // time between two pulls, at least 1s
	Watch        bool          `mapstructure:"watch" yaml:"watch" json:"watch"`                         // the primary watches the source (inotify) and tells the standby to pull at once after a change
	Marker       string        `mapstructure:"marker" yaml:"marker" json:"marker"`                      // a file the source must hold, or it is refused (an unmounted disk); empty: no marker check
	RequireMount bool          `mapstructure:"require_mount" yaml:"require_mount" json:"require_mount"` // the source (and the destination on the standby) must be a mount point
}
