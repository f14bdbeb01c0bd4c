package act

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/pbxha/pbxha/esl"
	"github.com/pbxha/pbxha/event"
	"github.com/pbxha/pbxha/internal/clock"
)

// ESLCommands sends pbx.takeover_esl, FreeSWITCH API commands such as
// "sofia recover", over the event socket once a takeover made sure the PBX
// runs. Sending is best effort: the service is already up, so a failure is
// logged and alerted (takeover_step_failed), never a failed takeover.
type ESLCommands struct {
	Node     string        // this node, for the event
	Addr     string        // the event socket, host:port
	Password string        // the event socket's password
	Commands []string      // API commands, sent in order
	Timeout  time.Duration // connecting and every command, in all
	Clock    clock.Clock   // clock.Real when nil
	Logger   *slog.Logger  // slog.Default() when nil
	OnEvent  func(event.Event)
}

var _ TakeoverCommands = (*ESLCommands)(nil)

// Send runs the commands in order. It returns within the timeout (a PBX
// just started by the takeover may refuse connections for a while:
// connecting is retried until then). Each failure is logged with its
// command and the reply or error; together they raise one
// takeover_step_failed event.
func (c *ESLCommands) Send(ctx context.Context, epoch uint64) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	clk := clock.Or(c.Clock)
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	start := clk.Now()
	var res []commandResult
	for _, r := range esl.RunCommands(ctx, c.Addr, c.Password, c.Commands) {
		res = append(res, commandResult{command: r.Command, reply: firstLine(r.Body), err: r.Err})
	}
	reportCommands(log, c.OnEvent, c.Node, c.Addr, epoch, len(c.Commands), clk.Now().Sub(start), res)
}

// firstLine returns the first line of s, trimmed.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
