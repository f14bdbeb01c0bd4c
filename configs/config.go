// Package configs defines pbxha's configuration file: its schema, the embedded
// default, loading with viper (YAML plus PBXHA_ environment overrides) and
// validation that reports every problem with file, key and reason.
package configs

import "time"

// Config is the whole pbxha.yaml. Only cmd/pbxha and this package know it;
// every other package takes its own small config struct.
type Config struct {
	Node     Node     `mapstructure:"node" yaml:"node" json:"node"`
	Log      Log      `mapstructure:"log" yaml:"log" json:"log"`
	Control  Control  `mapstructure:"control" yaml:"control" json:"control"`
	Metrics  Metrics  `mapstructure:"metrics" yaml:"metrics" json:"metrics"`
	StateDir string   `mapstructure:"state_dir" yaml:"state_dir" json:"state_dir"`
	History  int      `mapstructure:"history" yaml:"history" json:"history"`
	Probes   Probes   `mapstructure:"probes" yaml:"probes" json:"probes"`
	PBX      PBX      `mapstructure:"pbx" yaml:"pbx" json:"pbx"`
	Alerts   Alerts   `mapstructure:"alerts" yaml:"alerts" json:"alerts"`
	Peer     Peer     `mapstructure:"peer" yaml:"peer" json:"peer"`
	Failover Failover `mapstructure:"failover" yaml:"failover" json:"failover"`
	VIP      VIP      `mapstructure:"vip" yaml:"vip" json:"vip"`
	Database Database `mapstructure:"database" yaml:"database" json:"database"`
	Hooks    Hooks    `mapstructure:"hooks" yaml:"hooks" json:"hooks"`

	// Source names where the file came from: its path, or "embedded default".
	Source string `mapstructure:"-" yaml:"-" json:"-"`
	// Env lists the PBXHA_ environment variables that overrode keys, sorted.
	Env []string `mapstructure:"-" yaml:"-" json:"-"`

	origins map[string]string // key path -> source of its value; absent means the default
}

// Node names this server of the pair.
type Node struct {
	Name    string `mapstructure:"name" yaml:"name" json:"name"`          // default: the host name
	Cluster string `mapstructure:"cluster" yaml:"cluster" json:"cluster"` // pair name, shared by both nodes
}

// Log selects the log format and level.
type Log struct {
	Format string `mapstructure:"format" yaml:"format" json:"format"` // text | json
	Level  string `mapstructure:"level" yaml:"level" json:"level"`    // debug | info | warn | error
}

// Control is the local control API.
type Control struct {
	Socket string `mapstructure:"socket" yaml:"socket" json:"socket"` // unix socket path, created mode 0660
}

// Metrics is the optional Prometheus listener.
type Metrics struct {
	Listen string `mapstructure:"listen" yaml:"listen" json:"listen"` // host:port; empty disables it
}

// Probes lists the checks, by kind.
type Probes struct {
	SIP  []SIPProbe  `mapstructure:"sip" yaml:"sip" json:"sip"`
	ESL  []ESLProbe  `mapstructure:"esl" yaml:"esl" json:"esl"`
	PG   []PGProbe   `mapstructure:"pg" yaml:"pg" json:"pg"`
	AMI  []AMIProbe  `mapstructure:"ami" yaml:"ami" json:"ami"`
	TCP  []TCPProbe  `mapstructure:"tcp" yaml:"tcp" json:"tcp"`
	Exec []ExecProbe `mapstructure:"exec" yaml:"exec" json:"exec"`
}

// Schedule is shared by every probe kind (squashed into each).
type Schedule struct {
	Name     string        `mapstructure:"name" yaml:"name" json:"name"`             // unique across all probes
	Interval time.Duration `mapstructure:"interval" yaml:"interval" json:"interval"` // time between check starts
	Timeout  time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"`    // must be shorter than interval
	Rise     int           `mapstructure:"rise" yaml:"rise" json:"rise"`             // consecutive passes to turn ok
	Fall     int           `mapstructure:"fall" yaml:"fall" json:"fall"`             // consecutive failures to turn failed
	Critical bool          `mapstructure:"critical" yaml:"critical" json:"critical"` // failed here means the node failed
}

// TLS configures a TLS client.
type TLS struct {
	CAFile     string `mapstructure:"ca_file" yaml:"ca_file" json:"ca_file"`
	ServerName string `mapstructure:"server_name" yaml:"server_name" json:"server_name"`
	Insecure   bool   `mapstructure:"insecure" yaml:"insecure" json:"insecure"`
}

// SIPProbe is an OPTIONS ping.
type SIPProbe struct {
	Schedule        `mapstructure:",squash" yaml:",inline"`
	Target          string `mapstructure:"target" yaml:"target" json:"target"`                               // sip:host:port;transport=udp|tcp|tls
	Accept          string `mapstructure:"accept" yaml:"accept" json:"accept"`                               // codes/classes that pass: "200", "2xx,401,403,404"
	Degraded        string `mapstructure:"degraded" yaml:"degraded" json:"degraded"`                         // codes that mean degraded: "503"
	FromUser        string `mapstructure:"from_user" yaml:"from_user" json:"from_user"`                      // From user part
	UserAgent       string `mapstructure:"user_agent" yaml:"user_agent" json:"user_agent"`                   // User-Agent header
	LocalHost       string `mapstructure:"local_host" yaml:"local_host" json:"local_host"`                   // host in Via/From; default: the source address towards the target
	FreshConnection bool   `mapstructure:"fresh_connection" yaml:"fresh_connection" json:"fresh_connection"` // TCP/TLS: dial anew for every check
	TLS             TLS    `mapstructure:"tls" yaml:"tls" json:"tls"`
}

// ESLProbe checks FreeSWITCH through its event socket.
type ESLProbe struct {
	Schedule         `mapstructure:",squash" yaml:",inline"`
	Address          string   `mapstructure:"address" yaml:"address" json:"address"`                                  // host:port, default 127.0.0.1:8021
	Password         string   `mapstructure:"password" yaml:"password" json:"-"`                                      // ESL password
	PasswordFile     string   `mapstructure:"password_file" yaml:"password_file" json:"password_file"`                // read the password from a file instead
	Profiles         []string `mapstructure:"profiles" yaml:"profiles" json:"profiles"`                               // sofia profiles that must be RUNNING
	CountCalls       bool     `mapstructure:"count_calls" yaml:"count_calls" json:"count_calls"`                      // also run "show calls count"
	MaxSessionsShare float64  `mapstructure:"max_sessions_share" yaml:"max_sessions_share" json:"max_sessions_share"` // degraded above this share of max sessions (0..1)
	MinIdleCPU       float64  `mapstructure:"min_idle_cpu" yaml:"min_idle_cpu" json:"min_idle_cpu"`                   // degraded below this idle CPU percentage
}

// PGProbe checks PostgreSQL: role, write check on a primary, replication positions.
type PGProbe struct {
	Schedule       `mapstructure:",squash" yaml:",inline"`
	DSN            string        `mapstructure:"dsn" yaml:"dsn" json:"-"`                                          // libpq URL or key=value string
	ExpectRole     string        `mapstructure:"expect_role" yaml:"expect_role" json:"expect_role"`                // primary | standby | any
	Table          string        `mapstructure:"table" yaml:"table" json:"table"`                                  // heartbeat table for the write check
	FreshConnEvery time.Duration `mapstructure:"fresh_conn_every" yaml:"fresh_conn_every" json:"fresh_conn_every"` // open a new connection this often to notice a hung postmaster; 0 disables
}

// AMIProbe checks Asterisk through the manager interface.
type AMIProbe struct {
	Schedule   `mapstructure:",squash" yaml:",inline"`
	Address    string `mapstructure:"address" yaml:"address" json:"address"` // host:port, default 127.0.0.1:5038
	Username   string `mapstructure:"username" yaml:"username" json:"username"`
	Secret     string `mapstructure:"secret" yaml:"secret" json:"-"`
	SecretFile string `mapstructure:"secret_file" yaml:"secret_file" json:"secret_file"`
	MaxCalls   int    `mapstructure:"max_calls" yaml:"max_calls" json:"max_calls"` // degraded at or above this many calls; 0 disables
}

// TCPProbe connects to host:port.
type TCPProbe struct {
	Schedule `mapstructure:",squash" yaml:",inline"`
	Address  string `mapstructure:"address" yaml:"address" json:"address"`
}

// ExecProbe runs a Nagios-style plugin.
type ExecProbe struct {
	Schedule `mapstructure:",squash" yaml:",inline"`
	Command  []string `mapstructure:"command" yaml:"command" json:"command"` // argv; no shell
}

// PBX is the local PBX process.
type PBX struct {
	Supervise Supervise `mapstructure:"supervise" yaml:"supervise" json:"supervise"`

	// TakeoverESL lists FreeSWITCH API commands ("sofia recover") sent in
	// order over the first esl probe's event socket after a takeover made
	// sure the PBX runs, before the takeover hooks. A failure is alerted,
	// never a failed takeover.
	TakeoverESL        []string      `mapstructure:"takeover_esl" yaml:"takeover_esl" json:"takeover_esl"`
	TakeoverESLTimeout time.Duration `mapstructure:"takeover_esl_timeout" yaml:"takeover_esl_timeout" json:"takeover_esl_timeout"` // connecting (retried) and every command, in all
}

// Supervise says how pbxha keeps the local PBX process running.
type Supervise struct {
	Mode string `mapstructure:"mode" yaml:"mode" json:"mode"` // exec | pidfile | systemd | none

	// exec: pbxha starts the PBX itself.
	Command []string `mapstructure:"command" yaml:"command" json:"command"` // argv, no shell
	Env     []string `mapstructure:"env" yaml:"env" json:"env"`             // KEY=VALUE on top of pbxha's environment
	Dir     string   `mapstructure:"dir" yaml:"dir" json:"dir"`             // working directory
	User    string   `mapstructure:"user" yaml:"user" json:"user"`          // run as this user (pbxha runs as root)
	Group   string   `mapstructure:"group" yaml:"group" json:"group"`       // and group

	// pidfile: someone else starts the PBX.
	PIDFile      string   `mapstructure:"pidfile" yaml:"pidfile" json:"pidfile"`
	Match        string   `mapstructure:"match" yaml:"match" json:"match"` // text in the process's command line or executable path that identifies the PBX
	StartCommand []string `mapstructure:"start_command" yaml:"start_command" json:"start_command"`
	StopCommand  []string `mapstructure:"stop_command" yaml:"stop_command" json:"stop_command"`

	// systemd: the PBX is a unit.
	Unit string `mapstructure:"unit" yaml:"unit" json:"unit"`

	StopTimeout    time.Duration `mapstructure:"stop_timeout" yaml:"stop_timeout" json:"stop_timeout"`          // SIGTERM, then SIGKILL after this
	HangGrace      time.Duration `mapstructure:"hang_grace" yaml:"hang_grace" json:"hang_grace"`                // critical probe failed this long while the process lives: hung; 0 disables
	BackoffInitial time.Duration `mapstructure:"backoff_initial" yaml:"backoff_initial" json:"backoff_initial"` // wait before a restart, growing by backoff_factor
	BackoffMax     time.Duration `mapstructure:"backoff_max" yaml:"backoff_max" json:"backoff_max"`
	BackoffFactor  float64       `mapstructure:"backoff_factor" yaml:"backoff_factor" json:"backoff_factor"`
	MaxRestarts    int           `mapstructure:"max_restarts" yaml:"max_restarts" json:"max_restarts"` // more restarts than this within window: node fault
	Window         time.Duration `mapstructure:"window" yaml:"window" json:"window"`
	StopOnExit     bool          `mapstructure:"stop_on_exit" yaml:"stop_on_exit" json:"stop_on_exit"` // stop the PBX when pbxha stops (default: leave it running)
}

// Alerts configures webhook alerts and their durable outbox.
type Alerts struct {
	Endpoints      []Endpoint    `mapstructure:"endpoints" yaml:"endpoints" json:"endpoints"`
	MaxAge         time.Duration `mapstructure:"max_age" yaml:"max_age" json:"max_age"`                         // undelivered events older than this are dropped
	BackoffInitial time.Duration `mapstructure:"backoff_initial" yaml:"backoff_initial" json:"backoff_initial"` // first retry delay, doubling with jitter
	BackoffMax     time.Duration `mapstructure:"backoff_max" yaml:"backoff_max" json:"backoff_max"`
	MaxQueued      int           `mapstructure:"max_queued" yaml:"max_queued" json:"max_queued"`             // per endpoint; beyond it the oldest low-severity events go first
	FlapWindow     time.Duration `mapstructure:"flap_window" yaml:"flap_window" json:"flap_window"`          // probe flapping within this window...
	FlapThreshold  int           `mapstructure:"flap_threshold" yaml:"flap_threshold" json:"flap_threshold"` // ...more than this many changes becomes one summary alert
	ExternalURL    string        `mapstructure:"external_url" yaml:"external_url" json:"external_url"`       // link put into slack and alertmanager payloads
}

// Endpoint is one webhook receiver.
type Endpoint struct {
	Name        string        `mapstructure:"name" yaml:"name" json:"name"`
	URL         string        `mapstructure:"url" yaml:"url" json:"url"`
	Format      string        `mapstructure:"format" yaml:"format" json:"format"`                   // json | slack | alertmanager
	Kinds       []string      `mapstructure:"kinds" yaml:"kinds" json:"kinds"`                      // event kinds to send; empty: all
	MinSeverity string        `mapstructure:"min_severity" yaml:"min_severity" json:"min_severity"` // info | warning | critical
	Timeout     time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"`
	Headers     []string      `mapstructure:"headers" yaml:"headers" json:"headers"` // "Name: value"
	Secret      string        `mapstructure:"secret" yaml:"secret" json:"-"`         // HMAC-SHA256 signing key
	SecretFile  string        `mapstructure:"secret_file" yaml:"secret_file" json:"secret_file"`
}

// Peer is the link to the other node of the pair. With no paths the node
// runs alone (mode single).
type Peer struct {
	Paths     []PeerPath    `mapstructure:"paths" yaml:"paths" json:"paths"`                // heartbeat paths, e.g. a back-to-back link and the service network
	KeyFile   string        `mapstructure:"key_file" yaml:"key_file" json:"key_file"`       // shared HMAC key (pbxha keygen)
	Interval  time.Duration `mapstructure:"interval" yaml:"interval" json:"interval"`       // heartbeat interval
	DeadAfter time.Duration `mapstructure:"dead_after" yaml:"dead_after" json:"dead_after"` // peer dead after this long without a valid heartbeat on any path
	InitDead  time.Duration `mapstructure:"init_dead" yaml:"init_dead" json:"init_dead"`    // at start-up, wait this long to hear the peer before claiming anything
}

// PeerPath is one heartbeat path: this node's UDP address and the peer's.
type PeerPath struct {
	Local string `mapstructure:"local" yaml:"local" json:"local"` // ip:port bound here
	Peer  string `mapstructure:"peer" yaml:"peer" json:"peer"`    // ip:port of the peer on that path
}

// Failover is the policy both nodes of the pair share.
type Failover struct {
	Mode          string        `mapstructure:"mode" yaml:"mode" json:"mode"`                               // failover_first | restart_first
	RestartGrace  time.Duration `mapstructure:"restart_grace" yaml:"restart_grace" json:"restart_grace"`    // restart_first: time the local restart gets
	Failback      string        `mapstructure:"failback" yaml:"failback" json:"failback"`                   // off | auto
	FailbackDelay time.Duration `mapstructure:"failback_delay" yaml:"failback_delay" json:"failback_delay"` // auto: preferred node healthy this long
	PreferredNode string        `mapstructure:"preferred_node" yaml:"preferred_node" json:"preferred_node"`
	TieBreakers   []string      `mapstructure:"tie_breakers" yaml:"tie_breakers" json:"tie_breakers"`    // host:port reached by TCP; at least one must answer for a takeover
	FenceCommand  []string      `mapstructure:"fence_command" yaml:"fence_command" json:"fence_command"` // argv, no shell; must exit 0 before taking over from a silent peer
	FenceTimeout  time.Duration `mapstructure:"fence_timeout" yaml:"fence_timeout" json:"fence_timeout"` // the fence command's process group is killed after this
}

// VIP is the service address the primary holds.
type VIP struct {
	Mode         string        `mapstructure:"mode" yaml:"mode" json:"mode"`                // netlink | script | none
	Interface    string        `mapstructure:"interface" yaml:"interface" json:"interface"` // netlink: the interface
	Address      string        `mapstructure:"address" yaml:"address" json:"address"`       // CIDR, e.g. 192.0.2.100/32
	Label        string        `mapstructure:"label" yaml:"label" json:"label"`             // at most 15 bytes
	GARPCount    int           `mapstructure:"garp_count" yaml:"garp_count" json:"garp_count"`
	GARPInterval time.Duration `mapstructure:"garp_interval" yaml:"garp_interval" json:"garp_interval"`
	Refresh      time.Duration `mapstructure:"refresh" yaml:"refresh" json:"refresh"` // re-announce this often while held; 0: never
	Script       VIPScript     `mapstructure:"script" yaml:"script" json:"script"`
}

// VIPScript moves the address with commands (clouds: elastic IP, DNS).
type VIPScript struct {
	Up      []string      `mapstructure:"up" yaml:"up" json:"up"`
	Down    []string      `mapstructure:"down" yaml:"down" json:"down"`
	Check   []string      `mapstructure:"check" yaml:"check" json:"check"` // exit 0 held, 1 not held
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"`
}

// Database is the PostgreSQL server whose primary role moves with the VIP.
// Without a DSN the pair moves no database role.
type Database struct {
	DSN            string        `mapstructure:"dsn" yaml:"dsn" json:"-"`                                 // the local server; its user may run pg_promote()
	MaxLagBytes    int           `mapstructure:"max_lag_bytes" yaml:"max_lag_bytes" json:"max_lag_bytes"` // a standby further behind the peer's last announced WAL position is not promoted
	AllowLag       bool          `mapstructure:"allow_lag" yaml:"allow_lag" json:"allow_lag"`             // promote however far behind (availability over data)
	PromoteTimeout time.Duration `mapstructure:"promote_timeout" yaml:"promote_timeout" json:"promote_timeout"`
	DemoteCommand  []string      `mapstructure:"demote_command" yaml:"demote_command" json:"demote_command"` // turns the local primary into a standby (configs/pg-demote.sh)
	DemoteTimeout  time.Duration `mapstructure:"demote_timeout" yaml:"demote_timeout" json:"demote_timeout"`
	StopCommand    []string      `mapstructure:"stop_command" yaml:"stop_command" json:"stop_command"` // stops it when demotion failed
	StopTimeout    time.Duration `mapstructure:"stop_timeout" yaml:"stop_timeout" json:"stop_timeout"`
	Env            []string      `mapstructure:"env" yaml:"env" json:"env"` // KEY=VALUE for both commands (PGDATA, PRIMARY_CONNINFO...)
}

// Hooks are operator commands run around takeover and release (pair mode).
type Hooks struct {
	Takeover []Hook `mapstructure:"takeover" yaml:"takeover" json:"takeover"` // after the PBX; the first failure stops the rest and fails the takeover
	Release  []Hook `mapstructure:"release" yaml:"release" json:"release"`    // before the VIP goes; every hook runs, failures are logged
}

// Hook is one command.
type Hook struct {
	Name    string        `mapstructure:"name" yaml:"name" json:"name"`
	Command []string      `mapstructure:"command" yaml:"command" json:"command"` // argv, no shell
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"`
}
