// Command demo-backends starts a few tiny HTTP backends on loopback so that
// sluice's quickstart has something to balance across. Each backend answers
// with its name, the method and the path, plus a handful of demo routes that
// show off what a reverse proxy rewrites:
//
//	/redirect   302 with an absolute Location pointing at the backend itself
//	/cookie     Set-Cookie with Path and Domain attributes
//	/slow?ms=N  answers after N milliseconds (at most 60 s)
//	/ws         WebSocket echo
//
// It is demo tooling, so it uses net/http rather than fasthttp.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// maxSlow bounds /slow so a typo cannot park a request forever.
const maxSlow = 60 * time.Second

func main() {
	n := flag.Int("n", 3, "number of backends")
	basePort := flag.Int("base-port", 9001, "port of the first backend; the others follow")
	host := flag.String("host", "127.0.0.1", "address to bind")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, log, *host, *basePort, *n); err != nil {
		log.Error("demo backends failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, host string, basePort, n int) error {
	if n < 1 {
		return fmt.Errorf("cannot start %d backends: need at least one", n)
	}
	servers := make([]*http.Server, 0, n)
	errc := make(chan error, n)
	for i := range n {
		addr := net.JoinHostPort(host, strconv.Itoa(basePort+i))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			shutdown(servers)
			return fmt.Errorf("cannot listen on %q: %w", addr, err)
		}
		srv := &http.Server{
			Handler:           newBackend(fmt.Sprintf("backend %d", i+1), addr),
			ReadHeaderTimeout: 10 * time.Second,
		}
		servers = append(servers, srv)
		log.Info("listening", "name", fmt.Sprintf("backend %d", i+1), "addr", ln.Addr().String())
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		shutdown(servers)
		return nil
	case err := <-errc:
		shutdown(servers)
		return err
	}
}

func shutdown(servers []*http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { _ = s.Shutdown(ctx) })
	}
	wg.Wait()
}

func newBackend(name, addr string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		// Absolute and pointing at the backend: ProxyPassReverse must map it.
		w.Header().Set("Location", "http://"+addr+"/")
		w.WriteHeader(http.StatusFound)
		fmt.Fprintf(w, "%s: redirecting to http://%s/\n", name, addr)
	})
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "demo=1; Path=/; Domain=backend.internal")
		fmt.Fprintf(w, "%s: cookie set (Path=/; Domain=backend.internal)\n", name)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		d := min(time.Duration(ms)*time.Millisecond, maxSlow)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "%s: %s %s after %v\n", name, r.Method, r.URL.RequestURI(), d)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		echo(w, r, name)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s\n%s %s\n", name, r.Method, r.URL.RequestURI())
	})
	return mux
}

// echo sends every WebSocket message back, prefixed by the backend name.
func echo(w http.ResponseWriter, r *http.Request, name string) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, append([]byte(name+": "), msg...)); err != nil {
			return
		}
	}
}
