package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/failover"
	"github.com/pbxha/pbxha/filesync"
	"github.com/pbxha/pbxha/rebuild"
	"github.com/spf13/cobra"
)

// newSyncer wires file sync (nil without sync.directories): the pair's
// key signs change notices, the pair's view gives the direction, and the
// rsync daemon checks a source with `pbxha sync check-source`.
func newSyncer(cfg *configs.Config, d *daemon) (*filesync.Syncer, error) {
	if len(cfg.Sync.Directories) == 0 || d.pair == nil {
		return nil, nil
	}
	key, err := failover.LoadKey(cfg.Peer.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: peer.key_file: %w", cfg.Source, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sync: the pbxha binary for the source check: %w", err)
	}
	sc := cfg.SyncConfig()
	sc.Key = key
	s, err := filesync.New(sc, filesync.Options{
		Roles: func() filesync.Roles {
			v := d.pair.View()
			return filesync.Roles{Self: v.Role, PeerName: v.Peer.Node, PeerAlive: v.Peer.Alive, PeerRole: v.Peer.Role,
				Maintenance: v.Maintenance || d.agent.Maintenance() || v.Peer.Alive && v.Peer.Maintenance}
		},
		CheckCommand: []string{exe, "sync", "check-source"},
		OnEvent:      func(e event.Event) { d.events.Publish(e) },
		Logger:       d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: sync: %w", cfg.Source, err)
	}
	return s, nil
}

// newRebuilder wires standby rebuilds (nil unless database.data_dir and
// start_command are set in a pair).
func newRebuilder(cfg *configs.Config, d *daemon) (*rebuild.Rebuilder, error) {
	rc := cfg.RebuildConfig()
	if cfg.Database.DSN == "" || !rc.Enabled() || d.pair == nil {
		return nil, nil
	}
	r, err := rebuild.New(rc, rebuild.Options{
		Pair: func() rebuild.Pair {
			v := d.pair.View()
			return rebuild.Pair{Role: v.Role, PeerName: v.Peer.Node, PeerHost: v.PeerHost, PeerAlive: v.Peer.Alive,
				PeerRole: v.Peer.Role, PeerHealth: v.Peer.Health}
		},
		OnEvent: func(e event.Event) { d.events.Publish(e) },
		Logger:  d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: database: %w", cfg.Source, err)
	}
	return r, nil
}

// rebuildOnRejoinFailure starts a rebuild after a failed rejoin, when
// database.rebuild_on_rewind_failure is set; nil otherwise.
func rebuildOnRejoinFailure(cfg *configs.Config, d *daemon) func(error) {
	if !cfg.Database.RebuildOnRewindFailure {
		return nil
	}
	return func(cause error) {
		if d.rebuild == nil {
			return
		}
		if err := d.rebuild.Start(context.Background(), "pg_rewind failed"); err != nil {
			d.log.Error("standby rebuild after the failed rejoin not started", "err", err, "cause", cause)
		}
	}
}

// syncPoker pokes file sync on every role change and maintenance switch,
// so that a node that takes over stops pulling at once.
type syncPoker struct{ d *daemon }

func (p syncPoker) Publish(e event.Event) {
	if s := p.d.sync; s != nil && (e.Kind == event.RoleChange || e.Kind == event.Maintenance) {
		s.Poke()
	}
}

func newSyncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync check-source",
		Short: "File sync helpers",
		Args:  cobra.NoArgs,
	}
	var marker string
	var mount bool
	check := &cobra.Command{
		Use:   "check-source [DIR]",
		Short: "Check a sync source before rsync serves it (the rsync daemon's pre-xfer exec)",
		Long: `Check that DIR (default: $RSYNC_MODULE_PATH, set by the rsync daemon) may be
served as a sync source: a directory, a mount point with --require-mount,
holding the --marker file, and not empty. pbxha's rsync daemon runs this
before every transfer, so that a disk that did not mount is never copied
(and its emptiness never propagated as deletions) to the standby.

Exit codes: 0 the source may be served, 1 refused (the reason on stdout,
which rsync passes to the pulling node), 2 usage.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := os.Getenv("RSYNC_MODULE_PATH")
			if len(args) == 1 {
				dir = args[0]
			}
			if dir == "" {
				return usageErr(fmt.Errorf("sync check-source: no directory: give DIR or set RSYNC_MODULE_PATH"))
			}
			if err := filesync.CheckSource(dir, marker, mount); err != nil {
				fmt.Fprintln(g.stdout, err)
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	check.Flags().StringVar(&marker, "marker", "", "a file the source must hold")
	check.Flags().BoolVar(&mount, "require-mount", false, "the source must be a mount point")
	cmd.AddCommand(check)
	return cmd
}
