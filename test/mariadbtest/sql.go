package mariadbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pbxha/pbxha/internal/netlab"
	vnetns "github.com/vishvananda/netns"
)

// DSN is the pbxha user's DSN, with the pbxha database: what pbxha's
// probe and database section use.
func (s *Server) DSN() string { return s.dsn(PbxhaUser, PbxhaPassword, PbxhaDB) }

// AppDSN is the app user's DSN, with the pbx database.
func (s *Server) AppDSN() string { return s.dsn(AppUser, AppPassword, AppDB) }

// AdminDSN is the admin user's DSN, without a database.
func (s *Server) AdminDSN() string { return s.dsn(AdminUser, AdminPassword, "") }

func (s *Server) dsn(user, pw, db string) string {
	return fmt.Sprintf("%s:%s@%s(%s)/%s", user, pw, s.network(), net.JoinHostPort(s.Net.Host, strconv.Itoa(s.Port)), db)
}

// network is the driver network of the DSNs: tcp, or for a server in a
// namespace a registered dialer that connects from inside it.
func (s *Server) network() string {
	if s.Net.Namespace == "" {
		return "tcp"
	}
	name := "netns-" + s.Net.Namespace
	registerOnce(name, s.Net.Namespace)
	return name
}

var (
	registeredMu sync.Mutex
	registered   = map[string]bool{}
)

func registerOnce(name, ns string) {
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if registered[name] {
		return
	}
	registered[name] = true
	mysql.RegisterDialContext(name, func(ctx context.Context, addr string) (net.Conn, error) {
		h, err := vnetns.GetFromName(ns)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		var c net.Conn
		err = netlab.InNamespace(h, "mariadbtest: "+ns, func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	})
}

// admin is the helpers' pool, as the admin user.
func (s *Server) admin() *sql.DB {
	if s.db == nil {
		s.db, _ = sql.Open("mysql", s.AdminDSN()+"?timeout=5s")
		s.db.SetMaxOpenConns(4)
	}
	return s.db
}

func (s *Server) pool() *sql.DB {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admin()
}

// TryExec runs one statement as the admin user.
func (s *Server) TryExec(q string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.pool().ExecContext(ctx, q, args...)
	return err
}

// Exec runs one statement as the admin user and fails the test on error.
func (s *Server) Exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if err := s.TryExec(q, args...); err != nil {
		t.Fatalf("mariadbtest: %s: %s: %v", s.Name, q, err)
	}
}

// TryQueryRow runs a query as the admin user and scans its row.
func (s *Server) TryQueryRow(q string, args []any, dest ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.pool().QueryRowContext(ctx, q, args...).Scan(dest...)
}

// QueryRow runs a query as the admin user, scans its row, and fails the
// test on error.
func (s *Server) QueryRow(t testing.TB, q string, args []any, dest ...any) {
	t.Helper()
	if err := s.TryQueryRow(q, args, dest...); err != nil {
		t.Fatalf("mariadbtest: %s: %s: %v", s.Name, q, err)
	}
}

// ReplicaState reads whether the server is read_only and the host its IO
// thread is connected to ("" when it does not replicate or the thread is
// not running).
func (s *Server) ReplicaState() (readOnly bool, source string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db := s.pool()
	var ro int
	if err := db.QueryRowContext(ctx, "SELECT @@read_only").Scan(&ro); err != nil {
		return false, "", err
	}
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return ro != 0, "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return ro != 0, "", rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return ro != 0, "", err
	}
	var host, io string
	for i, c := range cols {
		switch c {
		case "Master_Host":
			host = vals[i].String
		case "Slave_IO_Running":
			io = vals[i].String
		}
	}
	if io != "Yes" {
		host = ""
	}
	return ro != 0, strings.TrimSpace(host), nil
}
