package main

// The source ztunnel: local TCP listeners whose connections become CONNECT streams over pooled
// HBONE sessions (x/net/http2's Transport opens another session when one carries the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS).

import (
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

type tunnelSpec struct{ listen, to, authority string }

func parseTunnel(v string) (tunnelSpec, error) {
	p := strings.Split(v, ",")
	if len(p) != 3 {
		return tunnelSpec{}, errors.New("--tunnel wants LISTEN,TO,AUTHORITY")
	}
	return tunnelSpec{listen: p[0], to: p[1], authority: p[2]}, nil
}

func runSource(args []string) error {
	fs := flag.NewFlagSet("src", flag.ExitOnError)
	certs := fs.String("certs", "", "workload certificate directory")
	stats := fs.String("stats", "", "stats listener HOST:PORT")
	var tunnels multiFlag
	fs.Var(&tunnels, "tunnel", "LISTEN,TO,AUTHORITY (repeatable)")
	_ = fs.Parse(args)
	m, err := loadMeshTLS(*certs)
	if err != nil {
		return err
	}
	leg := &legStats{}
	tr := &http2.Transport{
		TLSClientConfig:  m.client(),
		MaxReadFrameSize: 1 << 20,
		DialTLS: func(network, addr string, cfg *tls.Config) (net.Conn, error) {
			raw, err := net.DialTimeout(network, addr, 10*time.Second)
			if err != nil {
				return nil, err
			}
			_ = raw.(*net.TCPConn).SetNoDelay(true)
			tc := tls.Client(newTCPCounter(raw, leg), cfg)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				raw.Close()
				return nil, err
			}
			_ = tc.SetDeadline(time.Time{})
			return newFrameCounter(tc, leg, true), nil
		},
	}
	for _, v := range tunnels {
		spec, err := parseTunnel(v)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", spec.listen)
		if err != nil {
			return err
		}
		go acceptLoop(ln, spec, tr, leg)
	}
	return serveStats(*stats, map[string]*legStats{"up": leg})
}

func acceptLoop(ln net.Listener, spec tunnelSpec, tr *http2.Transport, leg *legStats) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go relay(c.(*net.TCPConn), spec, tr, leg)
	}
}

// relay carries one client connection in one CONNECT stream, half-close included.
func relay(c *net.TCPConn, spec tunnelSpec, tr *http2.Transport, leg *legStats) {
	defer c.Close()
	_ = c.SetNoDelay(true)
	pr, pw := io.Pipe()
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Scheme: "https", Host: spec.to},
		Host:   spec.authority,
		Header: http.Header{},
		Body:   pr,
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		pr.CloseWithError(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		pr.CloseWithError(errors.New(resp.Status))
		return
	}
	leg.streams.Add(1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		_, err := io.CopyBuffer(pw, c, buf)
		pw.CloseWithError(err) // nil: END_STREAM
	}()
	buf := make([]byte, 32<<10)
	if _, err := io.CopyBuffer(writerOnly{c}, resp.Body, buf); err == nil {
		_ = c.CloseWrite()
	} else {
		c.Close()
	}
	wg.Wait()
}

// writerOnly hides ReadFrom so io.CopyBuffer uses the given buffer.
type writerOnly struct{ io.Writer }
