package filesync

import (
	"bufio"
	"strconv"
	"strings"
)

// Stats are the numbers of one rsync run, from its --stats report.
type Stats struct {
	Files         int64 // regular files transferred
	Deleted       int64 // files deleted at the destination
	FileBytes     int64 // total size of the files transferred
	Literal       int64 // bytes sent as data (not matched against an existing or partial file)
	Matched       int64 // bytes found at the destination already (a resumed partial file counts here)
	BytesReceived int64 // bytes this side received over the network
}

// ParseStats reads the --stats report in rsync's output (LC_ALL=C:
// thousands separated by commas). Lines it does not know are skipped;
// a number that does not parse leaves its field at zero.
func ParseStats(out string) Stats {
	var s Stats
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		label, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var f *int64
		switch strings.TrimSpace(label) {
		case "Number of regular files transferred":
			f = &s.Files
		case "Number of deleted files":
			f = &s.Deleted
		case "Total transferred file size":
			f = &s.FileBytes
		case "Literal data":
			f = &s.Literal
		case "Matched data":
			f = &s.Matched
		case "Total bytes received":
			f = &s.BytesReceived
		default:
			continue
		}
		*f = leadingNumber(rest)
	}
	return s
}

// leadingNumber parses the first field of s ("3,145,728 bytes",
// "4 (reg: 4)") without its separators; 0 when it is not a number.
func leadingNumber(s string) int64 {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(fields[0], ",", ""), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
