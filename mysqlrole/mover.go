package mysqlrole

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pbxha/pbxha/dbrole"
	"github.com/pbxha/pbxha/probe"
)

// poll is how often a move asks the server again while it waits.
const poll = 10 * time.Millisecond

// Mover promotes and demotes the local MariaDB/MySQL server. Its methods
// are safe for concurrent use; Promote, Demote, Stop and Rejoin run one at
// a time.
type Mover struct {
	cfg    Config
	mc     *mysql.Config // the local server
	db     *sql.DB       // one connection per operation, not kept idle
	target string
	log    *slog.Logger

	mu sync.Mutex // serialises Promote, Demote, Stop and Rejoin
}

// New checks cfg, fills in defaults and returns a Mover. It does not
// connect. A nil logger discards.
func New(cfg Config, logger *slog.Logger) (*Mover, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	mc, err := probe.ParseMySQLDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("mysqlrole: config: dsn: %w", err)
	}
	if mc.Timeout == 0 {
		mc.Timeout = cfg.ConnectTimeout
	}
	// CHANGE MASTER TO cannot be prepared: the driver quotes the arguments.
	mc.InterpolateParams = true
	db, err := open(mc)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	target := probe.MySQLTarget(mc)
	return &Mover{cfg: cfg, mc: mc, db: db, target: target, log: logger.With("target", target)}, nil
}

func open(mc *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mysqlrole: config: dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(0) // the server may restart between two moves
	return db, nil
}

// Target names the local server without credentials
// ("127.0.0.1:3306/pbxha").
func (m *Mover) Target() string { return m.target }

// Close releases the Mover's connections.
func (m *Mover) Close() error { return m.db.Close() }

// session is one connection to a server with its flavor.
type session struct {
	conn *sql.Conn
	srv  probe.MySQLServer
}

// connect opens a session on db. Callers prefix the error.
func connect(ctx context.Context, db *sql.DB) (*session, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	srv, err := probe.DetectMySQL(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return &session{conn: conn, srv: srv}, nil
}

func (s *session) close() { _ = s.conn.Close() }

// read reads the server's state.
func (s *session) read(ctx context.Context) (probe.MySQLState, error) {
	return probe.ReadMySQL(ctx, s.conn, s.srv)
}

// exec runs statements in order.
func (s *session) exec(ctx context.Context, stmts ...string) error {
	for _, q := range stmts {
		if _, err := s.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// Statements that differ between MariaDB, MySQL before 8.0.22 and after.
func (s *session) modern() bool {
	return s.srv.Flavor == probe.FlavorMySQL && s.srv.ReplicaStatusSQL() == "SHOW REPLICA STATUS"
}

func (s *session) stopReplica(thread string) string {
	q := "STOP SLAVE"
	if s.modern() {
		q = "STOP REPLICA"
	}
	if thread != "" {
		q += " " + thread
	}
	return q
}

func (s *session) startReplica(thread string) string {
	q := "START SLAVE"
	if s.modern() {
		q = "START REPLICA"
	}
	if thread != "" {
		q += " " + thread
	}
	return q
}

func (s *session) resetReplica() string {
	if s.modern() {
		return "RESET REPLICA ALL"
	}
	return "RESET SLAVE ALL"
}

// readOnly returns the statements that close (on) or open writes: MySQL's
// super_read_only also stops users with SUPER or CONNECTION_ADMIN.
func (s *session) readOnly(on bool) []string {
	v := "OFF"
	if on {
		v = "ON"
	}
	if s.srv.Flavor == probe.FlavorMySQL {
		if on {
			return []string{"SET GLOBAL super_read_only = ON"}
		}
		return []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"}
	}
	return []string{"SET GLOBAL read_only = " + v}
}

// role maps a reading to dbrole's roles.
func role(st probe.MySQLState) dbrole.Role {
	if st.Role == probe.MySQLRolePrimary {
		return dbrole.RolePrimary
	}
	return dbrole.RoleStandby
}

// refused reports a connection error that means no server listens.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// readRole connects and reads the local server's state as the "read role"
// step. A refused connection is RoleStopped with the error; the session is
// nil unless err is.
func (m *Mover) readRole(ctx context.Context, res *dbrole.Result) (*session, probe.MySQLState, error) {
	var (
		s  *session
		st probe.MySQLState
	)
	err := stepf(res, m.cfg.Now, "read role", func() (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 2*m.cfg.ConnectTimeout)
		defer cancel()
		var err error
		if s, err = connect(cctx, m.db); err != nil {
			res.Before = dbrole.RoleUnknown
			if refused(err) {
				res.Before = dbrole.RoleStopped
			}
			return "", err
		}
		if st, err = s.read(cctx); err != nil {
			s.close()
			s = nil
			res.Before = dbrole.RoleUnknown
			return "", err
		}
		res.Before = role(st)
		return "", nil
	})
	res.After = res.Before
	return s, st, err
}

// Role connects to the local server and reports its role: RolePrimary
// (read_only off), RoleStandby, RoleStopped (refusing connections, with a
// nil error) or RoleUnknown with the error.
func (m *Mover) Role(ctx context.Context) (dbrole.Role, error) {
	var res dbrole.Result
	s, _, err := m.readRole(ctx, &res)
	if s != nil {
		s.close()
	}
	if res.Before == dbrole.RoleStopped {
		return dbrole.RoleStopped, nil
	}
	if err != nil {
		return res.Before, fmt.Errorf("mysqlrole: read role %s: %w", m.target, err)
	}
	return res.Before, nil
}

// peer returns the peer's server address for a rejoin.
func (m *Mover) peer(args dbrole.DemoteArgs) (host string, port int) {
	host, port = m.cfg.PeerHost, m.cfg.PeerPort
	if host == "" {
		host = args.PeerHost
	}
	if port == 0 {
		port = args.PeerPort
	}
	if port == 0 {
		port = 3306
		if _, p, err := net.SplitHostPort(m.mc.Addr); err == nil {
			port, _ = strconv.Atoi(p)
		}
	}
	return host, port
}

// stepf times one step of res (dbrole.Result's steps).
func stepf(res *dbrole.Result, now func() time.Time, name string, f func() (string, error)) error {
	start := now()
	t0 := time.Now()
	out, err := f()
	s := dbrole.Step{Name: name, Start: start, Duration: time.Since(t0), Output: out}
	if err != nil {
		s.Err = err.Error()
	}
	res.Steps = append(res.Steps, s)
	return err
}

// begin starts a Result.
func (m *Mover) begin(action string) (dbrole.Result, time.Time) {
	return dbrole.Result{Action: action, Start: m.cfg.Now(), Before: dbrole.RoleUnknown, After: dbrole.RoleUnknown}, time.Now()
}
