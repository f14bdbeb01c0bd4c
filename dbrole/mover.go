package dbrole

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Mover promotes and demotes the local PostgreSQL server. Its methods are
// safe for concurrent use; Promote, Demote, Stop and Rejoin run one at a
// time.
type Mover struct {
	cfg     Config
	connCfg *pgx.ConnConfig
	target  string // host:port/database, without credentials
	log     *slog.Logger

	mu sync.Mutex // serialises Promote, Demote, Stop and Rejoin
}

// New checks cfg, fills in defaults and returns a Mover. It does not
// connect. A nil logger discards.
func New(cfg Config, logger *slog.Logger) (*Mover, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cc, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		// pgconn's parse errors never contain the password.
		return nil, fmt.Errorf("dbrole: config: dsn: %w", err)
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = cfg.ConnectTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "pbxha-dbrole"
	}
	// One statement per round trip, no prepared-statement cache: a Mover
	// connects for one operation and closes.
	cc.DefaultQueryExecMode = pgx.QueryExecModeExec
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	target := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))) + "/" + cc.Database
	return &Mover{
		cfg:     cfg,
		connCfg: cc,
		target:  target,
		log:     logger.With("target", target),
	}, nil
}

// Target names the local server without credentials
// ("127.0.0.1:5432/postgres").
func (m *Mover) Target() string { return m.target }

// connect opens a new connection to the local server. Callers prefix the
// error with the component, operation and target.
func (m *Mover) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, m.connCfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// closeConn closes conn with a short bound: the server may be going away.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
