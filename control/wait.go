package control

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Answering reports whether the PBX answers as st tells it: every critical
// probe of the PBX (any kind but pg, the database) has a passing result
// that started at or after since. It returns why not, for a timeout's
// error. A node without such a probe has nothing to wait for: ok false.
func Answering(st Status, since time.Time) (ok bool, why string) {
	var waiting []string
	n := 0
	for _, p := range st.Probes {
		if !p.Critical || p.Kind == "pg" {
			continue
		}
		n++
		switch {
		case p.Last == nil || p.Last.Start.Before(since):
			waiting = append(waiting, p.Name+": no check since the action")
		case p.Last.Status != "ok":
			waiting = append(waiting, fmt.Sprintf("%s: %s", p.Name, strings.TrimSpace(p.Last.Detail+" "+p.Last.Error)))
		}
	}
	if n == 0 {
		return false, "no critical probe of the PBX (sip, esl, ami, tcp or exec) to tell whether it answers"
	}
	if len(waiting) > 0 {
		return false, strings.Join(waiting, "; ")
	}
	return true, ""
}

// WaitAnswering polls the daemon's status every poll until the PBX answers
// (Answering) after since, on the daemon's clock, or ctx ends. Its error
// says what was still missing.
func (c *Client) WaitAnswering(ctx context.Context, since time.Time, poll time.Duration) (Status, error) {
	why := "no status yet"
	for {
		st, err := c.Status(ctx)
		if err == nil {
			var ok bool
			if ok, why = Answering(st, since); ok {
				return st, nil
			}
			if strings.HasPrefix(why, "no critical probe") {
				return st, fmt.Errorf("control: wait %s: %s", c.socket, why)
			}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("control: wait %s: the PBX does not answer yet: %s", c.socket, why)
		case <-time.After(poll):
		}
	}
}
