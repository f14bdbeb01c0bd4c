package probe

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Defaults of MySQLConfig.
const (
	DefaultMySQLTable   = "pbxha_heartbeat"
	DefaultMySQLTimeout = 5 * time.Second
)

// MySQLErrReadOnly is the server's error number for a statement refused
// by read_only (ER_OPTION_PREVENTS_STATEMENT).
const MySQLErrReadOnly = 1290

// MariaDB/MySQL error numbers the probe branches on.
const (
	mysqlErrNoSuchTable      = 1146 // ER_NO_SUCH_TABLE
	mysqlErrTableExists      = 1050 // ER_TABLE_EXISTS_ERROR
	mysqlErrAccessDenied     = 1045 // ER_ACCESS_DENIED_ERROR
	mysqlErrAccessDeniedNoPw = 1698 // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
	mysqlErrDBAccessDenied   = 1044 // ER_DBACCESS_DENIED_ERROR
	mysqlErrBadDB            = 1049 // ER_BAD_DB_ERROR
	mysqlErrTableAccess      = 1142 // ER_TABLEACCESS_DENIED_ERROR
	mysqlErrSpecificAccess   = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR
	mysqlErrCommandsDenied   = 1370 // ER_PROCACCESS_DENIED_ERROR
	mysqlErrStatementTimeout = 1969 // MariaDB's ER_STATEMENT_TIMEOUT: max_statement_time exceeded
	mysqlErrQueryTimeout     = 3024 // MySQL's ER_QUERY_TIMEOUT: max_execution_time exceeded
)

// MySQLConfig configures a MariaDB/MySQL probe. It mirrors
// configs.MySQLProbe.
type MySQLConfig struct {
	// DSN is a Go MySQL driver DSN: "user:password@tcp(127.0.0.1:3306)/pbxha".
	// The user needs PROCESS, BINLOG MONITOR and SLAVE MONITOR (MariaDB)
	// or REPLICATION CLIENT (MySQL), and SELECT, INSERT, UPDATE and CREATE
	// on the heartbeat table's database.
	DSN string
	// ExpectRole is the role the server must have: primary, replica or any
	// (empty means any).
	ExpectRole MySQLRole
	// Table is the heartbeat table, in the DSN's database or qualified
	// ("pbxha.heartbeat"); default pbxha_heartbeat. It is created when
	// missing.
	Table string
	// Node is this node's key in the heartbeat table; default the host name.
	Node string
	// Timeout bounds connects (the DSN's timeout, unless it sets one) and
	// checks whose context has no deadline. Default DefaultMySQLTimeout.
	Timeout time.Duration
}

// MySQL is the MariaDB/MySQL probe: it reads the server's role, GTID
// positions and replication threads and, on a primary (read_only off),
// commits a heartbeat write. It is safe for concurrent use.
type MySQL struct {
	cfg      MySQLConfig
	target   string
	db       *sql.DB
	writeSQL string
	makeSQL  string
	log      *slog.Logger

	mu       sync.Mutex
	srv      MySQLServer
	haveSrv  bool
	last     MySQLState
	haveLast bool
}

// ParseMySQLDSN parses a Go MySQL driver DSN, with an error that never
// holds the password.
func ParseMySQLDSN(dsn string) (*mysql.Config, error) {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		msg := err.Error()
		if i := strings.Index(dsn, "@"); i > 0 {
			if _, pw, ok := strings.Cut(dsn[:i], ":"); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
		return nil, errors.New(msg)
	}
	return c, nil
}

// MySQLTarget names a server without credentials: host:port/database.
func MySQLTarget(c *mysql.Config) string { return c.Addr + "/" + c.DBName }

// QuoteMySQLTable quotes a table name, optionally database-qualified, with
// backticks. Without a database the DSN's must be set.
func QuoteMySQLTable(name, dsnDB string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("table %q: want name or database.name", name)
	}
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "`\x00") {
			return "", fmt.Errorf("table %q: empty or invalid name part", name)
		}
	}
	if len(parts) == 1 && dsnDB == "" {
		return "", fmt.Errorf("table %q: the dsn names no database: add one (.../pbxha) or write database.table", name)
	}
	for i, p := range parts {
		parts[i] = "`" + p + "`"
	}
	return strings.Join(parts, "."), nil
}

// NewMySQL validates cfg and prepares a connection pool. It does not
// connect: the first Check does.
func NewMySQL(cfg MySQLConfig, logger *slog.Logger) (*MySQL, error) {
	if cfg.ExpectRole == "" {
		cfg.ExpectRole = MySQLRoleAny
	}
	switch cfg.ExpectRole {
	case MySQLRolePrimary, MySQLRoleReplica, MySQLRoleAny:
	default:
		return nil, fmt.Errorf("mysql: config: expect_role %q: want primary, replica or any", cfg.ExpectRole)
	}
	if cfg.Table == "" {
		cfg.Table = DefaultMySQLTable
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultMySQLTimeout
	}
	mc, err := ParseMySQLDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("mysql: config: dsn: %w", err)
	}
	table, err := QuoteMySQLTable(cfg.Table, mc.DBName)
	if err != nil {
		return nil, fmt.Errorf("mysql: config: %w", err)
	}
	if cfg.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("mysql: config: node name: %w", err)
		}
		cfg.Node = h
	}
	if mc.Timeout == 0 {
		mc.Timeout = cfg.Timeout
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mysql: config: dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &MySQL{
		cfg:    cfg,
		target: MySQLTarget(mc),
		db:     db,
		writeSQL: fmt.Sprintf("INSERT INTO %s (node, ts, seq) VALUES (?, NOW(6), 1) "+
			"ON DUPLICATE KEY UPDATE ts = VALUES(ts), seq = seq + 1", table),
		makeSQL: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n"+
			"  node VARCHAR(64) NOT NULL PRIMARY KEY,\n"+
			"  ts   DATETIME(6) NOT NULL,\n"+
			"  seq  BIGINT NOT NULL\n) ENGINE=InnoDB", table),
	}
	p.log = logger.With("probe", "mysql", "target", p.target)
	return p, nil
}

// Target names the server the probe checks, without credentials
// ("127.0.0.1:3306/pbxha").
func (p *MySQL) Target() string { return p.target }

// Close closes the pool's connections. Check must not be called afterwards.
func (p *MySQL) Close() { _ = p.db.Close() }

// Last returns the state read by the most recent check that reached the
// server, and false when no check has.
func (p *MySQL) Last() (MySQLState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.last
	s.Replicas = append([]MySQLReplica(nil), s.Replicas...)
	return s, p.haveLast
}

// Check reads the role, positions and replication threads, and commits the
// heartbeat write on a primary. It returns by ctx's deadline (or Timeout
// when ctx has none).
func (p *MySQL) Check(ctx context.Context) Result {
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}
	st, err := p.run(ctx)
	st.At = start
	res := Result{Start: start, Latency: time.Since(start)}
	if st.Role != "" {
		p.mu.Lock()
		p.last, p.haveLast = st, true
		p.mu.Unlock()
		res.Values = st.values()
	}
	if err != nil {
		res.Status, res.Err, res.Class = Failed, err, classifyMySQL(ctx, err)
		res.Detail = mysqlFailDetail(st, res.Class, err)
		return res
	}
	if want := p.cfg.ExpectRole; want != MySQLRoleAny && want != st.Role {
		res.Status, res.Class = Failed, ClassBadResponse
		res.Err = fmt.Errorf("mysql: check %s: role %s, expected %s", p.target, st.Role, want)
		res.Detail = fmt.Sprintf("%s, expected %s", st.Role, want)
		return res
	}
	res.Status = OK
	res.Detail = st.detail()
	return res
}

// run reads the state and writes on a primary. The returned state has an
// empty Role when the role could not be read.
func (p *MySQL) run(ctx context.Context) (MySQLState, error) {
	p.mu.Lock()
	srv, have := p.srv, p.haveSrv
	p.mu.Unlock()
	if !have {
		var err error
		if srv, err = DetectMySQL(ctx, p.db); err != nil {
			return MySQLState{}, fmt.Errorf("mysql: connect %s: %w", p.target, err)
		}
		p.mu.Lock()
		p.srv, p.haveSrv = srv, true
		p.mu.Unlock()
	}
	st, err := ReadMySQL(ctx, p.db, srv)
	if err != nil {
		return MySQLState{}, fmt.Errorf("mysql: %s: %w", p.target, err)
	}
	if st.Role != MySQLRolePrimary {
		return st, nil
	}
	t0 := time.Now()
	write := p.writeSQL
	if srv.Flavor == FlavorMariaDB {
		// The server gives up on the write about when the check does,
		// rather than leave a thread waiting (for a lock, for disk space)
		// after every failed check; the driver also closes the connection
		// at the deadline, which ends a wait that notices it.
		write = statementTime(ctx) + write
	}
	_, err = p.db.ExecContext(ctx, write, p.cfg.Node)
	if isMySQLErr(err, mysqlErrNoSuchTable) {
		if _, cerr := p.db.ExecContext(ctx, p.makeSQL); cerr != nil && !isMySQLErr(cerr, mysqlErrTableExists) {
			return st, fmt.Errorf("mysql: write %s: create table %s: %w", p.target, p.cfg.Table, cerr)
		}
		p.log.Info("created heartbeat table", "table", p.cfg.Table)
		t0 = time.Now()
		_, err = p.db.ExecContext(ctx, write, p.cfg.Node)
	}
	if err != nil {
		return st, fmt.Errorf("mysql: write %s: %w", p.target, err)
	}
	st.Wrote, st.WriteLatency = true, time.Since(t0)
	return st, nil
}

// statementTime is MariaDB's per-statement limit from ctx's deadline:
// "SET STATEMENT max_statement_time=S FOR ", or "" without a deadline.
func statementTime(ctx context.Context) string {
	d, ok := ctx.Deadline()
	if !ok {
		return ""
	}
	secs := max(time.Until(d).Seconds(), 0.001)
	return fmt.Sprintf("SET STATEMENT max_statement_time=%.3f FOR ", secs)
}

// isMySQLErr reports whether err is the server's error number n.
func isMySQLErr(err error, n uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == n
}

// classifyMySQL maps a check error to an error class.
func classifyMySQL(ctx context.Context, err error) string {
	if class, ok := classifyConn(ctx, err); ok {
		return class
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case mysqlErrAccessDenied, mysqlErrAccessDeniedNoPw:
			return ClassAuth
		case mysqlErrBadDB, mysqlErrDBAccessDenied, mysqlErrTableAccess, mysqlErrSpecificAccess, mysqlErrCommandsDenied:
			return ClassConfig
		case mysqlErrStatementTimeout, mysqlErrQueryTimeout:
			// The server gave up at the check's deadline (the statement
			// carries it), a moment before the client would have.
			return ClassTimeout
		}
		return ClassBadResponse
	}
	return ClassTransport
}

// mysqlFailDetail is the Detail line of a failed check.
func mysqlFailDetail(st MySQLState, class string, err error) string {
	f := dbFailure{Role: string(st.Role), Class: class, Timeout: "write timeout", Failed: "write failed"}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		f.ServerErr = fmt.Sprintf("%s (error %d)", me.Message, me.Number)
	}
	if class == ClassConfig {
		f.Config = err.Error()
	}
	return f.Detail()
}

// LastMySQL returns what the first mysql check of checks last read, and
// whether that reading is fresh at now (see LastPG). ok is false without a
// mysql check or before its first reading.
func LastMySQL(checks []Check, now time.Time) (st MySQLState, fresh, ok bool) {
	for _, c := range checks {
		if m, isMySQL := c.Probe.(*MySQL); isMySQL {
			st, ok = m.Last()
			return st, ok && now.Sub(st.At) <= 2*c.Interval+c.Timeout, ok
		}
	}
	return MySQLState{}, false, false
}
