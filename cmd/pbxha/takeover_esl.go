package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/esl"
	"github.com/pbxha/pbxha/event"
)

// pbxCommands sends pbx.takeover_esl, FreeSWITCH API commands such as
// "sofia recover", over the event socket of the first esl probe after a
// takeover made sure the PBX runs. Sending is best effort: the service is
// already up, so a failure is logged and alerted, never a failed takeover.
type pbxCommands struct {
	node           string
	addr, password string
	commands       []string
	timeout        time.Duration // connecting and every command, in all
	log            *slog.Logger
	emit           func(event.Event)
}

// newPBXCommands returns nil when pbx.takeover_esl is empty. The password
// (or its file) is read now, so that a missing file stops the start.
func newPBXCommands(cfg *configs.Config, log *slog.Logger, emit func(event.Event)) (*pbxCommands, error) {
	if len(cfg.PBX.TakeoverESL) == 0 {
		return nil, nil
	}
	if len(cfg.Probes.ESL) == 0 {
		return nil, fmt.Errorf("%s: pbx.takeover_esl: needs an esl probe (probes.esl)", cfg.Source)
	}
	p := cfg.Probes.ESL[0]
	pw, err := secret(p.Password, p.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("%s: probes.esl[0].password_file: %w", cfg.Source, err)
	}
	return &pbxCommands{
		node: cfg.Node.Name, addr: p.Address, password: pw, commands: cfg.PBX.TakeoverESL, timeout: cfg.PBX.TakeoverESLTimeout,
		log: log.With("component", "takeover_esl"), emit: emit,
	}, nil
}

// send runs the commands in order. It returns within the timeout (a PBX
// just started by the takeover may refuse connections for a while:
// connecting is retried until then). Each failure is logged with its command
// and the reply or error; together they raise one takeover_step_failed
// event.
func (p *pbxCommands) send(ctx context.Context, epoch uint64) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	failed, sent := []string{}, []string{}
	for _, r := range esl.RunCommands(ctx, p.addr, p.password, p.commands) {
		if r.Err != nil {
			p.log.Warn("takeover: PBX command failed; the takeover goes on", "epoch", epoch, "target", p.addr,
				"command", r.Command, "reply", strings.TrimSpace(firstLine(r.Body)), "err", r.Err)
			failed = append(failed, r.Err.Error()) // names the command
			continue
		}
		sent = append(sent, r.Command)
		p.log.Info("takeover: PBX command sent", "epoch", epoch, "target", p.addr, "command", r.Command, "reply", strings.TrimSpace(firstLine(r.Body)))
	}
	if len(failed) == 0 {
		return
	}
	p.emit(event.Event{Kind: event.TakeoverStepFailed, Severity: event.Warning,
		Summary: fmt.Sprintf("%s: takeover at epoch %d went on, but %d of %d PBX command(s) failed: %s",
			p.node, epoch, len(failed), len(p.commands), strings.Join(failed, "; ")),
		Details: map[string]any{"step": "pbx_commands", "epoch": epoch, "target": p.addr,
			"failed": failed, "sent": sent, "took_ms": time.Since(start).Milliseconds()}})
}
