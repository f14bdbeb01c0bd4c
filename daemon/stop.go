package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pbxha/pbxha/agent"
)

// onStop decides, when Options.Stop receives (SIGTERM or SIGINT), whether
// the stop keeps the role: it does when systemd is restarting pbxha's unit
// (`systemctl restart`, a package upgrade); `systemctl stop` and a shutdown
// hand the service over.
func (d *daemon) onStop(s os.Signal) {
	if d.pair == nil {
		d.log.Info("stopping", "signal", s)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var restarting bool
	var unit string
	var err error
	if d.opts.Restarting != nil {
		restarting, unit, err = d.opts.Restarting(ctx)
	}
	switch {
	case err != nil:
		d.log.Warn("stopping; could not tell a restart from a stop, so a primary hands over", "signal", s, "err", err)
	case restarting:
		d.log.Info("stopping for a restart of the unit: the role is kept", "signal", s, "unit", unit)
		d.keepRole()
	default:
		d.log.Info("stopping: a primary hands the service over", "signal", s, "unit", unit)
	}
}

// keepRole makes the coming stop a restart that keeps the role.
func (d *daemon) keepRole() {
	if d.pair != nil {
		d.pair.KeepRoleOnStop()
	}
}

// sdService is the agent as systemd's watchdog sees it: ready once every
// probe has run, making progress while probe results arrive.
type sdService struct{ *agent.Agent }

func (s sdService) Status() string { return fmt.Sprintf("probing, health %s", s.Health()) }

// stuckAfter is how long the probe loop may produce no result before it
// counts as stuck: three of its longest intervals.
func stuckAfter(s *checkSet) time.Duration { return 3 * maxInterval(s) }

func maxInterval(s *checkSet) time.Duration {
	var m time.Duration
	for _, c := range s.checks {
		m = max(m, c.Interval)
	}
	return max(m, time.Second)
}
