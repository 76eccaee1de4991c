// Package etcd is a small client for etcd's v3 API through its JSON gateway:
// HTTP/1.1 POSTs to /v3/... on the client port, keys and values in base64,
// int64s as strings (etcd 3.4 and later serve it). It covers what package
// fleet needs and nothing more: a prefix read, a put conditional on a key's
// mod revision, a prefix watch from a revision, leases and their keep-alive,
// user/password authentication, TLS and several endpoints.
//
// It replaces go.etcd.io/etcd/client/v3, whose gRPC and protobuf stack
// roughly doubled the binary and the resident memory of every sluice,
// fleet mode on or not (docs/fleet.md). It speaks HTTP/1.1 itself
// (http.go): net/http's client and its HTTP/2 bundle cost about 1 MB of
// every sluice binary, and a binary is resident nearly whole.
package etcd

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says where etcd is and how to reach it.
type Config struct {
	// Endpoints are host:port, http://host:port or https://host:port; a
	// bare host:port uses https when TLS is set.
	Endpoints []string
	// Timeout bounds connecting (within a request's deadline, each
	// endpoint tried gets an equal share of the time left), the TLS
	// handshake and a watch's creation, and is how long a silent
	// connection may stay unanswered after 5 s idle (TCP keep-alive).
	// Each call is bounded by its context.
	Timeout time.Duration
	// Username and Password turn on authentication (etcd's simple or JWT
	// tokens).
	Username, Password string
	// TLS is the TLS setup for https endpoints; nil: none.
	TLS *tls.Config
}

// Client talks to one etcd cluster. It is safe for concurrent use.
type Client struct {
	endpoints []*endpoint
	timeout   time.Duration
	// current is the endpoint a request tries first: the one after the
	// last that failed.
	current            atomic.Int32
	username, password string
	tokenMu            sync.Mutex
	token              string
	tokenOK            bool // token holds etcd's answer ("" when auth is off)
	// dial connects to an endpoint's address; tests replace it.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// idleKeepAlive is how long a connection may be silent before TCP asks
// whether etcd is still there: a watch on a peer that vanished (host down,
// network cut) fails within this plus Timeout.
const idleKeepAlive = 5 * time.Second

// retryPause is the wait between two rounds of endpoints that could not be
// connected to.
const retryPause = 50 * time.Millisecond

// New prepares a client for cfg; it connects on the first call.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 || cfg.Timeout <= 0 {
		return nil, errors.New("etcd: the client needs endpoints and a timeout")
	}
	c := &Client{timeout: cfg.Timeout, username: cfg.Username, password: cfg.Password}
	for _, ep := range cfg.Endpoints {
		e, err := newEndpoint(ep, cfg.TLS)
		if err != nil {
			return nil, err
		}
		c.endpoints = append(c.endpoints, e)
	}
	dialer := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: idleKeepAlive, Interval: cfg.Timeout, Count: 1},
	}
	c.dial = dialer.DialContext
	return c, nil
}

// Close drops the idle connections, and those of calls in flight as they
// end; calls in flight are ended by their contexts. A call after Close
// still works, on a connection of its own.
func (c *Client) Close() {
	for _, e := range c.endpoints {
		e.closeIdle()
	}
}

// Error is a request etcd refused, with etcd's gRPC status code (0 when
// the answer had none) and message ("etcdserver: ...").
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return "etcd refused the request: " + e.Message }

// ErrLeaseNotFound is a lease that expired or was revoked.
var ErrLeaseNotFound = errors.New("etcd: requested lease not found")

// answerError is etcd's error answer. etcd 3.4 and 3.5 say {"error": msg,
// "message": msg, "code": n}; 3.6, on grpc-gateway v2, drops "error".
// Streams wrap theirs in {"error": {...}}, with "grpc_code" before 3.6.
type answerError struct {
	Error    string `json:"error"`
	Message  string `json:"message"`
	Code     int    `json:"code"`
	GRPCCode int    `json:"grpc_code"`
}

func (a *answerError) err() error {
	msg, code := cmp.Or(a.Message, a.Error), max(a.Code, a.GRPCCode)
	if strings.HasSuffix(msg, "requested lease not found") {
		return ErrLeaseNotFound
	}
	return &Error{Code: code, Message: msg}
}

// call sends req to path and decodes etcd's answer into resp, with a token
// when authentication is on.
func (c *Client) call(ctx context.Context, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return c.withToken(ctx, func(token string) error {
		return c.send(ctx, path, token, body, resp)
	})
}

// send is one request that waits, as long as ctx lets it, for an endpoint
// to accept a connection: a request that never left is safe to repeat,
// and an etcd restarting for a second should not fail an admin change.
func (c *Client) send(ctx context.Context, path, token string, body []byte, resp any) error {
	for {
		err := c.roundTrip(ctx, path, token, body, resp)
		if !unsent(err) || !pause(ctx) {
			return err
		}
	}
}

func pause(ctx context.Context) bool {
	t := time.NewTimer(retryPause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Client) roundTrip(ctx context.Context, path, token string, body []byte, resp any) error {
	r, err := c.post(ctx, path, token, body, false)
	if err != nil {
		return err
	}
	defer discard(r.body)
	if r.code != 200 {
		return refusal(r)
	}
	if err := json.NewDecoder(r.body).Decode(resp); err != nil {
		return fmt.Errorf("etcd: cannot decode the answer to %s: %w", path, err)
	}
	return nil
}

// refusal reads the error an answer that is not 200 carries: etcd's JSON,
// or the first line of its text (as in the refusal of a client certificate
// with a CommonName once authentication is on, docs/fleet.md).
func refusal(r *response) error {
	body, _ := io.ReadAll(io.LimitReader(r.body, 64<<10))
	var a answerError
	if json.Unmarshal(body, &a) == nil && (a.Message != "" || a.Error != "") {
		return a.err()
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if len(line) > 200 {
		line = line[:200]
	}
	return &Error{Message: strings.TrimSuffix("HTTP "+r.status+": "+line, ": ")}
}

// discard reads what is left of a body so that its connection is reused.
func discard(body *body) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// post sends body to path, starting with the current endpoint and moving
// on to the next one when it cannot connect. A request that broke after
// it was sent is not repeated (etcd may have applied it); the next one
// starts with the next endpoint.
func (c *Client) post(ctx context.Context, path, token string, body []byte, requireLeader bool) (*response, error) {
	first := int(c.current.Load())
	var err error
	for i := range c.endpoints {
		n := (first + i) % len(c.endpoints)
		e := c.endpoints[n]
		var r *response
		req := request(e.host, path, token, body, requireLeader)
		if r, err = c.exchange(ctx, e, req, c.dialTimeFor(ctx, len(c.endpoints)-i)); err == nil {
			return r, nil
		}
		err = fmt.Errorf("POST %s%s: %w", e.url, path, err)
		c.current.Store(int32((n + 1) % len(c.endpoints)))
		if !unsent(err) || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

// dialTimeFor is how long the dial to one of left endpoints still to try
// may take: Timeout, and no more than an equal share of the time left
// before ctx's deadline, so that an endpoint that never answers (a host
// that drops SYNs) leaves time for the next.
func (c *Client) dialTimeFor(ctx context.Context, left int) time.Duration {
	d := c.timeout
	if deadline, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(deadline)/time.Duration(left))
	}
	return d
}

// unsent reports whether err is a connection that could not be made: the
// request did not reach etcd.
func unsent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// withToken runs send with the current token and, when etcd refuses it
// (expired, or dropped because users changed), once more with a new one.
func (c *Client) withToken(ctx context.Context, send func(token string) error) error {
	for retried := false; ; retried = true {
		token, err := c.authToken(ctx)
		if err != nil {
			return err
		}
		err = send(token)
		if retried || c.username == "" || !tokenRefused(err) {
			return err
		}
		c.dropToken(token)
	}
}

// tokenRefused reports whether err is etcd asking for a new token. A watch
// refused at creation carries the same message in its cancel reason.
func tokenRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, m := range []string{"invalid auth token", "revision of auth store is old", "user name is empty"} {
		if strings.Contains(e.Message, m) {
			return true
		}
	}
	return false
}

// authToken is the token to send, authenticating first when there is
// none; "" without a username, or when etcd's authentication is off.
func (c *Client) authToken(ctx context.Context) (string, error) {
	if c.username == "" {
		return "", nil
	}
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.tokenOK {
		return c.token, nil
	}
	// Bounded apart from ctx, which may be a watch's: other calls wait
	// for this one.
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := json.Marshal(authenticateRequest{Name: c.username, Password: c.password})
	if err != nil {
		return "", err
	}
	var resp struct {
		Token string `json:"token"`
	}
	err = c.send(ctx, "/v3/auth/authenticate", "", body, &resp)
	var e *Error
	switch {
	case errors.As(err, &e) && strings.Contains(e.Message, "authentication is not enabled"):
		// As etcd's own client: go on without a token. Should auth be
		// turned on later, the first refusal authenticates again.
		resp.Token = ""
	case err != nil:
		return "", fmt.Errorf("etcd: cannot authenticate as %q: %w", c.username, err)
	}
	c.token, c.tokenOK = resp.Token, true
	return c.token, nil
}

type authenticateRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// dropToken forgets token unless another call already replaced it.
func (c *Client) dropToken(token string) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token == token {
		c.token, c.tokenOK = "", false
	}
}
