package etcdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Client changes etcd through its JSON gateway, apart from the code under
// test: tests write, delete and compact behind its back, and turn
// authentication on. Not safe for concurrent use.
type Client struct {
	e *Etcd
	// root's password and token, once EnableAuth turned authentication on
	password, token string
}

// Client is a new client of e.
func (e *Etcd) Client() *Client { return &Client{e: e} }

// answer is what the client reads of etcd's answers.
type answer struct {
	Header struct {
		Revision int64 `json:"revision,string"`
	} `json:"header"`
	Token string `json:"token"`
}

// call posts req to path and returns etcd's answer, failing on anything
// but 200.
func (c *Client) call(ctx context.Context, path string, req any) (answer, error) {
	var a answer
	body, err := json.Marshal(req)
	if err != nil {
		return a, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.e.URL()+path, bytes.NewReader(body))
	if err != nil {
		return a, err
	}
	if c.token != "" {
		r.Header.Set("Authorization", c.token)
	}
	resp, err := c.e.http.Do(r)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, err
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	return a, json.Unmarshal(b, &a)
}

// Put stores value under key and returns the new revision.
func (c *Client) Put(ctx context.Context, key, value string) (int64, error) {
	a, err := c.call(ctx, "/v3/kv/put", map[string][]byte{"key": []byte(key), "value": []byte(value)})
	return a.Header.Revision, err
}

// Delete deletes key and returns the store's revision after it.
func (c *Client) Delete(ctx context.Context, key string) (int64, error) {
	a, err := c.call(ctx, "/v3/kv/deleterange", map[string][]byte{"key": []byte(key)})
	return a.Header.Revision, err
}

// Compact drops the history before rev and returns the store's revision.
func (c *Client) Compact(ctx context.Context, rev int64) (int64, error) {
	a, err := c.call(ctx, "/v3/kv/compaction", map[string]string{"revision": fmt.Sprint(rev)})
	return a.Header.Revision, err
}

// EnableAuth creates the user root with password and turns
// authentication on; the client then authenticates as root.
func (c *Client) EnableAuth(ctx context.Context, password string) error {
	steps := []struct {
		path string
		req  map[string]string
	}{
		{"/v3/auth/user/add", map[string]string{"name": "root", "password": password}},
		{"/v3/auth/role/add", map[string]string{"name": "root"}},
		{"/v3/auth/user/grant", map[string]string{"user": "root", "role": "root"}},
		{"/v3/auth/enable", map[string]string{}},
	}
	for _, s := range steps {
		if _, err := c.call(ctx, s.path, s.req); err != nil {
			return err
		}
	}
	c.password = password
	return c.authenticate(ctx)
}

// DropTokens makes etcd refuse every token it gave root, as it does with
// tokens that expired: it sets root's password again (to the same one),
// then authenticates this client anew.
func (c *Client) DropTokens(ctx context.Context) error {
	if _, err := c.call(ctx, "/v3/auth/user/changepw", map[string]string{"name": "root", "password": c.password}); err != nil {
		return err
	}
	return c.authenticate(ctx)
}

func (c *Client) authenticate(ctx context.Context) error {
	c.token = ""
	a, err := c.call(ctx, "/v3/auth/authenticate", map[string]string{"name": "root", "password": c.password})
	c.token = a.Token
	return err
}
