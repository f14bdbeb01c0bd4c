package probe

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MySQLRole is the role of a MariaDB or MySQL server, or in
// MySQLConfig.ExpectRole the role a probe requires.
type MySQLRole string

// MariaDB/MySQL roles. MySQLRoleAny is only meaningful as an expectation.
const (
	MySQLRolePrimary MySQLRole = "primary" // read_only is off: takes writes
	MySQLRoleReplica MySQLRole = "replica" // read_only is on, replicating or not
	MySQLRoleAny     MySQLRole = "any"     // expectation that accepts either role
)

// String returns the role name.
func (r MySQLRole) String() string { return string(r) }

// MySQLFlavor tells MariaDB from MySQL: their GTIDs and statements differ.
type MySQLFlavor string

// The flavors.
const (
	FlavorMariaDB MySQLFlavor = "mariadb"
	FlavorMySQL   MySQLFlavor = "mysql"
)

// Querier runs queries: a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// MySQLServer is what never changes while a server runs: its flavor and
// version.
type MySQLServer struct {
	Flavor  MySQLFlavor
	Version string // @@version, e.g. "10.11.6-MariaDB-0+deb12u1-log" or "8.0.36"
}

// DetectMySQL reads the server's version and tells the flavor.
func DetectMySQL(ctx context.Context, q Querier) (MySQLServer, error) {
	var v string
	if err := q.QueryRowContext(ctx, "SELECT @@version").Scan(&v); err != nil {
		return MySQLServer{}, err
	}
	s := MySQLServer{Flavor: FlavorMySQL, Version: v}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		s.Flavor = FlavorMariaDB
	}
	return s, nil
}

// atLeast reports whether the version is major.minor.patch or later.
func (s MySQLServer) atLeast(major, minor, patch int) bool {
	num, _, _ := strings.Cut(s.Version, "-")
	var v [3]int
	for i, p := range strings.SplitN(num, ".", 3) {
		v[i], _ = strconv.Atoi(p)
	}
	for i, w := range [3]int{major, minor, patch} {
		if v[i] != w {
			return v[i] > w
		}
	}
	return true
}

// ReplicaStatusSQL is the statement that shows a replica's threads: SHOW
// REPLICA STATUS on MySQL 8.0.22 and later, SHOW SLAVE STATUS before and on
// MariaDB (whose default connection it shows).
func (s MySQLServer) ReplicaStatusSQL() string {
	if s.Flavor == FlavorMySQL && s.atLeast(8, 0, 22) {
		return "SHOW REPLICA STATUS"
	}
	return "SHOW SLAVE STATUS"
}

// MySQLState is what one reading of a MariaDB or MySQL server found.
type MySQLState struct {
	At     time.Time // when the check that read this state began
	Server MySQLServer
	Role   MySQLRole // MySQLRolePrimary or MySQLRoleReplica

	ReadOnly      bool // @@read_only
	SuperReadOnly bool // MySQL's @@super_read_only (MariaDB has none)

	// Executed is the GTID position of the transactions the server applied
	// or wrote: MariaDB @@gtid_binlog_pos merged with @@gtid_slave_pos,
	// MySQL @@gtid_executed.
	Executed string
	// Received is, on a server with replication configured, the GTIDs its
	// IO thread received: MariaDB Gtid_IO_Pos, MySQL Retrieved_Gtid_Set.
	Received string

	// Replicating: replication is configured (the replica status has a
	// row); the fields below describe it.
	Replicating   bool
	IORunning     string // "Yes", "No" or "Connecting"
	SQLRunning    string // "Yes" or "No"
	SecondsBehind int64  // Seconds_Behind_Master; -1 when the server reports none (NULL)
	Source        string // host:port the replica reads from
	LastIOError   string
	LastSQLError  string

	// Replicas are the connected replicas of this server: its binlog dump
	// threads, from the process list.
	Replicas []MySQLReplica

	// PositionCount is the transaction count (see ParseGTIDSet) of
	// everything the server holds, received or applied; AppliedCount of
	// what it applied.
	PositionCount, AppliedCount uint64

	Wrote        bool          // the heartbeat write committed during this check
	WriteLatency time.Duration // its round trip
}

// MySQLReplica is one binlog dump thread of a primary: a replica reading
// its binlog.
type MySQLReplica struct {
	Addr  string // the replica's host:port as the process list shows it
	State string // e.g. "Master has sent all binlog to slave; waiting for more updates"
}

// SentAll reports that the dump thread has sent the replica everything in
// the binlog and waits for more.
func (r MySQLReplica) SentAll() bool {
	s := strings.ToLower(r.State)
	return strings.Contains(s, "sent all binlog")
}

// Position is the newest GTID position the server holds, as a transaction
// count: what failover.Heartbeat.WAL carries.
func (s MySQLState) Position() uint64 { return s.PositionCount }

// LagTransactions is, on a replica, how many received transactions wait
// to be applied.
func (s MySQLState) LagTransactions() uint64 {
	if s.PositionCount > s.AppliedCount {
		return s.PositionCount - s.AppliedCount
	}
	return 0
}

// Streaming reports that the replica's IO thread is connected to its
// source.
func (s MySQLState) Streaming() bool { return s.Replicating && s.IORunning == "Yes" }

// replicaFields are the columns of the replica status, by the MariaDB and
// old-MySQL name and the MySQL 8.0.22+ one.
var replicaFields = map[string][]string{
	"io":       {"Slave_IO_Running", "Replica_IO_Running"},
	"sql":      {"Slave_SQL_Running", "Replica_SQL_Running"},
	"behind":   {"Seconds_Behind_Master", "Seconds_Behind_Source"},
	"host":     {"Master_Host", "Source_Host"},
	"port":     {"Master_Port", "Source_Port"},
	"ioerr":    {"Last_IO_Error"},
	"sqlerr":   {"Last_SQL_Error"},
	"mariaio":  {"Gtid_IO_Pos"},
	"received": {"Retrieved_Gtid_Set"},
}

// ReadMySQL reads a server's role, GTID positions, replication threads and
// connected replicas (three queries). srv is from DetectMySQL.
func ReadMySQL(ctx context.Context, q Querier, srv MySQLServer) (MySQLState, error) {
	st := MySQLState{Server: srv, SecondsBehind: -1}
	var (
		binlog, slave string
		ro, sro       int
	)
	var err error
	if srv.Flavor == FlavorMariaDB {
		err = q.QueryRowContext(ctx, "SELECT @@read_only, @@gtid_binlog_pos, @@gtid_slave_pos").Scan(&ro, &binlog, &slave)
	} else {
		err = q.QueryRowContext(ctx, "SELECT @@read_only, @@super_read_only, @@gtid_executed").Scan(&ro, &sro, &binlog)
	}
	if err != nil {
		return MySQLState{}, fmt.Errorf("read role: %w", err)
	}
	st.ReadOnly, st.SuperReadOnly = ro != 0, sro != 0
	st.Role = MySQLRolePrimary
	if st.ReadOnly || st.SuperReadOnly {
		st.Role = MySQLRoleReplica
	}
	row, err := replicaStatus(ctx, q, srv)
	if err != nil {
		return MySQLState{}, fmt.Errorf("read replica status: %w", err)
	}
	if row != nil {
		st.Replicating = true
		st.IORunning, st.SQLRunning = row["io"], row["sql"]
		if v, ok := row["behind"]; ok && v != "" {
			st.SecondsBehind, _ = strconv.ParseInt(v, 10, 64)
		}
		if row["host"] != "" {
			st.Source = row["host"] + ":" + row["port"]
		}
		st.LastIOError, st.LastSQLError = row["ioerr"], row["sqlerr"]
		st.Received = row["mariaio"]
		if srv.Flavor == FlavorMySQL {
			st.Received = row["received"]
		}
	}
	if err := st.positions(binlog, slave); err != nil {
		return MySQLState{}, err
	}
	rows, err := q.QueryContext(ctx, `SELECT HOST, COALESCE(STATE, '') FROM information_schema.PROCESSLIST
WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID') ORDER BY ID`)
	if err != nil {
		return MySQLState{}, fmt.Errorf("read replicas: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r MySQLReplica
		if err := rows.Scan(&r.Addr, &r.State); err != nil {
			return MySQLState{}, fmt.Errorf("read replicas: %w", err)
		}
		st.Replicas = append(st.Replicas, r)
	}
	if err := rows.Err(); err != nil {
		return MySQLState{}, fmt.Errorf("read replicas: %w", err)
	}
	return st, nil
}

// positions parses the GTID positions into Executed and the counts.
// MariaDB: binlog and slave are @@gtid_binlog_pos and @@gtid_slave_pos;
// MySQL: binlog is @@gtid_executed.
func (st *MySQLState) positions(binlog, slave string) error {
	if st.Server.Flavor == FlavorMariaDB {
		b, err := ParseMariaDBGTIDList(binlog)
		if err != nil {
			return err
		}
		s, err := ParseMariaDBGTIDList(slave)
		if err != nil {
			return err
		}
		r, err := ParseMariaDBGTIDList(st.Received)
		if err != nil {
			return err
		}
		exec := MaxMariaDBGTIDList(b, s)
		st.Executed = joinGTIDs(exec)
		st.AppliedCount = MariaDBPosition(exec)
		st.PositionCount = MariaDBPosition(MaxMariaDBGTIDList(exec, r))
		return nil
	}
	exec, err := ParseGTIDSet(binlog)
	if err != nil {
		return err
	}
	recv, err := ParseGTIDSet(st.Received)
	if err != nil {
		return err
	}
	st.Executed = exec.String()
	st.AppliedCount = exec.Count()
	st.PositionCount = exec.Union(recv).Count()
	return nil
}

func joinGTIDs(l []MariaDBGTID) string {
	parts := make([]string, len(l))
	for i, g := range l {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

// replicaStatus reads the replica status row as a map of the
// replicaFields keys, or nil when replication is not configured.
func replicaStatus(ctx context.Context, q Querier, srv MySQLServer) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, srv.ReplicaStatusSQL())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	byName := map[string]string{}
	for i, c := range cols {
		if vals[i].Valid {
			byName[c] = vals[i].String
		}
	}
	out := map[string]string{}
	for key, names := range replicaFields {
		for _, n := range names {
			if v, ok := byName[n]; ok {
				out[key] = v
				break
			}
		}
	}
	return out, rows.Err()
}

// values returns the numbers a check publishes in Result.Values.
func (s MySQLState) values() map[string]float64 {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	v := map[string]float64{
		"read_only":     b(s.ReadOnly || s.SuperReadOnly),
		"replica":       b(s.Role == MySQLRoleReplica),
		"gtid_position": float64(s.PositionCount),
		"replicas":      float64(len(s.Replicas)),
	}
	if s.Replicating {
		v["io_running"] = b(s.IORunning == "Yes")
		v["sql_running"] = b(s.SQLRunning == "Yes")
		v["lag_transactions"] = float64(s.LagTransactions())
		if s.SecondsBehind >= 0 {
			v["lag_seconds"] = float64(s.SecondsBehind)
		}
	}
	if s.Wrote {
		v["write_latency_seconds"] = s.WriteLatency.Seconds()
	}
	return v
}

// detail renders the state as the one line a person reads.
func (s MySQLState) detail() string {
	var b strings.Builder
	if s.Role == MySQLRolePrimary {
		fmt.Fprintf(&b, "primary, gtid %s, %s", orNone(s.Executed), s.replicasSummary())
		if s.Replicating {
			b.WriteString(", also replicating")
		}
		if s.Wrote {
			fmt.Fprintf(&b, ", write %.1f ms", float64(s.WriteLatency)/float64(time.Millisecond))
		}
		return b.String()
	}
	if !s.Replicating {
		fmt.Fprintf(&b, "replica, not replicating, gtid %s", orNone(s.Executed))
		return b.String()
	}
	lag := "lag unknown"
	if s.SecondsBehind >= 0 {
		lag = fmt.Sprintf("lag %ds", s.SecondsBehind)
	}
	fmt.Fprintf(&b, "replica of %s, io %s, sql %s, %s, %d to apply, gtid %s",
		s.Source, strings.ToLower(s.IORunning), strings.ToLower(s.SQLRunning), lag, s.LagTransactions(), orNone(s.Executed))
	if s.LastIOError != "" {
		fmt.Fprintf(&b, ", io error: %s", s.LastIOError)
	}
	if s.LastSQLError != "" {
		fmt.Fprintf(&b, ", sql error: %s", s.LastSQLError)
	}
	return b.String()
}

func (s MySQLState) replicasSummary() string {
	switch n := len(s.Replicas); n {
	case 0:
		return "no replicas"
	case 1:
		return "1 replica"
	default:
		return fmt.Sprintf("%d replicas", n)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
