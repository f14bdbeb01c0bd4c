package test

import (
	"context"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeTimeout bounds one write attempt through the VIP, connecting
// included: it is the resolution of the write outage when a request is
// lost on the way (a SYN to a VIP that has just moved).
const writeTimeout = 150 * time.Millisecond

// writeBlocked is how long an acknowledged write may take and still count
// as served: a slower one is part of the outage.
const writeBlocked = 100 * time.Millisecond

// writeAttempt is one INSERT through the VIP: when it was sent, when it
// returned, and whether the commit was acknowledged.
type writeAttempt struct {
	start, end time.Time
	ok         bool
}

// vipWriter inserts a row every 10 ms through the VIP from the client's
// namespace on one connection (a fresh one after any error) and keeps the
// attempts.
type vipWriter struct {
	mu       sync.Mutex
	attempts []writeAttempt
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

func startVIPWriter(b testing.TB, f *pgPair) *vipWriter {
	return startWriter(b, newPGVIPConn(b, f.pairFixture, ""))
}

// startWriter runs the writer over conn until the benchmark ends.
func startWriter(b testing.TB, conn vipConn) *vipWriter {
	ctx, cancel := context.WithCancel(context.Background())
	w := &vipWriter{cancel: cancel}
	b.Cleanup(w.stop)
	w.done.Go(func() {
		defer conn.close()
		// Bounded: at most about 20 minutes of writes at one per 10 ms.
		for id := int32(1); id < 120000 && ctx.Err() == nil; id++ {
			time.Sleep(10 * time.Millisecond)
			start := time.Now()
			wctx, wcancel := context.WithTimeout(ctx, writeTimeout)
			err := conn.write(wctx, id)
			wcancel()
			if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			w.attempts = append(w.attempts, writeAttempt{start: start, end: time.Now(), ok: err == nil})
			w.mu.Unlock()
		}
	})
	return w
}

func (w *vipWriter) stop() {
	w.cancel()
	w.done.Wait()
}

// flowing reports whether the last attempt was acknowledged in time and
// within the last 200 ms.
func (w *vipWriter) flowing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.attempts) == 0 {
		return false
	}
	a := w.attempts[len(w.attempts)-1]
	return a.ok && a.end.Sub(a.start) < writeBlocked && time.Since(a.end) < 200*time.Millisecond
}

// outage returns the write outage among the attempts sent since: from the
// first one that failed or was acknowledged late to the next acknowledged
// one's acknowledgement; 0 when every attempt was served. ok is false while
// the writes have not come back yet.
func (w *vipWriter) outage(since time.Time) (d time.Duration, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var down time.Time
	for _, a := range w.attempts {
		if a.start.Before(since) {
			continue
		}
		served := a.ok && a.end.Sub(a.start) < writeBlocked
		if down.IsZero() && !served {
			down = a.start
		}
		if !down.IsZero() && a.ok {
			return a.end.Sub(down), true
		}
	}
	if down.IsZero() {
		// No disturbance seen: the trial's window must have passed.
		return 0, len(w.attempts) > 0 && w.attempts[len(w.attempts)-1].start.Sub(since) > 3*time.Second
	}
	return 0, false
}

// BenchmarkPairDatabaseOutage measures the outage a client sees through the
// VIP when PostgreSQL's primary role moves with the service, on the pair of
// TestPairDatabaseInNamespaces (a primary and its streaming standby, one per
// node, configs/pg-demote.sh as demote_command, pg_ctl stop -m fast as
// stop_command):
//
//	go test -run '^$' -bench BenchmarkPairDatabaseOutage -benchtime 5x ./test
//
// Per scenario it reports the median, min and max in milliseconds of the
// SIP outage (sip-*-ms: OPTIONS every 20 ms, as BenchmarkPairOutage) and of
// the write outage (write-*-ms: an INSERT every 10 ms on one connection,
// reconnecting after an error, each attempt bounded by writeTimeout; from
// the first failed or late insert to the next acknowledged one).
func BenchmarkPairDatabaseOutage(b *testing.B) {
	f := startPGPair(b)
	f.wait(40*time.Second, "n1 primary holding and serving the VIP", f.settled(f.n1))
	f.db[f.n1].Exec(b, "CREATE TABLE writes (id int PRIMARY KEY, at timestamptz DEFAULT now())")
	w := startVIPWriter(b, f)
	databaseOutage(b, f.pairFixture, w, func(prim, stby *pairNode) bool {
		rec, sender, err := f.dbState(stby)
		return err == nil && rec && sender == prim.host.IP.String()
	})
}

// databaseOutage runs the switchover and hung_pbx scenarios of a pair whose
// database role moves with the service, measuring the SIP outage and w's
// write outage of each trial. streams reports that the standby's database
// replicates from the primary's.
func databaseOutage(b *testing.B, f *pairFixture, w *vipWriter, streams func(prim, stby *pairNode) bool) {
	p := newSIPPinger(b, f)
	client := f.client.IP.String()

	// A trial starts once the pair is settled and healthy, the standby's
	// database streams from the primary's, writes flow through the VIP,
	// and the last disturbance is 3s past (see BenchmarkPairOutage).
	disturbed := time.Now()
	steady := func() bool {
		if time.Since(disturbed) < 3*time.Second || !w.flowing() || !f.settled(nil)() {
			return false
		}
		prim := f.primary()
		if prim == nil || !streams(prim, f.other(prim)) {
			return false
		}
		for _, n := range f.nodes {
			// A pair's peer is heard; an etcd cluster lists every node.
			if s, err := n.status(b); err != nil || s.Health != "healthy" || s.Pair == nil || (!s.Pair.Peer.Alive && len(s.Pair.Nodes) < len(f.nodes)) {
				return false
			}
		}
		return true
	}
	trial := func(b *testing.B, cause func(prim *pairNode), after func(prim *pairNode)) (sip, write time.Duration) {
		f.wait(90*time.Second, "a healthy pair with a streaming standby, 3s after the last trial", steady)
		prim := f.primary()
		start := time.Now()
		sip = outage(b, p, client, func() { cause(prim) }, 30*time.Second)
		if after != nil {
			after(prim)
		}
		f.wait(30*time.Second, "writes through the VIP again", func() bool {
			var ok bool
			write, ok = w.outage(start)
			return ok
		})
		disturbed = time.Now()
		return sip, write
	}
	run := func(b *testing.B, cause func(prim *pairNode), after func(prim *pairNode)) {
		var sips, writes []time.Duration
		for range b.N {
			sip, write := trial(b, cause, after)
			sips, writes = append(sips, sip), append(writes, write)
		}
		reportMS(b, "sip-", sips)
		reportMS(b, "write-", writes)
	}
	b.Run("switchover", func(b *testing.B) {
		// The target alternates: it is the standby of the moment.
		run(b, func(prim *pairNode) {
			go exec.Command(f.pbxha, "switchover", "--socket", prim.socket, "--drain-timeout", "0s").Run()
		}, nil)
	})
	b.Run("hung_pbx", func(b *testing.B) {
		run(b, func(prim *pairNode) { prim.signalPBX(b, syscall.SIGSTOP) },
			func(prim *pairNode) { prim.signalPBX(b, syscall.SIGCONT) })
	})
	// The last released database may still be rejoining: pbxha is killed
	// at the end, not its demote command, which must not start a server
	// while the data directories are removed.
	f.wait(90*time.Second, "the pair steady after the last trial", steady)
}
