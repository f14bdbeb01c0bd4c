package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// systemdBackend drives a PBX that is a systemd unit through systemctl.
// systemctl rather than a D-Bus library: it is on every systemd host, needs
// no extra dependency and tests can swap it for a stand-in program.
type systemdBackend struct {
	cfg Config
	log *slog.Logger
}

func (b *systemdBackend) target() string { return b.cfg.Unit }

// unitState is the part of `systemctl show` the supervisor reads.
type unitState struct {
	MainPID     int
	ActiveState string // active, reloading, inactive, failed, activating, deactivating
	SubState    string // running, dead, exited, auto-restart, ...
}

// running reports whether the unit's main process serves.
func (u unitState) running() bool {
	return u.MainPID > 0 && (u.ActiveState == "active" || u.ActiveState == "reloading")
}

// systemctlArgs returns the arguments of systemctl for op on unit: "show"
// reads the state, "start", "stop" and "restart" act and wait for the job.
func systemctlArgs(op, unit string) []string {
	if op == "show" {
		return []string{"show", "--property=MainPID", "--property=ActiveState", "--property=SubState", "--", unit}
	}
	return []string{op, "--", unit}
}

// parseShow parses `systemctl show` KEY=VALUE lines. Unknown keys are
// ignored; the three it needs must be present and valid.
func parseShow(b []byte) (unitState, error) {
	var u unitState
	seen := 0
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		k, v, ok := strings.Cut(strings.TrimRight(string(line), "\r"), "=")
		if !ok {
			continue
		}
		switch k {
		case "MainPID":
			pid, err := strconv.Atoi(v)
			if err != nil || pid < 0 {
				return unitState{}, fmt.Errorf("MainPID %q is not a pid", truncate(v, 20))
			}
			u.MainPID, seen = pid, seen|1
		case "ActiveState":
			u.ActiveState, seen = v, seen|2
		case "SubState":
			u.SubState, seen = v, seen|4
		}
	}
	if seen&3 != 3 {
		return unitState{}, errors.New("MainPID or ActiveState missing from systemctl show")
	}
	return u, nil
}

func (b *systemdBackend) systemctl(ctx context.Context, op string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.StartTimeout+b.cfg.StopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.cfg.Systemctl, systemctlArgs(op, b.cfg.Unit)...)
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		return nil, fmt.Errorf("systemctl %s %s: %w: %s", op, b.cfg.Unit, err, truncate(msg, 200))
	}
	return out, nil
}

func (b *systemdBackend) show(ctx context.Context) (unitState, error) {
	out, err := b.systemctl(ctx, "show")
	if err != nil {
		return unitState{}, err
	}
	u, err := parseShow(out)
	if err != nil {
		return unitState{}, fmt.Errorf("systemctl show %s: %w", b.cfg.Unit, err)
	}
	return u, nil
}

// find adopts the unit's main process if the unit is active.
func (b *systemdBackend) find(ctx context.Context) (*process, error) {
	u, err := b.show(ctx)
	if err != nil || !u.running() {
		return nil, err
	}
	p, err := watchPID(u.MainPID, 0, false)
	if errors.Is(err, errGone) {
		return nil, nil
	}
	return p, err
}

func (b *systemdBackend) start(ctx context.Context) (*process, error) {
	if _, err := b.systemctl(ctx, "start"); err != nil {
		return nil, err
	}
	p, err := b.find(ctx)
	if err == nil && p == nil {
		err = fmt.Errorf("systemctl start %s: unit has no running main process", b.cfg.Unit)
	}
	return p, err
}

// stop runs systemctl stop (systemd sends SIGTERM, SIGCONT and SIGKILL
// after the unit's own TimeoutStopSec), then waits for the process.
func (b *systemdBackend) stop(ctx context.Context, p *process) error {
	if _, err := b.systemctl(ctx, "stop"); err != nil {
		if p == nil {
			return err
		}
		b.log.Warn("systemctl stop failed; signalling the pbx", "err", err)
		return terminate(ctx, p, b.cfg.StopTimeout)
	}
	if p == nil {
		return nil
	}
	t := time.NewTimer(b.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return terminate(ctx, p, b.cfg.StopTimeout)
	}
}

func (b *systemdBackend) exited(*process) {}
