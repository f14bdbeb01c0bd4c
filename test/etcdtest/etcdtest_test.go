package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/pbxha/pbxha/test/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestClientAgainstServer checks what pbxha uses of the etcd client
// (go.etcd.io/etcd/client/v3) against the installed server (Debian's
// etcd-server 3.4): a lease granted and renewed, the granted TTL (etcd's
// minimum lease TTL), a transaction comparing a key's lease, a watch, and
// the lease's expiry deleting its key.
func TestClientAgainstServer(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, c.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server version %s", st.Version)
	g, err := cli.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if g.TTL != 1 {
		t.Errorf("got granted TTL %d, want 1 (heartbeat 100ms, election 500ms)", g.TTL)
	}
	ka, err := cli.KeepAliveOnce(ctx, g.ID)
	if err != nil || ka.TTL != 1 {
		t.Fatalf("keepalive: got TTL %v, err %v; want 1", ka, err)
	}
	wch := cli.Watch(ctx, "/t/", clientv3.WithPrefix())
	resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision("/t/leader"), "=", 0)).
		Then(clientv3.OpPut("/t/leader", "n1", clientv3.WithLease(g.ID))).Commit()
	if err != nil || !resp.Succeeded {
		t.Fatalf("txn: got %v, %v; want success", resp, err)
	}
	resp, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue("/t/leader"), "=", g.ID)).
		Then(clientv3.OpPut("/t/epoch", "1")).Commit()
	if err != nil || !resp.Succeeded {
		t.Fatalf("txn on the lease: got %v, %v; want success", resp, err)
	}
	start := time.Now()
	for {
		wr := <-wch
		if err := wr.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete && string(ev.Kv.Key) == "/t/leader" {
				t.Logf("the leader key went %s after the last renewal (TTL 1s)", time.Since(start).Round(time.Millisecond))
				if since := time.Since(start); since < 900*time.Millisecond || since > 5*time.Second {
					t.Errorf("got expiry after %s, want about 1-1.5s", since)
				}
				return
			}
		}
	}
}
