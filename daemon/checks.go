package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pbxha/pbxha/ami"
	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/esl"
	"github.com/pbxha/pbxha/probe"
	"github.com/pbxha/pbxha/sipcheck"
)

// checkSet is the probes built from one config, with what releases them.
type checkSet struct {
	checks  []probe.Check
	closers []io.Closer
}

// Close releases every probe's connections and sockets.
func (s *checkSet) Close() {
	for _, c := range s.closers {
		c.Close()
	}
}

func (s *checkSet) add(sc configs.Schedule, kind probe.Kind, target string, p probe.Probe) {
	s.checks = append(s.checks, probe.Check{
		Name: sc.Name, Kind: kind, Target: target,
		Interval: sc.Interval, Timeout: sc.Timeout, Rise: sc.Rise, Fall: sc.Fall, Critical: sc.Critical,
		Probe: p,
	})
	if c, ok := p.(io.Closer); ok {
		s.closers = append(s.closers, c)
	}
}

// buildChecks turns a validated config into probes. An error names the
// config file and the probe's key; probes already built are closed.
func buildChecks(cfg *configs.Config, logger *slog.Logger) (*checkSet, error) {
	s := &checkSet{}
	var errs []error
	fail := func(kind probe.Kind, i int, err error) {
		errs = append(errs, fmt.Errorf("%s: probes.%s[%d]: %w", cfg.Source, kind, i, err))
	}
	for i, c := range cfg.Probes.SIP {
		p, err := sipcheck.New(c.SIPConfig(), logger.With("probe", c.Name))
		if err != nil {
			fail(probe.KindSIP, i, err)
			continue
		}
		s.add(c.Schedule, probe.KindSIP, c.Target, p)
	}
	for i, c := range cfg.Probes.ESL {
		pw, err := configs.ReadSecret(c.Password, c.PasswordFile)
		if err != nil {
			fail(probe.KindESL, i, fmt.Errorf("password_file: %w", err))
			continue
		}
		ec := c.ESLConfig(pw)
		ec.Logger = logger.With("probe", c.Name)
		p, err := esl.New(ec)
		if err != nil {
			fail(probe.KindESL, i, err)
			continue
		}
		s.add(c.Schedule, probe.KindESL, c.Address, p)
	}
	for i, c := range cfg.Probes.PG {
		p, err := probe.NewPG(c.PGConfig(cfg.Node.Name), logger.With("probe", c.Name))
		if err != nil {
			fail(probe.KindPG, i, err)
			continue
		}
		s.add(c.Schedule, probe.KindPG, p.Target(), p)
		s.closers = append(s.closers, closerFunc(p.Close))
	}
	for i, c := range cfg.Probes.MySQL {
		p, err := probe.NewMySQL(c.MySQLConfig(cfg.Node.Name), logger.With("probe", c.Name))
		if err != nil {
			fail(probe.KindMySQL, i, err)
			continue
		}
		s.add(c.Schedule, probe.KindMySQL, p.Target(), p)
		s.closers = append(s.closers, closerFunc(p.Close))
	}
	for i, c := range cfg.Probes.AMI {
		sec, err := configs.ReadSecret(c.Secret, c.SecretFile)
		if err != nil {
			fail(probe.KindAMI, i, fmt.Errorf("secret_file: %w", err))
			continue
		}
		p, err := ami.New(c.AMIConfig(sec))
		if err != nil {
			fail(probe.KindAMI, i, err)
			continue
		}
		s.add(c.Schedule, probe.KindAMI, c.Address, p)
	}
	for i, c := range cfg.Probes.TCP {
		p, err := probe.NewTCP(probe.TCPConfig{Address: c.Address})
		if err != nil {
			fail(probe.KindTCP, i, err)
			continue
		}
		s.add(c.Schedule, probe.KindTCP, c.Address, p)
	}
	for i, c := range cfg.Probes.Exec {
		p, err := probe.NewExec(probe.ExecConfig{Command: c.Command})
		if err != nil {
			fail(probe.KindExec, i, err)
			continue
		}
		// The target shown in status and logs keeps the program only:
		// arguments may carry credentials (configs.RedactArgv).
		s.add(c.Schedule, probe.KindExec, strings.Join(configs.RedactArgv(c.Command), " "), p)
	}
	if len(errs) > 0 {
		s.Close()
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// closerFunc adapts a Close without an error result to io.Closer.
type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }
