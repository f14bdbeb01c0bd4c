package filesync

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/failover"
)

const sampleStats = `
Number of files: 5 (reg: 4, dir: 1)
Number of created files: 3 (reg: 3)
Number of deleted files: 2 (reg: 2)
Number of regular files transferred: 3
Total file size: 3,145,731 bytes
Total transferred file size: 3,145,728 bytes
Literal data: 1,048,576 bytes
Matched data: 2,097,152 bytes
File list size: 0
Total bytes sent: 95
Total bytes received: 1,049,433

sent 95 bytes  received 1,049,433 bytes  349,842.67 bytes/sec
`

func TestParseStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Stats
	}{
		{"report", sampleStats, Stats{Files: 3, Deleted: 2, FileBytes: 3145728, Literal: 1048576, Matched: 2097152, BytesReceived: 1049433}},
		{"empty", "", Stats{}},
		{"garbage numbers", "Number of deleted files: x\nTotal bytes received: -5 bytes\n", Stats{}},
		{"no report", "rsync error: some files could not be transferred (code 23)\n", Stats{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseStats(tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseStats(f *testing.F) {
	f.Add(sampleStats)
	f.Add("Literal data: 9,223,372,036,854,775,808 bytes\n")
	f.Add("Matched data:\n:::\n")
	f.Fuzz(func(t *testing.T, s string) {
		st := ParseStats(s)
		if st.Files < 0 || st.Deleted < 0 || st.BytesReceived < 0 || st.Literal < 0 || st.Matched < 0 || st.FileBytes < 0 {
			t.Errorf("got negative numbers %+v", st)
		}
	})
}

func TestNotice(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	good := encodeNotice(key, "recordings", now)
	bad := append([]byte{}, good...)
	bad[7] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
		key  []byte
		at   time.Time
		want string // "" for the name recordings
	}{
		{"good", good, key, now, ""},
		{"other key", good, []byte("another key of thirty-two bytes!"), now, "bad mac"},
		{"flipped bit", bad, key, now, "bad mac"},
		{"stale", good, key, now.Add(time.Minute), "beyond"},
		{"future", good, key, now.Add(-time.Minute), "beyond"},
		{"truncated", good[:20], key, now, "garbage"},
		{"empty", nil, key, now, "garbage"},
		{"wrong magic", append([]byte("PBHA"), good[4:]...), key, now, "garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, _, err := decodeNotice(tc.key, tc.b, tc.at)
			switch {
			case tc.want == "" && (err != nil || name != "recordings"):
				t.Errorf("got %q, %v; want recordings", name, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errNotice)):
				t.Errorf("got %q, %v; want an error saying %q", name, err, tc.want)
			}
		})
	}
}

func FuzzDecodeNotice(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	f.Add(encodeNotice(key, "recordings", now))
	f.Add(encodeNotice(key, "v", now)[:10])
	f.Add([]byte("PBXS\x01\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, _, err := decodeNotice(key, b, now)
		if err == nil && (name == "" || len(name) > 63) {
			t.Errorf("accepted name %q", name)
		}
	})
}

func TestCheckSource(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, files ...string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(p, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	file := filepath.Join(dir, "file")
	_ = os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		name   string
		dir    string
		marker string
		mount  bool
		want   string // "" ok
	}{
		{"good", mk("good", ".pbxha-sync", "a.wav"), ".pbxha-sync", false, ""},
		{"good without marker check", mk("plain", "a.wav"), "", false, ""},
		{"missing", filepath.Join(dir, "nope"), ".pbxha-sync", false, "missing"},
		{"not a directory", file, "", false, "not a directory"},
		{"no marker", mk("nomarker", "a.wav"), ".pbxha-sync", false, "marker file .pbxha-sync missing"},
		{"only the marker", mk("onlymarker", ".pbxha-sync"), ".pbxha-sync", false, "empty"},
		{"empty", mk("empty"), "", false, "empty"},
		{"only a partial dir", mk("partial/"+PartialDir, ".pbxha-sync"), "", false, ""},
		{"not a mount point", mk("unmounted", ".pbxha-sync", "a.wav"), ".pbxha-sync", true, "not a mount point"},
		{"root is a mount point", "/", "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSource(tc.dir, tc.marker, tc.mount)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want ok", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrRefused)):
				t.Errorf("got %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	p, s := failover.RolePrimary, failover.RoleStandby
	for _, tc := range []struct {
		name string
		r    Roles
		want Direction
		why  string
	}{
		{"standby of a live primary pulls", Roles{Self: s, PeerName: "a", PeerAlive: true, PeerRole: p}, Pull, "pulling from a"},
		{"fault node keeps pulling", Roles{Self: failover.RoleFault, PeerAlive: true, PeerRole: p}, Pull, "pulling"},
		{"primary serves", Roles{Self: p, PeerAlive: true, PeerRole: s}, Serve, "primary"},
		{"primary with a dead peer serves", Roles{Self: p}, Serve, "primary"},
		{"isolated standby", Roles{Self: s, PeerName: "a", PeerRole: p}, Idle, "isolated"},
		{"two standbys", Roles{Self: s, PeerName: "a", PeerAlive: true, PeerRole: s}, Idle, "not primary"},
		{"maintenance", Roles{Self: s, PeerAlive: true, PeerRole: p, Maintenance: true}, Idle, "maintenance"},
		{"maintenance on the primary", Roles{Self: p, Maintenance: true}, Idle, "maintenance"},
		{"init", Roles{Self: failover.RoleInit, PeerAlive: true, PeerRole: p}, Idle, "role init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Plan(tc.r)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("got %s (%s), want %s (%s)", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestPullArgs(t *testing.T) {
	d := Dir{Name: "rec", Source: "/srv/rec", BWLimit: 512, Exclude: []string{"*.tmp"}}
	url := moduleURL("pbxha", netip.MustParseAddrPort("10.1.1.2:8873"), "rec")
	if url != "rsync://pbxha@10.1.1.2:8873/rec/" {
		t.Errorf("got url %s", url)
	}
	tr := strings.Join(pullArgs(d, url, transferPass, time.Minute), " ")
	del := strings.Join(pullArgs(d, url, deletePass, time.Minute), " ")
	for _, want := range []string{"--bwlimit=512", "--partial-dir=.pbxha-partial", "--exclude=*.tmp", "--timeout=60", url + " /srv/rec/"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transfer pass %q: want %s", tr, want)
		}
	}
	if strings.Contains(tr, "--delete") {
		t.Errorf("transfer pass %q deletes; want no deletion before the transfer completed", tr)
	}
	for _, want := range []string{"--delete", "--existing", "--ignore-existing", "--partial-dir=.pbxha-partial"} {
		if !strings.Contains(del, want) {
			t.Errorf("deletion pass %q: want %s", del, want)
		}
	}
}

func TestDaemonConfig(t *testing.T) {
	c := Config{Listen: netip.MustParseAddrPort("10.1.1.1:8873"), Peer: netip.MustParseAddrPort("10.1.1.2:8873"),
		SecretsFile: "/etc/pbxha/sync.secrets", StateDir: "/var/lib/pbxha/sync",
		Dirs: []Dir{{Name: "rec", Source: "/srv/rec", Marker: ".pbxha-sync", RequireMount: true}}}
	got := daemonConfig(c, "pbxha", []string{"/usr/local/bin/pbxha", "sync", "check-source"})
	for _, want := range []string{"address = 10.1.1.1\nport = 8873", "read only = yes", "list = no", "[rec]", "path = /srv/rec",
		"auth users = pbxha", "secrets file = /etc/pbxha/sync.secrets", "hosts allow = 10.1.1.2", "hosts deny = *",
		"pre-xfer exec = '/usr/local/bin/pbxha' 'sync' 'check-source' '--marker' '.pbxha-sync' '--require-mount'"} {
		if !strings.Contains(got, want) {
			t.Errorf("rsyncd.conf lacks %q:\n%s", want, got)
		}
	}
}

func TestProblems(t *testing.T) {
	good := Config{Listen: netip.MustParseAddrPort("10.1.1.1:8873"), Peer: netip.MustParseAddrPort("10.1.1.2:8873"),
		SecretsFile: "/etc/pbxha/sync.secrets", Dirs: []Dir{{Name: "rec", Source: "/srv/rec"}}}
	if ps := good.Problems(); len(ps) != 0 {
		t.Errorf("good config: got %v, want none", ps)
	}
	bad := Config{Peer: netip.MustParseAddrPort("[::1]:1"), SecretsFile: "rel", LagAlert: -1, Dirs: []Dir{
		{Name: "Rec", Source: "rel", BWLimit: -1, Interval: time.Millisecond, Marker: "a/b"},
		{Name: "x", Source: "/"}, {Name: "x", Source: "/a", Exclude: []string{""}},
	}}
	var keys []string
	for _, p := range bad.Problems() {
		keys = append(keys, p.Key)
	}
	want := "listen secrets_file lag_alert directories[0].name directories[0].source directories[0].bwlimit directories[0].interval directories[0].marker directories[1].source directories[2].name directories[2].exclude[0]"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("got problems at\n%s\nwant\n%s", got, want)
	}
}
