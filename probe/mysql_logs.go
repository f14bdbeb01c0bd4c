package probe

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

// mysqlLog is where the MySQL driver's package-level log goes: installed
// once, then only its destination swaps (race-free, as for sipcheck's).
var mysqlLog struct {
	once sync.Once
	dst  atomic.Pointer[slog.Logger]
}

// RouteMySQLLogs sends the lines the MySQL driver writes through its
// package-level logger ("closing bad idle connection", a broken pipe on a
// restarted server) to l at Debug level instead of stderr: the probe's and
// the role mover's results already say what failed. Call it at program
// start; later calls only change the destination. It is safe for
// concurrent use.
func RouteMySQLLogs(l *slog.Logger) {
	mysqlLog.dst.Store(l)
	mysqlLog.once.Do(func() { _ = mysql.SetLogger(mysqlLogger{}) })
}

type mysqlLogger struct{}

func (mysqlLogger) Print(v ...any) {
	if l := mysqlLog.dst.Load(); l != nil {
		l.Debug(strings.TrimSpace(fmt.Sprint(v...)), "component", "mysql-driver")
	}
}
