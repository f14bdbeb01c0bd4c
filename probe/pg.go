package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pbxha/pbxha/internal/problem"
)

// Defaults of PGConfig.
const (
	DefaultPGTable   = "pbxha_heartbeat"
	DefaultPGTimeout = 5 * time.Second
)

// PGConfig configures a PostgreSQL probe. It mirrors configs.PGProbe.
type PGConfig struct {
	// DSN is a libpq URL or key=value string. The probe's user needs
	// pg_monitor (or superuser) to see replication details, and INSERT and
	// CREATE on the heartbeat table's schema.
	DSN string
	// ExpectRole is the role the server must have: primary, standby or any
	// (empty means any).
	ExpectRole PGRole
	// Table is the heartbeat table, optionally schema-qualified
	// ("pbxha.heartbeat"); default pbxha_heartbeat. It is created when missing.
	Table string
	// Node is this node's key in the heartbeat table; default the host name.
	Node string
	// FreshConnEvery opens and closes one new connection this often, besides
	// the pooled one, so that a postmaster that no longer accepts connections
	// is noticed while pooled connections still work. 0 disables it.
	FreshConnEvery time.Duration
	// Timeout bounds pool connects that outlive a check (connect_timeout,
	// unless the DSN sets one) and checks whose context has no deadline.
	// Default DefaultPGTimeout.
	Timeout time.Duration
	// Now returns the current time; nil means time.Now. Tests inject a clock
	// to control when the fresh connection is due.
	Now func() time.Time
}

// PG is the PostgreSQL probe: it reads the server's role and replication
// positions and, on a primary, commits a heartbeat write, all in one round
// trip where possible. It is safe for concurrent use.
type PG struct {
	cfg      PGConfig
	target   string
	pool     *pgxpool.Pool
	connCfg  *pgconn.Config // for fresh connections
	writeSQL string
	makeSQL  string
	log      *slog.Logger

	mu        sync.Mutex
	last      PGState
	haveLast  bool
	lastFresh time.Time // last time a new connection was opened successfully
}

// stateSQL reads role and positions and sets the statement timeout for the
// rest of the batch's implicit transaction ($1 is a statement_timeout value).
const stateSQL = `SELECT r.in_recovery,
  CASE WHEN r.in_recovery THEN NULL ELSE pg_current_wal_lsn()::text END,
  pg_last_wal_receive_lsn()::text,
  pg_last_wal_replay_lsn()::text,
  CASE WHEN r.in_recovery THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END,
  CASE WHEN r.in_recovery THEN pg_is_wal_replay_paused() ELSE false END,
  coalesce((SELECT status = 'streaming' FROM pg_stat_wal_receiver LIMIT 1), false),
  set_config('statement_timeout', $1, true)
FROM (SELECT pg_is_in_recovery() AS in_recovery) r`

// standbysSQL lists the WAL senders.
const standbysSQL = `SELECT coalesce(application_name, ''), coalesce(host(client_addr), ''),
  coalesce(state, ''), coalesce(sync_state, ''), replay_lsn::text
FROM pg_stat_replication ORDER BY application_name, pid`

// timeoutSQL sets the statement timeout for the rest of a batch.
const timeoutSQL = `SELECT set_config('statement_timeout', $1, true)`

// SQLSTATE codes the probe branches on.
const (
	sqlstateUndefinedTable   = "42P01"
	sqlstateReadOnly         = "25006"
	sqlstateInvalidPassword  = "28P01"
	sqlstateInvalidAuthSpec  = "28000"
	sqlstateInvalidCatalog   = "3D000"
	sqlstateDuplicateObject  = "42P07"
	sqlstateUniqueViolation  = "23505"
	sqlstateInsufficientPriv = "42501"
	sqlstateQueryCanceled    = "57014" // statement_timeout, or a cancel
)

// NewPG validates cfg and prepares a connection pool. It does not connect:
// the first Check does.
func NewPG(cfg PGConfig, logger *slog.Logger) (*PG, error) {
	if cfg.ExpectRole == "" {
		cfg.ExpectRole = PGRoleAny
	}
	switch cfg.ExpectRole {
	case PGRolePrimary, PGRoleStandby, PGRoleAny:
	default:
		return nil, fmt.Errorf("pg: config: expect_role %q: want primary, standby or any", cfg.ExpectRole)
	}
	if cfg.Table == "" {
		cfg.Table = DefaultPGTable
	}
	table, err := quoteTable(cfg.Table)
	if err != nil {
		return nil, err
	}
	if cfg.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("pg: config: node name: %w", err)
		}
		cfg.Node = h
	}
	if cfg.FreshConnEvery < 0 {
		return nil, fmt.Errorf("pg: config: fresh_conn_every %s: must not be negative", cfg.FreshConnEvery)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPGTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgconn's parse errors never contain the password.
		return nil, fmt.Errorf("pg: config: dsn: %w", err)
	}
	cc := pcfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = cfg.Timeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "pbxha"
	}
	// Exec mode sends each statement as Parse/Bind/Execute in one pipeline
	// with a single Sync: one round trip, one implicit transaction, and
	// statements fail in order (the role is read even when the write fails).
	cc.DefaultQueryExecMode = pgx.QueryExecModeExec
	pcfg.MaxConns = 2
	pcfg.MinConns = 0
	// The probe is the health check: no extra ping on acquire.
	pcfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("pg: config: pool: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &PG{
		cfg:     cfg,
		target:  pgTarget(&cc.Config),
		pool:    pool,
		connCfg: cc.Config.Copy(),
		writeSQL: fmt.Sprintf(`INSERT INTO %s AS h (node, ts, seq) VALUES ($1, now(), 1)
ON CONFLICT (node) DO UPDATE SET ts = excluded.ts, seq = h.seq + 1`, table),
		makeSQL: fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
  node text PRIMARY KEY,
  ts   timestamptz NOT NULL,
  seq  bigint NOT NULL
)`, table),
	}
	p.log = logger.With("probe", "pg", "target", p.target)
	return p, nil
}

// quoteTable quotes a table name, optionally schema-qualified.
func quoteTable(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("pg: config: table %q: want name or schema.name", name)
	}
	for _, p := range parts {
		if p == "" || strings.ContainsRune(p, 0) {
			return "", fmt.Errorf("pg: config: table %q: empty or invalid name part", name)
		}
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// pgTarget names the server without credentials: host:port/database.
func pgTarget(c *pgconn.Config) string {
	return fmt.Sprintf("%s/%s", net.JoinHostPort(c.Host, fmt.Sprint(c.Port)), c.Database)
}

// Target names the server the probe checks, without credentials
// ("127.0.0.1:5432/postgres").
func (p *PG) Target() string { return p.target }

// Close closes the pool's connections. Check must not be called afterwards.
func (p *PG) Close() { p.pool.Close() }

// Last returns the state read by the most recent check that reached the
// server, and false when no check has.
func (p *PG) Last() (PGState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.last
	s.Standbys = append([]PGStandby(nil), s.Standbys...)
	return s, p.haveLast
}

// Check reads the role and positions, commits the heartbeat write on a
// primary, and every FreshConnEvery also opens a new connection. It returns
// by ctx's deadline (or Timeout when ctx has none).
func (p *PG) Check(ctx context.Context) Result {
	start := p.cfg.Now()
	wall := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}

	p.mu.Lock()
	// A server last seen as a standby is not sent the write: it would only
	// fill the server log with read-only errors. A promotion is noticed from
	// the role read, and the write then follows in a second round trip.
	knownStandby := p.haveLast && p.last.InRecovery
	freshDue := p.cfg.FreshConnEvery > 0 && start.Sub(p.lastFresh) >= p.cfg.FreshConnEvery
	p.mu.Unlock()
	// An empty pool opens a new connection for this check anyway.
	if freshDue && p.pool.Stat().TotalConns() == 0 {
		freshDue = false
	}
	var freshErr chan error
	if freshDue {
		freshErr = make(chan error, 1)
		go func() { freshErr <- p.freshConnect(ctx) }()
	}

	newConns := p.pool.Stat().NewConnsCount()
	st, err := p.run(ctx, !knownStandby)
	st.At = start
	if err == nil && freshErr != nil {
		select {
		case err = <-freshErr:
		case <-ctx.Done():
			err = fmt.Errorf("pg: new connection %s: %w", p.target, ctx.Err())
		}
	}

	res := Result{Start: start, Latency: time.Since(wall)}
	if st.Role != "" {
		p.mu.Lock()
		p.last, p.haveLast = st, true
		p.mu.Unlock()
		res.Values = st.values()
	}
	if err == nil && (freshDue || p.pool.Stat().NewConnsCount() > newConns) {
		p.mu.Lock()
		p.lastFresh = start
		p.mu.Unlock()
	}
	if err != nil {
		res.Status, res.Err, res.Class = Failed, err, classifyPG(ctx, err)
		res.Detail = failDetail(st, res.Class, err)
		return res
	}
	if want := p.cfg.ExpectRole; want != PGRoleAny && want != st.Role {
		res.Status, res.Class = Failed, ClassBadResponse
		res.Err = fmt.Errorf("pg: check %s: role %s, expected %s", p.target, st.Role, want)
		res.Detail = fmt.Sprintf("%s, expected %s", st.Role, want)
		return res
	}
	res.Status = OK
	res.Detail = st.detail()
	return res
}

// run does the check's queries on a pooled connection. The returned state
// has an empty Role when the role could not be read.
func (p *PG) run(ctx context.Context, withWrite bool) (PGState, error) {
	st, stale, err := p.runOnce(ctx, withWrite)
	// A pooled connection broken by a server restart or crash says nothing
	// about the server now: ask again; the pool drops the broken ones.
	for i := int32(0); stale && i < p.pool.Config().MaxConns; i++ {
		st, stale, err = p.runOnce(ctx, withWrite)
	}
	return st, err
}

// runOnce does the check on one pooled connection. stale reports a failure
// on a connection found closed before the server answered anything.
func (p *PG) runOnce(ctx context.Context, withWrite bool) (st PGState, stale bool, err error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return st, false, fmt.Errorf("pg: connect %s: %w", p.target, err)
	}
	defer conn.Release()

	t0 := time.Now()
	writeErr, err := p.readBatch(ctx, conn.Conn(), &st, withWrite)
	if err != nil {
		var pgErr *pgconn.PgError
		stale = st.Role == "" && ctx.Err() == nil && !pgconn.Timeout(err) &&
			!errors.As(err, &pgErr) && conn.Conn().PgConn().IsClosed()
		return st, stale, err
	}
	if st.InRecovery {
		// A standby refuses the write (25006, or 42P01 before the primary
		// created the table): expected, not a failure.
		return st, false, nil
	}
	if withWrite && writeErr == nil {
		st.Wrote, st.WriteLatency = true, time.Since(t0)
		return st, false, nil
	}
	if !withWrite || isPGCode(writeErr, sqlstateUndefinedTable) {
		if !withWrite {
			p.log.Info("server is primary now, writing heartbeat")
		}
		st.Wrote, st.WriteLatency, writeErr = p.write(ctx, conn.Conn())
	}
	if writeErr != nil {
		return st, false, fmt.Errorf("pg: write %s: %w", p.target, writeErr)
	}
	return st, false, nil
}

// readBatch sends the role and standby queries, and the write when asked,
// in one round trip, filling st. writeErr is the server's refusal of the
// write; err is any other failure.
func (p *PG) readBatch(ctx context.Context, conn *pgx.Conn, st *PGState, withWrite bool) (writeErr, err error) {
	b := &pgx.Batch{}
	b.Queue(stateSQL, statementTimeout(ctx))
	b.Queue(standbysSQL)
	if withWrite {
		b.Queue(p.writeSQL, p.cfg.Node)
	}
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && writeErr == nil && cerr != nil {
			err = fmt.Errorf("pg: check %s: %w", p.target, cerr)
		}
	}()

	var (
		current, receive, replay pgtype.Text
		delay                    pgtype.Float8
		ignored                  string
	)
	if err := br.QueryRow().Scan(&st.InRecovery, &current, &receive, &replay, &delay,
		&st.ReplayPaused, &st.Streaming, &ignored); err != nil {
		return nil, fmt.Errorf("pg: read state %s: %w", p.target, err)
	}
	st.Role = PGRolePrimary
	if st.InRecovery {
		st.Role = PGRoleStandby
	}
	for _, f := range []struct {
		dst *LSN
		src pgtype.Text
	}{{&st.CurrentLSN, current}, {&st.ReceiveLSN, receive}, {&st.ReplayLSN, replay}} {
		if !f.src.Valid {
			continue
		}
		l, err := ParseLSN(f.src.String)
		if err != nil {
			return nil, fmt.Errorf("pg: read state %s: %w", p.target, err)
		}
		*f.dst = l
	}
	if st.InRecovery {
		st.LagBytes = st.ReceiveLSN.BytesAfter(st.ReplayLSN)
		if st.LagBytes > 0 && delay.Valid && delay.Float64 > 0 {
			st.ReplayDelay = time.Duration(delay.Float64 * float64(time.Second))
		}
	}

	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("pg: read standbys %s: %w", p.target, err)
	}
	base := st.WALPosition()
	for rows.Next() {
		var sb PGStandby
		var rl pgtype.Text
		if err := rows.Scan(&sb.Name, &sb.Addr, &sb.State, &sb.SyncState, &rl); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pg: read standbys %s: %w", p.target, err)
		}
		if rl.Valid {
			if sb.ReplayLSN, err = ParseLSN(rl.String); err != nil {
				rows.Close()
				return nil, fmt.Errorf("pg: read standbys %s: %w", p.target, err)
			}
			sb.LagBytes = base.BytesAfter(sb.ReplayLSN)
		}
		st.Standbys = append(st.Standbys, sb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pg: read standbys %s: %w", p.target, err)
	}
	if !st.InRecovery {
		for _, sb := range st.Standbys {
			st.LagBytes = max(st.LagBytes, sb.LagBytes)
		}
	}

	if !withWrite {
		return nil, nil
	}
	if _, werr := br.Exec(); werr != nil {
		var pgErr *pgconn.PgError
		if errors.As(werr, &pgErr) {
			return werr, nil
		}
		return nil, fmt.Errorf("pg: write %s: %w", p.target, werr)
	}
	return nil, nil
}

// write commits the heartbeat in its own round trip, creating the table once
// if it is missing.
func (p *PG) write(ctx context.Context, conn *pgx.Conn) (bool, time.Duration, error) {
	t0 := time.Now()
	err := p.writeOnce(ctx, conn)
	if isPGCode(err, sqlstateUndefinedTable) {
		if err := p.createTable(ctx, conn); err != nil {
			return false, 0, err
		}
		t0 = time.Now()
		err = p.writeOnce(ctx, conn)
	}
	if err != nil {
		return false, 0, err
	}
	return true, time.Since(t0), nil
}

func (p *PG) writeOnce(ctx context.Context, conn *pgx.Conn) error {
	b := &pgx.Batch{}
	b.Queue(timeoutSQL, statementTimeout(ctx))
	b.Queue(p.writeSQL, p.cfg.Node)
	return conn.SendBatch(ctx, b).Close()
}

// createTable creates the heartbeat table. Two nodes creating it at once may
// collide on the catalog; the loser sees the table afterwards.
func (p *PG) createTable(ctx context.Context, conn *pgx.Conn) error {
	b := &pgx.Batch{}
	b.Queue(timeoutSQL, statementTimeout(ctx))
	b.Queue(p.makeSQL)
	err := conn.SendBatch(ctx, b).Close()
	if isPGCode(err, sqlstateDuplicateObject) || isPGCode(err, sqlstateUniqueViolation) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", p.cfg.Table, err)
	}
	p.log.Info("created heartbeat table", "table", p.cfg.Table)
	return nil
}

// freshConnect opens and closes a new connection, bypassing the pool.
func (p *PG) freshConnect(ctx context.Context) error {
	c, err := pgconn.ConnectConfig(ctx, p.connCfg.Copy())
	if err != nil {
		return fmt.Errorf("pg: new connection %s: %w", p.target, err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(cctx) // the server accepted us; a failed Terminate does not matter
	return nil
}

// statementTimeout derives a statement_timeout setting from ctx's deadline,
// so the server gives up on a statement about when the probe does.
func statementTimeout(ctx context.Context) string {
	d, ok := ctx.Deadline()
	if !ok {
		return "0"
	}
	ms := time.Until(d).Milliseconds()
	return fmt.Sprintf("%dms", max(ms, 1))
}

func isPGCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// classifyPG maps a check error to an error class.
func classifyPG(ctx context.Context, err error) string {
	if pgconn.Timeout(err) {
		return ClassTimeout
	}
	if class, ok := classifyConn(ctx, err); ok {
		return class
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case sqlstateInvalidPassword, sqlstateInvalidAuthSpec:
			return ClassAuth
		case sqlstateInvalidCatalog, sqlstateInsufficientPriv:
			return ClassConfig
		case sqlstateQueryCanceled:
			// The server gave up at the check's deadline (the
			// transaction carries it as statement_timeout), a moment
			// before the client would have.
			return ClassTimeout
		}
		return ClassBadResponse
	}
	return ClassTransport
}

// failDetail is the Detail line of a failed check.
func failDetail(st PGState, class string, err error) string {
	f := dbFailure{Role: string(st.Role), Class: class, Timeout: "timeout", Failed: "failed"}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		f.ServerErr = fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	return f.Detail()
}

// PGDSNError returns the parse error of a PostgreSQL DSN without the wrappers that
// would repeat the DSN unredacted: pgconn's ParseConfigError, which blanks
// the password, or else the innermost error.
func PGDSNError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return pe
	}
	return problem.Innermost(err)
}
