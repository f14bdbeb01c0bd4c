package esltest

import (
	"fmt"
	"strings"
	"time"
)

// The functions below render api bodies as FreeSWITCH 1.10 prints them
// (mod_commands' status and show, mod_sofia's sofia status), for doubles
// whose answers change while they run (SetResponseFunc).

// StatusBody is the body of "status" for a switch up for up, with
// sessions active now, peak the most at once, and total since startup.
func StatusBody(up time.Duration, sessions, peak, total int) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, unit)
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	us := up.Microseconds()
	days := us / (24 * 3600 * 1e6)
	parts := []string{
		plural(days/365, "year"), plural(days%365, "day"),
		plural(us/(3600*1e6)%24, "hour"), plural(us/(60*1e6)%60, "minute"),
		plural(us/1e6%60, "second"), plural(us/1000%1000, "millisecond"), plural(us%1000, "microsecond"),
	}
	return "UP " + strings.Join(parts, ", ") + "\n" +
		"FreeSWITCH (Version 1.10.9 -release 64bit) is ready\n" +
		fmt.Sprintf("%d session(s) since startup\n", total) +
		fmt.Sprintf("%d session(s) - peak %d, last 5min %d \n", sessions, peak, peak) +
		"0 session(s) per Sec out of max 30, peak 2, last 5min 1 \n" +
		"1000 session(s) max\n" +
		"min idle cpu 0.00/97.43\n" +
		"Current Stack Size/Max 240K/8192K\n"
}

// SofiaStatusBody is the body of "sofia status" with one running profile,
// internal, on addr (host:port), inUse sessions using it.
func SofiaStatusBody(addr string, inUse int) string {
	line := strings.Repeat("=", 97) + "\n"
	return fmt.Sprintf("%25s\t%s\t  %40s\t%s\n", "Name", "   Type", "Data", "State") + line +
		fmt.Sprintf("%25s\t%s\t  %40s\t%s (%d)\n", "internal", "profile", "sip:mod_sofia@"+addr, "RUNNING", inUse) +
		line + "1 profile 0 aliases\n"
}

// CountBody is the body of "show calls count" and "show channels count":
// a blank line, then "N total.".
func CountBody(n int) string { return fmt.Sprintf("\n%d total.\n", n) }
