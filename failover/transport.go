package failover

// Packet is one datagram received on a heartbeat path.
type Packet struct {
	Path int // index of the path it arrived on
	// Data is the datagram. It stays valid until the receiver takes the
	// next packet from Recv (a transport may then reuse the buffer): a
	// receiver that keeps it longer copies it.
	Data []byte
}

// Transport carries heartbeat packets between the two nodes over one or more
// paths (a dedicated link, the service network...).
//
// Send writes b once on every path and returns at once: it never waits for
// the peer, and a packet lost in flight is not an error; it does not keep b
// after it returns; it returns the
// errors of the paths whose write failed, joined. Recv returns a channel that
// delivers received packets in arrival order per path and is closed by
// Close. Send and Recv may be called concurrently; Close once, after which
// Send fails.
type Transport interface {
	Send(b []byte) error
	Recv() <-chan Packet
	Close() error
}

// Filtered is a Transport that can drop a packet before it is queued for
// Recv. The node installs its peer tracker's Admit, so that a flood of
// forged or replayed packets, however fast, never fills the queue the real
// heartbeats wait in. filter runs on the transport's reader goroutines,
// concurrently, for every packet that passed the transport's own checks;
// a non-nil error drops the packet.
type Filtered interface {
	SetFilter(filter func(path int, data []byte) error)
}

// Counted is a Transport that counts the packets it drops itself, per path,
// by reason ("foreign", "garbage", "overflow"; "rcvbuf" for those the kernel
// dropped unread, its socket buffer full), before any filter. The node
// takes a rise in "rcvbuf" or "overflow" for a flood that may have taken
// real heartbeats with it (Observation.HeartbeatLossAt).
type Counted interface {
	Drops() []map[string]uint64
}
