package guest

import (
	"net"
	"time"

	"github.com/runuml/runuml/guest/proto"
)

// dnsServer is docker's embedded DNS server, in the container's network namespace (the
// monitor's): iptables there redirects 127.0.0.11:53 to dockerd.
const dnsServer = "127.0.0.11:53"

// dnsTimeout bounds one relayed query; a query without an answer gets none, as over UDP.
const dnsTimeout = 5 * time.Second

// maxDNSInFlight bounds the queries the monitor relays at once, so a guest flooding the line
// with queries cannot make the monitor open sockets without limit.
const maxDNSInFlight = 64

// relayDNS asks the namespace's DNS server the guest's query id and sends back the answer.
func (m *Monitor) relayDNS(id uint32, query []byte) {
	select {
	case m.dnsSlots <- struct{}{}:
	default:
		return // too many in flight: dropped
	}
	q := append([]byte(nil), query...)
	go func() {
		defer func() { <-m.dnsSlots }()
		conn, err := net.Dial("udp", dnsServer)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(dnsTimeout))
		if _, err := conn.Write(q); err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		m.w.Write(proto.DNSAnswer, id, buf[:n])
	}()
}
