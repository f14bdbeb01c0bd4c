package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/internal/logattr"
)

// newLogger builds the daemon's logger from the log section. The level can
// change on reload through the returned LevelVar; the format cannot.
func newLogger(c configs.Log, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	level := new(slog.LevelVar)
	if err := setLevel(level, c.Level); err != nil {
		return nil, nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	// logattr keeps one value per key: "component" and "node" are added
	// by the daemon and again by the packages it wires.
	switch c.Format {
	case "json":
		return slog.New(logattr.New(slog.NewJSONHandler(w, opts))), level, nil
	case "text", "":
		return slog.New(logattr.New(slog.NewTextHandler(w, opts))), level, nil
	}
	return nil, nil, fmt.Errorf("log.format: %q is not text or json", c.Format)
}

func setLevel(v *slog.LevelVar, name string) error {
	if name == "" {
		name = "info"
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(name))); err != nil {
		return fmt.Errorf("log.level: %q is not debug, info, warn or error", name)
	}
	v.Set(l)
	return nil
}
