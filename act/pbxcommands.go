package act

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pbxha/pbxha/event"
)

// commandResult is one PBX command sent after a takeover, over the event
// socket or the manager interface.
type commandResult struct {
	command, reply string
	err            error
}

// reportCommands logs each command's outcome and, when some failed, raises
// one takeover_step_failed event: the takeover went on (the service is up),
// the operator is told what did not run.
func reportCommands(log *slog.Logger, onEvent func(event.Event), node, target string, epoch uint64, total int, took time.Duration, res []commandResult) {
	failed, sent := []string{}, []string{}
	for _, r := range res {
		if r.err != nil {
			log.Warn("takeover: PBX command failed; the takeover goes on", "epoch", epoch, "target", target,
				"command", r.command, "reply", r.reply, "err", r.err)
			failed = append(failed, r.err.Error()) // names the command
			continue
		}
		sent = append(sent, r.command)
		log.Info("takeover: PBX command sent", "epoch", epoch, "target", target, "command", r.command, "reply", r.reply)
	}
	if len(failed) == 0 || onEvent == nil {
		return
	}
	onEvent(event.Event{Kind: event.TakeoverStepFailed, Severity: event.Warning,
		Summary: fmt.Sprintf("%s: takeover at epoch %d went on, but %d of %d PBX command(s) failed: %s",
			node, epoch, len(failed), total, strings.Join(failed, "; ")),
		Details: map[string]any{"step": "pbx_commands", "epoch": epoch, "target": target,
			"failed": failed, "sent": sent, "took_ms": took.Milliseconds()}})
}
