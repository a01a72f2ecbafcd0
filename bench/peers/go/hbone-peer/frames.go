package main

// Frame statistics: the plaintext side of every HBONE TLS connection is wrapped, and HTTP/2 frame
// headers are parsed as the bytes pass in each direction; the TCP side counts the write calls
// (TLS records reaching the socket) and bytes.

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// frameTypeNames indexes HTTP/2 frame types (RFC 9113 §6); anything else counts as "other".
var frameTypeNames = []string{"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"}

const otherFrame = 10

// dirStats are the counters of one direction of one leg, shared by all its connections.
type dirStats struct {
	frames   [otherFrame + 1]atomic.Uint64
	bytes    [otherFrame + 1]atomic.Uint64
	tlsCalls atomic.Uint64 // Read or Write calls on the TLS connection (plaintext)
	tcpCalls atomic.Uint64 // Read or Write calls on the TCP connection
	tcpBytes atomic.Uint64 // bytes on the TCP connection
	records  atomic.Uint64 // TLS records (one per TLS write of up to 16 KiB)
}

func (d *dirStats) frame(typ byte, size int) {
	i := int(typ)
	if i >= otherFrame {
		i = otherFrame
	}
	d.frames[i].Add(1)
	d.bytes[i].Add(uint64(size))
}

// legStats are both directions of one HBONE leg, from this peer's point of view.
type legStats struct {
	sent     dirStats
	recv     dirStats
	sessions atomic.Uint64
	streams  atomic.Uint64
}

type frameCounts struct {
	Frames uint64 `json:"frames"`
	Bytes  uint64 `json:"bytes"`
}

type dirJSON struct {
	Frames   map[string]frameCounts `json:"frames"`
	TLSCalls uint64                 `json:"tlsCalls"`
	TCPCalls uint64                 `json:"tcpCalls"`
	TCPBytes uint64                 `json:"tcpBytes"`
	Records  uint64                 `json:"tlsRecords"`
}

type legJSON struct {
	Sessions uint64  `json:"sessions"`
	Streams  uint64  `json:"streams"`
	Sent     dirJSON `json:"sent"`
	Recv     dirJSON `json:"recv"`
}

func (d *dirStats) snapshot() dirJSON {
	out := dirJSON{Frames: map[string]frameCounts{}, TLSCalls: d.tlsCalls.Load(), TCPCalls: d.tcpCalls.Load(), TCPBytes: d.tcpBytes.Load(), Records: d.records.Load()}
	for i := 0; i <= otherFrame; i++ {
		name := "other"
		if i < otherFrame {
			name = frameTypeNames[i]
		}
		out.Frames[name] = frameCounts{Frames: d.frames[i].Load(), Bytes: d.bytes[i].Load()}
	}
	return out
}

func (l *legStats) snapshot() legJSON {
	return legJSON{Sessions: l.sessions.Load(), Streams: l.streams.Load(), Sent: l.sent.snapshot(), Recv: l.recv.snapshot()}
}

// frameParser follows the frame boundaries of one direction of one connection.
type frameParser struct {
	mu      sync.Mutex
	stats   *dirStats
	preface int // client connection preface bytes still to skip
	hdr     [9]byte
	hn      int
	remain  int
}

func (p *frameParser) feed(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		switch {
		case p.preface > 0:
			n := min(p.preface, len(b))
			p.preface -= n
			b = b[n:]
		case p.remain > 0:
			n := min(p.remain, len(b))
			p.remain -= n
			b = b[n:]
		default:
			n := copy(p.hdr[p.hn:], b)
			p.hn += n
			b = b[n:]
			if p.hn == len(p.hdr) {
				length := int(p.hdr[0])<<16 | int(p.hdr[1])<<8 | int(p.hdr[2])
				p.stats.frame(p.hdr[3], len(p.hdr)+length)
				p.remain = length
				p.hn = 0
			}
		}
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

const clientPrefaceLen = 24 // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// recordParser follows TLS record boundaries (5-byte headers) in one direction.
type recordParser struct {
	stats  *dirStats
	hdr    [5]byte
	hn     int
	remain int
}

func (p *recordParser) feed(b []byte) {
	for len(b) > 0 {
		if p.remain > 0 {
			n := min(p.remain, len(b))
			p.remain -= n
			b = b[n:]
			continue
		}
		n := copy(p.hdr[p.hn:], b)
		p.hn += n
		b = b[n:]
		if p.hn == len(p.hdr) {
			p.stats.records.Add(1)
			p.remain = int(p.hdr[3])<<8 | int(p.hdr[4])
			p.hn = 0
		}
	}
}

// tcpCounter counts the calls, bytes and TLS records on the TCP side of a TLS connection.
// Reads come from one goroutine and writes from one (the TLS connection serialises them).
type tcpCounter struct {
	net.Conn
	leg        *legStats
	sent, recv recordParser
}

func newTCPCounter(c net.Conn, leg *legStats) *tcpCounter {
	t := &tcpCounter{Conn: c, leg: leg}
	t.sent.stats = &leg.sent
	t.recv.stats = &leg.recv
	return t
}

func (c *tcpCounter) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.leg.recv.tcpCalls.Add(1)
	c.leg.recv.tcpBytes.Add(uint64(n))
	c.recv.feed(b[:n])
	return n, err
}

func (c *tcpCounter) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.leg.sent.tcpCalls.Add(1)
	c.leg.sent.tcpBytes.Add(uint64(n))
	c.sent.feed(b[:n])
	return n, err
}

// frameCounter wraps the plaintext side (the TLS connection) and parses HTTP/2 frames.
type frameCounter struct {
	*tls.Conn
	leg        *legStats
	sent, recv frameParser
}

func newFrameCounter(c *tls.Conn, leg *legStats, isClient bool) *frameCounter {
	f := &frameCounter{Conn: c, leg: leg}
	f.sent.stats = &leg.sent
	f.recv.stats = &leg.recv
	if isClient {
		f.sent.preface = clientPrefaceLen
	} else {
		f.recv.preface = clientPrefaceLen
	}
	leg.sessions.Add(1)
	return f
}

func (f *frameCounter) Read(b []byte) (int, error) {
	n, err := f.Conn.Read(b)
	f.leg.recv.tlsCalls.Add(1)
	if n > 0 {
		f.recv.feed(b[:n])
	}
	return n, err
}

func (f *frameCounter) Write(b []byte) (int, error) {
	n, err := f.Conn.Write(b)
	f.leg.sent.tlsCalls.Add(1)
	if n > 0 {
		f.sent.feed(b[:n])
	}
	return n, err
}
