package ami

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Ping sends "Action: Ping" and checks the answer: "Response: Success" with
// "Ping: Pong" (Asterisk 1.6 and later) or "Response: Pong" (1.4).
func (c *Client) Ping(ctx context.Context) error {
	m, err := c.Do(ctx, "Ping")
	if err != nil {
		return err
	}
	resp := m.Get("Response")
	if strings.EqualFold(resp, "Pong") || strings.EqualFold(m.Get("Ping"), "Pong") {
		return nil
	}
	return fmt.Errorf("ami: ping %s: %w: answer %q without Pong", c.addr, ErrProtocol, resp)
}

// CoreStatus is the answer to "Action: CoreStatus".
type CoreStatus struct {
	Startup        time.Time // when Asterisk started; zero when the server sends no date (Asterisk 1.6)
	Reload         time.Time // when its configuration was last reloaded; zero likewise
	CurrentCalls   int       // CoreCurrentCalls: active channels
	ProcessedCalls int       // CoreProcessedCalls (Asterisk 22 and later); -1 when absent
}

// CoreStatus sends "Action: CoreStatus". Asterisk prints its start and reload
// times as local wall-clock date and time without a zone; loc is that zone
// (normally time.Local, as the probe runs beside the PBX).
func (c *Client) CoreStatus(ctx context.Context, loc *time.Location) (CoreStatus, error) {
	m, err := c.Do(ctx, "CoreStatus")
	if err != nil {
		return CoreStatus{}, err
	}
	st, err := ParseCoreStatus(m, loc)
	if err != nil {
		return CoreStatus{}, fmt.Errorf("ami: corestatus %s: %w", c.addr, err)
	}
	return st, nil
}

// ParseCoreStatus reads a CoreStatus response. CoreCurrentCalls must be a
// number; dates and times that are missing or unreadable leave Startup or
// Reload zero.
func ParseCoreStatus(m Message, loc *time.Location) (CoreStatus, error) {
	calls, err := strconv.Atoi(strings.TrimSpace(m.Get("CoreCurrentCalls")))
	if err != nil || calls < 0 {
		return CoreStatus{}, fmt.Errorf("%w: CoreCurrentCalls %s is not a count", ErrProtocol, quoteShort(m.Get("CoreCurrentCalls")))
	}
	st := CoreStatus{
		CurrentCalls:   calls,
		ProcessedCalls: -1,
		Startup:        wallClock(m.Get("CoreStartupDate"), m.Get("CoreStartupTime"), loc),
		Reload:         wallClock(m.Get("CoreReloadDate"), m.Get("CoreReloadTime"), loc),
	}
	if v, ok := m.Lookup("CoreProcessedCalls"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			st.ProcessedCalls = n
		}
	}
	return st, nil
}

// wallClock parses Asterisk's "%Y-%m-%d" and "%H:%M:%S" pair in loc, or
// returns the zero time.
func wallClock(date, clock string, loc *time.Location) time.Time {
	if date == "" || clock == "" {
		return time.Time{}
	}
	if loc == nil {
		loc = time.Local
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", strings.TrimSpace(date)+" "+strings.TrimSpace(clock), loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// CoreSettings is the part of the answer to "Action: CoreSettings" the probe
// shows.
type CoreSettings struct {
	AMIVersion      string // AMIversion, e.g. "9.0.0"
	AsteriskVersion string // AsteriskVersion, e.g. "20.5.0"
	SystemName      string // SystemName from asterisk.conf, often empty
	MaxCalls        int    // CoreMaxCalls, 0 for no limit
}

// CoreSettings sends "Action: CoreSettings".
func (c *Client) CoreSettings(ctx context.Context) (CoreSettings, error) {
	m, err := c.Do(ctx, "CoreSettings")
	if err != nil {
		return CoreSettings{}, err
	}
	s := CoreSettings{
		AMIVersion:      m.Get("AMIversion"),
		AsteriskVersion: m.Get("AsteriskVersion"),
		SystemName:      m.Get("SystemName"),
	}
	s.MaxCalls, _ = strconv.Atoi(strings.TrimSpace(m.Get("CoreMaxCalls")))
	return s, nil
}
