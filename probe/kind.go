package probe

// Kind names a probe kind. The values are the config's section names under
// probes (probes.sip, probes.esl...) and the "kind" in status, events and
// metric labels.
type Kind string

// The probe kinds.
const (
	KindSIP   Kind = "sip"   // SIP OPTIONS (package sipcheck)
	KindESL   Kind = "esl"   // FreeSWITCH event socket (package esl)
	KindPG    Kind = "pg"    // PostgreSQL write check, role and lag (PG)
	KindMySQL Kind = "mysql" // MariaDB/MySQL write check, role, GTID position and replication (MySQL)
	KindAMI   Kind = "ami"   // Asterisk manager interface (package ami)
	KindTCP   Kind = "tcp"   // TCP connect (TCP)
	KindExec  Kind = "exec"  // a Nagios-style command (Exec)
)

// Kinds lists every probe kind in the order configs and status list them.
var Kinds = []Kind{KindSIP, KindESL, KindPG, KindMySQL, KindAMI, KindTCP, KindExec}

// String returns the kind's name.
func (k Kind) String() string { return string(k) }

// Database reports whether the kind checks the database rather than the PBX:
// its failure says nothing about the PBX process, so it never gets the PBX
// restarted or killed as hung.
func (k Kind) Database() bool { return k == KindPG || k == KindMySQL }

// CountsCalls reports whether the kind reads the PBX's active call count
// (Result.Values["calls"]), which a planned switchover drains.
func (k Kind) CountsCalls() bool { return k == KindESL || k == KindAMI }
