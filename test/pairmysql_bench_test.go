package test

import (
	"testing"
	"time"
)

// BenchmarkPairMariaDBOutage measures the outage a client sees through the
// VIP when MariaDB's primary role moves with the service, on the pair of
// TestPairMariaDBInNamespaces (a primary and its GTID replica, one per
// node, database.kind mariadb: read_only and the rest of the binlog sent on
// release, the relay log applied and read_only off on takeover, the old
// primary re-pointed in the background):
//
//	go test -run '^$' -bench BenchmarkPairMariaDBOutage -benchtime 5x ./test
//
// It reports what BenchmarkPairDatabaseOutage reports for PostgreSQL: per
// scenario the median, min and max in milliseconds of the SIP outage and of
// the write outage (an INSERT every 10 ms as the PBX's user on one
// connection, reconnecting after an error, each attempt bounded by
// writeTimeout).
func BenchmarkPairMariaDBOutage(b *testing.B) {
	f := startMySQLPair(b)
	f.wait(40*time.Second, "n1 primary holding and serving the VIP", f.settled(f.n1))
	f.db[f.n1].Exec(b, "CREATE TABLE pbx.writes (id INT PRIMARY KEY, at DATETIME(6) DEFAULT NOW(6))")
	w := startWriter(b, newMySQLVIPConn(b, f.pairFixture))
	databaseOutage(b, f.pairFixture, w, func(prim, stby *pairNode) bool { return f.replicates(stby, prim)() })
}
