package etcd

import "context"

type leaseRequest struct {
	ID  int64 `json:"ID,string,omitempty"`
	TTL int64 `json:"TTL,string,omitempty"`
}

type leaseResponse struct {
	ID  int64 `json:"ID,string"`
	TTL int64 `json:"TTL,string"`
}

// Grant creates a lease of ttl seconds and returns its ID.
func (c *Client) Grant(ctx context.Context, ttl int64) (int64, error) {
	var resp leaseResponse
	err := c.call(ctx, "/v3/lease/grant", leaseRequest{TTL: ttl}, &resp)
	return resp.ID, err
}

// KeepAlive renews lease id once and returns its time to live in seconds;
// ErrLeaseNotFound when it expired or was revoked. (etcd's keep-alive is a
// stream; over the gateway one request renews once.)
func (c *Client) KeepAlive(ctx context.Context, id int64) (int64, error) {
	var resp struct {
		Result *leaseResponse `json:"result"`
		Error  *answerError   `json:"error"`
	}
	switch err := c.call(ctx, "/v3/lease/keepalive", leaseRequest{ID: id}, &resp); {
	case err != nil:
		return 0, err
	case resp.Error != nil:
		return 0, resp.Error.err()
	case resp.Result == nil || resp.Result.TTL <= 0:
		return 0, ErrLeaseNotFound
	}
	return resp.Result.TTL, nil
}

// Revoke ends lease id and deletes the keys attached to it.
func (c *Client) Revoke(ctx context.Context, id int64) error {
	var resp struct{}
	return c.call(ctx, "/v3/lease/revoke", leaseRequest{ID: id}, &resp)
}
