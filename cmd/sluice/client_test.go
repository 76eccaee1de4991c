package main

// Client helpers: a raw HTTP/1.1 client that shows the response exactly as
// sluice wrote it, and a plain net/http client for bulk traffic.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawDo sends the raw request bytes to addr and reads one response.
func rawDo(t *testing.T, addr, req string) *wireMsg {
	t.Helper()
	return rawDoTimeout(t, addr, req, ioTimeout)
}

// rawDoTimeout is rawDo for an answer that may take up to d.
func rawDoTimeout(t *testing.T, addr, req string, d time.Duration) *wireMsg {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("cannot dial sluice: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("cannot send request: %v", err)
	}
	br := bufio.NewReader(c)
	m, err := readResponse(br, strings.HasPrefix(req, "HEAD "))
	if err != nil {
		t.Fatalf("cannot read response to %q: %v", firstLine(req), err)
	}
	return m
}

// readResponse reads a final response, skipping 1xx interim ones.
func readResponse(br *bufio.Reader, head bool) (*wireMsg, error) {
	for {
		m, err := readHead(br, false)
		if err != nil {
			return nil, err
		}
		if m.Status/100 == 1 && m.Status != http.StatusSwitchingProtocols {
			continue
		}
		if head {
			m.Method = http.MethodHead
		}
		m.Body, err = io.ReadAll(bodyReader(br, m, false))
		return m, err
	}
}

// getURI is a GET with a Host header and Connection: close.
func getURI(t *testing.T, addr, uri string, header ...string) *wireMsg {
	t.Helper()
	return rawDo(t, addr, buildReq("GET", uri, "front.example.com", header, ""))
}

// buildReq assembles a raw request; a non-empty body gets a Content-Length.
func buildReq(method, uri, host string, header []string, body string) string {
	var b strings.Builder
	b.WriteString(method + " " + uri + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n" + body)
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// httpClient returns a keep-alive net/http client that never decompresses
// and whose connections are closed at cleanup.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
		DialContext:         (&net.Dialer{Timeout: ioTimeout}).DialContext,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// wantStatus fails unless m has the status code.
func wantStatus(t *testing.T, m *wireMsg, status int) {
	t.Helper()
	if m.Status != status {
		t.Fatalf("status = %d, want %d; body %q", m.Status, status, m.Body)
	}
}
