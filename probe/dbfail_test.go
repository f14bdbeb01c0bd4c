package probe

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestClassifyMySQL and TestClassifyPG: the server's own statement timeout
// is a timeout, like the client's deadline, whichever fires first.
func TestClassifyMySQL(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"client deadline", context.DeadlineExceeded, ClassTimeout},
		{"MariaDB max_statement_time", &mysql.MySQLError{Number: 1969, Message: "Query execution was interrupted (max_statement_time exceeded)"}, ClassTimeout},
		{"MySQL max_execution_time", fmt.Errorf("mysql: write: %w", &mysql.MySQLError{Number: 3024}), ClassTimeout},
		{"access denied", &mysql.MySQLError{Number: 1045}, ClassAuth},
		{"unknown database", &mysql.MySQLError{Number: 1049}, ClassConfig},
		{"read-only server", &mysql.MySQLError{Number: 1290}, ClassBadResponse},
		{"refused", syscall.ECONNREFUSED, ClassRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyMySQL(context.Background(), tc.err); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestClassifyPG(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"client deadline", fmt.Errorf("pg: write: %w", context.DeadlineExceeded), ClassTimeout},
		{"statement_timeout", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, ClassTimeout},
		{"bad password", &pgconn.PgError{Code: "28P01"}, ClassAuth},
		{"no such database", &pgconn.PgError{Code: "3D000"}, ClassConfig},
		{"read-only transaction", &pgconn.PgError{Code: "25006"}, ClassBadResponse},
		{"refused", syscall.ECONNREFUSED, ClassRefused},
		{"reset", syscall.ECONNRESET, ClassTransport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyPG(context.Background(), tc.err); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestDBFailureDetail: what a failed database check says, before and after
// it read the server's role.
func TestDBFailureDetail(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    dbFailure
		want string
	}{
		{"timeout after the role", dbFailure{Role: "primary", Class: ClassTimeout, Timeout: "write timeout"}, "primary, write timeout"},
		{"server error after the role", dbFailure{Role: "primary", Class: ClassBadResponse, ServerErr: "read only (error 1290)", Failed: "write failed"}, "primary, write failed: read only (error 1290)"},
		{"other failure after the role", dbFailure{Role: "standby", Class: ClassTransport, Failed: "failed"}, "standby, failed"},
		{"no answer", dbFailure{Class: ClassTimeout}, "no answer"},
		{"refused", dbFailure{Class: ClassRefused}, "connection refused"},
		{"auth", dbFailure{Class: ClassAuth}, "authentication failed"},
		{"config with what", dbFailure{Class: ClassConfig, Config: "SELECT denied"}, "not allowed: SELECT denied"},
		{"config without what", dbFailure{Class: ClassConfig}, "unreachable"},
		{"transport", dbFailure{Class: ClassTransport}, "unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Detail(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
