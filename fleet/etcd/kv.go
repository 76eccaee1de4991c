package etcd

import "context"

// KeyValue is a stored key, its value and the revision of its last change.
type KeyValue struct {
	Key         []byte `json:"key"`
	Value       []byte `json:"value"`
	ModRevision int64  `json:"mod_revision,string"`
}

// header is the part of etcd's response header sluice reads: the store's
// revision when the request was served.
type header struct {
	Revision int64 `json:"revision,string"`
}

type rangeRequest struct {
	Key      []byte `json:"key"`
	RangeEnd []byte `json:"range_end,omitempty"`
	KeysOnly bool   `json:"keys_only,omitempty"`
}

type putRequest struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value,omitempty"`
	Lease int64  `json:"lease,string,omitempty"`
}

// GetPrefix reads every key that starts with prefix (not empty) and the
// revision the read saw.
func (c *Client) GetPrefix(ctx context.Context, prefix string) ([]KeyValue, int64, error) {
	var resp struct {
		Header header     `json:"header"`
		KVs    []KeyValue `json:"kvs"`
	}
	err := c.call(ctx, "/v3/kv/range", rangeRequest{Key: []byte(prefix), RangeEnd: prefixEnd(prefix)}, &resp)
	return resp.KVs, resp.Header.Revision, err
}

// prefixEnd is the first key after every key that starts with prefix.
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0} // the prefix is all 0xff: up to the last key
}

// Put stores value under key, attached to lease (0: none).
func (c *Client) Put(ctx context.Context, key string, value []byte, lease int64) error {
	var resp struct{}
	return c.call(ctx, "/v3/kv/put", putRequest{Key: []byte(key), Value: value, Lease: lease}, &resp)
}

// PutResult is how a CompareAndPut ended.
type PutResult struct {
	// Put: the key was at the revision asked for and now holds the value.
	Put bool
	// Revision is the store's revision after the put, when Put.
	Revision int64
	// ModRevision is the key's revision when not Put (0: no such key).
	ModRevision int64
}

// CompareAndPut stores value under key if the key's mod revision is still
// modRev (0: the key does not exist), in one transaction.
func (c *Client) CompareAndPut(ctx context.Context, key string, value []byte, modRev int64) (PutResult, error) {
	k := []byte(key)
	req := txnRequest{
		Compare: []compare{{Target: "MOD", Result: "EQUAL", Key: k, ModRevision: modRev}},
		Success: []requestOp{{RequestPut: &putRequest{Key: k, Value: value}}},
		Failure: []requestOp{{RequestRange: &rangeRequest{Key: k, KeysOnly: true}}},
	}
	var resp struct {
		Header    header `json:"header"`
		Succeeded bool   `json:"succeeded"`
		Responses []struct {
			ResponseRange struct {
				KVs []KeyValue `json:"kvs"`
			} `json:"response_range"`
		} `json:"responses"`
	}
	if err := c.call(ctx, "/v3/kv/txn", req, &resp); err != nil {
		return PutResult{}, err
	}
	if resp.Succeeded {
		return PutResult{Put: true, Revision: resp.Header.Revision}, nil
	}
	var cur int64
	if len(resp.Responses) > 0 && len(resp.Responses[0].ResponseRange.KVs) > 0 {
		cur = resp.Responses[0].ResponseRange.KVs[0].ModRevision
	}
	return PutResult{ModRevision: cur}, nil
}

type txnRequest struct {
	Compare []compare   `json:"compare"`
	Success []requestOp `json:"success"`
	Failure []requestOp `json:"failure"`
}

// compare is etcd's Compare; Target and Result are enum names (MOD,
// EQUAL).
type compare struct {
	Target      string `json:"target"`
	Result      string `json:"result"`
	Key         []byte `json:"key"`
	ModRevision int64  `json:"mod_revision,string"`
}

type requestOp struct {
	RequestPut   *putRequest   `json:"request_put,omitempty"`
	RequestRange *rangeRequest `json:"request_range,omitempty"`
}
