package plugin

import (
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// dgramClient asks the resolver for decisions over a unix datagram socket
// (contract.go, "Datagram decisions"): one write and one read per decision,
// no HTTP machinery. An answer other than a forward decision is asked for
// again over HTTP, which carries whole responses.
type dgramClient struct {
	addr    *net.UnixAddr
	timeout time.Duration
	// conns holds the idle *dgramConn (one decision in flight per
	// socket); a pointer: under Yaegi a selector of a struct-typed field
	// allocates a zero struct of that type in every frame that uses it.
	conns *sync.Pool
}

type dgramConn struct {
	c   *net.UnixConn
	buf []byte
}

// Client sockets are bound to abstract names of their own (so that the
// resolver can answer them): the process id and a sequence number.
var (
	dgramName = "@previewgate-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	dgramSeq  int64
)

func newDgramClient(socket string, timeout time.Duration) *dgramClient {
	return &dgramClient{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}, timeout: timeout, conns: &sync.Pool{}}
}

func dialDgram(d *dgramClient) (*dgramConn, error) {
	local := &net.UnixAddr{Name: dgramName + strconv.FormatInt(atomic.AddInt64(&dgramSeq, 1), 10), Net: "unixgram"}
	c, err := net.DialUnix("unixgram", local, d.addr)
	if err != nil {
		return nil, err
	}
	return &dgramConn{c: c, buf: make([]byte, MaxDatagram)}, nil
}

// decideDgram sends t's decision request for req and returns the answer's
// lines: DecisionForward and its five values, or one line, DatagramAskHTTP
// (nil for a request too long for a datagram).
func decideDgram(d *dgramClient, req *http.Request, t *target, cr *credentials) ([]string, error) {
	msg := t.dgram + requestLine(req) + "\n"
	if cr != nil || req.Header[HeaderSkipLastActivity] != nil {
		msg += dgramTail(req, cr)
	} else {
		msg += dgramNoTail
	}
	if len(msg) > MaxDatagram {
		return nil, nil // too long for a datagram: HTTP carries it
	}
	var dc *dgramConn
	if v := d.conns.Get(); v != nil {
		dc = v.(*dgramConn)
	} else {
		c, err := dialDgram(d)
		if err != nil {
			return nil, err
		}
		dc = c
	}
	dc.c.SetDeadline(time.Now().Add(d.timeout))
	if _, err := dc.c.Write([]byte(msg)); err != nil {
		if dc, err = resendDgram(d, dc, msg); err != nil {
			return nil, err
		}
	}
	n, err := dc.c.Read(dc.buf)
	if err != nil {
		// A late answer must never reach another request: the socket goes.
		closeDgram(dc)
		return nil, err
	}
	answer := string(dc.buf[:n]) // before the socket and its buffer go back to the pool
	d.conns.Put(dc)
	return strings.Split(answer, "\n"), nil
}

// closeDgram closes a socket that will not go back to the pool. (Rare
// branches call functions: under Yaegi, decideDgram's frame holds a slot
// for each value of each of its statements, run or not.)
func closeDgram(dc *dgramConn) {
	dc.c.Close()
}

// resendDgram closes old, a pooled socket whose write failed (it may be
// connected to a resolver that has restarted since: its socket is gone
// even though the name is back), and sends msg on a new socket, once.
func resendDgram(d *dgramClient, old *dgramConn, msg string) (*dgramConn, error) {
	closeDgram(old)
	dc, err := dialDgram(d)
	if err != nil {
		return nil, err
	}
	dc.c.SetDeadline(time.Now().Add(d.timeout))
	if _, err := dc.c.Write([]byte(msg)); err != nil {
		closeDgram(dc)
		return nil, err
	}
	return dc, nil
}

// dgramNoTail is the last lines of a decision request with no credentials
// and no skip flag: the five credential lines, empty, and an empty last line.
const dgramNoTail = "\n\n\n\n\n"

// dgramTail is a decision request's last lines: the credentials (cr may
// be nil) and the skip-activity flag. Most requests have neither, and
// decideDgram writes dgramNoTail itself.
func dgramTail(req *http.Request, cr *credentials) string {
	tail := dgramNoTail
	if cr != nil {
		ip := ""
		if cr.bearer != "" {
			ip = clientIP(req.RemoteAddr)
		}
		tail = cr.bearer + "\n" + ip + "\n" + cr.previewToken + "\n" + cr.queryToken + "\n" + cr.cookie + "\n"
	}
	if skipsActivity(req.Header) {
		tail += "true"
	}
	return tail
}
