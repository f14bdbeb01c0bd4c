package main

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
		events.Publish(pbxEvent(e))
		if onEvent != nil {
			onEvent()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: pbx.supervise: %w", cfg.Source, err)
	}
	return sup, nil
}

// pbxEvent turns a supervisor event into a pbxha event.
func pbxEvent(e supervisor.Event) event.Event {
	details := map[string]any{"pid": e.PID, "reason": e.Reason}
	if e.Exit != "" {
		details["exit"] = e.Exit
	}
	sev, summary := event.Warning, fmt.Sprintf("PBX %s (pid %d): %s", e.Kind, e.PID, e.Reason)
	switch e.Kind {
	case supervisor.EventStarted, supervisor.EventReset:
		sev = event.Info
	case supervisor.EventRestarted:
		sev = event.Info
		details["downtime_ms"] = e.Downtime.Milliseconds()
		summary = fmt.Sprintf("PBX restarted (pid %d) after %d ms down: %s", e.PID, e.Downtime.Milliseconds(), e.Reason)
	case supervisor.EventDown:
		sev = event.Critical
		summary = fmt.Sprintf("PBX down (pid %d, %s)", e.PID, e.Exit)
	case supervisor.EventHung:
		sev = event.Critical
		summary = fmt.Sprintf("PBX hung (pid %d): %s; killed", e.PID, e.Reason)
	case supervisor.EventLimitReached:
		sev = event.Critical
		summary = "PBX restart limit reached, node fault: " + e.Reason
	}
	return event.Event{Kind: e.Kind, Severity: sev, Time: e.Time, Summary: summary, Details: details,
		Resolved: e.Kind == supervisor.EventRestarted}
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
