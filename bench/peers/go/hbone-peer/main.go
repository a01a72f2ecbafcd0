// hbone-peer: an HBONE peer on Go's x/net/http2, the benchmark's second HTTP/2 stack.
//
//	hbone-peer src --certs DIR --stats ADDR --tunnel LISTEN,TO,AUTHORITY [--tunnel ...]
//	    source ztunnel: every TCP connection accepted on LISTEN becomes a CONNECT stream to
//	    AUTHORITY over pooled mTLS HTTP/2 sessions to TO (like `waypoint tunnel`).
//	hbone-peer dst --stats ADDR --pod IP,CERTDIR,NAME [--pod ...]
//	    destination ztunnel + echo: an mTLS HTTP/2 server on IP:15008 that accepts CONNECT to
//	    IP:8080 (HTTP/1.1 or h2c echo), IP:9000 (TCP echo) and IP:9100 (byte sink).
//
// Both print "ready" on stdout once listening and serve frame statistics as JSON on
// http://ADDR/stats until SIGTERM.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hbone-peer: "+format+"\n", args...)
	os.Exit(1)
}

// serveStats answers GET /stats with every leg's counters.
func serveStats(addr string, legs map[string]*legStats) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]legJSON{}
		for k, l := range legs {
			out[k] = l.snapshot()
		}
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: hbone-peer src|dst [flags]")
	}
	var err error
	switch os.Args[1] {
	case "src":
		err = runSource(os.Args[2:])
	case "dst":
		err = runDestination(os.Args[2:])
	default:
		fail("unknown role %q (src or dst)", os.Args[1])
	}
	if err != nil {
		fail("%v", err)
	}
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
