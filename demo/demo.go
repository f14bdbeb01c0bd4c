// Package demo runs `pbxha demo`: it stages a failover story on one machine
// and prints it. The pair demo runs two pbxha nodes, each beside a test PBX,
// as processes of the pbxha program, in network namespaces (internal/netlab)
// with a real VIP or on loopback with a simulated one, hangs the primary's
// PBX, switches back, and prints the timelines and what a client saw. The
// single demo runs one sidecar against a test PBX that hangs and recovers.
//
// cmd/pbxha parses the flags and calls RunPair, RunSingle or ServeTestPBX;
// everything else about the demo lives here.
package demo

import (
	"context"
	"io"
	"time"

	"github.com/pbxha/pbxha/configs"
	"github.com/pbxha/pbxha/control"
)

// Modes of the pair demo.
const (
	ModeAuto     = "auto"     // netns as root, else loopback
	ModeNetns    = "netns"    // network namespaces with the real VIP
	ModeLoopback = "loopback" // 127.0.0.1 and 127.0.0.2, the VIP a marker file
)

// PairOptions are the settings of the two-node demo.
type PairOptions struct {
	Mode    string        // ModeAuto, ModeNetns or ModeLoopback
	Bound   time.Duration // give up when the story has not finished by then
	Verbose bool          // print every log line of the sidecars, not only the story's
	// Exe is the pbxha program the demo runs for its nodes (`Exe run -c
	// FILE`) and their test PBXs (`Exe demo test-pbx`). Empty means this
	// program (os.Executable), which must then be pbxha, not a test binary.
	Exe string
}

// SingleOptions are the settings of the one-node demo. The sidecar runs in
// this process, so the caller lends the daemon and the status table.
type SingleOptions struct {
	Duration time.Duration // how long the demo runs
	// RunDaemon runs a pbxha daemon on cfg until ctx ends, logging to w,
	// and returns its error.
	RunDaemon func(ctx context.Context, w io.Writer, cfg *configs.Config) error
	// WriteStatus prints st as `pbxha status` does.
	WriteStatus func(w io.Writer, st control.Status)
}

// HostPort is one address the test PBX answers on; Port 0 picks a free one.
type HostPort struct {
	Host string
	Port int
}
