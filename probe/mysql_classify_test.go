package probe

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestClassifyMySQL: the server's own statement timeout is a timeout, like
// the client's deadline, whichever fires first.
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
