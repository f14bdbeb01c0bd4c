package act

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pbxha/pbxha/hooks"
	"github.com/pbxha/pbxha/supervisor"
)

// HookCommands runs the operator's takeover and release hooks (config
// hooks.takeover, hooks.release) through package hooks.
type HookCommands struct {
	OnTakeover []hooks.Hook
	OnRelease  []hooks.Hook
}

var _ Hooks = HookCommands{}

// Takeover runs the takeover hooks, stopping at the first failure.
func (h HookCommands) Takeover(ctx context.Context, vars hooks.Vars) error {
	if len(h.OnTakeover) == 0 {
		return nil
	}
	_, err := hooks.RunAll(ctx, h.OnTakeover, vars.Map(), hooks.StopAtFailure)
	return err
}

// Release runs every release hook.
func (h HookCommands) Release(ctx context.Context, vars hooks.Vars) error {
	if len(h.OnRelease) == 0 {
		return nil
	}
	_, err := hooks.RunAll(ctx, h.OnRelease, vars.Map(), hooks.ContinueAfterFailure)
	return err
}

// FenceCommand runs failover.fence_command. Exit 0 means the peer is
// fenced; any other exit, or none within the hook's timeout (its process
// group is then killed), is an error quoting the command's output.
type FenceCommand struct {
	Hook   hooks.Hook
	Logger *slog.Logger // slog.Default() when nil
}

var _ Fencer = FenceCommand{}

// Fence runs the command once.
func (f FenceCommand) Fence(ctx context.Context, vars hooks.Vars) error {
	res, err := hooks.Run(ctx, f.Hook, vars.Map())
	if err != nil {
		// The error quotes the first lines; a fence agent says why last.
		if tail := hooks.Tail(res.Output); tail != "" && tail != hooks.Summary(res.Output) {
			err = fmt.Errorf("%w; output ends: %s", err, tail)
		}
		return err
	}
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Info("fence command done", "action", "fence_peer", "target", vars.PeerHost,
		"took", res.Duration.Round(time.Millisecond), "output", hooks.Tail(res.Output))
	return nil
}

// Supervised adapts the PBX supervisor to PBX.
func Supervised(s *supervisor.Supervisor) PBX { return supervised{s} }

type supervised struct{ s *supervisor.Supervisor }

func (p supervised) EnsureRunning(ctx context.Context) error {
	if st := p.s.Status(); st.State == supervisor.StateRunning || st.State == supervisor.StateUnmanaged {
		return nil
	}
	return p.s.Start(ctx)
}

func (p supervised) Restart(ctx context.Context) error { return p.s.Restart(ctx) }

func (p supervised) State() PBXState {
	st := p.s.Status()
	return PBXState{Fault: st.Fault, RestartPending: st.State == supervisor.StateBackoff || st.State == supervisor.StateStarting}
}
