package agent

import (
	"net"
	"sync"

	"github.com/runuml/runuml/guest/proto"
)

// DNSAddr is docker's embedded DNS server. The agent answers there on the guest's loopback
// and carries each query to the monitor, which asks the server in the container's network
// namespace, so container names resolve as they do under runc.
const DNSAddr = "127.0.0.11:53"

// maxDNSQueries bounds queries awaiting an answer; more are dropped, as a busy server would.
const maxDNSQueries = 256

// dnsRelay carries DNS queries from the guest's 127.0.0.11 to the monitor and back.
type dnsRelay struct {
	w       *proto.Writer
	conn    net.PacketConn
	mu      sync.Mutex
	next    uint32
	waiting map[uint32]net.Addr // query id -> who asked
}

// startDNSRelay listens on DNSAddr; without a network device there is no server to relay to.
func startDNSRelay(w *proto.Writer) (*dnsRelay, error) {
	conn, err := net.ListenPacket("udp", DNSAddr)
	if err != nil {
		return nil, err
	}
	d := &dnsRelay{w: w, conn: conn, waiting: map[uint32]net.Addr{}}
	go d.serve()
	return d, nil
}

func (d *dnsRelay) serve() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		d.mu.Lock()
		if len(d.waiting) >= maxDNSQueries {
			d.mu.Unlock()
			continue
		}
		d.next++
		if d.next == 0 {
			d.next = 1
		}
		id := d.next
		d.waiting[id] = from
		d.mu.Unlock()
		d.w.Write(proto.DNS, id, buf[:n])
	}
}

// answer hands the monitor's answer to the query's sender.
func (d *dnsRelay) answer(id uint32, msg []byte) {
	d.mu.Lock()
	to := d.waiting[id]
	delete(d.waiting, id)
	d.mu.Unlock()
	if to != nil {
		d.conn.WriteTo(msg, to)
	}
}
