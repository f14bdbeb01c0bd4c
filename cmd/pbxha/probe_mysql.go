package main

import (
	"fmt"

	"github.com/pbxha/pbxha/probe"
	"github.com/spf13/cobra"
)

// newProbeMySQLCmd builds `pbxha probe mysql DSN`: role, GTID position,
// replication threads and a heartbeat write, checked like ping.
func newProbeMySQLCmd(g *globals) *cobra.Command {
	var (
		o          oneShotOpts
		expectRole string
		table      string
		node       string
	)
	cmd := &cobra.Command{
		Use:   "mysql DSN",
		Short: "Check MariaDB/MySQL: role, GTID position, replication threads and a heartbeat write on a primary",
		Long: `Check a MariaDB or MySQL server the way the mysql probe does: read its role
(read_only off: primary, on: replica), its GTID position, the state of its
replication threads and its lag, the replicas connected to it, and on a primary
commit a heartbeat row in the heartbeat table (created if missing).

DSN is a Go MySQL driver DSN: user:password@tcp(host:3306)/database.`,
		Example: `  pbxha probe mysql 'pbxha:secret@tcp(127.0.0.1:3306)/pbxha' --expect-role primary
  pbxha probe mysql 'pbxha:secret@tcp(10.0.0.2:3306)/pbxha' -n 5 --expect-role replica`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr(fmt.Errorf("probe mysql: want one DSN argument, got %d", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			p, err := probe.NewMySQL(probe.MySQLConfig{
				DSN:        args[0],
				ExpectRole: probe.MySQLRole(expectRole),
				Table:      table,
				Node:       node,
				Timeout:    o.timeout,
			}, nil)
			if err != nil {
				return usageErr(err)
			}
			defer p.Close()
			err = oneShot(cmd.Context(), g.stdout, p.Target(), p, o)
			if st, ok := p.Last(); ok {
				printMySQLReplicas(g, st)
			}
			return err
		},
	}
	addOneShotFlags(cmd, &o)
	f := cmd.Flags()
	f.StringVar(&expectRole, "expect-role", "any", "role the server must have: primary, replica or any")
	f.StringVar(&table, "table", probe.DefaultMySQLTable, "heartbeat table for the write check, in the DSN's database or as database.table")
	f.StringVar(&node, "node", "pbxha-probe", "key of this probe's row in the heartbeat table")
	return cmd
}

// printMySQLReplicas lists a server's connected replicas and its own
// replication as last read.
func printMySQLReplicas(g *globals, st probe.MySQLState) {
	fmt.Fprintf(g.stdout, "%s %s gtid_position=%d executed=%s\n", st.Server.Flavor, st.Server.Version, st.Position(), orDash(st.Executed))
	if st.Replicating {
		fmt.Fprintf(g.stdout, "source %s io=%s sql=%s received=%s\n", st.Source, st.IORunning, st.SQLRunning, orDash(st.Received))
	}
	for _, r := range st.Replicas {
		fmt.Fprintf(g.stdout, "replica addr=%s state=%q\n", r.Addr, r.State)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
