package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/hooks"
)

// configPathDefault fills in -c from PBXHA_CONFIG, which the daemon sets for
// the commands it runs (hooks.EnvConfig): a hook's pbxha reads the daemon's
// file.
func configPathDefault(g *globals) {
	if g.configPath == "" {
		g.configPath = os.Getenv(hooks.EnvConfig)
	}
}

// controlSocket finds the running daemon's socket: --socket, else
// PBXHA_SOCKET (set for the commands the daemon runs), else control.socket
// from the config. A config with problems (a file a reload refused) does
// not stop the search: its problems are printed as a warning and its
// control.socket is used where it is valid, else the default.
func controlSocket(g *globals, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if s := os.Getenv(hooks.EnvSocket); s != "" {
		return s, nil
	}
	cfg, err := lenientConfig(g)
	if cfg == nil {
		return configs.DefaultSocket, nil
	}
	_ = err // warned by lenientConfig
	return cfg.Control.Socket, nil
}

// lenientConfig loads the config for a command that talks to the running
// daemon or reads its state: problems are printed to stderr as a warning
// (the daemon keeps its running config), and the config is still returned
// unless the file cannot be read at all.
func lenientConfig(g *globals) (*configs.Config, error) {
	cfg, err := configs.LoadLenient(g.configPath)
	if err == nil {
		return cfg, nil
	}
	what := "the defaults stand in for the keys with problems"
	if cfg == nil {
		what = "using the defaults"
	}
	fmt.Fprintf(g.stderr, "pbxha: warning: the config has problems (a running daemon keeps the config it runs on); %s:\n", what)
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		fmt.Fprintf(g.stderr, "  %s\n", line)
	}
	return cfg, err
}

// statusError turns a failed call to the daemon into the exit code and the
// sentence for the operator.
func statusError(socket string, err error) error {
	switch {
	case errors.Is(err, control.ErrPermission):
		return &exitError{code: exitFailure, err: permissionError(socket)}
	case errors.Is(err, control.ErrNoDaemon):
		return &exitError{code: exitNoDaemon, err: fmt.Errorf(
			"no pbxha daemon answering on %s: start one (systemctl start pbxha, or pbxha run), or point -c/--socket at the running one", socket)}
	}
	return &exitError{code: exitNoDaemon, err: err}
}

// permissionError says who may open the socket: root and the group owning
// the socket (or, when even that cannot be looked at, its directory).
func permissionError(socket string) error {
	group := ""
	for _, p := range []string{socket, filepath.Dir(socket)} {
		if fi, err := os.Stat(p); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				group = strconv.Itoa(int(st.Gid))
				if g, err := user.LookupGroupId(group); err == nil {
					group = g.Name
				}
				break
			}
		}
	}
	if group == "" || group == "root" || group == "0" {
		return fmt.Errorf("permission denied on %s: only root may use it; run the command as root", socket)
	}
	return fmt.Errorf("permission denied on %s: root and the members of group %s may use it; run as root, or join the group (usermod -aG %s USER, then log in again)",
		socket, group, group)
}
