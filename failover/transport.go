package failover

// Packet is one datagram received on a heartbeat path.
type Packet struct {
	Path int    // index of the path it arrived on
	Data []byte // the datagram; owned by the receiver
}

// Transport carries heartbeat packets between the two nodes over one or more
// paths (a dedicated link, the service network...).
//
// Send writes b once on every path and returns at once: it never waits for
// the peer, and a packet lost in flight is not an error; it returns the
// errors of the paths whose write failed, joined. Recv returns a channel that
// delivers received packets in arrival order per path and is closed by
// Close. Send and Recv may be called concurrently; Close once, after which
// Send fails.
type Transport interface {
	Send(b []byte) error
	Recv() <-chan Packet
	Close() error
}
