package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/supervisor"
)

// newSupervisor builds the PBX supervisor from pbx.supervise, or returns nil
// for mode none. Its events go to the log (by the supervisor) and to events;
// onEvent, when set, runs after each event is published (the daemon
// re-checks the node's role there).
func newSupervisor(cfg *configs.Config, logger *slog.Logger, events *event.Publisher, onEvent func()) (*supervisor.Supervisor, error) {
	if cfg.PBX.Supervise.Mode == string(supervisor.ModeNone) {
		return nil, nil
	}
	sup, err := supervisor.New(cfg.SupervisorConfig(), logger.With("component", "supervisor"), func(e supervisor.Event) {
		events.Publish(e.AsEvent())
		if onEvent != nil {
			onEvent()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: pbx.supervise: %w", cfg.Source, err)
	}
	return sup, nil
}

// pbxStatus renders the supervisor's status for the control API.
func pbxStatus(s *supervisor.Supervisor, c configs.Supervise) control.PBX {
	st := s.Status()
	p := control.PBX{
		Mode: string(st.Mode), State: st.State, PID: st.PID, RestartsInWindow: st.RestartsInWindow,
		MaxRestarts: c.MaxRestarts, Window: c.Window.String(), LastExit: st.LastExit, FaultReason: st.FaultReason,
	}
	if st.Fault {
		p.State = supervisor.StateFault
	}
	if !st.StartedAt.IsZero() {
		t := st.StartedAt
		p.StartedAt = &t
	}
	if !st.NextRestart.IsZero() {
		t := st.NextRestart
		p.NextRestart = &t
	}
	return p
}

// pbxAction runs an operator action on the supervisor.
func pbxAction(s *supervisor.Supervisor) func(context.Context, string) error {
	return func(ctx context.Context, action string) error {
		switch action {
		case "restart":
			return s.Restart(ctx)
		case "stop":
			return s.Stop(ctx)
		case "start":
			return s.Start(ctx)
		case "reset":
			s.Reset()
			return nil
		}
		return fmt.Errorf("unknown pbx action %q", action)
	}
}
