package main

// The destination ztunnel + echo: terminates HBONE on POD_IP:15008 and serves the benchmark's
// echo behaviour inside each CONNECT stream instead of dialling an app: HTTP/1.1 or h2c (prior
// knowledge) for :8080, a TCP echo for :9000 and a byte sink (answers the count at half-close)
// for :9100.

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

const (
	portHTTP = "8080"
	portEcho = "9000"
	portSink = "9100"
)

type podSpec struct{ ip, certs, name string }

func runDestination(args []string) error {
	fs := flag.NewFlagSet("dst", flag.ExitOnError)
	stats := fs.String("stats", "", "stats listener HOST:PORT")
	var pods multiFlag
	fs.Var(&pods, "pod", "IP,CERTDIR,NAME (repeatable)")
	_ = fs.Parse(args)
	leg := &legStats{}
	for _, v := range pods {
		p := strings.Split(v, ",")
		if len(p) != 3 {
			return errors.New("--pod wants IP,CERTDIR,NAME")
		}
		if err := startPod(podSpec{ip: p[0], certs: p[1], name: p[2]}, leg); err != nil {
			return err
		}
	}
	return serveStats(*stats, map[string]*legStats{"down": leg})
}

func startPod(p podSpec, leg *legStats) error {
	m, err := loadMeshTLS(p.certs)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.ip, "15008"))
	if err != nil {
		return err
	}
	cfg := m.server()
	// ztunnel's HBONE settings: 100 streams, 4 MiB stream and 16 MiB connection windows, 1 MiB frames.
	srv := &http2.Server{
		MaxConcurrentStreams:         100,
		MaxReadFrameSize:             1 << 20,
		MaxUploadBufferPerStream:     4 << 20,
		MaxUploadBufferPerConnection: 16 << 20,
	}
	app := &echoApp{pod: p.name, h2c: &http2.Server{MaxConcurrentStreams: 100}}
	handler := &connectHandler{ip: p.ip, app: app, leg: leg}
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = raw.(*net.TCPConn).SetNoDelay(true)
				tc := tls.Server(newTCPCounter(raw, leg), cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					raw.Close()
					return
				}
				_ = tc.SetDeadline(time.Time{})
				srv.ServeConn(newFrameCounter(tc, leg, false), &http2.ServeConnOpts{Handler: handler})
			}()
		}
	}()
	return nil
}

// connectHandler answers CONNECT as ztunnel does: 400 unless the authority names this pod's IP,
// 503 for a port nothing listens on, else 200 and the stream carries the connection.
type connectHandler struct {
	ip  string
	app *echoApp
	leg *legStats
}

func (h *connectHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || host != h.ip {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if port != portHTTP && port != portEcho && port != portSink {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.leg.streams.Add(1)
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w, f: w.(http.Flusher)}
	fw.f.Flush()
	switch port {
	case portHTTP:
		h.app.serve(r.Body, fw)
	case portEcho:
		buf := make([]byte, 32<<10)
		_, _ = io.CopyBuffer(fw, r.Body, buf)
	case portSink:
		buf := make([]byte, 256<<10)
		n, _ := io.CopyBuffer(io.Discard, readerOnly{r.Body}, buf)
		fmt.Fprintf(fw, "%d\n", n)
	}
}

// flushWriter sends every write as DATA at once, as a relay must.
type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (f *flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	f.f.Flush()
	return n, err
}

type readerOnly struct{ io.Reader }

// echoApp answers HTTP inside a tunnel: `?raw=N` gets N bytes of text/plain, anything else a
// short JSON description of the request.
type echoApp struct {
	pod string
	h2c *http2.Server
}

var h2Preface = []byte("PRI * HTTP/2.0")

func (a *echoApp) serve(in io.Reader, out io.Writer) {
	br := bufio.NewReaderSize(in, 16<<10)
	if head, err := br.Peek(len(h2Preface)); err == nil && string(head) == string(h2Preface) {
		c := &streamConn{r: br, w: out, closed: make(chan struct{})}
		a.h2c.ServeConn(c, &http2.ServeConnOpts{Handler: http.HandlerFunc(a.answerH2)})
		return
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
		body, ctype := a.body(req)
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\nx-echo-pod: %s\r\n", ctype, len(body), a.pod)
		if req.Close {
			bw.WriteString("connection: close\r\n")
		}
		bw.WriteString("\r\n")
		bw.Write(body)
		if bw.Flush() != nil || req.Close {
			return
		}
	}
}

func (a *echoApp) answerH2(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	body, ctype := a.body(r)
	w.Header().Set("content-type", ctype)
	w.Header().Set("content-length", strconv.Itoa(len(body)))
	w.Header().Set("x-echo-pod", a.pod)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

var fillers sync.Map // int -> []byte

func (a *echoApp) body(r *http.Request) ([]byte, string) {
	if raw := r.URL.Query().Get("raw"); raw != "" {
		n, _ := strconv.Atoi(raw)
		if n < 0 || n > 64<<20 {
			n = 0
		}
		if b, ok := fillers.Load(n); ok {
			return b.([]byte), "text/plain"
		}
		b := []byte(strings.Repeat("x", n))
		fillers.Store(n, b)
		return b, "text/plain"
	}
	return []byte(fmt.Sprintf(`{"pod":%q,"method":%q,"path":%q,"host":%q,"protocol":%q}`, a.pod, r.Method, r.URL.RequestURI(), r.Host, r.Proto)), "application/json"
}

// streamConn presents one CONNECT stream as a net.Conn for the h2c server.
type streamConn struct {
	r      io.Reader
	w      io.Writer
	once   sync.Once
	closed chan struct{}
}

func (c *streamConn) Read(b []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.r.Read(b)
}
func (c *streamConn) Write(b []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.w.Write(b)
}
func (c *streamConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *streamConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(t time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return nil }
