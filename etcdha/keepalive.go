package etcdha

import (
	"context"
	"fmt"
	"time"

	"github.com/pbxha/pbxha/internal/clock"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keepalive renews a lease over one long-lived keepalive stream: one
// request, one answer, every renewal. The client's KeepAliveOnce opens a
// new stream for each renewal (an HTTP/2 stream with its headers and
// goroutines, on the server too), the largest part of an idle node's etcd
// traffic; its KeepAlive keeps a stream but chooses when to send, and a
// renewal's send time is what the step-down point counts from. A renewal
// that fails or gets no answer in time closes the stream, and the next one
// opens another. Only keepLease's goroutine uses it.
type keepalive struct {
	lc     pb.LeaseClient
	clock  clock.Clock
	stream pb.Lease_LeaseKeepAliveClient // nil: none open
	cancel context.CancelFunc
	resps  chan *pb.LeaseKeepAliveResponse // the stream's answers
	errc   chan error                      // the error that ended it
}

func newKeepalive(cli *clientv3.Client, c clock.Clock) *keepalive {
	return &keepalive{lc: pb.NewLeaseClient(cli.ActiveConnection()), clock: c}
}

// renew sends one keepalive for lease id and returns the TTL etcd answered
// with, in seconds, or an error: rpctypes.ErrLeaseNotFound when etcd no
// longer knows the lease, another when no answer came within the given
// time or the stream broke. ctx bounds the stream's life.
func (k *keepalive) renew(ctx context.Context, id clientv3.LeaseID, within time.Duration) (int64, error) {
	if k.stream == nil {
		if err := k.open(ctx, within); err != nil {
			return 0, fmt.Errorf("etcdha: renew lease %x: open the keepalive stream: %w", int64(id), err)
		}
	}
	if err := k.stream.Send(&pb.LeaseKeepAliveRequest{ID: int64(id)}); err != nil {
		k.close()
		return 0, fmt.Errorf("etcdha: renew lease %x: %w", int64(id), err)
	}
	t := k.clock.NewTimer(within)
	defer t.Stop()
	select {
	case resp := <-k.resps:
		if resp.TTL <= 0 {
			return 0, rpctypes.ErrLeaseNotFound
		}
		return resp.TTL, nil
	case err := <-k.errc:
		k.close()
		return 0, fmt.Errorf("etcdha: renew lease %x: %w", int64(id), err)
	case <-t.C():
		k.close()
		return 0, fmt.Errorf("etcdha: renew lease %x: no answer within %s: %w", int64(id), within, context.DeadlineExceeded)
	case <-ctx.Done():
		k.close()
		return 0, ctx.Err()
	}
}

// open opens the stream, given up after within, and starts its reader.
// Streams wait for etcd to have a leader (as the client's own long-lived
// streams do): a member that loses its leader ends them.
func (k *keepalive) open(ctx context.Context, within time.Duration) error {
	sctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	t := k.clock.NewTimer(within)
	defer t.Stop()
	opened := make(chan struct{})
	go func() {
		select {
		case <-t.C():
			cancel()
		case <-opened:
		}
	}()
	s, err := k.lc.LeaseKeepAlive(sctx)
	close(opened)
	if err == nil && sctx.Err() != nil {
		err = fmt.Errorf("no stream within the renewal's time: %w", context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		return err
	}
	k.stream, k.cancel = s, cancel
	k.resps, k.errc = make(chan *pb.LeaseKeepAliveResponse, 1), make(chan error, 1)
	resps, errc := k.resps, k.errc
	go func() {
		for {
			resp, err := s.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case resps <- resp:
			case <-sctx.Done():
				return
			}
		}
	}()
	return nil
}

// close ends the stream (its reader ends with it).
func (k *keepalive) close() {
	if k.stream != nil {
		k.cancel()
		k.stream, k.cancel = nil, nil
	}
}
