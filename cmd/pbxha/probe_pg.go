package main

import (
	"fmt"
	"time"

	"github.com/pbxha/pbxha/probe"
	"github.com/spf13/cobra"
)

// newProbePGCmd builds `pbxha probe pg DSN`: role, WAL position, lag and a
// heartbeat write, checked like ping.
func newProbePGCmd(g *globals) *cobra.Command {
	var (
		o          oneShotOpts
		expectRole string
		table      string
		node       string
		freshEvery time.Duration
	)
	cmd := &cobra.Command{
		Use:   "pg DSN",
		Short: "Check PostgreSQL: role, WAL position, replication lag and a heartbeat write on a primary",
		Long: `Check a PostgreSQL server the way the pg probe does: read its role
(pg_is_in_recovery), WAL position, replication lag and connected standbys, and on
a primary commit a heartbeat row in the heartbeat table (created if missing).

DSN is a libpq URL (postgres://user@host:5432/db) or key=value string.`,
		Example: `  pbxha probe pg 'postgres://pbxha@127.0.0.1/postgres' --expect-role primary
  pbxha probe pg 'host=10.0.0.2 user=pbxha dbname=postgres' -n 5 --expect-role standby`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr(fmt.Errorf("probe pg: want one DSN argument, got %d", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			p, err := probe.NewPG(probe.PGConfig{
				DSN:            args[0],
				ExpectRole:     probe.PGRole(expectRole),
				Table:          table,
				Node:           node,
				FreshConnEvery: freshEvery,
				Timeout:        o.timeout,
			}, nil)
			if err != nil {
				return usageErr(err)
			}
			defer p.Close()
			err = oneShot(cmd.Context(), g.stdout, p.Target(), p, o)
			if st, ok := p.Last(); ok {
				printPGStandbys(g, st)
			}
			return err
		},
	}
	addOneShotFlags(cmd, &o)
	f := cmd.Flags()
	f.StringVar(&expectRole, "expect-role", "any", "role the server must have: primary, standby or any")
	f.StringVar(&table, "table", probe.DefaultPGTable, "heartbeat table for the write check, optionally schema.table")
	f.StringVar(&node, "node", "pbxha-probe", "key of this probe's row in the heartbeat table")
	f.DurationVar(&freshEvery, "fresh-conn-every", 0, "also open a new connection this often (0: only the pooled one)")
	return cmd
}

// printPGStandbys lists a primary's standbys as last read.
func printPGStandbys(g *globals, st probe.PGState) {
	for _, sb := range st.Standbys {
		addr := sb.Addr
		if addr == "" {
			addr = "local"
		}
		fmt.Fprintf(g.stdout, "standby %s addr=%s state=%s sync=%s replay=%s lag_bytes=%d\n",
			sb.Name, addr, sb.State, sb.SyncState, sb.ReplayLSN, sb.LagBytes)
	}
}
