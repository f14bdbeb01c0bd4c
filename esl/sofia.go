package esl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNotSofiaStatus means a body is not the table "sofia status" prints.
var ErrNotSofiaStatus = errors.New("not a sofia status output")

// Profile states. "sofia status" prints RUNNING for a started profile; a
// profile that is stopped is usually absent from the table, which
// SofiaStatus.Profile reports as not found.
const (
	StateRunning = "RUNNING"
	StateDown    = "DOWN"
)

// SofiaStatus is the table printed by "sofia status".
type SofiaStatus struct {
	Profiles []SofiaProfile // in output order, one entry per profile name
	Aliases  []SofiaAlias
	Gateways []SofiaGateway
}

// SofiaProfile is one "profile" row. A profile listening on TLS as well has a
// second row, merged here into TLSURL.
type SofiaProfile struct {
	Name   string // "internal"
	URL    string // "sip:mod_sofia@192.0.2.10:5060"
	TLSURL string // "sips:mod_sofia@192.0.2.10:5061" when TLS is on
	State  string // StateRunning, StateDown, or what the version prints
	InUse  int    // the number in "RUNNING (3)": sessions using the profile
}

// SofiaAlias is one "alias" row: another name for a profile.
type SofiaAlias struct {
	Name    string // "192.0.2.10"
	Profile string // "internal"
}

// SofiaGateway is one "gateway" row.
type SofiaGateway struct {
	Name    string // "external::carrier1", as printed
	Profile string // "external"
	To      string // the registration target, "sip:user@carrier.example"
	State   string // registration state: REGED, NOREG, TRYING, FAILED, FAIL_WAIT, UNREGED...
	Detail  string // what follows the state, "(retry: 28s)"
}

// Profile returns the profile named name, following aliases.
func (s SofiaStatus) Profile(name string) (SofiaProfile, bool) {
	for _, p := range s.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	for _, a := range s.Aliases {
		if a.Name == name && a.Profile != name {
			for _, p := range s.Profiles {
				if p.Name == a.Profile {
					return p, true
				}
			}
		}
	}
	return SofiaProfile{}, false
}

// ParseSofiaStatus reads the table of "sofia status": a header row, a rule of
// '=' characters, one tab-separated row per profile, alias and gateway, a
// rule and a "N profiles N aliases" footer. Rows in unknown shapes are
// skipped; columns separated by spaces instead of tabs are accepted. An empty
// table is valid; a body with neither a rule nor any row is not.
func ParseSofiaStatus(body string) (SofiaStatus, error) {
	var s SofiaStatus
	if strings.HasPrefix(body, "-ERR") || strings.HasPrefix(body, "Invalid") {
		first, _, _ := strings.Cut(body, "\n")
		return s, fmt.Errorf("%w: %q", ErrNotSofiaStatus, strings.TrimSpace(first))
	}
	rules := 0
	for raw := range strings.Lines(body) {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		if strings.Trim(line, "=") == "" {
			rules++
			continue
		}
		name, typ, data, state, ok := sofiaColumns(line)
		if !ok {
			continue
		}
		switch typ {
		case "profile":
			st, inUse, tls := splitProfileState(state)
			i := indexProfile(s.Profiles, name)
			if i < 0 {
				s.Profiles = append(s.Profiles, SofiaProfile{Name: name})
				i = len(s.Profiles) - 1
			}
			p := &s.Profiles[i]
			if tls {
				p.TLSURL = data
				if p.State == "" {
					p.State, p.InUse = st, inUse
				}
			} else {
				p.URL, p.State, p.InUse = data, st, inUse
			}
		case "alias":
			s.Aliases = append(s.Aliases, SofiaAlias{Name: name, Profile: data})
		case "gateway":
			st, detail, _ := strings.Cut(state, " ")
			prof, _, _ := strings.Cut(name, "::")
			s.Gateways = append(s.Gateways, SofiaGateway{
				Name: name, Profile: prof, To: data, State: st, Detail: strings.TrimSpace(detail),
			})
		}
	}
	if rules == 0 && len(s.Profiles)+len(s.Aliases)+len(s.Gateways) == 0 {
		return s, ErrNotSofiaStatus
	}
	return s, nil
}

// sofiaColumns splits a row into name, type, data and state. The header row
// ("Name Type Data State") has type "Type" and is rejected with the other
// unknown types.
func sofiaColumns(line string) (name, typ, data, state string, ok bool) {
	var cols []string
	if strings.Count(line, "\t") >= 3 {
		for c := range strings.SplitSeq(line, "\t") {
			cols = append(cols, strings.TrimSpace(c))
		}
		name, typ, data, state = cols[0], cols[1], cols[2], strings.Join(cols[3:], " ")
	} else {
		cols = strings.Fields(line)
		if len(cols) < 4 || isFooter(cols) {
			return "", "", "", "", false
		}
		name, typ, data, state = cols[0], cols[1], cols[2], strings.Join(cols[3:], " ")
	}
	switch typ {
	case "profile", "alias", "gateway":
	default:
		return "", "", "", "", false
	}
	state = strings.TrimSpace(state)
	return name, typ, data, state, name != "" && state != ""
}

// splitProfileState reads "RUNNING (3)" or "RUNNING (3) (TLS)".
func splitProfileState(s string) (state string, inUse int, tls bool) {
	state, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	if strings.HasSuffix(rest, "(TLS)") {
		tls = true
		rest = strings.TrimSpace(strings.TrimSuffix(rest, "(TLS)"))
	}
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		if n, err := strconv.ParseInt(rest[1:len(rest)-1], 10, 32); err == nil && n >= 0 {
			inUse = int(n)
		}
	}
	return state, inUse, tls
}

func indexProfile(ps []SofiaProfile, name string) int {
	for i, p := range ps {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// isFooter recognises the "2 profiles 1 alias" line that ends the table.
func isFooter(cols []string) bool {
	_, err := strconv.Atoi(cols[0])
	return err == nil && len(cols) == 4 && strings.HasPrefix(cols[1], "profile") && strings.HasPrefix(cols[3], "alias")
}
