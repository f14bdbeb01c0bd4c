package act

import (
	"context"
	"log/slog"
	"time"

	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/clock"
)

// AMICommands sends pbx.takeover_ami, Asterisk CLI commands such as "pjsip
// send register *all", with Action: Command over the manager interface once
// a takeover made sure the PBX runs: the counterpart of ESLCommands for
// Asterisk. Sending is best effort: a failure is logged and alerted
// (takeover_step_failed), never a failed takeover.
type AMICommands struct {
	Node     string        // this node, for the event
	Addr     string        // the manager interface, host:port
	Username string        // a manager.conf user with the command permission
	Secret   string        // its secret
	Commands []string      // CLI commands, sent in order
	Timeout  time.Duration // connecting and every command, in all
	Clock    clock.Clock   // clock.Real when nil
	Logger   *slog.Logger  // slog.Default() when nil
	OnEvent  func(event.Event)
}

var _ TakeoverCommands = (*AMICommands)(nil)

// Send runs the commands in order within the timeout (connecting is
// retried until then: an Asterisk just started refuses manager
// connections for a while). Each failure is logged with its command and
// output or error; together they raise one takeover_step_failed event.
func (c *AMICommands) Send(ctx context.Context, epoch uint64) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	clk := clock.Or(c.Clock)
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	start := clk.Now()
	var res []commandResult
	for _, r := range ami.RunCommands(ctx, c.Addr, c.Username, c.Secret, c.Commands) {
		res = append(res, commandResult{command: r.Command, reply: firstLine(r.Output), err: r.Err})
	}
	reportCommands(log, c.OnEvent, c.Node, c.Addr, epoch, len(c.Commands), clk.Now().Sub(start), res)
}
